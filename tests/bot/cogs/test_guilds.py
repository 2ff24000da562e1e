"""Servers coming and going through the real client: removing the bot records when (so the
retention job can delete that server's data later); adding it back within the window keeps
everything; after the window the data is gone and the other server's stays. A removal
while the bot was offline is noticed when it starts again, each shard process judging only
its own servers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.client import PromptBot
from bot.cogs.guilds import guilds_left_offline, shard_owner
from retraining.retention import purge_departed_guilds
from storage.database import Database, utcnow
from storage.repositories.audit import recent_audit
from storage.repositories.guild_settings import (
    departure_time,
    guild_settings,
    update_guild_settings,
)
from storage.repositories.privacy import user_data
from storage.settings import Settings
from tests.fakediscord import FakeDiscord, running_client
from tests.fakediscord.gateway import shard_of
from tests.helpers.bot import USER, eventually, new_bot, results_of

# every test starts the bot on the embedded shipped corpus, on SQLite and on PostgreSQL
pytestmark = [pytest.mark.slow, pytest.mark.both_engines]


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


async def test_a_removal_while_the_bot_was_offline_is_noticed_at_start(
    fake: FakeDiscord, settings: Settings, bot_db: Database
) -> None:
    first = next(iter(fake.guilds.values()))
    second = fake.add_guild("Second", owner_id=fake.add_user("second-owner").id)
    async with running_client(new_bot(settings, bot_db), fake) as bot:
        await fake.wait_for_commands("prompt")
        for guild in (first, second):
            record = await fake.invoke_command(
                USER, guild_id=guild.id, name="prompt", options={"keywords": "dragons"}
            )
            await results_of(fake, record)

    fake.remove_bot(first.id)  # nobody connected: no GUILD_DELETE reaches a bot
    async with running_client(new_bot(settings, bot_db), fake) as bot:
        await eventually(lambda: left_at(bot_db, first.id) is not None)
        assert left_at(bot_db, second.id) is None  # still there: nothing is due
        with bot_db.session() as session:
            actions = [(e.action, e.target) for e in recent_audit(session)]
        assert ("guild.left_offline", f"guild:{first.id}") in actions
        assert ("guild.left_offline", f"guild:{second.id}") not in actions

        fake.readd_bot(first.id)  # invited back: the countdown stops, the data stays
        await eventually(lambda: left_at(bot_db, first.id) is None)
        assert bot.get_guild(first.id) is not None
    with bot_db.session() as session:
        assert user_data(session, str(USER)).requests == {str(first.id): 1, str(second.id): 1}


def test_each_shard_process_judges_only_the_servers_routed_to_it(bot_db: Database) -> None:
    """With two shard processes, a server of shard 1 is missing from shard 0's guild list
    because it is not shard 0's, not because the bot left it."""
    ids = {shard: _guild_on_shard(shard, 2) for shard in (0, 1)}
    with bot_db.session() as session:
        for guild_id in ids.values():
            update_guild_settings(session, str(guild_id), {"max_count": 2}, "test", utcnow())
    assert guilds_left_offline(bot_db, [], shard_owner(2, [0])) == [str(ids[0])]
    assert left_at(bot_db, ids[1]) is None
    assert guilds_left_offline(bot_db, [], shard_owner(2, [0])) == []  # already counted
    assert guilds_left_offline(bot_db, [str(ids[1])], shard_owner(2, [1])) == []
    assert guilds_left_offline(bot_db, [], shard_owner(None, None)) == [str(ids[1])]


def _guild_on_shard(shard: int, shard_count: int) -> int:
    guild_id = 1_000_000 << 22
    while shard_of(guild_id, shard_count) != shard:
        guild_id += 1 << 22
    return guild_id
