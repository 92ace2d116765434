"""Content similarity: TF-IDF over post text, topic and hashtags against a user's profile."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp

from app.infrastructure.ml.matrix import FloatArray, IntArray

# scikit-learn's default tokens: two or more word characters, after lower-casing.
TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")


def post_text(content: str | None, topic: str | None, hashtags: Iterable[str] | None) -> str:
    """The text a post is vectorised from; the topic is repeated because it is the
    strongest single signal of what the post is about."""
    tags = " ".join(str(tag).lstrip("#") for tag in (hashtags or ()))
    topic_text = f"{topic} {topic}" if topic else ""
    return f"{content or ''} {topic_text} {tags}".strip()


class ContentScorer:
    """TF-IDF post vectors (unit L2 rows) fitted on the training catalogue.

    Similarities are cosines in [0, 1]; a user profile is the weighted mean of the vectors
    of the posts they interacted with. Fitting uses scikit-learn; serving keeps only the
    vocabulary (term → column) and the idf weights, and vectorises new posts itself.
    """

    def __init__(self, *, max_features: int = 50_000, min_df: int = 2) -> None:
        self.max_features = max_features
        self.min_df = min_df

    def fit(self, texts: Sequence[str]) -> ContentScorer:
        # Training only: the service never imports scikit-learn.
        from sklearn.feature_extraction.text import TfidfVectorizer

        min_df = self.min_df if len(texts) >= 50 else 1
        # `vectorise` repeats the transform these settings define: word tokens of TOKEN_PATTERN,
        # lower case, unigrams, sublinear tf, smoothed idf, unit L2 rows, float32.
        vectorizer = TfidfVectorizer(
            max_features=self.max_features,
            min_df=min_df,
            sublinear_tf=True,
            stop_words="english",
            dtype=np.float32,
        )
        self.post_vectors_: sp.csr_matrix = sp.csr_matrix(vectorizer.fit_transform(texts))
        self.vocabulary_: dict[str, int] = {term: int(i) for term, i in vectorizer.vocabulary_.items()}
        self.idf_: FloatArray = np.asarray(vectorizer.idf_, dtype=np.float32)
        return self

    def vectorise(self, texts: Sequence[str]) -> sp.csr_matrix:
        """TF-IDF rows of `texts` over the fitted vocabulary, equal to what the fitted
        scikit-learn vectoriser's transform returns; terms outside the vocabulary (stop words
        among them) are ignored."""
        indptr, columns, counts = [0], list[int](), list[int]()
        for text in texts:
            row: dict[int, int] = {}
            for token in TOKEN_PATTERN.findall(text.lower()):
                column = self.vocabulary_.get(token)
                if column is not None:
                    row[column] = row.get(column, 0) + 1
            columns.extend(row)
            counts.extend(row.values())
            indptr.append(len(columns))
        matrix = sp.csr_matrix(
            (np.asarray(counts, dtype=np.float32), np.asarray(columns, dtype=np.int32), indptr),
            shape=(len(texts), len(self.idf_)),
        )
        matrix.sort_indices()
        # The same float32 steps as scikit-learn, so the rows are bit for bit the same.
        np.log(matrix.data, out=matrix.data)
        matrix.data += 1.0
        matrix.data *= self.idf_[matrix.indices]
        rows = np.repeat(np.arange(len(texts)), np.diff(matrix.indptr))
        squares = (matrix.data * matrix.data).astype(np.float64)
        norms = np.sqrt(np.bincount(rows, weights=squares, minlength=len(texts)))
        matrix.data = (matrix.data / norms[rows]).astype(np.float32)
        return matrix

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
        sims: FloatArray = np.clip(np.asarray(self.vectorise(texts) @ profile).ravel(), 0.0, 1.0).astype(
            np.float32
        )
        return sims
