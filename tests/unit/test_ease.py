"""The EASE engine serves through the same blend, reasons, exclusions and fold-in as user-KNN."""

from __future__ import annotations

import pickle
from datetime import timedelta

import numpy as np
import pytest
import scipy.sparse as sp

from app.domain.entities import Reason
from app.infrastructure.ml.config import KnnConfig
from app.infrastructure.ml.ease import Ease
from app.infrastructure.ml.recommender import KnnRecommender
from tests.unit.test_collaborative_filter import NOW, history, make_frames, query, uid


@pytest.fixture(scope="module")
def model() -> KnnRecommender:
    interactions, posts, users = make_frames()
    return KnnRecommender(KnnConfig(engine="ease", ease_l2=0.5)).fit(interactions, posts, users)


def test_a_post_liked_with_the_users_posts_comes_first(model: KnnRecommender) -> None:
    recs = model.recommend(query("u1", ["p1", "p2"]))
    assert recs[0].post_id == uid("p3")
    assert recs[0].reason is Reason.COLLABORATIVE_FILTERING
    scores = [r.score for r in recs]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_excluded_and_own_posts_never_appear(model: KnnRecommender) -> None:
    recs = model.recommend(query("u1", ["p1", "p2"], exclude=frozenset({uid("p1"), uid("p2"), uid("p3")})))
    ids = {r.post_id for r in recs}
    assert ids.isdisjoint({uid("p1"), uid("p2"), uid("p3"), uid("p4")})


def test_a_newcomer_and_newer_history_are_scored_from_the_request_history(model: KnnRecommender) -> None:
    assert model.recommend(query("newcomer", ["p5", "p6"]))[0].post_id == uid("p7")
    moved = history("u1", ["p5", "p6"], at=NOW - timedelta(hours=1))
    recs = model.recommend(query("u1", [], history=moved, exclude=frozenset({uid("p5"), uid("p6")})))
    assert recs[0].post_id == uid("p7")


def test_an_empty_history_gets_trending_posts(model: KnnRecommender) -> None:
    recs = model.recommend(query("stranger", [], exclude=frozenset()))
    assert recs
    assert all(r.reason is Reason.TRENDING for r in recs)


def test_a_fitted_ease_model_survives_pickling(model: KnnRecommender) -> None:
    clone = pickle.loads(pickle.dumps(model))
    assert clone.recommend(query("u1", ["p1", "p2"])) == model.recommend(query("u1", ["p1", "p2"]))


def test_weights_match_the_closed_form_on_a_small_matrix() -> None:
    rng = np.random.default_rng(0)
    matrix = sp.random(60, 12, density=0.3, format="csr", random_state=rng, dtype=np.float64)
    matrix.data[:] = 1.0
    engine = Ease(l2=0.2, keep_per_item=12).fit(matrix)
    gram = (matrix.T @ matrix).toarray()
    inverse = np.linalg.inv(gram + 0.2 * np.diag(gram).mean() * np.eye(12))
    expected = inverse / -np.diag(inverse)[None, :]
    np.fill_diagonal(expected, 0.0)
    kept = engine.kept_
    np.testing.assert_allclose(engine.weights_.toarray(), expected[np.ix_(kept, kept)], rtol=1e-4, atol=1e-6)


def test_only_the_most_engaged_posts_enter_the_inverse() -> None:
    matrix = sp.csr_matrix(np.array([[1, 1, 0, 1], [1, 1, 0, 0], [1, 0, 1, 0]], dtype=np.float32))
    engine = Ease(l2=1.0, max_items=2).fit(matrix)
    assert engine.kept_.tolist() == [0, 1]
    scores = engine.history_scores(np.array([0], dtype=np.int32), np.array([1.0], dtype=np.float32))
    assert scores[2] == 0.0
    assert scores[3] == 0.0
    assert scores.max() == pytest.approx(1.0)
