"""`/settings`: two servers with different admins, each changing only its own behaviour;
values out of range and channels the bot cannot see explained privately, storing nothing;
members and DMs refused; `/prompt` honouring channels, counts, a stricter cooldown and the
content ceiling (mature only in age-restricted channels)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.client import PromptBot
from retrieval.corpus import import_prompt_file
from storage.database import Database
from storage.repositories.guild_settings import GuildSettings, guild_settings
from tests.fakediscord import FakeDiscord, Guild, Overwrite, Perm
from tests.helpers.bot import results_of, wait_notice

# every test starts the bot on the embedded shipped corpus, on SQLite and on PostgreSQL
pytestmark = [pytest.mark.slow, pytest.mark.both_engines]


async def settings_cmd(
    fake: FakeDiscord, user: int, sub: str, guild: Guild, channel: int | None = None, **options: str
) -> str:
    record = await fake.invoke_command(
        user,
        guild_id=guild.id,
        channel_id=channel or guild.channel.id,
        name="settings",
        subcommand=sub,
        options=options,
    )
    return await wait_notice(record)


async def prompt_in(
    fake: FakeDiscord, user: int, guild: Guild, channel: int | None = None, **options: object
):  # type: ignore[no-untyped-def]
    return await fake.invoke_command(
        user,
        guild_id=guild.id,
        channel_id=channel or guild.channel.id,
        name="prompt",
        options={"keywords": "fantasy dragons", **options},
    )


def stored(db: Database, guild: Guild) -> GuildSettings:
    with db.session() as session:
        return guild_settings(session, str(guild.id))


async def test_each_server_sets_its_own_and_never_the_others(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    first = next(iter(fake.guilds.values()))
    second = fake.add_guild("Second Club", owner_id=fake.add_user("second-owner").id)
    admin_one = fake.add_member(first.id, name="one", permissions=Perm.MANAGE_GUILD)
    admin_two = fake.add_member(second.id, name="two", permissions=Perm.MANAGE_GUILD)
    writing = fake.add_channel(first.id, "writing")
    hidden = fake.add_channel(
        first.id,
        "staff",
        overwrites=[Overwrite(id=fake.bot_user.id, type=1, deny=Perm.VIEW_CHANNEL)],
    )
    await fake.wait_for_commands("settings")

    text = await settings_cmd(fake, admin_one.id, "set", first, name="max_count", value="9")
    assert "from 1 to 5" in text
    text = await settings_cmd(
        fake, admin_one.id, "set", first, name="prompt_channels", value=f"<#{hidden.id}>"
    )
    assert f"can't see <#{hidden.id}>" in text
    assert stored(bot_db, first) == GuildSettings(str(first.id))  # nothing stored

    for name, value in (
        ("max_count", "2"),
        ("prompt_channels", f"<#{writing.id}>"),
        ("cooldown_requests", "1"),
    ):
        assert "Saved." in await settings_cmd(
            fake, admin_one.id, "set", first, name=name, value=value
        )
    shown = await settings_cmd(fake, admin_one.id, "show", first)
    assert f"prompt_channels: <#{writing.id}>  (changed)" in shown
    assert "max_count: 2  (changed)" in shown and "content_ceiling: teen" in shown
    assert "Saved." in await settings_cmd(
        fake, admin_two.id, "set", second, name="max_count", value="4"
    )

    elsewhere = await prompt_in(fake, 4242, first)  # #general is not allowed any more
    assert f"I answer `/prompt` in <#{writing.id}>" in await wait_notice(elsewhere)
    capped = await prompt_in(fake, 4242, first, writing.id, count=5)
    assert len(await results_of(fake, capped, 2)) == 2
    await fake.wait_for(lambda: len(capped.messages) == 2, what="exactly two results")
    again = await prompt_in(fake, 4242, first, writing.id)  # the server's 1 per minute
    assert "try again in" in await wait_notice(again)
    other = await prompt_in(fake, 4242, second, count=5)  # nothing of the first server's
    assert len(await results_of(fake, other, 4)) == 4

    assert "Reset." in await settings_cmd(fake, admin_one.id, "reset", first, name="max_count")
    assert stored(bot_db, first).max_count == 5
    assert stored(bot_db, first).prompt_channels == {str(writing.id)}
    assert "Reset." in await settings_cmd(fake, admin_one.id, "reset", first)
    assert stored(bot_db, first) == GuildSettings(str(first.id))
    assert stored(bot_db, second).max_count == 4


async def test_members_and_direct_messages_are_refused(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    guild = next(iter(fake.guilds.values()))
    member = fake.add_member(guild.id, name="member")
    for command in fake.commands():
        command.pop("default_member_permissions", None)  # a server owner shows it to all
    text = await settings_cmd(fake, member.id, "set", guild, name="max_count", value="1")
    assert "Only this server's managers" in text
    dm = fake.dm_channel(member.id)
    record = await fake.invoke_command(
        member.id, channel_id=dm.id, name="settings", subcommand="show"
    )
    assert "only works inside a server" in await wait_notice(record)
    assert stored(bot_db, guild) == GuildSettings(str(guild.id))


async def test_ratings_follow_the_ceiling_and_age_restricted_channels(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database, tmp_path: Path
) -> None:
    """Three prompts about lighthouse dragons, one per rating, on top of the shipped corpus:
    which of them /prompt may show, on both sides of every boundary."""
    lines = [
        {
            "id": f"rated-{rating}",
            "title": f"Lighthouse dragon ({rating})",
            "text": "A dragon keeps the lighthouse and counts the ships that never arrive.",
            "genres": ["Fantasy"],
            "themes": ["Loneliness"],
            "rating": rating,
        }
        for rating in ("general", "teen", "mature")
    ]
    corpus = tmp_path / "rated.jsonl"
    corpus.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert import_prompt_file(bot_db, corpus).ok
    await __import__("asyncio").to_thread(bot.pool.refresh)
    guild = next(iter(fake.guilds.values()))
    adult = fake.add_channel(guild.id, "adults-only", nsfw=True)
    owner = fake.state.owner.id  # the server's owner: Manage Server

    async def shown(channel: int) -> set[str]:
        record = await prompt_in(
            fake, 4242, guild, channel, keywords="dragon keeps the lighthouse", count=5
        )
        messages = await results_of(fake, record, 5)
        titles = {m.embeds[0]["title"] for m in messages}
        return {t.split("(")[1].rstrip(")") for t in titles if t.startswith("Lighthouse dragon")}

    assert await shown(guild.channel.id) == {"general", "teen"}  # default ceiling: teen
    assert await shown(adult.id) == {"general", "teen"}  # age-restricted, ceiling still teen
    await settings_cmd(fake, owner, "set", guild, name="content_ceiling", value="mature")
    assert await shown(guild.channel.id) == {"general", "teen"}  # never mature outside
    assert await shown(adult.id) == {"general", "teen", "mature"}
    await settings_cmd(fake, owner, "set", guild, name="content_ceiling", value="general")
    assert await shown(adult.id) == {"general"}
    assert await shown(guild.channel.id) == {"general"}
