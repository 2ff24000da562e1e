"""`/daily` through the real discord.py client: the schedule is set and shown, the chosen
prompt is posted once (even with two posters racing and across a restart), reactions on it
become prompt feedback and never votes, and a deleted channel turns the job off with one note
to the owner and an audit entry."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.client import PromptBot
from bot.cogs.daily import Daily
from retraining.daily import choose_daily_post
from storage.database import Database, utcnow
from storage.models import DailyFeedback, DailyPost, Vote
from storage.repositories import daily as repo
from storage.repositories.audit import recent_audit
from storage.settings import Settings
from tests.fakediscord import FakeDiscord, running_client
from tests.helpers.bot import USER, eventually, make_settings, new_bot
from tests.helpers.guild_prompts import CURATOR, make_curator, private_text

# every test starts the bot on the embedded shipped corpus, on SQLite and on PostgreSQL
pytestmark = [pytest.mark.slow, pytest.mark.both_engines]


@pytest.fixture
def settings(bot_db: Database, tmp_path: Path, model_cache_dir: Path) -> Settings:
    return make_settings(bot_db, tmp_path, model_cache_dir, daily_poll_seconds=0.1)


async def set_daily(fake: FakeDiscord, channel_id: int, **options: object) -> str:
    record = await fake.invoke_command(
        CURATOR,
        name="daily",
        subcommand="set",
        options={"channel": channel_id, "time": "09:00", **options},
    )
    return await private_text(record)


def guild_id(fake: FakeDiscord) -> str:
    [guild] = fake.guilds.values()
    return str(guild.id)


async def test_set_show_post_once_and_reactions_are_feedback(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    make_curator(fake)
    channel = fake.add_channel(name="daily-writing")
    answer = await set_daily(fake, channel.id, timezone="Europe/Paris", genre="horror")
    assert "posted daily in" in answer and "Europe/Paris" in answer, answer
    shown = await private_text(await fake.invoke_command(CURATOR, name="daily", subcommand="show"))
    assert shown == answer

    refused = await fake.invoke_command(
        CURATOR, name="daily", subcommand="set", options={"channel": channel.id, "time": "9am"}
    )
    assert "09:30" in await private_text(refused)

    assert choose_daily_post(bot_db, guild_id(fake), utcnow()) is not None  # the job fires
    [post] = await fake.wait_for(lambda: fake.bot_messages(channel.id) or None)
    assert "prompt of the day" in post.embeds[0]["footer"]["text"]
    genres = next(f["value"] for f in post.embeds[0]["fields"] if f["name"] == "Genres")
    assert "Horror" in genres

    await fake.user_react(USER, channel.id, post.id, "👍")

    def feedback() -> list[DailyFeedback]:
        with bot_db.session() as session:
            return list(session.query(DailyFeedback).all())

    [row] = await eventually(feedback)
    assert (row.voter_id, row.value) == (str(USER), 1)
    with bot_db.session() as session:
        assert session.query(Vote).count() == 0  # no query, so never a training vote
    await asyncio.sleep(0.3)  # further polls post nothing more
    assert len(fake.bot_messages(channel.id)) == 1


async def test_two_posters_racing_post_once(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    make_curator(fake)
    channel = fake.add_channel(name="daily-writing")
    await set_daily(fake, channel.id)
    bot.get_cog("Daily").post_due.cancel()  # type: ignore[union-attr]
    choose_daily_post(bot_db, guild_id(fake), utcnow())
    first, second = bot.get_cog("Daily"), Daily(bot)  # another process on the same database
    second.holder = "other-host:1"
    sent = await asyncio.gather(first.post_pending(), second.post_pending())  # type: ignore[union-attr]
    assert sorted(sent) == [0, 1]
    assert len(fake.bot_messages(channel.id)) == 1


async def test_a_pending_post_is_sent_after_a_restart_and_never_twice(
    fake: FakeDiscord, settings: Settings, bot_db: Database
) -> None:
    make_curator(fake)
    channel = fake.add_channel(name="daily-writing")
    async with running_client(new_bot(settings, bot_db), fake):
        await fake.wait_for_commands("daily")
        await set_daily(fake, channel.id)
    choose_daily_post(bot_db, guild_id(fake), utcnow())  # fired while no bot was running
    async with running_client(new_bot(settings, bot_db), fake):
        await fake.wait_for(lambda: fake.bot_messages(channel.id) or None)
    async with running_client(new_bot(settings, bot_db), fake) as again:
        await again.get_cog("Daily").post_pending()  # type: ignore[union-attr]
    assert len(fake.bot_messages(channel.id)) == 1
    with bot_db.session() as session:
        assert session.query(DailyPost).one().status == "posted"


async def test_a_deleted_channel_turns_the_job_off_and_tells_the_owner_once(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    make_curator(fake)
    channel = fake.add_channel(name="daily-writing")
    await set_daily(fake, channel.id)
    fake.delete_channel(channel)
    choose_daily_post(bot_db, guild_id(fake), utcnow())

    def schedule_off() -> bool:
        with bot_db.session() as session:
            schedule = repo.get_schedule(session, guild_id(fake))
            return schedule is not None and not schedule.enabled

    await eventually(schedule_off)
    [guild] = fake.guilds.values()
    dm = fake.dm_channel(guild.owner_id)
    [note] = await fake.wait_for(lambda: fake.channel_messages(dm.id) or None)
    assert "daily prompt" in note.content and "deleted" in note.content
    with bot_db.session() as session:
        assert any(e.action == "daily.disabled" for e in recent_audit(session, 10))
    assert choose_daily_post(bot_db, guild_id(fake), utcnow()) is None  # off: nothing chosen
    shown = await private_text(await fake.invoke_command(CURATOR, name="daily", subcommand="show"))
    assert "is off" in shown and "deleted" in shown
