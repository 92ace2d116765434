"""TF-IDF content similarity between posts and a user's profile."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

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


def test_new_posts_are_vectorised_bit_for_bit_as_scikit_learn_would_without_importing_it() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    words = [
        "Pasta",
        "sauce",
        "the",
        "GOAL",
        "match",
        "café",
        "naïve",
        "Straße",
        "日本語",
        "it's",
        "co-op",
        "a1",
        "x",
    ]
    # 60 training posts (so min_df=2 and max_features cut terms) and unseen ones of every kind.
    catalogue = [" ".join(words[(i * 7 + j * 3) % len(words)] for j in range(i % 9 + 1)) for i in range(60)]
    unseen = [
        "PASTA pasta Pasta, sauce!",
        "the and of a",  # stop words only
        "",
        "goal-match 42 __init__ café CAFÉ",
        "words the catalogue never had",
        *catalogue[:5],
    ]
    scorer = ContentScorer(max_features=8, min_df=2).fit(catalogue)
    reference = TfidfVectorizer(
        max_features=8, min_df=2, sublinear_tf=True, stop_words="english", dtype=np.float32
    )
    expected = sp.csr_matrix(reference.fit(catalogue).transform(unseen))
    actual = scorer.vectorise(unseen)
    assert actual.dtype == expected.dtype == np.float32
    assert np.array_equal(actual.indptr, expected.indptr)
    assert np.array_equal(actual.indices, expected.indices)
    assert np.array_equal(actual.data, expected.data)  # equal, not merely close
    assert len(scorer.vocabulary_) == 8
    assert actual.nnz > 10  # most unseen posts share terms with the catalogue
