"""External interaction files: recognised headers, --columns, separators, undated files, errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from training.datasets import CsvLayout, load_interaction_file, parse_layout


def write(tmp_path: Path, text: str, name: str = "ratings.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_movielens_headers_are_recognised_and_ids_stay_strings(tmp_path: Path) -> None:
    path = write(tmp_path, "userId,movieId,rating,timestamp\n1,007,4.5,1700000000\n2,10,3,0\n")
    frame = load_interaction_file(path, "csv")
    assert list(frame.columns) == ["user_id", "post_id", "weight", "created_at"]
    assert frame["post_id"].tolist() == ["007", "10"]
    assert frame["weight"].tolist() == [4.5, 3.0]
    assert frame["created_at"].iloc[1] == pd.Timestamp(0, unit="s", tz="UTC")


def test_service_headers_with_iso_times_and_interaction_types_are_read(tmp_path: Path) -> None:
    text = "user_id,post_id,interaction_type,created_at\nalice,p-1,like,2026-01-01T10:00:00Z\n"
    frame = load_interaction_file(write(tmp_path, text), "csv")
    assert frame["interaction_type"].tolist() == ["like"]
    assert "weight" not in frame.columns
    assert frame["created_at"].iloc[0] == pd.Timestamp("2026-01-01T10:00:00Z")


def test_a_file_without_timestamps_or_weights_has_no_created_at_and_weight_one(tmp_path: Path) -> None:
    frame = load_interaction_file(write(tmp_path, "user,item\nu1,i1\nu2,i1\n"), "csv")
    assert "created_at" not in frame.columns
    assert frame["weight"].tolist() == [1.0, 1.0]


def test_other_names_are_mapped_with_columns_and_tabs_are_sniffed(tmp_path: Path) -> None:
    path = write(tmp_path, "userID\tartistID\tweight\n2\t51\t13883\n2\t52\t11690\n", "user_artists.dat")
    layout = parse_layout("artistID=post_id")
    frame = load_interaction_file(path, "csv", layout)
    assert frame["user_id"].tolist() == ["2", "2"]  # userID is recognised on its own
    assert frame["post_id"].tolist() == ["51", "52"]
    assert frame["weight"].tolist() == [13883.0, 11690.0]
    explicit = load_interaction_file(path, "csv", parse_layout("userID=user_id,artistID=post_id", "\\t"))
    assert explicit.equals(frame)


def test_a_headerless_file_after_leading_lines_is_read_with_positional_names(tmp_path: Path) -> None:
    path = write(tmp_path, "3\n2\n2\t51\t13883\n7\t52\t5\n", "user_artists.dat")
    frame = load_interaction_file(path, "csv", parse_layout("user_id,post_id,weight", skip_rows=2))
    assert frame["user_id"].tolist() == ["2", "7"]
    assert frame["weight"].tolist() == [13883.0, 5.0]


def test_movielens_1m_ratings_dat_reads_with_a_two_character_separator(tmp_path: Path) -> None:
    path = write(tmp_path, "1::1193::5::978300760\n1::661::3::978302109\n", "ratings.dat")
    layout = parse_layout("user_id,post_id,weight,created_at", "::")
    frame = load_interaction_file(path, "csv", layout)
    assert frame["post_id"].tolist() == ["1193", "661"]
    assert frame["created_at"].dt.year.tolist() == [2000, 2000]


def test_movielens_u_data_still_reads(tmp_path: Path) -> None:
    frame = load_interaction_file(write(tmp_path, "196\t242\t3\t881250949\n", "u.data"), "movielens")
    assert frame["post_id"].tolist() == ["242"]
    assert frame["created_at"].dt.tz is not None


@pytest.mark.parametrize(
    ("text", "layout", "message"),
    [
        ("who,what\n1,2\n", CsvLayout(), "--columns"),
        ("user,item\n1,2\n", CsvLayout(rename={"artist": "post_id"}), "artist"),
        ("user,item,rating,weight\n1,2,3,4\n", CsvLayout(), "more than one column"),
        ("user,item,rating\n1,2,high\n", CsvLayout(), "non-negative"),
        ("user,item,rating\n1,2,-1\n", CsvLayout(), "non-negative"),
    ],
)
def test_bad_files_are_refused_with_a_hint(
    tmp_path: Path, text: str, layout: CsvLayout, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        load_interaction_file(write(tmp_path, text), "csv", layout)


def test_bad_column_options_and_missing_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        parse_layout("a=user_id,post_id")
    with pytest.raises(ValueError, match="unknown field"):
        parse_layout("a=user")
    with pytest.raises(FileNotFoundError, match="--dataset"):
        load_interaction_file(tmp_path / "absent.csv", "csv")
