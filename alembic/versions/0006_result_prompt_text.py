"""results remember the prompt text they showed

Revision ID: 0006_result_prompt_text
Revises: 0005_guild_prompts_daily
Create Date: 2026-12-06 14:05:00

A vote judges the text a result showed, but results kept only ``prompt_id``: editing a
prompt (re-importing its id with new text, a server editing its own prompt) silently moved
its past votes onto the new text. ``results.prompt_content_hash`` records the prompt's
``content_hash`` (title, text and tags) at the time it was shown; training leaves out votes
whose prompt hash has changed since.

Existing rows are filled from the prompt's current hash: what text they really showed is
not stored anywhere, and the current text is the best available truth (it is what those
votes have been training until now).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_result_prompt_text"
down_revision: str | None = "0005_guild_prompts_daily"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("results") as batch:
        batch.add_column(sa.Column("prompt_content_hash", sa.String(length=64), nullable=True))
    op.execute(
        "UPDATE results SET prompt_content_hash = "
        "(SELECT content_hash FROM prompts WHERE prompts.id = results.prompt_id)"
    )
    op.execute("UPDATE results SET prompt_content_hash = '' WHERE prompt_content_hash IS NULL")
    with op.batch_alter_table("results") as batch:
        batch.alter_column(
            "prompt_content_hash", existing_type=sa.String(length=64), nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("results") as batch:
        batch.drop_column("prompt_content_hash")
