"""The service imports what serving needs and no more: importing the app loads no numerical library
(the model loads after the worker answers), and loading and serving a model never imports
scikit-learn or pandas, whose sources cost seconds to compile at a start without bytecode."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from app.infrastructure.ml.artifact import ModelArtifact, write_artifact
from tests.fitted import NS, TRAINED, fitted

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("numpy", "scipy", "sklearn", "pandas")

# Imports the app as uvicorn does, then loads and serves a model the way a worker does.
CHILD = """
import json, sys
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid5

import app.main

at_import = sorted(name for name in {heavy!r} if name in sys.modules)
from app.domain.entities import HistoryItem, InteractionType, Post
from app.domain.ports import RecommendationQuery
from app.infrastructure.ml.artifact import read_artifact

model = read_artifact(Path(sys.argv[1]), sys.argv[2]).model
ns, now = UUID(sys.argv[3]), datetime.fromisoformat(sys.argv[4])
liked = now - timedelta(days=2)
history = [HistoryItem(uuid5(ns, name), InteractionType.LIKE, liked) for name in ("p6", "p7")]
fresh = [Post(uuid5(ns, "fresh"), uuid5(ns, "press"), "a match report", now, "football")]
served = model.recommend(RecommendationQuery(uuid5(ns, "new"), history, frozenset(), 10, now, fresh))
print(json.dumps({{
    "at_import": at_import,
    "after_serving": sorted(name for name in {heavy!r} if name in sys.modules),
    "served": [str(r.post_id) for r in served],
}}))
"""


def test_the_app_imports_no_numerical_library_and_serving_a_model_needs_neither_sklearn_nor_pandas(
    tmp_path: Path,
) -> None:
    path = tmp_path / "model_v1.npz"
    sha256 = write_artifact(ModelArtifact("v1", TRAINED, fitted()), path)
    now = TRAINED + timedelta(hours=1)
    completed = subprocess.run(
        [sys.executable, "-c", CHILD.format(heavy=HEAVY), str(path), sha256, str(NS), now.isoformat()],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["at_import"] == []
    assert result["after_serving"] == ["numpy", "scipy"]
    assert result["served"]  # the model did rank posts, with its content vocabulary for the fresh one
    assert fitted().content_ is not None
