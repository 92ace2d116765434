"""served_list (ranked lists as served, continued by cursors) and deleted_post (ids of deleted
posts, left out of every list still in use).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "served_list",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("post_ids", sa.Text(), nullable=False),
        sa.Column("scores", sa.Text(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
    )
    op.create_index("ix_served_list_expires_at", "served_list", ["expires_at"])
    op.create_index("ix_served_list_user_id", "served_list", ["user_id"])
    op.create_table(
        "deleted_post",
        sa.Column("post_id", sa.Uuid(), primary_key=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_deleted_post_deleted_at", "deleted_post", ["deleted_at"])


def downgrade() -> None:
    op.drop_table("deleted_post")
    op.drop_table("served_list")
