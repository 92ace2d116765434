"""MLflow experiment tracking: a local SQLite store under the project unless MLFLOW_TRACKING_URI is set."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.infrastructure.config import PROJECT_ROOT

EXPERIMENT = "ml-service"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}"


def log_run(
    *,
    version: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    artifact: Path,
    tags: Mapping[str, str],
) -> str:
    """Log one training run; returns the MLflow run id."""
    import mlflow

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    mlflow.set_tracking_uri(tracking_uri())
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        mlflow.create_experiment(EXPERIMENT, artifact_location=(PROJECT_ROOT / "mlruns").as_uri())
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run(run_name=version) as run:
        mlflow.set_tags({"model_version": version, **tags})
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics({k.replace("@", "_at_"): float(v) for k, v in metrics.items()})
        mlflow.log_artifact(str(artifact))
        return str(run.info.run_id)
