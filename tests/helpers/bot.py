"""Driving a real PromptBot through tests.fakediscord: who asks, what the bot answered, and
waiting for what the fake cannot observe (the database).

The fixtures that build the bot and its database are in tests/bot/conftest.py; these are the
plain pieces test modules call by name.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from bot.client import PromptBot
from storage.database import Database
from storage.models import ModelStatus
from storage.repositories.model_versions import register_version, set_champion
from storage.repositories.votes import current_vote
from storage.settings import Settings
from tests.fakediscord import FakeDiscord, InteractionRecord, Message

T = TypeVar("T")

ADMIN_ROLE = "Prompt Admins"
USER = 4242  # the member who asks for prompts
VOTER = 777  # a member who votes on results someone else asked for
T0 = datetime(2026, 1, 1)


def copy_database(template: Path, tmp_path: Path) -> Database:
    """A private copy of a session-wide template database, so no test sees another's writes."""
    target = tmp_path / "promptbot.db"
    shutil.copy(template, target)
    return Database(f"sqlite:///{target}")


def make_settings(db: Database, tmp_path: Path, cache: Path, **overrides: Any) -> Settings:
    """Bot settings for one test: its own home, the shared model cache, no real Discord."""
    values: dict[str, Any] = {
        "home": tmp_path / "home",
        "database_url": db.url,
        "cache_home": cache,
        "admin_role": ADMIN_ROLE,
        "cooldown_requests": 20,
        "cooldown_seconds": 60.0,
        "champion_poll_seconds": 3600.0,
        "discord_token": None,
        "dev_guild_id": None,
        **overrides,
    }
    return Settings(**values)


def new_bot(settings: Settings, db: Database) -> PromptBot:
    """A bot that does not wait the default two seconds for guilds the fake has already sent."""
    return PromptBot(settings, db, guild_ready_timeout=0.05)


def register_v1_champion(db: Database, v1_dir: Path) -> None:
    """Two versions: "v1" (a copy of base) is champion, "base" the one to roll back to."""
    with db.session() as session:
        register_version(
            session,
            "v1",
            str(v1_dir),
            ModelStatus.CANDIDATE,
            T0,
            parent_id="base",
            label="copy of base",
        )
        set_champion(session, "v1", actor="test", action="promote", now=T0)


async def ask(
    fake: FakeDiscord, keywords: str, user: int = USER, **options: Any
) -> InteractionRecord:
    """``user`` runs `/prompt keywords ...`."""
    return await fake.invoke_command(user, name="prompt", options={"keywords": keywords, **options})


async def results_of(fake: FakeDiscord, record: InteractionRecord, n: int = 1) -> list[Message]:
    """The ``n`` result messages of a /prompt, once the bot has added 👍 and 👎 to each."""
    messages = await record.wait_messages(n)
    bot_id = fake.bot_user.id
    await fake.wait_for(
        lambda: all(
            fake.reactions(m.id).get("👍") == {bot_id}
            and fake.reactions(m.id).get("👎") == {bot_id}
            for m in messages
        ),
        timeout=5.0,
        what="the bot's 👍/👎",
    )
    return messages


def notice(record: InteractionRecord) -> str:
    """The private text the bot answered with (asserting it was private)."""
    [message] = record.messages
    assert message.ephemeral, message
    assert message.embeds == []
    return message.content


async def wait_notice(record: InteractionRecord) -> str:
    """The private text the bot answers with, once it has answered."""
    await record.wait_messages(1)
    return notice(record)


async def eventually(predicate: Callable[[], T], timeout: float = 3.0) -> T:
    """Poll a condition the fake cannot observe (the database); returns its truthy value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (result := predicate()):
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
    return result


def vote_of(db: Database, message: Message, user: int) -> tuple[int, bool] | None:
    """``user``'s current vote on a result message: (value, removed), or None if never cast."""
    with db.session() as session:
        vote = current_vote(session, str(message.id), str(user))
        return None if vote is None else (vote.value, vote.removed_at is not None)
