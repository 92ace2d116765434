"""Initial schema: users, posts, user_interaction, user_recommendation.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("follower_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )
    op.create_table(
        "posts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("author_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("topic", sa.String(64), nullable=True),
        sa.Column("hashtags", JSON_TYPE, nullable=False, server_default="[]"),
        sa.Column("created_at", TIMESTAMP, nullable=False),
    )
    op.create_index("ix_posts_author_id", "posts", ["author_id"])
    op.create_index("ix_posts_created_at", "posts", ["created_at"])
    op.create_table(
        "user_interaction",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("post_id", sa.Uuid(), sa.ForeignKey("posts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("interaction_type", sa.String(16), nullable=False),
        sa.Column("metadata", JSON_TYPE, nullable=True),
        sa.Column("event_id", sa.String(128), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "interaction_type IN ('view', 'click', 'like', 'share')", name="ck_user_interaction_type"
        ),
    )
    op.create_index("ix_user_interaction_user_id_created_at", "user_interaction", ["user_id", "created_at"])
    op.create_index("ix_user_interaction_post_id_created_at", "user_interaction", ["post_id", "created_at"])
    op.create_index("ix_user_interaction_created_at", "user_interaction", ["created_at"])
    op.create_index("ux_user_interaction_event_id", "user_interaction", ["event_id"], unique=True)
    op.create_table(
        "user_recommendation",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("rank", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("generated_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.UniqueConstraint("user_id", "post_id", name="uq_user_recommendation_user_post"),
    )
    op.create_index(
        "ix_user_recommendation_user_id_score",
        "user_recommendation",
        ["user_id", sa.text("score DESC")],
    )
    op.create_index(
        "ix_user_recommendation_user_id_expires_at", "user_recommendation", ["user_id", "expires_at"]
    )
    op.create_index("ix_user_recommendation_expires_at", "user_recommendation", ["expires_at"])


def downgrade() -> None:
    op.drop_table("user_recommendation")
    op.drop_table("user_interaction")
    op.drop_table("posts")
    op.drop_table("users")
