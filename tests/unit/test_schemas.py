"""Record models and the whole-file validator: what is accepted, what is reported and how."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from data.io import DatasetWriter, dumps
from data.schemas import InteractionRecord, PostRecord, UserRecord, main, validate_file

T0 = "2026-10-01T00:00:00+00:00"
T1 = "2026-10-02T00:00:00.123456+00:00"


def make_user(**overrides: Any) -> dict[str, Any]:
    user_id = str(uuid.uuid4())
    values = {"id": user_id, "username": f"u_{user_id[:8]}", "display_name": "Ada", "follower_count": 3}
    return {**values, "created_at": "2026-08-01T00:00:00+00:00", "interests": ["music"], **overrides}


def make_post(author: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    values = {
        "id": str(uuid.uuid4()),
        "author_id": author["id"],
        "content": "New album out",
        "topic": "music",
    }
    return {**values, "hashtags": ["music"], "created_at": T0, **overrides}


def make_interaction(user: dict[str, Any], post: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    values = {
        "id": str(uuid.uuid4()),
        "user_id": user["id"],
        "post_id": post["id"],
        "interaction_type": "view",
    }
    return {**values, "created_at": T1, "metadata": {"dwell_time_ms": 1200, "source": "feed"}, **overrides}


def make_records(n_interactions: int = 10) -> dict[str, list[dict[str, Any]]]:
    users = [make_user() for _ in range(3)]
    posts = [make_post(users[i % 3]) for i in range(4)]
    interactions = [make_interaction(users[i % 3], posts[i % 4]) for i in range(n_interactions)]
    return {"user": users, "post": posts, "interaction": interactions}


def write_dataset(path: Path, records: dict[str, list[dict[str, Any]]]) -> Path:
    counts = {
        "users": len(records["user"]),
        "posts": len(records["post"]),
        "interactions": len(records["interaction"]),
    }
    with DatasetWriter(path, {"generated_at": T1, "counts": counts, "topics": ["music"]}) as writer:
        for kind in ("user", "post", "interaction"):
            writer.write(kind, [writer.record_prefix(kind) + dumps(r)[1:] for r in records[kind]])
    return path


@pytest.fixture(params=[".json", ".jsonl"])
def suffix(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_valid_records_are_accepted() -> None:
    user = make_user()
    post = make_post(user)

    assert UserRecord.model_validate(user).username == user["username"]
    assert PostRecord.model_validate(post).hashtags == ["music"]
    assert InteractionRecord.model_validate(make_interaction(user, post)).interaction_type == "view"


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        (UserRecord, "id", "not-a-uuid"),
        (UserRecord, "username", "x" * 65),
        (UserRecord, "follower_count", -1),
        (UserRecord, "created_at", "2026-10-01T00:00:00"),
        (PostRecord, "author_id", 42),
        (PostRecord, "hashtags", ["#music"]),
        (PostRecord, "content", ""),
        (InteractionRecord, "interaction_type", "poke"),
        (InteractionRecord, "created_at", "yesterday"),
        (InteractionRecord, "metadata", [1, 2]),
    ],
)
def test_an_invalid_field_is_rejected_with_its_name(model: type[BaseModel], field: str, value: Any) -> None:
    user = make_user()
    post = make_post(user)
    valids: dict[type[BaseModel], dict[str, Any]] = {
        UserRecord: user,
        PostRecord: post,
        InteractionRecord: make_interaction(user, post),
    }
    valid = valids[model]

    with pytest.raises(ValidationError) as raised:
        model.model_validate({**valid, field: value})

    assert raised.value.errors()[0]["loc"][0] == field


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match="nickname"):
        UserRecord.model_validate({**make_user(), "nickname": "ada"})


def test_a_valid_file_passes_in_both_formats(tmp_path: Path, suffix: str) -> None:
    report = validate_file(write_dataset(tmp_path / f"d{suffix}", make_records()))

    assert report.ok, report.render()
    assert report.counts["interaction"] == 10


def test_an_invalid_field_is_reported_with_position_kind_id_and_field(tmp_path: Path) -> None:
    records = make_records()
    bad = records["interaction"][4]
    bad["interaction_type"] = "poke"

    report = validate_file(write_dataset(tmp_path / "d.jsonl", records))

    assert not report.ok
    assert report.errors == [f"line 13 (interaction {bad['id']}): interaction_type: " + _enum_message()]


def _enum_message() -> str:
    return "Input should be 'view', 'click', 'like' or 'share'"


def test_positions_in_a_json_document_are_list_indexes(tmp_path: Path) -> None:
    records = make_records()
    records["user"][1]["follower_count"] = -5

    report = validate_file(write_dataset(tmp_path / "d.json", records))

    assert report.errors[0].startswith(f"users[1] (user {records['user'][1]['id']}): follower_count:")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda r: r["interaction"][0].update(user_id=str(uuid.uuid4())), "user_id: not the id of a user"),
        (lambda r: r["interaction"][0].update(post_id=str(uuid.uuid4())), "post_id: not the id of a post"),
        (
            lambda r: r["interaction"][0].update(created_at="2026-09-01T00:00:00Z"),
            "before the post was created",
        ),
        (lambda r: r["post"][0].update(author_id=str(uuid.uuid4())), "author_id: not the id of a user"),
        (lambda r: r["interaction"][1].update(id=r["interaction"][0]["id"]), "duplicate interaction id"),
        (lambda r: r["user"][1].update(username=r["user"][0]["username"]), "is already taken"),
    ],
)
def test_referential_problems_are_reported(tmp_path: Path, suffix: str, change: Any, expected: str) -> None:
    records = make_records()
    change(records)

    report = validate_file(write_dataset(tmp_path / f"d{suffix}", records))

    assert report.error_count == 1, report.render()
    assert expected in report.errors[0]


def test_metadata_counts_must_match_the_records(tmp_path: Path) -> None:
    path = write_dataset(tmp_path / "d.jsonl", make_records())
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")

    report = validate_file(path)

    assert report.errors == ["metadata: counts.interactions: says 10, the file has 9"]


def test_records_out_of_order_and_broken_lines_are_reported(tmp_path: Path) -> None:
    path = write_dataset(tmp_path / "d.jsonl", make_records())
    lines = path.read_text().splitlines()
    lines[2], lines[-1] = lines[-1], "{broken"
    path.write_text("\n".join(lines) + "\n")

    rendered = validate_file(path).render()

    assert "line 3" in rendered
    assert "line 18: invalid JSON" in rendered
    assert "after interaction records" in rendered


def test_reports_keep_the_first_errors_and_count_all_of_them(tmp_path: Path) -> None:
    records = make_records(n_interactions=30)
    for interaction in records["interaction"]:
        interaction["interaction_type"] = "poke"

    report = validate_file(write_dataset(tmp_path / "d.jsonl", records), max_errors=5)

    assert report.error_count == 30
    assert len(report.errors) == 5
    assert "... and 25 more" in report.render()


def test_command_line_exit_code_says_whether_the_file_is_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write_dataset(tmp_path / "good.jsonl", make_records())
    records = make_records()
    records["user"][0]["follower_count"] = "many"
    bad = write_dataset(tmp_path / "bad.json", records)

    assert main([str(good)]) == 0
    assert main([str(bad)]) == 1
    assert "follower_count" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.json")]) == 2


def test_a_document_that_is_not_json_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps([1, 2])[:-1])

    assert "not a JSON document" in validate_file(path).errors[0]
