"""Servers coming and going through the real client: removing the bot records when (so the
retention job can delete that server's data later); adding it back within the window keeps
everything; after the window the data is gone and the other server's stays."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.client import PromptBot
from retraining.retention import purge_departed_guilds
from storage.database import Database, utcnow
from storage.repositories.guild_settings import departure_time, guild_settings
from storage.repositories.privacy import user_data
from tests.fakediscord import FakeDiscord
from tests.helpers.bot import USER, eventually, results_of

pytestmark = pytest.mark.slow  # starts the bot on the embedded shipped corpus


def left_at(db: Database, guild_id: int):  # type: ignore[no-untyped-def]
    with db.session() as session:
        return departure_time(session, str(guild_id))


async def test_removed_readded_and_removed_again(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    first = next(iter(fake.guilds.values()))
    second = fake.add_guild("Second", owner_id=fake.add_user("second-owner").id)
    await eventually(lambda: bot.get_guild(second.id) is not None)
    for guild in (first, second):
        record = await fake.invoke_command(
            USER, guild_id=guild.id, name="prompt", options={"keywords": "dragons"}
        )
        await results_of(fake, record)
    bot.guild_settings.update(first.id, {"max_count": 2}, "test")

    fake.remove_bot(first.id)
    await eventually(lambda: left_at(bot_db, first.id) is not None)
    assert bot.get_guild(first.id) is None
    fake.readd_bot(first.id)  # back within the window: nothing is due any more
    await eventually(lambda: left_at(bot_db, first.id) is None)
    assert purge_departed_guilds(bot_db, 30, utcnow() + timedelta(days=60)) == []

    fake.remove_bot(first.id)
    await eventually(lambda: left_at(bot_db, first.id) is not None)
    assert purge_departed_guilds(bot_db, 30, utcnow() + timedelta(days=29)) == []
    [purged] = purge_departed_guilds(bot_db, 30, utcnow() + timedelta(days=31))
    assert purged.guild_id == str(first.id) and purged.data.requests == 1
    with bot_db.session() as session:
        assert user_data(session, str(USER)).requests == {str(second.id): 1}
        assert guild_settings(session, str(first.id)).max_count == 5
