"""Index only the interactions that carry an event id.

Most interactions have none, and a unique index over NULLs is a random B-tree insert per row that
makes no write idempotent. A partial index keeps retried deliveries stored once at none of that
cost; `ON CONFLICT DO NOTHING` still uses it as an arbiter.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HAS_EVENT_ID = sa.text("event_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ux_user_interaction_event_id", table_name="user_interaction")
    op.create_index(
        "ux_user_interaction_event_id",
        "user_interaction",
        ["event_id"],
        unique=True,
        postgresql_where=HAS_EVENT_ID,
        sqlite_where=HAS_EVENT_ID,
    )


def downgrade() -> None:
    op.drop_index("ux_user_interaction_event_id", table_name="user_interaction")
    op.create_index("ux_user_interaction_event_id", "user_interaction", ["event_id"], unique=True)
