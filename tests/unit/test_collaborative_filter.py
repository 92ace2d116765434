"""Behaviour of the KNN recommender on tiny hand-made data whose right answers are known."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid5

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from app.domain.entities import Interaction, InteractionType, Post, Reason
from app.domain.ports import RecommendationQuery
from app.infrastructure.ml.collaborative_filter import UserKnn
from app.infrastructure.ml.config import KnnConfig
from app.infrastructure.ml.recommender import KnnRecommender

NOW = datetime(2026, 1, 31, tzinfo=UTC)
NS = UUID("00000000-0000-0000-0000-000000000000")


def uid(name: str) -> UUID:
    return uuid5(NS, name)


# Two taste groups: u1-u3 like cooking posts p1-p3, u4-u6 like football posts p5-p7.
# u1 has not seen p3 and u4 has not seen p7; p4 (written by u1) and p8 nobody engages with much.
LIKES = {
    "u1": ["p1", "p2"],
    "u2": ["p1", "p2", "p3"],
    "u3": ["p1", "p2", "p3"],
    "u4": ["p5", "p6"],
    "u5": ["p5", "p6", "p7"],
    "u6": ["p5", "p6", "p7"],
}
TOPICS = {"p1": "cooking", "p2": "cooking", "p3": "cooking", "p4": "cooking"}
TOPICS |= {"p5": "football", "p6": "football", "p7": "football", "p8": "football"}
TEXT = {"cooking": "pasta recipe kitchen sauce", "football": "goal match striker league"}


def make_frames(likes: dict[str, list[str]] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    likes = likes or LIKES
    rows = [
        (str(uid(user)), str(uid(post)), "like", NOW - timedelta(days=5, hours=i, minutes=j))
        for i, (user, liked) in enumerate(likes.items())
        for j, post in enumerate(liked)
    ]
    interactions = pd.DataFrame(rows, columns=["user_id", "post_id", "interaction_type", "created_at"])
    interactions["created_at"] = pd.to_datetime(interactions["created_at"], utc=True)
    posts = pd.DataFrame(
        {
            "id": [str(uid(p)) for p in TOPICS],
            "author_id": [str(uid("u1" if p == "p4" else "author")) for p in TOPICS],
            "content": [TEXT[t] for t in TOPICS.values()],
            "topic": list(TOPICS.values()),
            "hashtags": [[t] for t in TOPICS.values()],
            "created_at": pd.to_datetime([NOW - timedelta(days=6)] * len(TOPICS), utc=True),
        }
    )
    users = pd.DataFrame({"id": [str(uid(u)) for u in [*likes, "author"]], "follower_count": 10})
    return interactions, posts, users


@pytest.fixture(scope="module")
def model() -> KnnRecommender:
    interactions, posts, users = make_frames()
    return KnnRecommender(KnnConfig(n_neighbors=2)).fit(interactions, posts, users)


def history(user: str, posts: list[str], at: datetime = NOW - timedelta(days=5)) -> list[Interaction]:
    return [Interaction(uid(f"{user}{p}"), uid(user), uid(p), InteractionType.LIKE, at) for p in posts]


def query(user: str, posts: list[str], **overrides: object) -> RecommendationQuery:
    fields: dict[str, object] = {
        "user_id": uid(user),
        "history": history(user, posts),
        "exclude": frozenset(uid(p) for p in posts),
        "limit": 10,
        "now": NOW,
    }
    fields.update(overrides)
    return RecommendationQuery(**fields)  # type: ignore[arg-type]


def rows_of(model: KnnRecommender, *users: str) -> set[int]:
    return {model.user_index_[str(uid(u))] for u in users}


def knn(model: KnnRecommender) -> UserKnn:
    assert isinstance(model.engine_, UserKnn)
    return model.engine_


def test_neighbours_are_the_users_with_the_same_taste(model: KnnRecommender) -> None:
    neighbours, sims = knn(model).neighbours_of(model.user_index_[str(uid("u1"))])
    assert set(neighbours.tolist()) == rows_of(model, "u2", "u3")
    assert np.all((sims > 0) & (sims <= 1))


def test_a_post_liked_by_neighbours_outranks_unrelated_posts(model: KnnRecommender) -> None:
    recs = model.recommend(query("u1", ["p1", "p2"]))
    assert recs[0].post_id == uid("p3")
    assert recs[0].reason is Reason.COLLABORATIVE_FILTERING
    football = {uid(p) for p in ("p5", "p6", "p7", "p8")}
    assert all(r.score < recs[0].score for r in recs if r.post_id in football)


def test_scores_are_in_unit_range_and_sorted_descending(model: KnnRecommender) -> None:
    recs = model.recommend(query("u4", ["p5", "p6"]))
    scores = [r.score for r in recs]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert recs[0].post_id == uid("p7")


def test_excluded_and_own_posts_never_appear(model: KnnRecommender) -> None:
    recs = model.recommend(query("u1", ["p1", "p2"], exclude=frozenset({uid("p1"), uid("p2"), uid("p3")})))
    ids = {r.post_id for r in recs}
    assert uid("p3") not in ids
    assert uid("p4") not in ids  # u1 wrote p4
    assert {uid("p1"), uid("p2")}.isdisjoint(ids)


def test_limit_caps_the_number_of_results(model: KnnRecommender) -> None:
    assert len(model.recommend(query("u1", ["p1", "p2"], limit=2))) == 2


def test_an_empty_history_gets_trending_posts(model: KnnRecommender) -> None:
    recs = model.recommend(query("stranger", [], exclude=frozenset()))
    assert recs
    assert all(r.reason is Reason.TRENDING for r in recs)
    # p1, p2, p5, p6 were liked by three users each; p4 and p8 by nobody.
    assert {r.post_id for r in recs[:4]} == {uid(p) for p in ("p1", "p2", "p5", "p6")}
    assert uid("p8") not in {r.post_id for r in recs}


def test_an_unseen_user_is_folded_in_next_to_the_users_with_the_same_taste(model: KnnRecommender) -> None:
    neighbours, _ = knn(model).fold_in(
        np.array([model.post_index_[str(uid(p))] for p in ("p5", "p6")], dtype=np.int32),
        np.array([5.0, 5.0], dtype=np.float32),
    )
    assert set(neighbours.tolist()) <= rows_of(model, "u4", "u5", "u6")
    assert len(neighbours) == 2
    recs = model.recommend(query("newcomer", ["p5", "p6"]))
    assert recs[0].post_id == uid("p7")


def test_interactions_newer_than_the_model_change_a_known_users_neighbours(model: KnnRecommender) -> None:
    later = NOW - timedelta(hours=1)
    moved = history("u1", ["p5", "p6"], at=later)
    recs = model.recommend(query("u1", [], history=moved, exclude=frozenset({uid("p5"), uid("p6")})))
    assert recs[0].post_id == uid("p7")


def test_new_posts_reach_users_through_content() -> None:
    interactions, posts, users = make_frames()
    model = KnnRecommender(KnnConfig(n_neighbors=2)).fit(interactions, posts, users)
    fresh = [
        Post(
            uid("fresh-cooking"),
            uid("author"),
            "a new pasta sauce recipe",
            NOW - timedelta(hours=1),
            "cooking",
        ),
        Post(
            uid("fresh-football"),
            uid("author"),
            "striker scores a goal",
            NOW - timedelta(hours=1),
            "football",
        ),
    ]
    recs = model.recommend(query("u1", ["p1", "p2"], new_posts=fresh))
    ranked = [r.post_id for r in recs]
    assert uid("fresh-cooking") in ranked
    assert ranked.index(uid("fresh-cooking")) < ranked.index(uid("fresh-football"))
    reason = next(r.reason for r in recs if r.post_id == uid("fresh-cooking"))
    assert reason in {Reason.CONTENT_SIMILARITY, Reason.NEW_POST}


def test_a_fitted_model_survives_pickling_and_keeps_its_answers(model: KnnRecommender) -> None:
    clone = pickle.loads(pickle.dumps(model))
    assert clone.recommend(query("u1", ["p1", "p2"])) == model.recommend(query("u1", ["p1", "p2"]))
    assert clone.config == model.config
    assert clone.trained_at == model.trained_at


def test_config_and_trained_at_describe_the_fit(model: KnnRecommender) -> None:
    assert model.config.as_dict()["n_neighbors"] == 2
    interactions, _, _ = make_frames()
    assert model.trained_at == interactions["created_at"].max().to_pydatetime()


def test_invalid_blend_weights_are_rejected() -> None:
    with pytest.raises(ValueError, match="blend"):
        KnnConfig(blend_cf=0.0, blend_content=0.0, blend_recency=0.0)


def test_the_sparse_neighbour_search_finds_what_scikit_learn_finds() -> None:
    rng = np.random.default_rng(3)
    matrix = sp.random(300, 200, density=0.04, format="csr", random_state=rng, dtype=np.float64)
    matrix.data = rng.integers(1, 10, size=matrix.nnz).astype(np.float64)
    exact = UserKnn(n_neighbors=10, item_weighting="none", exact_max_users=10**9).fit(matrix)
    sparse = UserKnn(n_neighbors=10, item_weighting="none", exact_max_users=0).fit(matrix)
    # The same top-k similarities; among tied users either search may pick either one.
    np.testing.assert_allclose(sparse.similarities_, exact.similarities_, atol=1e-5)
    rows = np.repeat(np.arange(300), 10).reshape(300, 10)
    normed = sparse.normed_
    true = np.asarray(normed[rows.ravel()].multiply(normed[sparse.neighbours_.ravel()]).sum(axis=1)).reshape(
        300, 10
    )
    positive = sparse.similarities_ > 1e-6
    np.testing.assert_allclose(true[positive], sparse.similarities_[positive], atol=1e-5)
    assert not (sparse.neighbours_ == rows)[positive].any()
