"""Held-out splits: per user temporal (the last share of each user's interactions) or random,
and Microsoft Recommenders' per-item stratified split (the "msr" benchmark protocol)."""

from __future__ import annotations

import numpy as np
import pandas as pd

PROTOCOLS = ("temporal", "random", "msr")


def _eligible(interactions: pd.DataFrame, min_interactions: int) -> pd.Series:
    sizes = interactions.groupby("user_id", sort=False)["user_id"].transform("size")
    return sizes >= min_interactions


def temporal_split(
    interactions: pd.DataFrame, test_fraction: float = 0.2, min_interactions: int = 5
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test): for users with ≥ `min_interactions` events, the last `test_fraction` of
    their events by time (at least one) is test; everything else, other users included, is train.

    Events, not posts, are split, so train never sees a user's future; a post the user already
    touched in train is removed from their relevant set at evaluation.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError("test_fraction must be in (0, 1)")
    if "created_at" not in interactions.columns:
        raise ValueError(
            "a temporal split needs timestamps and this data has none: use the msr or random protocol"
        )
    order = interactions.sort_values(["user_id", "created_at"], kind="stable")
    rank = order.groupby("user_id", sort=False).cumcount().to_numpy()
    size = order.groupby("user_id", sort=False)["user_id"].transform("size").to_numpy()
    n_test = np.maximum(1, np.floor(size * test_fraction + 0.5)).astype(np.int64)
    is_test = (size >= min_interactions) & (rank >= size - n_test)
    return order[~is_test], order[is_test]


def random_split(
    interactions: pd.DataFrame, test_fraction: float = 0.25, seed: int = 0, min_interactions: int = 5
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test): per eligible user, a random `test_fraction` of their distinct posts (all
    events on a post go to the same side, so nothing leaks) is test; at least one post stays in train.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError("test_fraction must be in (0, 1)")
    rng = np.random.default_rng(seed)
    pairs = interactions[["user_id", "post_id"]].drop_duplicates().reset_index(drop=True)
    pairs["_key"] = rng.random(len(pairs))
    pairs = pairs.sort_values(["user_id", "_key"], kind="stable")
    rank = pairs.groupby("user_id", sort=False).cumcount().to_numpy()
    n_pairs = pairs.groupby("user_id", sort=False)["user_id"].transform("size").to_numpy()
    n_test = np.minimum(np.maximum(1, np.floor(n_pairs * test_fraction + 0.5)), n_pairs - 1)
    test_pairs = pairs[rank < n_test][["user_id", "post_id"]]
    eligible_users = interactions.loc[_eligible(interactions, min_interactions), "user_id"].unique()
    test_pairs = test_pairs[test_pairs["user_id"].isin(eligible_users)]
    key = pd.MultiIndex.from_frame(interactions[["user_id", "post_id"]])
    is_test = key.isin(pd.MultiIndex.from_frame(test_pairs))
    return interactions[~is_test], interactions[is_test]


def binary_interactions(interactions: pd.DataFrame) -> pd.DataFrame:
    """Every row as one interaction of weight 1, whatever its rating, weight or type (the msr
    protocol's implicit feedback); timestamps are kept when present."""
    keep = [c for c in ("user_id", "post_id", "created_at") if c in interactions.columns]
    return interactions[keep].assign(weight=np.float32(1.0))


def msr_split(
    interactions: pd.DataFrame, ratio: float = 0.75, seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) as Microsoft Recommenders' `python_stratified_split(data, ratio,
    filter_by="item", seed=seed)`: one `numpy.random.seed(seed)` uniform draw per row in frame
    order, rows ordered by (item, draw), and of each item's n rows the first round(ratio·n)
    (half to even) are train. Both sides keep the frame's row order.
    """
    if not 0.0 < ratio < 1.0:
        raise ValueError("ratio must be in (0, 1)")
    draw = np.random.RandomState(seed).rand(len(interactions))  # the legacy stream numpy.random.seed gives
    items = pd.factorize(interactions["post_id"].astype(str))[0]
    order = np.lexsort((draw, items))
    sorted_items = items[order]
    starts = np.flatnonzero(np.r_[True, sorted_items[1:] != sorted_items[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    rank = np.arange(len(order)) - np.repeat(starts, sizes) + 1
    in_train = np.empty(len(order), dtype=bool)
    in_train[order] = rank <= np.repeat(np.round(ratio * sizes), sizes)
    return interactions[in_train], interactions[~in_train]


def split_interactions(
    interactions: pd.DataFrame, split: str, test_fraction: float | None, seed: int, min_interactions: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Dispatch to temporal_split (default fraction 0.2), random_split (0.25) or, for "msr",
    msr_split of the binary interactions (0.25 test, so the ratio is 0.75)."""
    if split == "temporal":
        return temporal_split(interactions, test_fraction or 0.2, min_interactions)
    if split == "random":
        return random_split(interactions, test_fraction or 0.25, seed, min_interactions)
    if split == "msr":
        return msr_split(binary_interactions(interactions), 1.0 - (test_fraction or 0.25), seed)
    raise ValueError(f"unknown split {split!r}; expected one of {PROTOCOLS}")
