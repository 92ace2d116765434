"""Hyperparameter search with Optuna on a validation cut of the TRAINING data (never the test split).

Every setting that changes results is searched here, per engine: user-KNN's neighbours, item
weighting, popularity cutoff and similarity exponent, EASE's regularisation, and the blend
weights (content only when posts have text, recency only when interactions have times). Fitted
engines are cached by the settings that need a refit, so trials that only change how a fit is
read (k, exponent, blend) cost an evaluation, not a fit.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
import pandas as pd

from app.infrastructure.ml.collaborative_filter import UserKnn
from app.infrastructure.ml.config import KnnConfig
from app.infrastructure.ml.recommender import KnnRecommender
from training.holdout import build_evaluation_set, evaluate_rankers, knn_ranker
from training.splits import msr_split, random_split, temporal_split

Splitter = Callable[[pd.DataFrame], tuple[pd.DataFrame, pd.DataFrame]]
METRIC = "ndcg@10"
# user-KNN is fitted once with the largest k; smaller k read a prefix of its neighbour lists.
MAX_NEIGHBOURS = 400
SHARE_CUTOFFS = (1.0, 0.1, 0.03, 0.01)
EASE_L2 = (5.0, 10.0, 20.0, 30.0, 50.0, 100.0, 200.0)
# A tuned configuration must beat the default by this share on validation, or the default
# stays: smaller gains on one validation cut did not hold on the test cut.
MIN_GAIN = 0.01
# EASE's cost is the inverse (cubic in posts): trials invert the densest posts only. Its λ is
# scaled over every engaged post, so the chosen value carries over to the full fit.
TUNING_EASE_ITEMS = 3000


@dataclass(frozen=True, slots=True)
class Budget:
    """Stop after `seconds` or `trials`, whichever comes first."""

    seconds: float = 60.0
    trials: int = 60


def budget_for(n_interactions: int) -> Budget:
    """In all: 60 s at 100k interactions (less below, at least 10 s), growing linearly to
    10 minutes at 5M and beyond."""
    if n_interactions <= 100_000:
        return Budget(seconds=max(10.0, 60.0 * n_interactions / 100_000), trials=60)
    seconds = 60.0 + 540.0 * min((n_interactions - 100_000) / 4_900_000, 1.0)
    return Budget(seconds=seconds, trials=60)


def temporal_validation(train: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return temporal_split(train, 0.2)


def validation_splitter(protocol: str, dated: bool, seed: int = 0) -> Splitter:
    """The validation cut of train made the way `protocol` made the test cut: per item at
    random for msr, each user's latest 20% when there are times, else a random 25% per user."""
    if protocol == "msr":
        return lambda train: msr_split(train, 0.75, seed + 1)
    if dated:
        return temporal_validation
    return lambda train: random_split(train, 0.25, seed)


def _suggest(trial: optuna.Trial, base: KnnConfig, has_text: bool, has_time: bool) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if base.engine == "user_knn":
        params["item_weighting"] = trial.suggest_categorical("item_weighting", ["none", "idf", "bm25"])
        params["max_item_user_share"] = trial.suggest_categorical("max_item_user_share", SHARE_CUTOFFS)
        params["n_neighbors"] = trial.suggest_int("n_neighbors", 10, MAX_NEIGHBOURS, log=True)
        params["similarity_exponent"] = trial.suggest_float("similarity_exponent", 1.0, 3.0)
    elif base.engine == "ease":
        params["ease_l2"] = trial.suggest_categorical("ease_l2", EASE_L2)
    content = trial.suggest_float("blend_content", 0.0, 0.5) if has_text else 0.0
    recency = trial.suggest_float("blend_recency", 0.0, 0.3) if has_time else 0.0
    params.update(blend_cf=round(1.0 - content - recency, 6), blend_content=content, blend_recency=recency)
    return params


def _fit_key(cfg: KnnConfig) -> tuple[Any, ...]:
    """The settings that need a refit; the rest change only how the fitted model is read."""
    if cfg.engine == "user_knn":
        return (cfg.engine, cfg.item_weighting, cfg.max_item_user_share)
    return (cfg.engine, cfg.ease_l2, cfg.ease_max_items, cfg.ease_keep_per_item)


class _Objective:
    def __init__(
        self, fit_part: pd.DataFrame, valid_part: pd.DataFrame, posts: pd.DataFrame | None,
        users: pd.DataFrame | None, base: KnnConfig, max_users: int | None, seed: int,
    ) -> None:  # fmt: skip
        self.fit_part, self.valid_part, self.posts, self.users = fit_part, valid_part, posts, users
        self.base, self.max_users, self.seed = base, max_users, seed
        self.has_text = posts is not None and "content" in posts.columns and base.blend_content > 0
        self.has_time = "created_at" in fit_part.columns and base.blend_recency > 0
        self.models: dict[tuple[Any, ...], KnnRecommender] = {}
        self.eval_sets: dict[int, Any] = {}
        self.trials: list[dict[str, Any]] = []

    def _model(self, cfg: KnnConfig) -> KnnRecommender:
        key = _fit_key(cfg)
        if key not in self.models:
            fit_cfg = (
                cfg.with_changes(n_neighbors=MAX_NEIGHBOURS)
                if cfg.engine == "user_knn"
                else cfg.with_changes(ease_max_items=min(cfg.ease_max_items, TUNING_EASE_ITEMS))
            )
            self.models[key] = KnnRecommender(fit_cfg).fit(self.fit_part, self.posts, self.users)
        model = self.models[key]
        model.config = cfg
        if isinstance(model.engine_, UserKnn):
            model.engine_.n_neighbors = cfg.n_neighbors
            model.engine_.similarity_exponent = cfg.similarity_exponent
        return model

    def score(self, cfg: KnnConfig) -> float:
        model = self._model(cfg)
        eval_set = self.eval_sets.get(id(model))
        if eval_set is None:
            index = (model.matrix_, model.user_index_, model.post_index_)
            eval_set = build_evaluation_set(*index, self.valid_part, self.max_users, self.seed)
            self.eval_sets[id(model)] = eval_set
        if len(eval_set.rows) == 0:
            return 0.0
        return float(evaluate_rankers({"m": knn_ranker(model)}, eval_set, (10,))["m"][METRIC])

    def __call__(self, trial: optuna.Trial) -> float:
        params = _suggest(trial, self.base, self.has_text, self.has_time)
        started = time.perf_counter()
        value = self.score(self.base.with_changes(**params))
        self.trials.append({**params, METRIC: value, "seconds": round(time.perf_counter() - started, 3)})
        return value


def tune_on_validation(
    train: pd.DataFrame,
    posts: pd.DataFrame | None,
    users: pd.DataFrame | None,
    base: KnnConfig,
    *,
    budget: Budget | None = None,
    splitter: Splitter = temporal_validation,
    max_users: int | None = 3000,
    seed: int = 0,
    progress: bool = False,
) -> tuple[KnnConfig, list[dict[str, Any]]]:
    """The best config of `base.engine` by validation NDCG@10, and every trial as a dict.

    The first trial is `base` itself, and `base` is returned unless the best trial beats it
    by MIN_GAIN on the validation cut. The budget defaults to `budget_for(len(train))`.
    """
    budget = budget or budget_for(len(train))
    fit_part, valid_part = splitter(train)
    objective = _Objective(fit_part, valid_part, posts, users, base, max_users, seed)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial(_as_trial_params(base, objective.has_text, objective.has_time), skip_if_exists=True)
    callbacks = [_progress_printer(base.engine)] if progress else []
    study.optimize(objective, n_trials=budget.trials, timeout=budget.seconds, callbacks=callbacks)
    default, best = objective.trials[0], objective.trials[study.best_trial.number]
    if best[METRIC] < default[METRIC] * (1.0 + MIN_GAIN):
        return base, objective.trials
    chosen = base.with_changes(**{k: v for k, v in best.items() if k not in (METRIC, "seconds")})
    return chosen, objective.trials


def _as_trial_params(cfg: KnnConfig, has_text: bool, has_time: bool) -> dict[str, Any]:
    """`cfg` in the search space's own terms, so Optuna's first trial is the default."""
    total = sum(cfg.blend_weights)
    params: dict[str, Any] = {}
    if cfg.engine == "user_knn":
        params |= {
            "item_weighting": cfg.item_weighting,
            "max_item_user_share": cfg.max_item_user_share,
            "n_neighbors": min(cfg.n_neighbors, MAX_NEIGHBOURS),
            "similarity_exponent": cfg.similarity_exponent,
        }
    elif cfg.engine == "ease":
        params["ease_l2"] = cfg.ease_l2
    if has_text:
        params["blend_content"] = round(cfg.blend_content / total, 6)
    if has_time:
        params["blend_recency"] = round(cfg.blend_recency / total, 6)
    return params


def _progress_printer(engine: str) -> Callable[[optuna.Study, optuna.trial.FrozenTrial], None]:
    def report(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        print(
            f"tuning {engine}: trial {trial.number + 1}, {METRIC} {trial.value:.4f}"
            f" (best {study.best_value:.4f})",
            file=sys.stderr,
            flush=True,
        )

    return report
