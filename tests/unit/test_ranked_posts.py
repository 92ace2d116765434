"""A ranked list held as columns reads back exactly what it was made of."""

from __future__ import annotations

import gc
import uuid

import pytest

from app.domain import ranking
from app.domain.entities import RankedPosts, Reason, Recommendation


def recommendations(n: int) -> list[Recommendation]:
    reasons = list(Reason)
    return [Recommendation(uuid.uuid4(), i / n, reasons[i % len(reasons)]) for i in range(n)]


def test_a_list_reads_back_its_items_in_order() -> None:
    items = recommendations(7)
    listed = RankedPosts(items)
    assert list(listed) == items
    assert [listed[i] for i in range(7)] == items
    assert listed[-1] == items[-1]
    assert list(listed[2:5]) == items[2:5]
    assert listed.post_ids() == [r.post_id for r in items]
    assert list(listed.at([4, 0])) == [items[4], items[0]]
    assert listed.reason_values == tuple(r.reason.value for r in items)
    assert listed.ids == tuple(r.post_id.int for r in items)
    assert len(listed) == 7
    assert len(RankedPosts()) == 0


def test_lists_are_equal_by_content_and_hash_alike() -> None:
    items = recommendations(5)
    assert RankedPosts(items) == RankedPosts(items)
    assert hash(RankedPosts(items)) == hash(RankedPosts(items))
    assert RankedPosts(items) != RankedPosts(items[:4])
    assert RankedPosts(items) != tuple(items)


def test_columns_make_the_same_list_and_are_checked() -> None:
    items = recommendations(4)
    columns = RankedPosts.from_columns(
        (r.post_id.int for r in items), (r.score for r in items), (r.reason for r in items)
    )
    assert columns == RankedPosts(items)
    with pytest.raises(ValueError, match="as long"):
        RankedPosts.from_columns([1, 2], [0.5], [Reason.TRENDING])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        RankedPosts.from_columns([1], [float("nan")], [Reason.TRENDING])


def test_the_collector_does_not_walk_the_posts_of_a_kept_list() -> None:
    listed = RankedPosts(recommendations(200))
    gc.collect()
    # Only the list object itself is tracked: its columns hold numbers and bytes.
    columns = [c for c in gc.get_referents(listed) if not isinstance(c, type)]
    assert len(columns) == 3
    assert not any(gc.is_tracked(column) for column in columns)


def test_scrolling_skips_excluded_posts_by_position() -> None:
    items = recommendations(6)
    listed = RankedPosts(items)
    hidden = frozenset({items[1].post_id, items[4].post_id})
    page, after = ranking.scroll(listed, hidden, 0, 2)
    assert list(page) == [items[0], items[2]]
    assert after == 3
    page, after = ranking.scroll(listed, hidden, after, 5)
    assert list(page) == [items[3], items[5]]
    assert after is None
    assert ranking.position_of(listed, hidden, 2) == 3
    assert ranking.position_of(listed, hidden, 9) == 6
