"""Frames → sparse matrix, id maps, features; request-time rows match training rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from app.domain.entities import Interaction, InteractionType
from app.infrastructure.ml.config import KnnConfig
from app.infrastructure.ml.matrix import (
    UNDATED_REFERENCE,
    ItemWeighting,
    build_interaction_matrix,
    history_row,
)
from training.preprocess import preprocess

NOW = datetime(2026, 1, 31, tzinfo=UTC)


def make_interactions(rows: list[tuple[str, str, str, datetime]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["user_id", "post_id", "interaction_type", "created_at"])
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    return frame


def test_weights_of_repeated_interactions_on_a_post_are_summed() -> None:
    frame = make_interactions([("a", "x", "view", NOW), ("a", "x", "like", NOW), ("b", "y", "share", NOW)])
    data = build_interaction_matrix(frame)
    assert isinstance(data.matrix, sp.csr_matrix)
    a, x = data.user_index()["a"], data.post_index()["x"]
    assert data.matrix[a, x] == pytest.approx(1 + 5)
    assert data.matrix[data.user_index()["b"], data.post_index()["y"]] == pytest.approx(10)
    assert data.matrix.nnz == 2


def test_custom_weights_and_unknown_types_are_respected() -> None:
    frame = make_interactions([("a", "x", "click", NOW), ("a", "y", "bookmark", NOW)])
    data = build_interaction_matrix(frame, weights={"click": 3.0})
    assert data.matrix[0, data.post_index()["x"]] == pytest.approx(3.0)
    assert data.matrix[0, data.post_index()["y"]] == 0.0


def test_time_decay_halves_a_weight_after_one_half_life() -> None:
    frame = make_interactions([("a", "x", "like", NOW), ("a", "y", "like", NOW - timedelta(hours=24))])
    data = build_interaction_matrix(frame, half_life_hours=24)
    assert data.trained_at == NOW
    assert data.matrix[0, data.post_index()["x"]] == pytest.approx(5.0)
    assert data.matrix[0, data.post_index()["y"]] == pytest.approx(2.5)


def test_posts_nobody_touched_still_get_a_column() -> None:
    frame = make_interactions([("a", "x", "like", NOW)])
    data = build_interaction_matrix(frame, post_ids=["quiet", "x"])
    assert list(data.post_ids) == ["quiet", "x"]
    assert data.shape == (1, 2)


def test_a_request_time_history_gives_the_same_row_as_training() -> None:
    users, posts = [uuid4() for _ in range(2)], [uuid4() for _ in range(3)]
    events = [(users[0], posts[0], "view"), (users[0], posts[0], "click"), (users[0], posts[2], "share")]
    events.append((users[1], posts[1], "like"))
    frame = make_interactions(
        [(str(u), str(p), k, NOW - timedelta(hours=i)) for i, (u, p, k) in enumerate(events)]
    )
    data = build_interaction_matrix(frame, half_life_hours=48)
    history = [
        Interaction(uuid4(), u, p, InteractionType(k), NOW - timedelta(hours=i))
        for i, (u, p, k) in enumerate(events)
        if u == users[0]
    ]
    cols, vals = history_row(
        history,
        data.post_index(),
        weights=KnnConfig().interaction_weights,
        half_life_hours=48,
        reference=data.trained_at,
    )
    row = data.matrix[data.user_index()[str(users[0])]]
    assert np.array_equal(cols, np.sort(row.indices))
    assert np.allclose(vals, row.toarray().ravel()[cols])


def test_bm25_and_idf_shrink_popular_posts() -> None:
    rows = [(f"u{i}", "popular", "like", NOW) for i in range(10)] + [("u0", "niche", "like", NOW)]
    data = build_interaction_matrix(make_interactions(rows))
    pop, niche = data.post_index()["popular"], data.post_index()["niche"]
    for scheme in ("idf", "bm25"):
        weighted = ItemWeighting.fit(data.matrix, scheme).apply(data.matrix)
        assert weighted[0, niche] > weighted[0, pop]


def test_preprocess_builds_features_in_unit_range_and_texts_per_column() -> None:
    frame = make_interactions([("a", "p1", "like", NOW), ("b", "p1", "view", NOW), ("b", "p2", "view", NOW)])
    posts = pd.DataFrame(
        {
            "id": ["p1", "p2", "p3"],
            "author_id": ["a", "b", "b"],
            "content": ["pasta", "goal", "sauce"],
            "topic": ["cooking", "football", "cooking"],
            "hashtags": [["food"], [], ["food"]],
            "created_at": pd.to_datetime([NOW - timedelta(days=2), NOW - timedelta(days=1), NOW], utc=True),
        }
    )
    users = pd.DataFrame({"id": ["a", "b"], "follower_count": [10, 1000]})
    out = preprocess(frame, posts, users)
    assert list(out.data.post_ids) == ["p1", "p2", "p3"]
    assert out.texts is not None
    assert "pasta" in out.texts[0]
    assert "food" in out.texts[0]
    for values in (out.features.author_popularity, out.features.engagement, out.features.trending):
        assert np.all((values >= 0) & (values <= 1))
    assert out.features.engagement[0] == pytest.approx(1.0)  # p1 has the most weight
    assert out.features.author_popularity[1] > out.features.author_popularity[0]  # b has more followers


def test_an_empty_interaction_frame_is_refused() -> None:
    with pytest.raises(ValueError, match="zero interactions"):
        build_interaction_matrix(make_interactions([]))


def test_interactions_without_timestamps_build_an_undecayed_matrix_at_a_fixed_time() -> None:
    frame = pd.DataFrame({"user_id": ["a", "a", "b"], "post_id": ["x", "y", "x"], "weight": [1.0, 3.0, 1.0]})
    data = build_interaction_matrix(frame, half_life_hours=24)
    assert data.trained_at == UNDATED_REFERENCE
    assert data.matrix[data.user_index()["a"], data.post_index()["y"]] == pytest.approx(3.0)


def test_preprocess_without_timestamps_makes_trending_plain_engagement() -> None:
    frame = pd.DataFrame({"user_id": ["a", "b", "b", "c"], "post_id": ["x", "x", "y", "x"], "weight": 1.0})
    out = preprocess(frame)
    x, y = out.data.post_index()["x"], out.data.post_index()["y"]
    assert out.features.trending[x] == pytest.approx(1.0)
    assert out.features.trending[y] == pytest.approx(1 / 3)
    assert np.all(out.features.created_hours == out.features.created_hours[0])
