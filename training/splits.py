"""Held-out splits per user: temporal (the last share of each user's interactions) or random."""

from __future__ import annotations

import numpy as np
import pandas as pd


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
