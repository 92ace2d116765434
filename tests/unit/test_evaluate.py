"""Splits, external dataset parsing and end-to-end evaluation against baselines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.infrastructure.db.migrate import upgrade_to_head
from app.infrastructure.ml.config import KnnConfig
from app.infrastructure.ml.recommender import KnnRecommender, canonical_id
from training.datasets import load_interaction_file
from training.evaluate import fit_and_evaluate, format_table, main
from training.holdout import build_evaluation_set
from training.metrics import average_precision, average_precision_at_k
from training.splits import msr_split, random_split, temporal_split

NOW = datetime(2026, 1, 31, tzinfo=UTC)


def make_clustered(n_users: int = 240, n_posts: int = 300, n_topics: int = 5, seed: int = 1) -> pd.DataFrame:
    """Users interact mostly with posts of their own topic, popular ones more often."""
    rng = np.random.default_rng(seed)
    per_topic = n_posts // n_topics
    popularity = 1.0 / np.arange(1, per_topic + 1)
    rows = []
    for u in range(n_users):
        topic = u % n_topics
        own = (
            rng.choice(per_topic, size=15, replace=False, p=popularity / popularity.sum()) + topic * per_topic
        )
        noise = rng.choice(n_posts, size=2, replace=False)
        for p in [*own, *noise]:
            when = NOW - timedelta(hours=float(rng.uniform(0, 720)))
            rows.append((f"u{u}", f"p{p}", str(rng.choice(["view", "click", "like"])), when))
    frame = pd.DataFrame(rows, columns=["user_id", "post_id", "interaction_type", "created_at"])
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    return frame


def test_the_temporal_split_holds_out_the_last_fifth_of_each_active_user() -> None:
    frame = make_clustered(n_users=20)
    small = pd.DataFrame(
        {
            "user_id": ["tiny"] * 3,
            "post_id": ["p1", "p2", "p3"],
            "interaction_type": "like",
            "created_at": pd.to_datetime([NOW] * 3, utc=True),
        }
    )
    train, test = temporal_split(pd.concat([frame, small]), test_fraction=0.2, min_interactions=5)
    assert "tiny" not in set(test["user_id"])
    assert "tiny" in set(train["user_id"])
    for user, held in test.groupby("user_id"):
        kept = train[train["user_id"] == user]
        assert held["created_at"].min() >= kept["created_at"].max()
        assert len(held) == round(0.2 * (len(held) + len(kept)))


def test_the_random_split_is_reproducible_and_keeps_each_post_on_one_side() -> None:
    frame = make_clustered(n_users=30)
    train, test = random_split(frame, test_fraction=0.25, seed=7)
    again_train, _ = random_split(frame, test_fraction=0.25, seed=7)
    assert train.index.equals(again_train.index)
    overlap = train.merge(test, on=["user_id", "post_id"])
    assert overlap.empty
    assert len(test) / len(frame) == pytest.approx(0.25, abs=0.05)


def test_a_headed_csv_with_ratings_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text("user,item,rating,timestamp\n1,10,4.5,1700000000\n2,10,3,1700003600\n")
    frame = load_interaction_file(path, "csv")
    assert list(frame.columns) == ["user_id", "post_id", "weight", "created_at"]
    assert frame["user_id"].tolist() == ["1", "2"]
    assert frame["weight"].tolist() == [4.5, 3.0]
    assert frame["created_at"].iloc[0] == pd.Timestamp(1_700_000_000, unit="s", tz="UTC")


def test_a_csv_with_a_weight_column_and_iso_times_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "weights.csv"
    path.write_text("user,item,weight,timestamp\na,x,2,2026-01-01T10:00:00Z\n")
    frame = load_interaction_file(path, "csv")
    assert frame["created_at"].iloc[0] == pd.Timestamp("2026-01-01T10:00:00Z")


def test_a_csv_without_the_expected_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("who,what\n1,2\n")
    with pytest.raises(ValueError, match="expected columns"):
        load_interaction_file(path, "csv")


def test_movielens_u_data_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "u.data"
    path.write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
    frame = load_interaction_file(path, "movielens")
    assert frame["user_id"].tolist() == ["196", "186"]
    assert frame["post_id"].tolist() == ["242", "302"]
    assert frame["created_at"].dt.tz is not None


def test_the_model_beats_popularity_and_random_on_clustered_data() -> None:
    train, test = temporal_split(make_clustered())
    result = fit_and_evaluate(train, test, config=KnnConfig(n_neighbors=20), k_values=(5, 10))
    assert result["users"] > 100
    assert result["model"]["ndcg@10"] > 1.5 * result["popularity"]["ndcg@10"]
    assert result["popularity"]["ndcg@10"] > result["random"]["ndcg@10"]
    assert result["config"]["blend_content"] == 0.0  # no post text
    assert "model" in format_table(result)


def test_tuning_picks_a_config_from_the_grid_on_training_data_only() -> None:
    train, test = temporal_split(make_clustered())
    result = fit_and_evaluate(train, test, tune=True)
    trials = result["tuning"]
    best = max(t["ndcg@10"] for t in trials)
    assert result["config"]["n_neighbors"] in {t["n_neighbors"] for t in trials if t["ndcg@10"] == best}


def test_the_cli_evaluates_an_external_file_and_prints_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = make_clustered(n_users=60)
    path = tmp_path / "u.data"
    seconds = frame["created_at"].astype("int64") // 10**9
    lines = [
        f"{u[1:]}\t{p[1:]}\t4\t{t}"
        for u, p, t in zip(frame["user_id"], frame["post_id"], seconds, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    assert main(["--dataset", str(path), "--format", "movielens", "--split", "random", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"model", "popularity", "random", "split"} <= set(out)
    assert 0.0 <= out["model"]["ndcg@10"] <= 1.0


def write_undated_csv(path: Path, frame: pd.DataFrame) -> Path:
    ratings = pd.DataFrame({"userId": frame["user_id"], "movieId": frame["post_id"], "rating": 3.5})
    ratings.to_csv(path, index=False)
    return path


def test_msr_map_divides_by_every_test_item_and_map_at_k_by_at_most_k() -> None:
    recommended, relevant = [1, 2, 3, 4, 5], [2, 5, 6, 7, 8, 9, 10]  # hits at ranks 2 and 5
    assert average_precision(recommended, relevant, 5) == pytest.approx((1 / 2 + 2 / 5) / 7)
    assert average_precision_at_k(recommended, relevant, 5) == pytest.approx((1 / 2 + 2 / 5) / 5)


def test_under_msr_every_test_post_is_relevant_even_one_seen_in_train() -> None:
    train = pd.DataFrame({"user_id": ["a", "a", "b"], "post_id": ["x", "y", "z"], "weight": 1.0})
    test = pd.DataFrame({"user_id": ["a", "a", "c"], "post_id": ["x", "z", "x"]})
    model_matrix = pd.crosstab(train["user_id"], train["post_id"])
    import scipy.sparse as sp

    matrix = sp.csr_matrix(model_matrix.to_numpy(dtype=np.float32))
    users = {canonical_id(u): i for i, u in enumerate(model_matrix.index)}
    posts = {canonical_id(p): i for i, p in enumerate(model_matrix.columns)}
    default = build_evaluation_set(matrix, users, posts, test)
    msr = build_evaluation_set(matrix, users, posts, test, keep_seen_relevant=True)
    x, z, a = posts[canonical_id("x")], posts[canonical_id("z")], users[canonical_id("a")]
    assert default.relevant[0].tolist() == [z]
    assert msr.relevant[0].tolist() == [x, z]
    assert msr.rows.tolist() == [a]  # c has no training post


def test_undated_data_is_evaluated_per_engine_with_recency_off() -> None:
    frame = make_clustered(n_users=80).drop(columns=["created_at", "interaction_type"]).assign(weight=1.0)
    train, test = msr_split(frame)
    result = fit_and_evaluate(train, test, engines=("user_knn",), keep_seen_relevant=True)
    assert {"user_knn", "popularity", "random", "config"} <= set(result)
    assert "model" not in result
    assert result["config"]["engine"] == "user_knn"
    assert result["config"]["blend_recency"] == 0.0
    assert 0.0 < result["user_knn"]["map"] <= result["user_knn"]["map@10"]
    assert result["user_knn"]["ndcg@10"] > result["popularity"]["ndcg@10"]
    assert "user_knn" in format_table(result)


def test_the_cli_runs_the_msr_protocol_on_a_csv_without_timestamps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_undated_csv(tmp_path / "ratings.csv", make_clustered(n_users=60))
    args = ["--dataset", str(path), "--format", "csv", "--protocol", "msr", "--engine", "user_knn", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"user_knn", "popularity", "random", "users", "items", "config", "split"} <= set(out)
    assert out["split"]["kind"] == "msr"
    assert out["split"]["seed"] == 42
    assert {"ndcg@10", "map@10", "map"} <= set(out["user_knn"])


@pytest.mark.parametrize(
    ("text", "extra", "message"),
    [
        (None, [], "not found"),
        ("who,what\n1,2\n", [], "--columns"),
        ("user,item\n1,2\n", ["--protocol", "temporal"], "msr or random"),
    ],
)
def test_cli_errors_print_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | None, extra: list[str], message: str
) -> None:
    path = tmp_path / "ratings.csv"
    if text is not None:
        path.write_text(text)
    assert main(["--dataset", str(path), *extra]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_the_cli_reads_the_service_database_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    upgrade_to_head(url)
    monkeypatch.setenv("DATABASE_URL", url)
    assert main([]) == 1
    assert "no interactions" in capsys.readouterr().err.strip().splitlines()[-1]
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'absent.db'}")
    assert main([]) == 1
    assert "no database" in capsys.readouterr().err
    assert not (tmp_path / "absent.db").exists()


def test_model_active_evaluates_the_active_configuration_of_that_data_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.infrastructure.ml.registry import ModelRegistry
    from training.export_model import export_model
    from training.sources import file_source

    path = write_undated_csv(tmp_path / "ratings.csv", make_clustered(n_users=60))
    models = tmp_path / "models"
    args = ["--dataset", str(path), "--protocol", "msr", "--model", "active", "--models-dir", str(models)]
    assert main([*args, "--json"]) == 1
    assert "no model is active" in capsys.readouterr().err
    active = KnnConfig(n_neighbors=7, similarity_exponent=1.5)
    entry = export_model(
        KnnRecommender(active).fit(make_clustered(n_users=60)), models_dir=models, config=active.as_dict(),
        metrics={}, data_stats={},
        data_source=file_source(path),
    )  # fmt: skip
    ModelRegistry(models).promote(entry.version)
    assert main([*args, "--json"]) == 0
    config = json.loads(capsys.readouterr().out)["config"]
    assert (config["n_neighbors"], config["similarity_exponent"]) == (7, 1.5)
