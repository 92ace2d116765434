"""User-based collaborative filtering: precomputed cosine neighbours plus request-time fold-in."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from app.infrastructure.ml.matrix import FloatArray, IntArray, ItemWeighting, l2_normalise_rows

Progress = Callable[[int], None]


def _cap_columns(normed: sp.csr_matrix, cap: int) -> sp.csc_matrix:
    """The item→user CSC keeping, per post, only the `cap` users whose rows weigh it most.

    A very popular post would otherwise make every fold-in touch most of the user base.
    """
    csc = normed.tocsc()
    csc.sort_indices()
    n_cols = csc.shape[1]
    col = np.repeat(np.arange(n_cols, dtype=np.int32), np.diff(csc.indptr))
    order = np.lexsort((-csc.data, col))
    rank = np.arange(csc.nnz) - csc.indptr[col[order]]
    keep = np.sort(order[rank < cap])
    return sp.csc_matrix((csc.data[keep], (csc.indices[keep], col[keep])), shape=csc.shape)


def _top_k(values: FloatArray, k: int) -> IntArray:
    """Indices of the k largest values, largest first."""
    if k >= len(values):
        return np.argsort(-values, kind="stable").astype(np.int32)
    part = np.argpartition(-values, k - 1)[:k]
    return part[np.argsort(-values[part], kind="stable")].astype(np.int32)


class UserKnn:
    """Cosine user-KNN over item-weighted rows; CF scores aggregate neighbours' evidence.

    Similarities are in [0, 1] (weights are non-negative); CF scores are normalised so the
    best candidate scores 1.
    """

    def __init__(
        self,
        *,
        n_neighbors: int = 50,
        item_weighting: str = "bm25",
        max_item_user_share: float = 1.0,
        similarity_exponent: float = 1.0,
        users_per_item_cap: int = 1000,
        max_fold_in_candidates: int = 2000,
        batch_size: int = 2048,
        n_jobs: int = 1,
        exact_max_users: int = 20_000,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.item_weighting = item_weighting
        self.max_item_user_share = max_item_user_share
        self.similarity_exponent = similarity_exponent
        self.users_per_item_cap = users_per_item_cap
        self.max_fold_in_candidates = max_fold_in_candidates
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        # Above this many users, scikit-learn's dense distance blocks dominate the fit time.
        self.exact_max_users = exact_max_users

    def fit(self, matrix: sp.csr_matrix, progress: Progress | None = None) -> UserKnn:
        """Precompute every user's top-k neighbours (self excluded) with batched kneighbors."""
        self.weighting_ = ItemWeighting.fit(
            matrix, self.item_weighting, max_user_share=self.max_item_user_share
        )
        self.normed_ = l2_normalise_rows(self.weighting_.apply(matrix))
        # log1p keeps a single share (weight 10) from drowning ten neighbours' likes.
        self.evidence_ = matrix.astype(np.float32, copy=True)
        self.evidence_.data = np.log1p(self.evidence_.data)
        self.item_users_ = _cap_columns(self.normed_, self.users_per_item_cap)
        self.neighbours_, self.similarities_ = self._all_neighbours(progress)
        return self

    def _all_neighbours(self, progress: Progress | None) -> tuple[IntArray, FloatArray]:
        n_users = self.normed_.shape[0]
        k = min(self.n_neighbors, max(n_users - 1, 0))
        neighbours = np.zeros((n_users, k), dtype=np.int32)
        sims = np.zeros((n_users, k), dtype=np.float32)
        if k == 0:
            return neighbours, sims
        search = self._sklearn_search(k) if n_users <= self.exact_max_users else self._sparse_search()
        for start in range(0, n_users, self.batch_size):
            stop = min(start + self.batch_size, n_users)
            neighbours[start:stop], sims[start:stop] = search(start, stop, k)
            if progress is not None:
                progress(stop - start)
        return neighbours, sims

    def _sklearn_search(self, k: int) -> Callable[[int, int, int], tuple[IntArray, FloatArray]]:
        """scikit-learn's brute-force cosine kneighbors: exact, but a dense users × users block."""
        # Training only: serving reads the stored neighbours and folds users in without it.
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(n_neighbors=k + 1, metric="cosine", algorithm="brute", n_jobs=self.n_jobs)
        nn.fit(self.normed_)

        def search(start: int, stop: int, k: int) -> tuple[IntArray, FloatArray]:
            dist, idx = nn.kneighbors(self.normed_[start:stop])
            own = idx == np.arange(start, stop)[:, None]
            # Drop the user itself (or the last column when a tie pushed it out of the list).
            own[~own.any(axis=1), -1] = True
            rows = stop - start
            return idx[~own].reshape(rows, k), np.clip(1.0 - dist[~own].reshape(rows, k), 0.0, 1.0)

        return search

    def _sparse_search(self) -> Callable[[int, int, int], tuple[IntArray, FloatArray]]:
        """The same exact top-k read from the sparse similarity product: users who share no
        post have similarity 0, so only co-occurring users are ever looked at."""
        transposed = self.normed_.T.tocsr()

        def search(start: int, stop: int, k: int) -> tuple[IntArray, FloatArray]:
            block = (self.normed_[start:stop] @ transposed).tocsr()
            rows = stop - start
            neighbours = np.zeros((rows, k), dtype=np.int32)
            sims = np.zeros((rows, k), dtype=np.float32)
            for i in range(rows):
                lo, hi = block.indptr[i], block.indptr[i + 1]
                cols, vals = block.indices[lo:hi], block.data[lo:hi]
                others = cols != start + i
                cols, vals = cols[others], vals[others]
                best = _top_k(vals, min(k, len(vals)))
                neighbours[i, : len(best)] = cols[best]
                sims[i, : len(best)] = np.clip(vals[best], 0.0, 1.0)
            return neighbours, sims

        return search

    @property
    def n_users(self) -> int:
        return int(self.normed_.shape[0])

    def neighbours_of(self, row: int) -> tuple[IntArray, FloatArray]:
        """The precomputed neighbours of a training user and their cosine similarities."""
        # Fitted with the largest k once, a smaller n_neighbors (tuning) just reads a prefix.
        return self.neighbours_[row, : self.n_neighbors], self.similarities_[row, : self.n_neighbors]

    def fold_in(self, cols: IntArray, vals: FloatArray, exclude_row: int = -1) -> tuple[IntArray, FloatArray]:
        """Neighbours for a row built at request time (post indices, summed weights).

        Only users sharing a post with the row are candidates (capped per post); the best
        `max_fold_in_candidates` by the capped overlap are re-scored exactly.
        """
        if len(cols) == 0:
            return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.float32)
        weighted = self.weighting_.apply_row(cols, vals)
        norm = float(np.linalg.norm(weighted))
        if norm == 0.0:
            return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.float32)
        unit = (weighted / norm).astype(np.float32)
        approx = np.asarray(self.item_users_[:, cols] @ unit).ravel()
        if exclude_row >= 0:
            approx[exclude_row] = 0.0
        candidates = np.flatnonzero(approx > 0)
        if len(candidates) > self.max_fold_in_candidates:
            candidates = candidates[_top_k(approx[candidates], self.max_fold_in_candidates)]
        dense = np.zeros(self.normed_.shape[1], dtype=np.float32)
        dense[cols] = unit
        exact = np.clip(np.asarray(self.normed_[candidates] @ dense).ravel(), 0.0, 1.0)
        best = _top_k(exact, min(self.n_neighbors, len(candidates)))
        return candidates[best].astype(np.int32), exact[best].astype(np.float32)

    def known_user_scores(self, row: int, cols: IntArray, vals: FloatArray) -> FloatArray:
        """CF scores of a training user from their precomputed neighbours (history unused)."""
        del cols, vals
        return self.scores(*self.neighbours_of(row))

    def history_scores(self, cols: IntArray, vals: FloatArray, exclude_row: int = -1) -> FloatArray:
        """CF scores of a history folded in at request time (post indices, summed weights)."""
        return self.scores(*self.fold_in(cols, vals, exclude_row))

    def scores(self, neighbours: IntArray, similarities: FloatArray) -> FloatArray:
        """CF score per post in [0, 1]: Σ sim^α · log1p(weight) over neighbours, over its max."""
        n_posts = self.evidence_.shape[1]
        keep = similarities > 0
        if not keep.any():
            return np.zeros(n_posts, dtype=np.float32)
        weights = np.power(similarities[keep], self.similarity_exponent, dtype=np.float32)
        raw = np.asarray(self.evidence_[neighbours[keep]].T @ weights).ravel()
        top = float(raw.max())
        return (raw / top if top > 0 else raw).astype(np.float32)
