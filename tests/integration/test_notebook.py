"""The exploration notebook runs top to bottom on a small generated dataset and draws its plots."""

from __future__ import annotations

from pathlib import Path

import nbclient
import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "exploration.ipynb"
SMALL_DATA = {"EXPLORATION_USERS": "60", "EXPLORATION_POSTS": "200", "EXPLORATION_INTERACTIONS": "3000"}


def _read() -> nbformat.NotebookNode:
    notebook: nbformat.NotebookNode = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    return notebook


def _outputs(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]


def test_notebook_is_stored_without_outputs() -> None:
    notebook = _read()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    assert all(not cell.outputs and cell.execution_count is None for cell in code)


def test_notebook_runs_without_errors_and_draws_every_plot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SMALL_DATA.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("EXPLORATION_DATA", raising=False)
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend renders PNG outputs
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "matplotlib"))
    notebook = _read()

    client = nbclient.NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=120,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, when one fails

    outputs = _outputs(notebook)
    assert [output for output in outputs if output.output_type == "error"] == []
    # rank-frequency, sparsity, neighbour similarities, model against baselines
    assert sum("image/png" in output.get("data", {}) for output in outputs) == 4
    text = "".join(output.get("text", "") for output in outputs)
    assert "60 users, 200 posts, 3000 interactions" in text
    assert "NDCG@10 lift over popularity" in text
