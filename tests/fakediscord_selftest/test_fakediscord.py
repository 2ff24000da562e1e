"""Self-test of tests.fakediscord against the real discord.py client.

Each test starts its own FakeDiscord and its own discord.Client on the test's
event loop, and checks that nothing leaks (unclosed sessions, pending tasks).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable
from typing import Any

import discord
import pytest
import pytest_asyncio
from discord import app_commands

from tests.fakediscord import (
    CommandNotSynced,
    FakeDiscord,
    Guild,
    InteractionRecord,
    running_client,
)

pytestmark = pytest.mark.asyncio

USER_ID = 4242


class PingBot(discord.Client):
    """A tiny bot exercising what promptbot uses: slash commands with options,
    embeds, reactions, follow-ups, deferral, autocomplete and raw reaction events."""

    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.tree = app_commands.CommandTree(self)
        self.raw_reactions: list[discord.RawReactionActionEvent] = []
        self.errors: list[BaseException] = []
        self.late_error: discord.HTTPException | None = None
        self.slow_delay = 0.0

        @self.tree.command(name="ping", description="Reply with an embed, react and follow up")
        async def ping(interaction: discord.Interaction, text: str) -> None:
            await interaction.response.send_message(
                content=f"pong: {text}", embed=discord.Embed(title="Pong", description=text)
            )
            message = await interaction.original_response()
            await message.add_reaction("👍")
            await interaction.followup.send(f"follow-up for {text}")

        @self.tree.command(name="search", description="Deferred, ephemeral answer")
        @app_commands.describe(query="what to look for", count="how many")
        async def search(
            interaction: discord.Interaction, query: str, count: app_commands.Range[int, 1, 5] = 1
        ) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await interaction.followup.send(f"{count} result(s) for {query}", ephemeral=True)

        @search.autocomplete("query")
        async def search_autocomplete(interaction: discord.Interaction, current: str):
            return [
                app_commands.Choice(name=f"{current} {i}", value=f"{current}-{i}") for i in range(3)
            ]

        @self.tree.command(name="slow", description="Answers too late")
        async def slow(interaction: discord.Interaction) -> None:
            await asyncio.sleep(self.slow_delay)
            try:
                await interaction.response.send_message("too late")
            except discord.HTTPException as exc:
                self.late_error = exc

        @self.tree.error
        async def on_tree_error(interaction: discord.Interaction, error: Exception) -> None:
            self.errors.append(error)

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        self.raw_reactions.append(payload)


async def eventually(predicate: Callable[[], Any], timeout: float = 3.0) -> Any:
    """Poll a condition on the client side (which the fake cannot observe)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (result := predicate()):
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
    return result


@pytest_asyncio.fixture(autouse=True)
async def no_leaks() -> AsyncIterator[None]:
    """Fail on 'Unclosed client session', 'Task was destroyed but it is pending' etc."""
    loop = asyncio.get_running_loop()
    reports: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reports.append(context))
    yield
    await asyncio.sleep(0)  # let just-finished tasks settle
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    gc.collect()
    loop.set_exception_handler(None)
    assert not reports, [r.get("message") for r in reports]
    assert not pending, pending


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        server.add_guild("Prompt Club")
        yield server
        assert server.errors == []
        assert server.unhandled == []


@pytest_asyncio.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[PingBot]:
    client = PingBot()
    async with running_client(client, fake):
        await client.tree.sync()
        yield client


def the_guild(fake: FakeDiscord) -> Guild:
    return next(iter(fake.guilds.values()))


async def ping(fake: FakeDiscord, text: str = "hello") -> InteractionRecord:
    guild = the_guild(fake)
    return await fake.invoke_command(
        USER_ID, guild.id, guild.channel.id, name="ping", options={"text": text}
    )


# --------------------------------------------------------------------------- tests


async def test_login_ready_and_sync(fake: FakeDiscord, bot: PingBot) -> None:
    guild = the_guild(fake)
    assert bot.user is not None and bot.user.id == fake.bot_user.id
    assert [g.id for g in bot.guilds] == [guild.id]
    assert bot.get_channel(guild.channel.id) is not None
    assert {c["name"] for c in fake.commands()} == {"ping", "search", "slow"}
    methods = [(r.method, r.path) for r in fake.requests[:2]]
    assert methods == [("GET", "/users/@me"), ("GET", "/oauth2/applications/@me")]
    assert fake.gateway.heartbeats >= 1  # discord.py beats right after HELLO


async def test_ping_reply_embed_reaction_and_followup(fake: FakeDiscord, bot: PingBot) -> None:
    record = await ping(fake, "dragons")
    assert record.callback_type == 4 and record.acknowledged
    assert record.latency is not None and record.latency < 3.0

    reply, followup = await record.wait_messages(2, timeout=3.0)
    assert reply.content == "pong: dragons"
    assert reply.embeds[0]["title"] == "Pong" and reply.embeds[0]["description"] == "dragons"
    assert reply.author_id == fake.bot_user.id and reply.application_id == fake.application_id
    assert not record.ephemeral
    assert followup.content == "follow-up for dragons"
    assert record.message_ids == [reply.id, followup.id]
    assert [m.id for m in fake.channel_messages(record.channel_id)] == [reply.id, followup.id]

    await fake.wait_for(lambda: fake.reactions(reply.id), timeout=3.0)
    assert fake.reactions(reply.id) == {"👍": {fake.bot_user.id}}


async def test_user_reaction_reaches_client(fake: FakeDiscord, bot: PingBot) -> None:
    record = await ping(fake)
    [reply, _] = await record.wait_messages(2)
    await fake.wait_for(lambda: fake.reactions(reply.id))

    assert await fake.user_react(USER_ID, reply.channel_id, reply.id, "🔥")
    event = await eventually(
        lambda: next((p for p in bot.raw_reactions if p.user_id == USER_ID), None)
    )
    assert event.message_id == reply.id
    assert event.channel_id == reply.channel_id and event.guild_id == reply.guild_id
    assert str(event.emoji) == "🔥"
    assert event.member is not None and event.member.id == USER_ID
    assert event.message_author_id == fake.bot_user.id
    # Discord also echoes the bot's own reaction back to it
    assert any(p.user_id == fake.bot_user.id and str(p.emoji) == "👍" for p in bot.raw_reactions)
    assert fake.reactions(reply.id) == {"👍": {fake.bot_user.id}, "🔥": {USER_ID}}


async def test_rate_limited_reaction_is_retried(fake: FakeDiscord, bot: PingBot) -> None:
    rule = fake.fail_next("PUT", r"/reactions/👍/@me$", status=429, retry_after=0.2)
    record = await ping(fake)
    [reply, _] = await record.wait_messages(2)

    await fake.wait_for(lambda: fake.reactions(reply.id), timeout=3.0)
    assert fake.reactions(reply.id) == {"👍": {fake.bot_user.id}}
    assert len(rule.hits) == 1 and rule.remaining == 0
    puts = fake.find_requests("PUT", r"/reactions/")
    assert [r.status for r in puts] == [429, 204]
    assert puts[1].at - puts[0].at >= 0.18  # discord.py honoured retry_after


async def test_offline_reaction_visible_through_rest(fake: FakeDiscord, bot: PingBot) -> None:
    record = await ping(fake)
    [reply, _] = await record.wait_messages(2)
    await fake.wait_for(lambda: fake.reactions(reply.id))
    seen_before = len(bot.raw_reactions)

    offline_user = fake.add_member(the_guild(fake).id, name="night-owl")
    assert fake.react_offline(offline_user.id, reply.channel_id, reply.id, "👍")
    await asyncio.sleep(0.05)
    assert len(bot.raw_reactions) == seen_before  # no gateway event

    channel = bot.get_channel(reply.channel_id)
    assert isinstance(channel, discord.TextChannel)
    message = await channel.fetch_message(reply.id)
    [reaction] = message.reactions
    assert str(reaction.emoji) == "👍" and reaction.count == 2 and reaction.me
    users = {u.id async for u in reaction.users()}
    assert users == {fake.bot_user.id, offline_user.id}
    assert [u.id async for u in reaction.users(limit=1)] == [min(users)]


async def test_deferred_ephemeral_followup_and_autocomplete(
    fake: FakeDiscord, bot: PingBot
) -> None:
    guild = the_guild(fake)
    choices = await fake.invoke_autocomplete(
        USER_ID, guild.id, name="search", options={"query": "elf"}
    )
    assert choices == [{"name": f"elf {i}", "value": f"elf-{i}"} for i in range(3)]

    record = await fake.invoke_command(
        USER_ID, name="search", options={"query": "elves", "count": 3}
    )
    assert record.callback_type == 5 and record.deferred
    [message] = await record.wait_messages(1)
    # the first follow-up after a deferral fills in the "thinking" message
    assert message is record.original and not message.loading
    assert message.content == "3 result(s) for elves" and record.ephemeral
    assert record.followups == []
    assert fake.channel_messages(guild.channel.id) == []  # ephemeral: not in history

    option = record.payload["data"]["options"][1]
    assert option == {"name": "count", "type": 4, "value": 3}
    with pytest.raises(ValueError, match="outside"):
        await fake.invoke_command(USER_ID, name="search", options={"query": "x", "count": 9})
    with pytest.raises(ValueError, match="no option"):
        await fake.invoke_command(USER_ID, name="search", options={"qurey": "x"})
    with pytest.raises(CommandNotSynced):
        await fake.invoke_command(USER_ID, name="nope", timeout=0.1)


async def test_late_interaction_response_is_rejected(fake: FakeDiscord, bot: PingBot) -> None:
    fake.interaction_deadline = 0.1
    bot.slow_delay = 0.2
    record = await fake.invoke_command(USER_ID, name="slow")
    assert record.expired and not record.acknowledged and record.callback_status == 404
    assert isinstance(await eventually(lambda: bot.late_error), discord.NotFound)
    assert bot.late_error is not None and bot.late_error.code == 10062


async def test_resume_after_gateway_drop(fake: FakeDiscord, bot: PingBot) -> None:
    record = await ping(fake)
    [reply, _] = await record.wait_messages(2)
    await fake.wait_for(lambda: fake.reactions(reply.id))

    await fake.close_gateway()
    # an event dispatched while the bot is away is replayed on RESUME
    await fake.user_react(USER_ID, reply.channel_id, reply.id, "🎉")
    await fake.wait_until_resumed()
    event = await eventually(
        lambda: next((p for p in bot.raw_reactions if str(p.emoji) == "🎉"), None)
    )
    assert event.message_id == reply.id
    assert fake.gateway.identify_count == 1

    record = await ping(fake, "after resume")
    assert (await record.wait_messages(1))[0].content == "pong: after resume"


async def test_bot_restart_identifies_again(fake: FakeDiscord) -> None:
    async with running_client(PingBot(), fake) as first:
        await first.tree.sync()
        record = await ping(fake, "one")
        [reply, _] = await record.wait_messages(2)
    fake.react_offline(USER_ID, reply.channel_id, reply.id, "❤️")

    async with running_client(PingBot(), fake) as second:
        await fake.wait_until_ready(count=2)
        assert fake.gateway.identify_count == 2
        channel = second.get_channel(reply.channel_id)
        assert isinstance(channel, discord.TextChannel)
        history = [m async for m in channel.history(limit=10)]
        assert [m.id for m in history][-1] == reply.id  # newest first
        assert {str(r.emoji) for r in history[-1].reactions} == {"👍", "❤️"}
        record = await ping(fake, "two")  # commands synced by the first run persist
        assert (await record.wait_messages(1))[0].content == "pong: two"


class AdminBot(discord.Client):
    """Guild-synced command group with snowflake options and a reaction it may not add."""

    def __init__(self, intents: discord.Intents | None = None) -> None:
        super().__init__(intents=intents or discord.Intents.default(), guild_ready_timeout=0.05)
        self.tree = app_commands.CommandTree(self)
        self.seen: list[Any] = []
        self.messages: list[discord.Message] = []
        group = app_commands.Group(
            name="prompts",
            description="Prompt admin",
            default_permissions=discord.Permissions(manage_guild=True),
        )

        @group.command(name="grant", description="Grant a role")
        async def grant(
            interaction: discord.Interaction,
            who: discord.Member,
            where: discord.TextChannel,
            role: discord.Role,
        ) -> None:
            self.seen.append((who, where, role))
            await interaction.response.send_message(
                f"granted {role.name} to {who.name} in #{where.name}"
            )
            message = await interaction.original_response()
            try:
                await message.add_reaction("✅")
            except discord.Forbidden as exc:
                self.seen.append(exc)

        self.tree.add_command(group)

    async def on_message(self, message: discord.Message) -> None:
        self.messages.append(message)


async def test_guild_commands_subcommands_and_resolved_options(fake: FakeDiscord) -> None:
    guild = the_guild(fake)
    mods = fake.add_role(guild.id, "mods", permissions=discord.Permissions(manage_guild=True))
    admin = fake.add_member(guild.id, name="alice", roles=[mods])
    target = fake.add_member(guild.id, name="bob")
    fake.set_bot_permissions(guild.id, discord.Permissions(view_channel=True, send_messages=True))
    fake.set_overwrite(guild.channel.id, guild.id, deny=discord.Permissions(add_reactions=True))

    async with running_client(AdminBot(), fake) as client:
        client.tree.copy_global_to(guild=discord.Object(guild.id))
        await client.tree.sync(guild=discord.Object(guild.id))
        assert [c["name"] for c in fake.commands(guild.id)] == ["prompts"] and fake.commands() == []

        options = {"who": target.id, "where": guild.channel.id, "role": mods.id}
        with pytest.raises(PermissionError):  # default_member_permissions=manage_guild
            await fake.invoke_command(
                target.id, name="prompts", subcommand="grant", options=options
            )
        record = await fake.invoke_command(
            admin.id, name="prompts", subcommand="grant", options=options
        )

        [reply] = await record.wait_messages(1)
        assert reply.content == "granted mods to bob in #general"
        who, where, role = client.seen[0]
        assert (who.id, where.id, role.id) == (target.id, guild.channel.id, mods.id)
        assert isinstance(who, discord.Member)
        [data] = record.payload["data"]["options"]
        assert data["type"] == 1 and [o["type"] for o in data["options"]] == [6, 7, 8]
        assert int(record.payload["member"]["permissions"]) & discord.Permissions.manage_guild.flag

        # the bot may not add new reactions here: Discord answers 403 50013
        forbidden = await eventually(
            lambda: next((s for s in client.seen if isinstance(s, Exception)), None)
        )
        assert isinstance(forbidden, discord.Forbidden) and forbidden.code == 50013
        assert fake.reactions(reply.id) == {}

        # without the MESSAGE_CONTENT intent, other users' message content is blanked
        await fake.post_message(target.id, guild.channel.id, "secret words")
        seen = await eventually(
            lambda: next((m for m in client.messages if m.author.id == target.id), None)
        )
        assert seen.content == ""


async def test_wrong_token_is_rejected() -> None:
    async with FakeDiscord(token="right") as fake:
        fake.add_guild()
        with pytest.raises(discord.LoginFailure):
            async with running_client(PingBot(), fake, token="wrong"):
                pass
        assert [(r.method, r.path, r.status) for r in fake.requests] == [("GET", "/users/@me", 401)]
        method, path, body = fake.requests[0]
        assert (method, path, body) == ("GET", "/users/@me", None)
