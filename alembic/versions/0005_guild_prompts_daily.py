"""guild prompts, submissions and the daily prompt

Revision ID: 0005_guild_prompts_daily
Revises: 0004_guild_settings (it depends on nothing 0004 adds; it follows it so the
migrations keep one head)
Create Date: 2026-12-06 03:50:00

Servers bring their own prompts. This migration adds, and only adds:

* ``prompts.guild_id`` (NULL: the shared corpus; else the one server that owns the prompt),
  ``prompts.local_id`` (the id the server gave it, unique within that server),
  ``prompts.added_by`` and ``prompts.removed_at`` (a removed prompt keeps its row, so votes
  and history still point at it, but it is never served again);
* ``guild_prompt_settings``: where a server's moderation queue is posted, which role curates
  its prompts, and whether `/prompt` there searches only its own prompts;
* ``prompt_submissions``: members' prompts waiting for a moderator (approve/edit/reject);
* ``daily_schedules`` (one per server), ``daily_posts`` (one per server and local day: the
  unique key is what keeps several processes from posting twice) and ``daily_feedback``
  (reactions on daily posts: prompt feedback without a query, never a training pair).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_guild_prompts_daily"
down_revision: str | None = "0004_guild_settings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("prompts") as batch:
        batch.add_column(sa.Column("guild_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("local_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("added_by", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("removed_at", sa.DateTime(), nullable=True))
        batch.create_index("ix_prompts_guild_id", ["guild_id"])
        batch.create_unique_constraint("uq_prompts_guild_local", ["guild_id", "local_id"])

    op.create_table(
        "guild_prompt_settings",
        sa.Column("guild_id", sa.String(length=32), nullable=False),
        sa.Column("queue_channel_id", sa.String(length=32), nullable=True),
        sa.Column("curator_role_id", sa.String(length=32), nullable=True),
        sa.Column("own_prompts_only", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("guild_id"),
    )
    op.create_table(
        "prompt_submissions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("guild_id", sa.String(length=32), nullable=False),
        sa.Column("submitter_id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("genres", sa.JSON(), nullable=False),
        sa.Column("themes", sa.JSON(), nullable=False),
        sa.Column("rating", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("moderator_id", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("prompt_id", sa.String(length=64), nullable=True),
        sa.Column("queue_channel_id", sa.String(length=32), nullable=True),
        sa.Column("queue_message_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["prompt_id"], ["prompts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_prompt_submissions_open", "prompt_submissions", ["guild_id", "submitter_id", "status"]
    )

    op.create_table(
        "daily_schedules",
        sa.Column("guild_id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("time_of_day", sa.String(length=5), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("genre", sa.String(length=64), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=False),
        sa.Column("notified_at", sa.DateTime(), nullable=True),
        sa.Column("updated_by", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("guild_id"),
    )
    op.create_table(
        "daily_posts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("guild_id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("prompt_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=32), nullable=True),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("posted_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["prompt_id"], ["prompts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("guild_id", "day", name="uq_daily_posts_guild_day"),
        sa.UniqueConstraint("message_id", name="uq_daily_posts_message"),
    )
    op.create_index("ix_daily_posts_status", "daily_posts", ["status"])
    op.create_table(
        "daily_feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("voter_id", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.Column("removed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["post_id"], ["daily_posts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("post_id", "voter_id", name="uq_daily_feedback_post_voter"),
    )


def downgrade() -> None:
    op.drop_table("daily_feedback")
    op.drop_index("ix_daily_posts_status", table_name="daily_posts")
    op.drop_table("daily_posts")
    op.drop_table("daily_schedules")
    op.drop_index("ix_prompt_submissions_open", table_name="prompt_submissions")
    op.drop_table("prompt_submissions")
    op.drop_table("guild_prompt_settings")
    with op.batch_alter_table("prompts") as batch:
        batch.drop_constraint("uq_prompts_guild_local", type_="unique")
        batch.drop_index("ix_prompts_guild_id")
        batch.drop_column("removed_at")
        batch.drop_column("added_by")
        batch.drop_column("local_id")
        batch.drop_column("guild_id")
