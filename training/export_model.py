"""Export fitted models into the registry, and the registry's command line.

    python -m training.export_model --list
    python -m training.export_model --promote 20261122T031500Z
    python -m training.export_model --rollback [--source DATA_SOURCE]
    python -m training.export_model --verify [VERSION]

Exit codes: 0 success, 1 the operation failed or verification found a problem, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.infrastructure.jobs import run_job
from app.infrastructure.ml.artifact import ARTIFACT_SUFFIX, ModelArtifact, read_artifact, write_artifact
from app.infrastructure.ml.recommender import KnnRecommender
from app.infrastructure.ml.registry import (
    DataSource,
    ModelRegistry,
    ModelStatus,
    RegistryEntry,
    RegistryError,
    RegistryState,
)
from app.shared.exceptions import ModelUnavailable

VERSION_FORMAT = "%Y%m%dT%H%M%SZ"
_MAX_SAME_SECOND = 100


def export_model(
    model: KnnRecommender,
    *,
    models_dir: Path,
    config: Mapping[str, Any],
    metrics: Mapping[str, float],
    data_stats: Mapping[str, Any],
    data_source: DataSource | None = None,
    status: ModelStatus | str = ModelStatus.CANDIDATE,
    now: datetime | None = None,
    note: str | None = None,
) -> RegistryEntry:
    """Write `models_dir/model_<UTC timestamp>.npz` (see artifact.py) and register it with
    `status`, recording the data it was trained on (`data_source`; None only for models no service
    should load).

    status "active" registers the model and promotes it (for its data source) in one go. Raises
    TypeError when the model is not a fitted KnnRecommender or a mapping is not JSON-serialisable,
    and RegistryError when the registry refuses the entry.
    """
    if not isinstance(model, KnnRecommender):
        raise TypeError(f"{type(model).__name__} is not a KnnRecommender; it cannot be stored or served")
    status = ModelStatus(status)
    created_at = (now or datetime.now(UTC)).astimezone(UTC)
    registry = ModelRegistry(models_dir)
    version, path = _reserve_artifact_path(registry, created_at)
    try:
        artifact = ModelArtifact(
            version=version,
            created_at=created_at,
            model=model,
            config=_plain_json(config),
            metrics={name: float(value) for name, value in metrics.items()},
            data_stats=_plain_json(data_stats),
        )
        sha256 = write_artifact(artifact, path)
        entry = registry.add(
            RegistryEntry(
                version=version,
                filename=path.name,
                created_at=created_at,
                sha256=sha256,
                status=ModelStatus.CANDIDATE if status is ModelStatus.ACTIVE else status,
                metrics=artifact.metrics,
                config=artifact.config,
                data_stats=artifact.data_stats,
                note=note,
                data_source=data_source,
            )
        )
    except BaseException:
        path.unlink(missing_ok=True)  # an unregistered artifact would only confuse --verify
        raise
    return registry.promote(version) if status is ModelStatus.ACTIVE else entry


def _reserve_artifact_path(registry: ModelRegistry, created_at: datetime) -> tuple[str, Path]:
    """A fresh version and its artifact file, created empty with O_EXCL so two trainers
    exporting in the same second never write to the same file."""
    registry.models_dir.mkdir(parents=True, exist_ok=True)
    base = created_at.strftime(VERSION_FORMAT)
    for n in range(1, _MAX_SAME_SECOND + 1):
        version = base if n == 1 else f"{base}-{n}"
        path = registry.models_dir / f"model_{version}{ARTIFACT_SUFFIX}"
        if registry.get(version) is not None:
            continue
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            continue
        return version, path
    raise RegistryError(f"more than {_MAX_SAME_SECOND} models exported in the second {base}")


def _plain_json(values: Mapping[str, Any]) -> dict[str, Any]:
    """The mapping as plain JSON types (numpy scalars, tuples, paths become floats, lists, str)."""

    def convert(value: Any) -> Any:
        if hasattr(value, "tolist"):  # numpy scalars and arrays
            return value.tolist()
        if isinstance(value, datetime | Path):
            return str(value)
        raise TypeError(f"{type(value).__name__} value {value!r} is not JSON-serialisable")

    result: dict[str, Any] = json.loads(json.dumps(dict(values), default=convert))
    return result


def artifact_problem(registry: ModelRegistry, entry: RegistryEntry) -> str | None:
    """Why the entry's artifact cannot be served (a filename leading outside the models folder,
    missing, unreadable, hash mismatch, a pickle of an earlier version, not a valid artifact), or
    None. Reads it as the service does, so nothing in the file runs."""
    try:
        artifact = read_artifact(registry.artifact_path(entry), entry.sha256)
    except ModelUnavailable as exc:
        return f"{entry.version}: {exc}"
    if artifact.version != entry.version:
        return f"{entry.version}: the artifact holds version {artifact.version}"
    return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training.export_model", description="List, promote, roll back and verify models."
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--list", action="store_true", help="list registered models")
    action.add_argument("--promote", metavar="VERSION", help="verify VERSION's artifact and make it active")
    action.add_argument(
        "--rollback", action="store_true", help="re-activate the previously active model of a data source"
    )
    action.add_argument(
        "--verify",
        nargs="?",
        const="",
        metavar="VERSION",
        help="check one artifact (hash, format), or all",
    )
    parser.add_argument("--models-dir", type=Path, help="registry directory (default: from settings)")
    parser.add_argument(
        "--source",
        metavar="DATA_SOURCE",
        help="with --rollback: the data source (kind:id or id, see --list); needed when several have a model",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    registry = ModelRegistry(args.models_dir or _default_models_dir())
    try:
        if args.list:
            return _list(registry)
        if args.promote:
            return _promote(registry, args.promote)
        if args.rollback:
            return _rollback(registry, args.source)
        return _verify(registry, args.verify or None)
    except (RegistryError, ModelUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _default_models_dir() -> Path:
    from app.infrastructure.config import Settings  # settings read only when no --models-dir

    return Settings().model.models_dir


def _list(registry: ModelRegistry) -> int:
    entries = registry.entries()
    if not entries:
        print(f"no models registered in {registry.path}")
        return 0
    rows = [("", "VERSION", "STATUS", "CREATED (UTC)", "NDCG@10", "DATA SOURCE", "METRICS")]
    for entry in sorted(entries, key=lambda e: e.created_at, reverse=True):
        marker = "*" if entry.status is ModelStatus.ACTIVE else ""
        created = entry.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        ndcg = entry.metrics.get("ndcg@10")
        rows.append(
            (
                marker,
                entry.version,
                entry.status.value,
                created,
                f"{ndcg:.4f}" if ndcg is not None else "-",
                _format_source(entry.data_source),
                _format_metrics(entry.metrics),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _format_source(source: DataSource | None) -> str:
    if source is None:
        return "unknown (not recorded)"
    return f"{source.key[: len(source.kind) + 9]} {source.display}".rstrip()


def _format_metrics(metrics: Mapping[str, float], limit: int = 4) -> str:
    shown = [f"{name}={value:.4g}" for name, value in sorted(metrics.items())[:limit]]
    return " ".join(shown) + (" ..." if len(metrics) > limit else "")


def _promote(registry: ModelRegistry, version: str) -> int:
    entry = registry.get(version)
    if entry is None:
        raise RegistryError(f"model version {version!r} is not in the registry; see --list")
    problem = artifact_problem(registry, entry)
    if problem is not None:
        print(f"error: refusing to promote: {problem}", file=sys.stderr)
        return 1
    previous = registry.active_for(entry.data_source)
    registry.promote(version)
    source = entry.data_source or "no data source"
    print(f"promoted {version} for {source} (previously active: {previous.version if previous else 'none'})")
    return 0


def _rollback(registry: ModelRegistry, source: str | None) -> int:
    state = registry.state()
    key = _source_key(state, source)
    current, target = state.active_for(key), state.rollback_target(key)
    problem = artifact_problem(registry, target) if target is not None else None
    if problem is not None:
        print(f"error: refusing to roll back: {problem}", file=sys.stderr)
        return 1
    entry = registry.rollback(source=key)
    print(f"rolled back from {current.version if current else None} to {entry.version}")
    return 0


def _source_key(state: RegistryState, name: str | None) -> str | None:
    """The key of the data source `name` (a key, an id or a prefix of one) among those with an
    active model; with no name, the only one there is."""
    actives = state.active_entries()
    if name is None:
        if len(actives) > 1:
            listed = "; ".join(_format_source(e.data_source) for e in actives)
            raise RegistryError(
                f"several data sources have an active model ({listed}); name one with --source"
            )
        return actives[0].source_key if actives else None
    keys = {e.source_key for e in actives if e.source_key is not None}
    matches = [k for k in keys if k.startswith(name) or k.split(":", 1)[1].startswith(name)]
    if len(matches) != 1:
        raise RegistryError(f"--source {name!r} matches {len(matches)} data sources with an active model")
    return matches[0]


def _verify(registry: ModelRegistry, version: str | None) -> int:
    if version is not None:
        entry = registry.get(version)
        if entry is None:
            raise RegistryError(f"model version {version!r} is not in the registry; see --list")
        entries = [entry]
    else:
        entries = registry.entries()
    problems = [p for p in (artifact_problem(registry, e) for e in entries) if p is not None]
    for problem in problems:
        print(f"FAILED {problem}", file=sys.stderr)
    print(f"verified {len(entries)} artifact(s): {len(entries) - len(problems)} ok, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(run_job("models", main))
