"""Pydantic models of the dataset records and a whole-file validator: `python -m data.schemas PATH`.

The validator reports every problem it finds (the first `max_errors` of them, with the total), naming
the record (line number or list index, kind, id) and the field. Beyond types it checks that ids are
unique, that interactions point at known users and posts and do not precede them, and that posts
point at known authors. JSON Lines records must come in the order metadata, users, posts, interactions.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from app.domain.entities import InteractionType
from data.validation import FileValidator, ValidationReport

NonNegativeInt = Annotated[int, Field(ge=0, strict=True)]
Hashtag = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^#\s]+$")]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecordCounts(BaseModel):
    users: NonNegativeInt
    posts: NonNegativeInt
    interactions: NonNegativeInt


class DatasetMetadata(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    record: Literal["metadata"] = "metadata"
    generated_at: AwareDatetime
    seed: int | None = None
    days: int | None = Field(None, ge=1)
    now: AwareDatetime | None = None
    counts: RecordCounts
    topics: list[str] = []


class UserRecord(_Record):
    record: Literal["user"] = "user"
    id: UUID
    username: str = Field(min_length=1, max_length=64)
    display_name: str = Field(min_length=1, max_length=128)
    follower_count: NonNegativeInt
    created_at: AwareDatetime
    interests: list[str] = []


class PostRecord(_Record):
    record: Literal["post"] = "post"
    id: UUID
    author_id: UUID
    content: str = Field(min_length=1)
    topic: str | None = Field(None, max_length=64)
    hashtags: list[Hashtag] = []
    created_at: AwareDatetime


class InteractionRecord(_Record):
    record: Literal["interaction"] = "interaction"
    id: UUID
    user_id: UUID
    post_id: UUID
    interaction_type: InteractionType
    created_at: AwareDatetime
    metadata: dict[str, Any] | None = None


class Dataset(BaseModel):
    """The whole `.json` document; for large files prefer `validate_file`, which streams."""

    metadata: DatasetMetadata
    users: list[UserRecord]
    posts: list[PostRecord]
    interactions: list[InteractionRecord]


RECORD_MODELS: dict[str, type[BaseModel]] = {
    "metadata": DatasetMetadata,
    "user": UserRecord,
    "post": PostRecord,
    "interaction": InteractionRecord,
}


def validate_file(path: Path | str, max_errors: int = 20) -> ValidationReport:
    """Validate a dataset file (.json or .jsonl) completely, reporting the first `max_errors` problems.

    Never raises for bad content; raises FileNotFoundError when the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input file not found: {path}")
    return FileValidator(RECORD_MODELS, max_errors).run(path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m data.schemas PATH", file=sys.stderr)
        return 2
    try:
        report = validate_file(args[0])
    except FileNotFoundError as error:
        print(f"{error}: run python -m data.generate_fake_data first", file=sys.stderr)
        return 2
    print(report.render(), file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
