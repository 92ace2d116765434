"""The quality benchmark end to end on tiny data: every row and column, values in range."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.quality import COLUMNS, ROWS, lastfm_layout, main
from data.generate_fake_data import main as generate
from training.datasets import load_interaction_file

TUNED = {row for row in ROWS if row.endswith("(tuned)")}


def make_log(n_users: int = 60, n_items: int = 40, seed: int = 3) -> list[tuple[int, int]]:
    """(user, item) pairs where users mostly pick items of their own group, popular ones first."""
    rng = np.random.default_rng(seed)
    groups = 4
    size = n_items // groups
    popularity = 1.0 / np.arange(1, size + 1)
    pairs = []
    for user in range(1, n_users + 1):
        own = rng.choice(size, 10, replace=False, p=popularity / popularity.sum())
        items = {*(own + (user % groups) * size + 1), *rng.choice(n_items, 2, replace=False) + 1}
        pairs += [(user, int(item)) for item in sorted(items)]
    return pairs


def write_movielens(path: Path) -> None:
    lines = ["userId,movieId,rating,timestamp"]
    lines += [f"{u},{i},{1 + (u + i) % 5}.0,{1_260_000_000 + 60 * n}" for n, (u, i) in enumerate(make_log())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_lastfm(path: Path, *, counts: bool) -> None:
    pairs = make_log(seed=4)
    head = [str(len({u for u, _ in pairs})), str(len(pairs))] if counts else ["userID\tartistID\tweight"]
    path.write_text("\n".join(head + [f"{u}\t{i}\t{7 * i + u}" for u, i in pairs]) + "\n", encoding="utf-8")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    write_movielens(folder / "ratings.csv")
    write_lastfm(folder / "lastfm-user_artists.dat", counts=True)
    return folder


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    """A small generated file under the name the benchmark reuses for 3,000 interactions."""
    folder = tmp_path / "work"
    folder.mkdir()
    output = folder / "gen_3k.jsonl"
    args = ["--users", "120", "--posts", "80", "--interactions", "3000", "--now", "2026-11-01T00:00:00+00:00"]
    assert generate([*args, "--output", str(output)]) == 0
    return folder


def test_a_lastfm_file_loads_the_same_with_count_lines_or_a_header(tmp_path: Path) -> None:
    write_lastfm(tmp_path / "counted.dat", counts=True)
    write_lastfm(tmp_path / "headed.dat", counts=False)
    frames = [load_interaction_file(p, "csv", lastfm_layout(p)) for p in tmp_path.glob("*.dat")]
    assert len(frames[0]) == len(make_log(seed=4))
    assert frames[0].equals(frames[1])
    assert list(frames[0].columns) == ["user_id", "post_id", "weight"]


def test_every_recommender_is_scored_on_every_data_set(
    data_dir: Path, work_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "quality.json"
    args = ["--data-dir", str(data_dir), "--work-dir", str(work_dir), "--generated", "3000"]
    args += ["--tuning-seconds", "0.2", "--tuning-trials", "2", "--latency-users", "20", "--json", str(out)]
    assert main(args) == 0
    table = capsys.readouterr().out
    results = json.loads(out.read_text(encoding="utf-8"))
    names = ["generated 3k", "MovieLens ml-latest-small", "Last.fm HetRec 2011"]
    assert [r["name"] for r in results] == names
    header = table.splitlines()[0]
    assert all(f" {column} |" in header for column in [*COLUMNS, "fit s", "tuning s", "recommend p50 ms"])
    for result in results:
        assert result["evaluated_users"] > 0
        assert list(result["rows"]) == list(ROWS)
        for name, row in result["rows"].items():
            assert f"| {result['name']} | {name} | " in table
            assert all(0.0 <= row[key] <= 1.0 for key in COLUMNS.values())
            assert row["fit_s"] >= 0
            assert row["recommend_p50_ms"] > 0
            assert (row["tuning_s"] is not None) == (name in TUNED)
        assert result["ratios"]["user_knn_default_over_plain"] is not None


def test_nothing_found_is_reported_rather_than_an_empty_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data-dir", str(tmp_path), "--generated"]) == 1
    assert "skipping MovieLens" in capsys.readouterr().err
