"""Bursts of `/prompt`: every interaction gets a first response in Discord's window (direct
when the bot is idle, deferred at once when searches queue up), and one the bot could not
answer in time costs one log line, not a traceback."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import func, select

from bot.client import PromptBot
from bot.cogs.prompts import Prompts
from storage.database import Database
from storage.models import Request
from tests.fakediscord import FakeDiscord, InteractionRecord
from tests.helpers.bot import USER, ask, eventually, results_of

pytestmark = pytest.mark.slow  # every test starts the bot, which loads the base model
BURST = 40
KEYWORDS = ["fantasy dragons", "haunted lighthouse", "space pirates", "time travel grief"]


def prompts_cog(bot: PromptBot) -> Prompts:
    cog = bot.get_cog("Prompts")
    assert isinstance(cog, Prompts)
    return cog


def request_count(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Request)) or 0


async def burst(fake: FakeDiscord, size: int) -> list[InteractionRecord]:
    """``size`` different users run /prompt at the same moment."""
    return list(
        await asyncio.gather(
            *(
                fake.invoke_command(
                    USER + i, options={"keywords": KEYWORDS[i % len(KEYWORDS)]}, wait=False
                )
                for i in range(size)
            )
        )
    )


async def test_a_burst_is_answered_in_time_and_nothing_is_lost(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    records = await burst(fake, BURST)
    for record in records:
        await record.wait_messages(1, timeout=60.0)

    assert not [r for r in records if r.expired or not r.acknowledged]
    assert max(r.latency or 0.0 for r in records) < 3.0
    assert all(not r.messages[0].ephemeral and r.messages[0].embeds for r in records)
    assert any(r.deferred for r in records)  # searches queued up: those deferred at once
    assert request_count(bot_db) == BURST
    await fake.wait_for(  # the handlers finish (the bot's 👍/👎) before the bot closes
        lambda: all(len(fake.reactions(r.messages[0].id)) == 2 for r in records),
        timeout=60.0,
        what="the bot's 👍/👎 on every result",
    )


async def test_busy_bot_defers_before_searching(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    cog = prompts_cog(bot)
    cog.busy_searches = 0  # as if searches were already queued
    cog.defer_after = 30.0  # so a deferral can only come from the burst rule
    record = await ask(fake, "haunted lighthouse")
    [message] = await results_of(fake, record)
    assert record.deferred and (record.latency or 0.0) < 1.0
    assert not message.ephemeral and message.embeds


async def test_an_interaction_answered_too_late_is_one_log_line(
    fake: FakeDiscord, bot: PromptBot, caplog: pytest.LogCaptureFixture
) -> None:
    fake.interaction_deadline = 0.0  # every first response arrives after the window closed
    caplog.set_level(logging.INFO)
    records = await burst(fake, 3)
    for record in records:
        await record.wait_response(timeout=30.0)
    cog = prompts_cog(bot)
    await eventually(lambda: cog.searches_in_flight == 0, timeout=30.0)
    await eventually(lambda: sum("went unanswered" in r.getMessage() for r in caplog.records) == 3)

    assert all(r.expired for r in records)
    unanswered = [r for r in caplog.records if "went unanswered" in r.getMessage()]
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in unanswered)
    assert all("\n" not in r.getMessage() for r in unanswered)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
