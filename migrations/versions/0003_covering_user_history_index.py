"""Carry post id and interaction type in the (user_id, created_at) index.

Serving reads a user's history on every request: which posts they saw (to leave them out) and
how they engaged (to fold them into the model). A user's rows lie scattered over the heap, one
page each, and those page visits were most of PostgreSQL's time for a request (0.5 ms for a
user with 200 interactions). With the two columns in the index the same reads are index-only.

SQLite has no INCLUDE; there the index stays as it was.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_user_interaction_user_id_created_at"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(INDEX, table_name="user_interaction")
    op.create_index(
        INDEX,
        "user_interaction",
        ["user_id", "created_at"],
        postgresql_include=["post_id", "interaction_type"],
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(INDEX, table_name="user_interaction")
    op.create_index(INDEX, "user_interaction", ["user_id", "created_at"])
