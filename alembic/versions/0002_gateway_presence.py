"""gateway presence and reconcile progress

Revision ID: 0002_gateway_presence
Revises: 0001_initial
Create Date: 2026-12-03 23:30:00

Catching up on reactions after a restart reads only what the bot missed: each gateway shard
stores when it last handled an event, and a catch-up cut short stores how far each channel
got, so the next one resumes there.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_gateway_presence"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gateway_presence",
        sa.Column("shard", sa.String(length=32), nullable=False),
        sa.Column("last_event_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("shard"),
    )
    op.create_table(
        "reconcile_progress",
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("cursor_message_id", sa.String(length=32), nullable=True),
        sa.Column("checked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("channel_id"),
    )


def downgrade() -> None:
    op.drop_table("reconcile_progress")
    op.drop_table("gateway_presence")
