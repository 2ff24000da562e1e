"""Self-test of the fake gateway's sharding against discord.py's AutoShardedClient: the
recommended count from ``GET /gateway/bot``, READY per shard listing only its guilds, and each
guild's events (GUILD_CREATE, INTERACTION_CREATE, reactions) reaching only its shard."""

from __future__ import annotations

import discord
import pytest
from discord import app_commands

from tests.fakediscord import FakeDiscord, running_client

pytestmark = pytest.mark.asyncio

USER_ID = 4242


class ShardedPingBot(discord.AutoShardedClient):
    """Answers /ping with the shard that received it; remembers raw reactions per shard."""

    def __init__(self, **options: object) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05, **options)
        self.tree = app_commands.CommandTree(self)
        self.reactions: list[tuple[int | None, int]] = []  # (guild id, shard id)

        @self.tree.command(name="ping", description="Say which shard answered")
        async def ping(interaction: discord.Interaction) -> None:
            guild = interaction.guild
            await interaction.response.send_message(f"shard {guild.shard_id if guild else 0}")

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """No 5 s pause between shards' IDENTIFYs: the fake has no identify rate limit."""

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        guild = self.get_guild(payload.guild_id or 0)
        self.reactions.append((payload.guild_id, guild.shard_id if guild else -1))


async def test_guilds_and_their_events_go_to_their_own_shard() -> None:
    async with FakeDiscord(recommended_shards=2) as fake:
        guilds = [fake.add_guild(f"g{n}", guild_id=fake.guild_id_on_shard(n, 2)) for n in (0, 1)]
        async with running_client(ShardedPingBot(), fake) as bot:
            await fake.wait_for(lambda: len(fake.gateway.shards) == 2, what="two shards")
            assert bot.shard_count == 2  # discord.py took the recommendation
            ready = {s.shard_id: s.buffer[0]["d"]["guilds"] for s in fake.gateway.shards.values()}
            assert ready == {n: [{"id": str(guilds[n].id), "unavailable": True}] for n in (0, 1)}
            assert {g.id: g.shard_id for g in bot.guilds} == {g.id: n for n, g in enumerate(guilds)}

            await bot.tree.sync()
            for n, guild in enumerate(guilds):
                record = await fake.invoke_command(USER_ID, guild_id=guild.id, name="ping")
                [message] = await record.wait_messages(1)
                assert (record.shard_id, message.content) == (n, f"shard {n}")
                await fake.user_react(USER_ID, message.channel_id, message.id, "👍")
            await fake.wait_for(lambda: len(bot.reactions) == 2, what="both reactions")
            assert sorted(bot.reactions) == sorted((g.id, n) for n, g in enumerate(guilds))
            for session in fake.gateway.shards.values():  # nothing of the other shard's guild
                sent = {f["d"].get("guild_id") for f in session.buffer if f["t"] != "READY"}
                assert sent <= {None, str(guilds[session.shard_id].id)}


async def test_a_process_running_one_shard_sees_only_its_guilds() -> None:
    async with FakeDiscord() as fake:
        mine = fake.add_guild("mine", guild_id=fake.guild_id_on_shard(1, 2))
        theirs = fake.add_guild("theirs", guild_id=fake.guild_id_on_shard(0, 2))
        client = ShardedPingBot(shard_count=2, shard_ids=[1])
        async with running_client(client, fake) as bot:
            assert [g.id for g in bot.guilds] == [mine.id]
            assert list(fake.gateway.shards) == [1]
            with pytest.raises(RuntimeError, match="as shard 0"):
                await fake.invoke_command(USER_ID, guild_id=theirs.id)
