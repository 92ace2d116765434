"""A service_meta table (key, value), holding this database's id.

The id is a random UUID written once. A trained model records the id of the database it learned
from, and a service loads only models trained on its own database, so a registry shared by
several databases never puts one database's model in front of another's users.

The id is made by the database itself on PostgreSQL, so SQL rendered once for the app team
(`alembic upgrade --sql`) still gives every database it is applied to an id of its own. An
upgrade that finds the table already there (left behind when the rest of the schema was dropped
to load other data) replaces the id: models trained on what was there before do not fit.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "service_meta"
DATABASE_ID_KEY = "database_id"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("key", sa.String(length=64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        if_not_exists=True,
    )
    meta = sa.table(TABLE, sa.column("key", sa.String), sa.column("value", sa.Text))
    op.execute(meta.delete().where(meta.c.key == DATABASE_ID_KEY))
    if op.get_context().dialect.name == "postgresql":
        # Built from this module's two constants only.
        op.execute(f"INSERT INTO {TABLE} (key, value) VALUES ('{DATABASE_ID_KEY}', gen_random_uuid()::text)")  # noqa: S608
    else:
        op.bulk_insert(meta, [{"key": DATABASE_ID_KEY, "value": str(uuid.uuid4())}])


def downgrade() -> None:
    op.drop_table(TABLE)
