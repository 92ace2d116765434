"""A model trained on a file with integer ids serves the uuid5 of those ids: personalised, with
seen and own posts excluded, for both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from app.domain.entities import HistoryItem, Interaction, InteractionType, Reason
from app.domain.ports import RecommendationQuery
from app.infrastructure.ml.config import KnnConfig
from app.infrastructure.ml.recommender import KnnRecommender, as_uuid
from training.holdout import build_evaluation_set

NOW = datetime(2026, 1, 31, tzinfo=UTC)
# Users 1-3 like movies 10-12, users 4-6 like movies 20-22; user 1 has not seen 12.
LIKES = {1: [10, 11], 2: [10, 11, 12], 3: [10, 11, 12], 4: [20, 21], 5: [20, 21, 22], 6: [20, 21, 22]}


def integer_frame() -> pd.DataFrame:
    rows = [(user, movie, 1.0) for user, movies in LIKES.items() for movie in movies]
    frame = pd.DataFrame(rows, columns=["user_id", "post_id", "weight"])
    frame["created_at"] = pd.Timestamp(NOW - timedelta(days=3))
    return frame.astype({"user_id": str, "post_id": str})


def query_for(user: int, seen: list[int]) -> RecommendationQuery:
    history = [
        Interaction(as_uuid(f"{user}-{m}"), as_uuid(str(user)), as_uuid(str(m)), InteractionType.LIKE, NOW)
        for m in seen
    ]
    exclude = frozenset(as_uuid(str(m)) for m in seen)
    return RecommendationQuery(as_uuid(str(user)), history, exclude, 10, NOW)


@pytest.mark.parametrize("engine", ["user_knn", "ease"])
def test_integer_ids_are_served_through_their_uuid5(engine: str) -> None:
    config = KnnConfig(engine=engine, n_neighbors=2, ease_l2=0.5, blend_content=0.0)
    model = KnnRecommender(config).fit(integer_frame())
    recs = model.recommend(query_for(1, [10, 11]))
    assert recs[0].post_id == as_uuid("12")
    assert recs[0].reason is Reason.COLLABORATIVE_FILTERING
    assert {as_uuid("10"), as_uuid("11")}.isdisjoint(r.post_id for r in recs)


def test_a_known_integer_user_is_found_without_a_history_newer_than_the_model() -> None:
    model = KnnRecommender(KnnConfig(n_neighbors=2, blend_content=0.0)).fit(integer_frame())
    assert model.user_index_[str(as_uuid("1"))] >= 0
    stale = query_for(4, [20, 21])
    old = [HistoryItem(h.post_id, h.kind, NOW - timedelta(days=4)) for h in stale.history]
    recs = model.recommend(RecommendationQuery(stale.user_id, old, stale.exclude, 10, NOW))
    assert recs[0].post_id == as_uuid("22")


def test_evaluation_finds_integer_ids_in_a_model_keyed_by_uuid() -> None:
    model = KnnRecommender(KnnConfig(n_neighbors=2, blend_content=0.0)).fit(integer_frame())
    test = pd.DataFrame({"user_id": ["1"], "post_id": ["12"]})
    eval_set = build_evaluation_set(model.matrix_, model.user_index_, model.post_index_, test)
    assert eval_set.rows.tolist() == [model.user_index_[str(as_uuid("1"))]]
    assert eval_set.relevant[0].tolist() == [model.post_index_[str(as_uuid("12"))]]
