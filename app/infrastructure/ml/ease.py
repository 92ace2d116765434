"""EASE: a closed-form item-item model (Steck, 2019) over the most engaged posts.

B = I - P·diag(1/diag(P)) with P = (XᵀX + λI)⁻¹ and a zero diagonal. A user's score for a
post is their (log-scaled) history times B, so a history seen for the first time at request
time needs no fold-in step. The inverse is dense, so only the `max_items` posts touched by
the most users take part; each post keeps its `keep_per_item` strongest weights, which
bounds the artifact and the per-request product.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from app.infrastructure.ml.matrix import FloatArray, IntArray

Progress = Callable[[int], None]
_BLOCK = 2048


def log_scaled(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Weights as log2(1 + w): one view counts 1, heavier interactions grow slowly."""
    out = matrix.astype(np.float32, copy=True)
    out.data = np.log2(1.0 + np.clip(out.data, 0.0, None)).astype(np.float32)
    return out


def _sparsify_rows(dense: np.ndarray, keep: int) -> sp.csr_matrix:
    """Per row, the `keep` entries largest in magnitude (the rest are dropped)."""
    n = dense.shape[0]
    if keep >= dense.shape[1]:
        return sp.csr_matrix(dense.astype(np.float32))
    blocks = []
    for start in range(0, n, _BLOCK):
        block = dense[start : start + _BLOCK]
        cols = np.argpartition(-np.abs(block), keep - 1, axis=1)[:, :keep]
        vals = np.take_along_axis(block, cols, axis=1)
        rows = np.repeat(np.arange(block.shape[0]), keep)
        blocks.append(
            sp.csr_matrix(
                (vals.ravel().astype(np.float32), (rows, cols.ravel())),
                shape=(block.shape[0], dense.shape[1]),
            )
        )
    return sp.vstack(blocks, format="csr")


class Ease:
    """Item-item EASE. `l2` is λ relative to the mean diagonal of the Gram matrix (a post's
    mean squared engagement), so one default carries across data sets of different density;
    scores are in [0, 1]."""

    def __init__(self, *, l2: float = 30.0, max_items: int = 10_000, keep_per_item: int = 1024) -> None:
        self.l2 = l2
        self.max_items = max_items
        self.keep_per_item = keep_per_item

    def fit(self, matrix: sp.csr_matrix, progress: Progress | None = None) -> Ease:
        """Invert the regularised Gram matrix of the kept posts (Cholesky, in place)."""
        x = log_scaled(matrix)
        n_posts = x.shape[1]
        users_per_post = np.bincount(x.indices, minlength=n_posts)
        n_kept = min(self.max_items, int((users_per_post > 0).sum()))
        kept = np.sort(np.argsort(-users_per_post, kind="stable")[:n_kept]).astype(np.int32)
        self.kept_ = kept
        self.column_of_ = np.full(n_posts, -1, dtype=np.int32)
        self.column_of_[kept] = np.arange(n_kept, dtype=np.int32)
        # λ is scaled by the mean diagonal over every engaged post, not only the kept ones,
        # so a fit with fewer posts (tuning) means the same regularisation.
        diagonal = np.asarray(x.multiply(x).sum(axis=0)).ravel()
        scale = float(diagonal[diagonal > 0].mean()) if (diagonal > 0).any() else 1.0
        self.weights_ = self._solve(x[:, kept].tocsc(), n_kept, self.l2 * scale)
        if progress is not None:
            progress(x.shape[0])
        return self

    def _solve(self, xk: sp.csc_matrix, n_kept: int, lam: float) -> sp.csr_matrix:
        if n_kept == 0:
            return sp.csr_matrix((0, 0), dtype=np.float32)
        import scipy.linalg  # training only: scoring needs no LAPACK

        # Single precision halves memory and time; λ keeps the system well conditioned.
        gram = (xk.T @ xk).toarray().astype(np.float32)
        gram[np.diag_indices_from(gram)] += lam
        factor, info = scipy.linalg.lapack.spotrf(gram, lower=0, overwrite_a=1)
        if info != 0:
            raise ValueError(f"EASE: Gram matrix is not positive definite (lapack info {info})")
        inverse, info = scipy.linalg.lapack.spotri(factor, lower=0, overwrite_c=1)
        if info != 0:
            raise ValueError(f"EASE: inversion failed (lapack info {info})")
        inverse = np.triu(inverse) + np.triu(inverse, 1).T
        weights = inverse / (-np.diag(inverse))[None, :]
        np.fill_diagonal(weights, 0.0)
        return _sparsify_rows(weights, self.keep_per_item)

    def known_user_scores(self, row: int, cols: IntArray, vals: FloatArray) -> FloatArray:
        """CF scores of a training user; an item-item model needs only their history."""
        del row
        return self.history_scores(cols, vals)

    def history_scores(self, cols: IntArray, vals: FloatArray, exclude_row: int = -1) -> FloatArray:
        """CF scores in [0, 1] of a history (post indices, summed weights)."""
        del exclude_row  # a user's own row never enters an item-item score
        vals = np.log2(1.0 + np.clip(vals, 0.0, None)).astype(np.float32)
        out = np.zeros(len(self.column_of_), dtype=np.float32)
        local = self.column_of_[cols]
        inside = local >= 0
        if not inside.any():
            return out
        picked = self.weights_[local[inside]]
        raw = np.asarray(picked.T @ vals[inside]).ravel()
        out[self.kept_] = np.clip(raw, 0.0, None)
        top = float(out.max())
        return out / top if top > 0 else out
