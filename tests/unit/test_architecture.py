"""The dependency rule, checked: inner layers import nothing from outer layers or frameworks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"

FORBIDDEN = {
    "domain": {
        "fastapi",
        "pydantic",
        "pydantic_settings",
        "sqlalchemy",
        "scipy",
        "sklearn",
        "pickle",
        "pandas",
        "app.application",
        "app.infrastructure",
        "app.presentation",
    },
    "application": {
        "fastapi",
        "pydantic",
        "pydantic_settings",
        "sqlalchemy",
        "scipy",
        "sklearn",
        "pickle",
        "numpy",
        "pandas",
        "app.infrastructure",
        "app.presentation",
    },
    "shared": {"app.domain", "app.application", "app.infrastructure", "app.presentation"},
}
NEVER_IN_APP = {"training", "data", "mlflow", "faker", "tqdm"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _violations(path: Path, forbidden: set[str]) -> list[str]:
    return sorted(n for n in _imports(path) if any(n == f or n.startswith(f + ".") for f in forbidden))


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_inner_layers_do_not_import_outer_layers_or_frameworks(layer: str) -> None:
    found = {str(p.relative_to(APP)): _violations(p, FORBIDDEN[layer]) for p in (APP / layer).rglob("*.py")}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_service_never_imports_training_or_data_code() -> None:
    found = {str(p.relative_to(APP)): _violations(p, NEVER_IN_APP) for p in APP.rglob("*.py")}
    assert {k: v for k, v in found.items() if v} == {}
