"""guild settings, guild departures and prompt ratings

Revision ID: 0004_guild_settings
Revises: 0002_gateway_presence
Create Date: 2026-12-06 03:40:00

Adds, and changes nothing that exists:

* ``prompts.rating`` (general / teen / mature), ``general`` for every existing prompt: the
  corpus before ratings was served to every server, so that is what it was taken to be;
  ``promptbot init`` / ``import`` re-rate prompts from their files.
* ``guild_settings``: one server's own choices (channels for /prompt, default and maximum
  count, a stricter cooldown, content ceiling, joining experiments, contributing votes to
  training); NULL means the bot's default.
* ``guild_departures``: when the bot was removed from a server, for the retention job.
* ``forgotten_reactions``: reactions whose votes were deleted on request (by message and a
  digest of the voter), so catching up after a restart does not record them again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_guild_settings"
down_revision: str | None = "0002_gateway_presence"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("prompts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("rating", sa.String(length=16), server_default="general", nullable=False)
        )
    op.create_table(
        "guild_settings",
        sa.Column("guild_id", sa.String(length=32), nullable=False),
        sa.Column("prompt_channels", sa.JSON(), nullable=False),
        sa.Column("default_count", sa.Integer(), nullable=True),
        sa.Column("max_count", sa.Integer(), nullable=True),
        sa.Column("cooldown_requests", sa.Integer(), nullable=True),
        sa.Column("cooldown_seconds", sa.Float(), nullable=True),
        sa.Column("content_ceiling", sa.String(length=16), nullable=True),
        sa.Column("join_experiments", sa.Boolean(), nullable=True),
        sa.Column("contribute_votes", sa.Boolean(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("guild_id"),
    )
    op.create_table(
        "guild_departures",
        sa.Column("guild_id", sa.String(length=32), nullable=False),
        sa.Column("left_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("guild_id"),
    )
    with op.batch_alter_table("guild_departures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_guild_departures_left_at"), ["left_at"], unique=False
        )
    op.create_table(
        "forgotten_reactions",
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("voter_digest", sa.String(length=64), nullable=False),
        sa.Column("forgotten_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", "voter_digest"),
    )


def downgrade() -> None:
    op.drop_table("forgotten_reactions")
    with op.batch_alter_table("guild_departures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_guild_departures_left_at"))
    op.drop_table("guild_departures")
    op.drop_table("guild_settings")
    with op.batch_alter_table("prompts", schema=None) as batch_op:
        batch_op.drop_column("rating")
