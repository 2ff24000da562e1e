"""Bad input and limits: a short private explanation, no stack trace, nothing recorded,
nobody pinged, and a polite answer to flooding."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.client import PromptBot
from storage.database import Database
from storage.models import Request
from tests.bot.conftest import (
    USER,
    ask,
    copy_database,
    make_settings,
    new_bot,
    results_of,
    wait_notice,
)
from tests.fakediscord import FakeDiscord, running_client


def request_count(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Request)) or 0


@pytest.mark.parametrize(
    ("keywords", "expected"),
    [
        ("", "Give me a few keywords"),
        ("   \t ", "Give me a few keywords"),
        ("!!!", "not just punctuation"),
        ("dragons " * 25 + "x", "201 characters"),
    ],
)
async def test_unusable_keywords_get_a_private_explanation(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database, keywords: str, expected: str
) -> None:
    record = await ask(fake, keywords)
    text = await wait_notice(record)
    assert expected in text and "Traceback" not in text
    assert record.callback_type == 4 and record.latency < 3.0
    assert record.callback_data["allowed_mentions"] == {"parse": []}
    assert request_count(bot_db) == 0


async def test_mentions_in_keywords_never_ping(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    record = await ask(fake, "@everyone dragons", count=2)
    await results_of(fake, record, 2)
    assert record.callback_data["allowed_mentions"] == {"parse": []}
    assert all(m.allowed_mentions == {"parse": []} for m in record.messages)
    assert request_count(bot_db) == 1


async def test_no_prompts_imported_is_explained(
    fake: FakeDiscord, empty_template: Path, tmp_path: Path, model_cache_dir: Path
) -> None:
    db = copy_database(empty_template, tmp_path)
    try:
        async with running_client(new_bot(make_settings(db, tmp_path, model_cache_dir), db), fake):
            await fake.wait_for_commands("prompt")
            text = await wait_notice(await ask(fake, "fantasy dragons"))
        assert "No prompts are imported" in text and "promptbot init" in text
        assert request_count(db) == 0
    finally:
        db.dispose()


async def test_flooding_gets_a_polite_cooldown_notice(
    fake: FakeDiscord, bot_db: Database, tmp_path: Path, model_cache_dir: Path
) -> None:
    settings = make_settings(
        bot_db, tmp_path, model_cache_dir, cooldown_requests=2, cooldown_seconds=30.0
    )
    async with running_client(new_bot(settings, bot_db), fake):
        await fake.wait_for_commands("prompt")
        for _ in range(2):
            await results_of(fake, await ask(fake, "space pirates"))
        text = await wait_notice(await ask(fake, "space pirates"))
        assert "try again in" in text and "2 prompts per 30 s" in text
        await results_of(fake, await ask(fake, "space pirates", user=USER + 1))  # others may
    assert request_count(bot_db) == 3


async def test_a_model_that_fails_to_load_is_explained_after_deferring(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    def unloadable(version_id: str) -> None:
        raise OSError(f"model files of {version_id} are unreadable")

    bot.pool.engine = unloadable  # type: ignore[method-assign]
    bot.get_cog("Prompts").defer_after = 0.0  # the public "thinking…" is up when it fails
    record = await ask(fake, "fantasy dragons")
    await record.wait_for(lambda r: r.followups)

    assert record.callback_type == 5 and record.original.deleted
    [message] = record.messages
    assert message.ephemeral and "could not be loaded" in message.content
    assert "Traceback" not in message.content and "unreadable" not in message.content
    assert request_count(bot_db) == 0
