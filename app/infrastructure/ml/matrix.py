"""The sparse user×post interaction matrix and the item weightings applied before similarity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from app.domain.entities import HistoryItem, Interaction

if TYPE_CHECKING:  # pandas is imported by the functions that build a model, never by serving
    import pandas as pd

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int32]

DEFAULT_WEIGHTS: Mapping[str, float] = {"view": 1.0, "click": 2.0, "like": 5.0, "share": 10.0}
# The `trained_at` of data without timestamps (some external datasets): a fixed moment, so
# nothing decays and every post is as old as every other.
UNDATED_REFERENCE = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_HOUR = 3_600_000_000_000


@dataclass(frozen=True, slots=True)
class InteractionMatrix:
    """Rows are users, columns posts; values are summed (optionally time-decayed) weights ≥ 0."""

    matrix: sp.csr_matrix
    user_ids: npt.NDArray[np.object_]
    post_ids: npt.NDArray[np.object_]
    trained_at: datetime

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.user_ids), len(self.post_ids))

    def user_index(self) -> dict[str, int]:
        return {str(u): i for i, u in enumerate(self.user_ids)}

    def post_index(self) -> dict[str, int]:
        return {str(p): i for i, p in enumerate(self.post_ids)}


def interaction_weights_column(interactions: pd.DataFrame, weights: Mapping[str, float]) -> FloatArray:
    """Per-row weight: the `weight` column when present, else `interaction_type` mapped by `weights`.

    Unknown interaction types weigh 0.
    """
    if "weight" in interactions.columns:
        return interactions["weight"].to_numpy(dtype=np.float32)
    kinds = interactions["interaction_type"].astype("category")
    table = np.array([float(weights.get(str(c), 0.0)) for c in kinds.cat.categories], dtype=np.float32)
    return table[kinds.cat.codes.to_numpy()]


def is_dated(interactions: pd.DataFrame) -> bool:
    """Whether the interactions carry timestamps (a created_at column)."""
    return "created_at" in interactions.columns


def hours_before(reference: datetime, timestamps: pd.Series) -> npt.NDArray[np.float64]:
    """Age in hours of each timestamp at `reference` (negative for later timestamps)."""
    import pandas as pd

    ts = pd.to_datetime(timestamps, utc=True).astype("datetime64[ns, UTC]")
    ns = ts.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    ref = pd.Timestamp(reference).tz_convert("UTC").value
    return np.asarray((ref - ns) / _NS_PER_HOUR, dtype=np.float64)


def decay_factor(age_hours: npt.NDArray[np.float64], half_life_hours: float | None) -> FloatArray:
    """0.5 ** (age / half_life), ages clipped at 0; all ones when half_life is None."""
    if half_life_hours is None:
        return np.ones(len(age_hours), dtype=np.float32)
    return np.exp2(-np.clip(age_hours, 0.0, None) / half_life_hours).astype(np.float32)


def build_interaction_matrix(
    interactions: pd.DataFrame,
    *,
    weights: Mapping[str, float] = DEFAULT_WEIGHTS,
    half_life_hours: float | None = None,
    post_ids: Sequence[str] = (),
) -> InteractionMatrix:
    """Sum interaction weights per (user, post) into a CSR matrix, never a dense pivot.

    `interactions` needs user_id, post_id and interaction_type (or weight), and usually
    created_at. Columns start with `post_ids` (posts nobody touched yet stay reachable by
    content and recency), then any other post seen in the interactions. Decay is relative to
    the newest interaction, which becomes `trained_at`; without created_at nothing decays and
    `trained_at` is UNDATED_REFERENCE.
    """
    import pandas as pd

    if interactions.empty:
        raise ValueError("cannot build a matrix from zero interactions")
    user_codes, user_uniques = pd.factorize(interactions["user_id"].astype(str), sort=False)
    known = pd.Index(pd.unique(pd.Series(list(post_ids), dtype=object).astype(str)))
    seen = pd.Index(pd.unique(interactions["post_id"].astype(str)))
    all_posts = known.append(seen.difference(known, sort=False))
    post_codes = all_posts.get_indexer(pd.Index(interactions["post_id"].astype(str)))
    values = interaction_weights_column(interactions, weights)
    trained_at = UNDATED_REFERENCE
    if is_dated(interactions):
        created = pd.to_datetime(interactions["created_at"], utc=True)
        trained_at = created.max().to_pydatetime()
        values = values * decay_factor(hours_before(trained_at, created), half_life_hours)
    coo = sp.coo_matrix(
        (values, (user_codes.astype(np.int32), post_codes.astype(np.int32))),
        shape=(len(user_uniques), len(all_posts)),
        dtype=np.float32,
    )
    matrix = coo.tocsr()
    matrix.sum_duplicates()
    return InteractionMatrix(
        matrix=matrix,
        user_ids=np.asarray(user_uniques, dtype=object),
        post_ids=np.asarray(all_posts, dtype=object),
        trained_at=trained_at,
    )


def history_row(
    history: Sequence[HistoryItem | Interaction],
    post_index: Mapping[str, int],
    *,
    weights: Mapping[str, float],
    half_life_hours: float | None,
    reference: datetime,
) -> tuple[IntArray, FloatArray]:
    """Fold a request-time history into (post indices, summed weights), the way training did.

    Posts unknown to the model are dropped; indices are unique and sorted.
    """
    idx: list[int] = []
    vals: list[float] = []
    ref = reference if reference.tzinfo else reference.replace(tzinfo=UTC)
    for item in history:
        col = post_index.get(str(item.post_id))
        if col is None:
            continue
        weight = float(weights.get(str(item.kind), 0.0))
        if half_life_hours is not None:
            age = max((ref - item.created_at).total_seconds() / 3600.0, 0.0)
            weight *= 0.5 ** (age / half_life_hours)
        idx.append(col)
        vals.append(weight)
    if not idx:
        return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.float32)
    cols, inverse = np.unique(np.asarray(idx, dtype=np.int32), return_inverse=True)
    summed = np.bincount(inverse, weights=np.asarray(vals), minlength=len(cols)).astype(np.float32)
    keep = summed > 0
    return cols[keep], summed[keep]


@dataclass(frozen=True, slots=True)
class ItemWeighting:
    """Column reweighting before similarity: "none", "idf" (log N/df) or "bm25" (Okapi per row).

    Popular posts say little about taste; both schemes shrink their contribution, and posts
    touched by more than `max_user_share` of all users (and by over 100 users) are dropped
    from similarity entirely (they dominate the cost of the neighbour search while carrying
    almost no signal). Fitted
    once on the training matrix and applied identically to rows folded in at request time.
    """

    scheme: str
    idf: FloatArray
    keep: FloatArray
    mean_row_sum: float
    k1: float = 1.2
    b: float = 0.75

    @classmethod
    def fit(
        cls, matrix: sp.csr_matrix, scheme: str, k1: float = 1.2, b: float = 0.75, max_user_share: float = 1.0
    ) -> ItemWeighting:
        if scheme not in ("none", "idf", "bm25"):
            raise ValueError(f"unknown item weighting {scheme!r}")
        df = np.bincount(matrix.indices, minlength=matrix.shape[1]).astype(np.float64)
        idf = (np.log(max(matrix.shape[0], 1) / (1.0 + df)) + 1.0).clip(0.1, None).astype(np.float32)
        mean_row_sum = float(np.asarray(matrix.sum(axis=1)).mean()) if matrix.shape[0] else 1.0
        # Small catalogues keep everything: the cut is about cost, which only matters at scale.
        keep = (df <= max(max_user_share * matrix.shape[0], 100.0)).astype(np.float32)
        return cls(scheme=scheme, idf=idf, keep=keep, mean_row_sum=max(mean_row_sum, 1e-9), k1=k1, b=b)

    def _row(self, cols: IntArray, vals: FloatArray, row_sum: float | FloatArray) -> FloatArray:
        if self.scheme == "none":
            return (vals * self.keep[cols]).astype(np.float32)
        if self.scheme == "idf":
            return (vals * self.idf[cols] * self.keep[cols]).astype(np.float32)
        norm = (1.0 - self.b) + self.b * np.asarray(row_sum) / self.mean_row_sum
        tf = vals * (self.k1 + 1.0) / (self.k1 * norm + vals)
        return (tf * self.idf[cols] * self.keep[cols]).astype(np.float32)

    def apply(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        """The reweighted copy of a user×post matrix (same sparsity pattern)."""
        out = matrix.astype(np.float32, copy=True)
        row_sums = np.asarray(matrix.sum(axis=1)).ravel().astype(np.float32)
        rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
        out.data = self._row(matrix.indices, matrix.data, row_sums[rows])
        out.eliminate_zeros()
        return out

    def apply_row(self, cols: IntArray, vals: FloatArray) -> FloatArray:
        """The reweighted values of one folded-in row."""
        return self._row(cols, vals, float(vals.sum()))


def l2_normalise_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Rows scaled to unit L2 norm (zero rows stay zero), so a dot product is a cosine."""
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return (sp.diags(inv.astype(np.float32)) @ matrix).tocsr().astype(np.float32)
