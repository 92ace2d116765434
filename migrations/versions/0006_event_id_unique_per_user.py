"""An event id is unique per user, not across all users.

Clients pick their event ids, and a short one (a counter, `evt-123`) sent by two users made the
second user's event a "duplicate" of the first's and dropped it. The unique index now covers
(user_id, event_id), still only over rows that carry an event id.

Upgrading never fails: the old index was stricter. Downgrading has to make event ids unique
across users again: where users share one, the earliest row keeps it and the later rows lose
theirs (set to NULL). No interaction is deleted; those rows only stop deduplicating retries.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "user_interaction"
HAS_EVENT_ID = sa.text("event_id IS NOT NULL")
GLOBAL = "ux_user_interaction_event_id"
PER_USER = "ux_user_interaction_user_id_event_id"
# Every row but the earliest of each event id shared by several users.
LATER_REPEATS = sa.text(
    "UPDATE user_interaction SET event_id = NULL WHERE id IN ("
    " SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY event_id ORDER BY created_at, id) AS n"
    " FROM user_interaction WHERE event_id IS NOT NULL) AS numbered WHERE n > 1)"
)


def upgrade() -> None:
    op.create_index(
        PER_USER,
        TABLE,
        ["user_id", "event_id"],
        unique=True,
        postgresql_where=HAS_EVENT_ID,
        sqlite_where=HAS_EVENT_ID,
    )
    op.drop_index(GLOBAL, table_name=TABLE)


def downgrade() -> None:
    op.execute(LATER_REPEATS)
    op.create_index(
        GLOBAL, TABLE, ["event_id"], unique=True, postgresql_where=HAS_EVENT_ID, sqlite_where=HAS_EVENT_ID
    )
    op.drop_index(PER_USER, table_name=TABLE)
