"""The msr protocol's split against a plain re-implementation of Microsoft Recommenders' one."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from training.splits import binary_interactions, msr_split, temporal_split


def reference_stratified_split(
    data: pd.DataFrame, ratio: float = 0.75, seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Their python_stratified_split(filter_by="item") step by step: seed the global numpy
    generator, one uniform draw per row, sort by (item, draw), rank within the item and keep
    ranks up to round(ratio * count) for train."""
    data = data.copy()
    np.random.seed(seed)
    data["random"] = np.random.rand(data.shape[0])
    data = data.sort_values(["post_id", "random"])
    groups = data.groupby("post_id")
    count = groups["post_id"].transform("count")
    rank = groups.cumcount() + 1
    in_train = rank <= round(ratio * count)
    return data[in_train].drop(columns="random"), data[~in_train].drop(columns="random")


def make_ratings() -> pd.DataFrame:
    """Items with 1, 2, 3, 5, 6 and 10 rows (2, 6 and 10 put 0.75·n on a .5 tie), a repeated
    (user, item) pair, integer-looking and free-text ids."""
    sizes = {"solo": 1, "pair": 2, "7": 3, "five": 5, "six": 6, "ten": 10}
    rows = [
        (f"u{(i * 7 + j) % 9}", item, 1.0 + j % 5)
        for i, (item, n) in enumerate(sizes.items())
        for j in range(n)
    ]
    rows.append(rows[-1])
    frame = pd.DataFrame(rows, columns=["user_id", "post_id", "weight"])
    return frame.sample(frac=1.0, random_state=3).reset_index(drop=True)


def test_the_msr_split_matches_the_reference_row_for_row() -> None:
    frame = make_ratings()
    train, test = msr_split(frame)
    ref_train, ref_test = reference_stratified_split(frame)
    assert sorted(train.index) == sorted(ref_train.index)
    assert sorted(test.index) == sorted(ref_test.index)
    assert train.index.is_monotonic_increasing  # the frame's order is kept


def test_the_msr_split_matches_the_reference_for_other_seeds_and_ratios() -> None:
    frame = make_ratings()
    for seed, ratio in ((0, 0.75), (7, 0.5), (42, 0.8)):
        train, _ = msr_split(frame, ratio=ratio, seed=seed)
        ref_train, _ = reference_stratified_split(frame, ratio=ratio, seed=seed)
        assert sorted(train.index) == sorted(ref_train.index)


def test_every_item_with_n_rows_puts_round_three_quarters_of_n_in_train() -> None:
    rows = [("u", f"item{n}") for n in range(1, 16) for _ in range(n)]
    frame = pd.DataFrame(rows, columns=["user_id", "post_id"])
    train, test = msr_split(frame)
    in_train = train.groupby("post_id").size()
    for n in range(1, 16):
        assert in_train.get(f"item{n}", 0) == round(0.75 * n), n
    assert in_train["item2"] == 2
    assert in_train["item6"] == 4  # 4.5 rounds half to even
    assert in_train["item10"] == 8
    assert len(train) + len(test) == len(frame)


def test_binary_interactions_weigh_every_row_one_whatever_its_rating() -> None:
    frame = pd.DataFrame(
        {
            "user_id": ["a", "b"],
            "post_id": ["x", "x"],
            "weight": [4.5, 0.5],
            "interaction_type": ["like", "view"],
        }
    )
    out = binary_interactions(frame)
    assert list(out.columns) == ["user_id", "post_id", "weight"]
    assert out["weight"].tolist() == [1.0, 1.0]


def test_a_temporal_split_of_data_without_timestamps_is_refused() -> None:
    frame = pd.DataFrame({"user_id": ["a"] * 5, "post_id": list("vwxyz"), "weight": 1.0})
    with pytest.raises(ValueError, match="msr or random"):
        temporal_split(frame)
    dated = frame.assign(created_at=pd.Timestamp(datetime(2026, 1, 1, tzinfo=UTC)))
    assert len(temporal_split(dated)[1]) == 1
