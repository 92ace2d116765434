"""A fitted KnnRecommender as JSON-ready state plus named numeric arrays, and back.

This is what an artifact holds (artifact.py packs both into one file). Reading builds the
model from numbers, strings and numeric arrays only: nothing in a file chooses which code runs.
Every part is stored whole (engine, content vocabulary and idf, post features, id maps, config),
so a loaded model ranks exactly as the fitted one did; nothing is re-derived from data.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np

from app.infrastructure.ml.arrays import ArtifactArrays
from app.infrastructure.ml.collaborative_filter import UserKnn
from app.infrastructure.ml.config import KnnConfig
from app.infrastructure.ml.content_scorer import ContentScorer
from app.infrastructure.ml.ease import Ease
from app.infrastructure.ml.features import PostFeatures
from app.infrastructure.ml.matrix import ItemWeighting
from app.infrastructure.ml.recommender import KnnRecommender

MODEL_KIND = "knn_recommender"
# The constructor parameters of each part, with the JSON type each must have.
USER_KNN = {
    "n_neighbors": int,
    "item_weighting": str,
    "max_item_user_share": float,
    "similarity_exponent": float,
    "users_per_item_cap": int,
    "max_fold_in_candidates": int,
    "batch_size": int,
    "n_jobs": int,
    "exact_max_users": int,
}
EASE = {"l2": float, "max_items": int, "keep_per_item": int}
CONTENT = {"max_features": int, "min_df": int}
WEIGHTING = {"scheme": str, "mean_row_sum": float, "k1": float, "b": float}


def model_state(model: KnnRecommender, arrays: ArtifactArrays) -> dict[str, Any]:
    """The model's JSON-ready state; its arrays go into `arrays`."""
    arrays.put_sparse("matrix", model.matrix_)
    arrays.put("user_rows", np.fromiter(model.user_index_.values(), dtype=np.int64))
    arrays.put("post_columns", np.fromiter(model.post_index_.values(), dtype=np.int64))
    content = model.content_
    return {
        "kind": MODEL_KIND,
        "config": model.config.as_dict(),
        "trained_at": model.trained_at.isoformat(),
        "user_keys": list(model.user_index_),
        "post_keys": list(model.post_index_),
        "post_uuids": [str(post) for post in model.post_uuids_],
        "features": _features_state(model.features_, arrays.scope("features")),
        "engine": _engine_state(model.engine_, arrays.scope("engine")),
        "content": _content_state(content, arrays.scope("content")) if content is not None else None,
    }


def model_from_state(state: Mapping[str, Any], arrays: ArtifactArrays) -> KnnRecommender:
    """The model `model_state` described; raises ValueError, KeyError or TypeError when the state
    or an array is missing or not what the model needs."""
    if state.get("kind") != MODEL_KIND:
        raise ValueError(f"unknown model kind {state.get('kind')!r}; this code reads {MODEL_KIND!r}")
    config = KnnConfig(**_mapping(state["config"], "config"))
    model = KnnRecommender(config)
    model.trained_at = datetime.fromisoformat(_string(state["trained_at"], "trained_at"))
    model.matrix_ = arrays.get_csr("matrix")
    model.user_index_ = _index(state["user_keys"], arrays.get("user_rows", np.int64), "user")
    model.post_index_ = _index(state["post_keys"], arrays.get("post_columns", np.int64), "post")
    model.post_uuids_ = [UUID(text) for text in _strings(state["post_uuids"], "post_uuids")]
    model.engine_ = _engine_from_state(_mapping(state["engine"], "engine"), arrays.scope("engine"))
    content = state["content"]
    model.content_ = (
        None
        if content is None
        else _content_from_state(_mapping(content, "content"), arrays.scope("content"))
    )
    return model.with_features(
        _features_from_state(_mapping(state["features"], "features"), arrays.scope("features"))
    )


def _engine_state(engine: UserKnn | Ease, arrays: ArtifactArrays) -> dict[str, Any]:
    if isinstance(engine, Ease):
        arrays.put("kept", engine.kept_)
        arrays.put("column_of", engine.column_of_)
        arrays.put_sparse("weights", engine.weights_)
        return {"kind": "ease", "params": _plain(engine, EASE)}
    weighting = engine.weighting_
    arrays.put("weighting.idf", weighting.idf)
    arrays.put("weighting.keep", weighting.keep)
    arrays.put_sparse("normed", engine.normed_)
    arrays.put_sparse("evidence", engine.evidence_)
    arrays.put_sparse("item_users", engine.item_users_)
    arrays.put("neighbours", engine.neighbours_)
    arrays.put("similarities", engine.similarities_)
    return {"kind": "user_knn", "params": _plain(engine, USER_KNN), "weighting": _plain(weighting, WEIGHTING)}


def _engine_from_state(state: Mapping[str, Any], arrays: ArtifactArrays) -> UserKnn | Ease:
    if state.get("kind") == "ease":
        ease = Ease(**_params(state["params"], EASE))
        ease.kept_ = arrays.get("kept", np.int32)
        ease.column_of_ = arrays.get("column_of", np.int32)
        ease.weights_ = arrays.get_csr("weights")
        return ease
    if state.get("kind") != "user_knn":
        raise ValueError(f"unknown engine {state.get('kind')!r}")
    knn = UserKnn(**_params(state["params"], USER_KNN))
    knn.weighting_ = ItemWeighting(
        idf=arrays.get("weighting.idf", np.float32),
        keep=arrays.get("weighting.keep", np.float32),
        **_params(state["weighting"], WEIGHTING),
    )
    knn.normed_ = arrays.get_csr("normed")
    knn.evidence_ = arrays.get_csr("evidence")
    knn.item_users_ = arrays.get_csc("item_users")
    knn.neighbours_ = arrays.get("neighbours", np.int32, ndim=2)
    knn.similarities_ = arrays.get("similarities", np.float32, ndim=2)
    return knn


def _content_state(content: ContentScorer, arrays: ArtifactArrays) -> dict[str, Any]:
    arrays.put("idf", content.idf_)
    arrays.put_sparse("post_vectors", content.post_vectors_)
    # Terms in column order: the vocabulary maps each term to its column, 0 to n - 1.
    terms = sorted(content.vocabulary_, key=content.vocabulary_.__getitem__)
    if [content.vocabulary_[term] for term in terms] != list(range(len(terms))):
        raise ValueError("the content vocabulary does not number its columns 0 to n - 1")
    return {"params": _plain(content, CONTENT), "terms": terms}


def _content_from_state(state: Mapping[str, Any], arrays: ArtifactArrays) -> ContentScorer:
    content = ContentScorer(**_params(state["params"], CONTENT))
    content.idf_ = arrays.get("idf", np.float32)
    content.post_vectors_ = arrays.get_csr("post_vectors")
    terms = _strings(state["terms"], "terms")
    content.vocabulary_ = {term: column for column, term in enumerate(terms)}
    sizes = {len(content.vocabulary_), len(content.idf_), content.post_vectors_.shape[1]}
    if sizes != {len(terms)}:
        raise ValueError("the content vocabulary does not match its vectors")
    return content


def _features_state(features: PostFeatures, arrays: ArtifactArrays) -> dict[str, Any]:
    arrays.put("created_hours", features.created_hours)
    arrays.put("author_codes", features.author_codes)
    arrays.put("author_popularity", features.author_popularity)
    arrays.put("engagement", features.engagement)
    arrays.put("trending", features.trending)
    return {"author_ids": [str(author) for author in features.author_ids]}


def _features_from_state(state: Mapping[str, Any], arrays: ArtifactArrays) -> PostFeatures:
    return PostFeatures(
        created_hours=arrays.get("created_hours", np.float64),
        author_codes=arrays.get("author_codes", np.int32),
        author_ids=np.asarray(_strings(state["author_ids"], "author_ids"), dtype=object).reshape(-1),
        author_popularity=arrays.get("author_popularity", np.float32),
        engagement=arrays.get("engagement", np.float32),
        trending=arrays.get("trending", np.float32),
    )


def _plain(part: object, spec: Mapping[str, type]) -> dict[str, Any]:
    """The part's parameters as plain JSON values (numpy scalars become Python numbers)."""
    values = {name: getattr(part, name) for name in spec}
    return {name: value.item() if isinstance(value, np.generic) else value for name, value in values.items()}


def _params(raw: object, spec: Mapping[str, type]) -> dict[str, Any]:
    """Exactly the parameters of `spec`, each of its type (an int is a float too, a bool is neither)."""
    params = _mapping(raw, "parameters")
    if set(params) != set(spec):
        raise ValueError(f"expected the parameters {sorted(spec)}, found {sorted(params)}")
    for name, kind in spec.items():
        value = params[name]
        allowed = (int, float) if kind is float else (kind,)
        if isinstance(value, bool) or not isinstance(value, allowed):
            raise TypeError(f"parameter {name} is {value!r}, expected {kind.__name__}")
    return params


def _index(keys: object, positions: np.ndarray[Any, Any], name: str) -> dict[str, int]:
    texts = _strings(keys, f"{name} keys")
    if len(texts) != len(positions):
        raise ValueError(f"{len(texts)} {name} keys but {len(positions)} positions")
    return dict(zip(texts, positions.tolist(), strict=True))


def _mapping(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{name} is {type(value).__name__}, expected an object")
    return value


def _string(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} is {type(value).__name__}, expected a string")
    return value


def _strings(value: object, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError(f"{name} is not a list of strings")
    return value
