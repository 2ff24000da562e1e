"""index requests by server

Revision ID: 0007_requests_guild_index
Revises: 0006_result_prompt_text
Create Date: 2026-12-07 01:00:00

Three things look requests up by server: deleting a departed server's data, a user's
`/privacy show` ("from which servers"), and the start-up check for servers that removed
the bot while it was offline. Without an index each is a scan of the largest table.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_requests_guild_index"
down_revision: str | None = "0006_result_prompt_text"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_requests_guild_id", "requests", ["guild_id"])


def downgrade() -> None:
    op.drop_index("ix_requests_guild_id", table_name="requests")
