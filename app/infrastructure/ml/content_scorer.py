"""Content similarity: TF-IDF over post text, topic and hashtags against a user's profile."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from app.infrastructure.ml.matrix import FloatArray, IntArray


def post_text(content: str | None, topic: str | None, hashtags: Iterable[str] | None) -> str:
    """The text a post is vectorised from; the topic is repeated because it is the
    strongest single signal of what the post is about."""
    tags = " ".join(str(tag).lstrip("#") for tag in (hashtags or ()))
    topic_text = f"{topic} {topic}" if topic else ""
    return f"{content or ''} {topic_text} {tags}".strip()


class ContentScorer:
    """TF-IDF post vectors (unit L2 rows) fitted on the training catalogue.

    Similarities are cosines in [0, 1]; a user profile is the weighted mean of the vectors
    of the posts they interacted with.
    """

    def __init__(self, *, max_features: int = 50_000, min_df: int = 2) -> None:
        self.max_features = max_features
        self.min_df = min_df

    def fit(self, texts: Sequence[str]) -> ContentScorer:
        min_df = self.min_df if len(texts) >= 50 else 1
        self.vectorizer_ = TfidfVectorizer(
            max_features=self.max_features,
            min_df=min_df,
            sublinear_tf=True,
            stop_words="english",
            dtype=np.float32,
        )
        self.post_vectors_: sp.csr_matrix = sp.csr_matrix(self.vectorizer_.fit_transform(texts))
        # Only needed for introspection and it can dwarf the vocabulary in a pickle.
        self.vectorizer_.stop_words_ = None
        return self

    def profile(self, cols: IntArray, vals: FloatArray) -> FloatArray:
        """The unit-length weighted mean vector of the given posts (zeros when none)."""
        n_terms = self.post_vectors_.shape[1]
        if len(cols) == 0:
            return np.zeros(n_terms, dtype=np.float32)
        weights = np.log1p(vals).astype(np.float32)
        dense = np.asarray(weights @ self.post_vectors_[cols]).ravel().astype(np.float32)
        norm = float(np.linalg.norm(dense))
        return (dense / norm if norm > 0 else dense).astype(np.float32)

    def similarities(self, profile: FloatArray) -> FloatArray:
        """Cosine of every training post with the profile, in [0, 1]."""
        sims: FloatArray = np.clip(np.asarray(self.post_vectors_ @ profile).ravel(), 0.0, 1.0).astype(
            np.float32
        )
        return sims

    def similarities_for_texts(self, texts: Sequence[str], profile: FloatArray) -> FloatArray:
        """Cosine of unseen posts (vectorised with the fitted vocabulary) with the profile."""
        if not texts:
            return np.empty(0, dtype=np.float32)
        vectors = sp.csr_matrix(self.vectorizer_.transform(texts))
        sims: FloatArray = np.clip(np.asarray(vectors @ profile).ravel(), 0.0, 1.0).astype(np.float32)
        return sims
