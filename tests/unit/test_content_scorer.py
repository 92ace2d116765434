"""TF-IDF content similarity between posts and a user's profile."""

from __future__ import annotations

import numpy as np

from app.infrastructure.ml.content_scorer import ContentScorer, post_text

TEXTS = [
    post_text("homemade pasta with tomato sauce", "cooking", ["food", "recipe"]),
    post_text("the best kitchen knives for a chef", "cooking", ["food"]),
    post_text("late goal wins the league match", "football", ["sport"]),
    post_text("striker transfer rumours before the match", "football", ["sport"]),
]


def scorer() -> ContentScorer:
    return ContentScorer().fit(TEXTS)


def test_post_text_includes_topic_and_hashtags_without_the_hash() -> None:
    text = post_text("hello", "music", ["#jazz", "live"])
    assert "music" in text
    assert "jazz" in text
    assert "#" not in text


def test_a_profile_of_cooking_posts_prefers_cooking_posts() -> None:
    s = scorer()
    profile = s.profile(np.array([0], dtype=np.int32), np.array([5.0], dtype=np.float32))
    sims = s.similarities(profile)
    assert sims[1] > sims[2]
    assert sims[1] > sims[3]
    assert np.all((sims >= 0) & (sims <= 1))
    assert sims[0] == max(sims)


def test_unseen_posts_are_scored_with_the_fitted_vocabulary() -> None:
    s = scorer()
    profile = s.profile(np.array([2, 3], dtype=np.int32), np.array([1.0, 10.0], dtype=np.float32))
    sims = s.similarities_for_texts(
        [post_text("a new match report", "football", []), "pasta recipe"], profile
    )
    assert sims[0] > sims[1]


def test_an_empty_profile_is_similar_to_nothing() -> None:
    s = scorer()
    profile = s.profile(np.empty(0, dtype=np.int32), np.empty(0, dtype=np.float32))
    assert not s.similarities(profile).any()
    assert s.similarities_for_texts([], profile).size == 0
