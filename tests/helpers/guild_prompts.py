"""Driving `/prompts ...` through the fake Discord: curators, members, modals and files."""

from __future__ import annotations

import json
from typing import Any

from tests.fakediscord import FakeDiscord, InteractionRecord, Perm

CURATOR = 5151  # Manage Server in the first guild
MEMBER = 6161  # an ordinary member
SECOND_CURATOR = 5252

A_PROMPT = {
    "title": "The Lighthouse Choir",
    "text": "Every keeper of the northern lighthouse hears the same choir at dusk, singing a "
    "hymn no church has ever printed. Tonight the new keeper finally sings back.",
    "genres": "mystery, supernatural",
    "themes": "isolation",
}


def make_curator(fake: FakeDiscord, user_id: int = CURATOR, guild_id: Any = None) -> None:
    fake.add_member(guild_id, user_id, permissions=Perm.MANAGE_GUILD)


async def prompts(
    fake: FakeDiscord, user: int, subcommand: str, guild_id: Any = None, **options: Any
) -> InteractionRecord:
    return await fake.invoke_command(
        user, guild_id=guild_id, name="prompts", subcommand=subcommand, options=options
    )


async def fill_modal(
    fake: FakeDiscord, opened: InteractionRecord, fields: dict[str, str]
) -> InteractionRecord:
    assert opened.callback_type == 9, opened.callbacks  # the bot answered with a modal
    return await fake.submit_modal(opened, fields)


def modal_limits(opened: InteractionRecord) -> dict[str, int | None]:
    """Each text input of the modal the bot opened: its custom_id and max_length."""
    assert opened.modal is not None, opened.callbacks
    return {
        row["components"][0]["custom_id"]: row["components"][0].get("max_length")
        for row in opened.modal["components"]
    }


async def add_prompt(
    fake: FakeDiscord, fields: dict[str, str] = A_PROMPT, user: int = CURATOR, guild_id: Any = None
) -> str:
    """A curator adds a prompt through the modal; returns the bot's private answer."""
    opened = await prompts(fake, user, "add", guild_id=guild_id)
    submitted = await fill_modal(fake, opened, fields)
    return await private_text(submitted)


async def private_text(record: InteractionRecord) -> str:
    [message] = await record.wait_messages(1)
    assert message.ephemeral, message
    return message.content


def jsonl(*objects: dict[str, Any]) -> bytes:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects).encode()
