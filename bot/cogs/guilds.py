"""Servers coming and going: when the bot is removed from one, the time is stored, and that
server's data is deleted ``PROMPTBOT_GUILD_RETENTION_DAYS`` later (retraining.retention)
unless the bot is added back first, which keeps everything.

On ready the bot also settles what happened while it was offline (Discord sends no
GUILD_DELETE for a removal nobody was connected to see): every server it is in counts as
present (it may have been added back), and every server with stored data that it is *not*
in counts as removed from that moment (audited ``guild.left_offline``), so its data is not
kept forever. READY lists unavailable servers too, so an outage is not a removal. With
several shard processes each one judges only the servers Discord routes to its own shards
(``(guild_id >> 22) % shard_count``): the others are not in its list at all."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from storage.database import Database, utcnow
from storage.repositories.audit import write_audit
from storage.repositories.guild_settings import (
    departed_guilds,
    guilds_with_data,
    record_guild_joined,
    record_guild_left,
)

if TYPE_CHECKING:
    from bot.client import PromptBot

log = logging.getLogger(__name__)


def guild_left(db: Database, guild_id: str) -> None:
    now = utcnow()
    with db.session() as session:
        record_guild_left(session, guild_id, now)
        write_audit(session, "discord", "guild.left", now, f"guild:{guild_id}")


def guilds_present(db: Database, guild_ids: list[str]) -> None:
    now = utcnow()
    with db.session() as session:
        for guild_id in guild_ids:
            if record_guild_joined(session, guild_id):
                write_audit(session, "discord", "guild.returned", now, f"guild:{guild_id}")


def guilds_left_offline(db: Database, present: list[str], owns: Callable[[str], bool]) -> list[str]:
    """Count ``present`` as present, and servers this process owns that have data but are
    neither present nor already departed as removed now. Returns the newly removed ones."""
    guilds_present(db, present)
    now = utcnow()
    with db.session() as session:
        gone = guilds_with_data(session) - set(present) - departed_guilds(session)
        left = sorted(guild_id for guild_id in gone if owns(guild_id))
        for guild_id in left:
            record_guild_left(session, guild_id, now)
            write_audit(session, "discord", "guild.left_offline", now, f"guild:{guild_id}")
    return left


def shard_owner(shard_count: int | None, shard_ids: list[int] | None) -> Callable[[str], bool]:
    """Whether a server's events come to this process's shards (all of them when the bot
    is not sharded, or runs every shard)."""
    if not shard_count or shard_ids is None:
        return lambda _guild_id: True
    mine = set(shard_ids)
    return lambda guild_id: (int(guild_id) >> 22) % shard_count in mine


class Guilds(commands.Cog):
    def __init__(self, bot: PromptBot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        await asyncio.to_thread(guild_left, self.bot.db, str(guild.id))
        log.info(
            "removed from guild %s; its data goes in %g days unless re-added",
            guild.id,
            self.bot.settings.guild_retention_days,
        )

    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        await asyncio.to_thread(guilds_present, self.bot.db, [str(guild.id)])

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        """discord.py reports a GUILD_CREATE that says ``unavailable: false`` as "available",
        not "join"; after start-up (which on_ready covers at once) it is a return as well."""
        if self.bot.is_ready():
            await asyncio.to_thread(guilds_present, self.bot.db, [str(guild.id)])

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        shard_ids = getattr(self.bot, "shard_ids", None)  # AutoShardedBot's; else one shard
        if shard_ids is None and self.bot.shard_id is not None:
            shard_ids = [self.bot.shard_id]
        owns = shard_owner(self.bot.shard_count, shard_ids)
        present = [str(g.id) for g in self.bot.guilds]
        left = await asyncio.to_thread(guilds_left_offline, self.bot.db, present, owns)
        if left:
            log.info(
                "removed from %d guild(s) while offline; their data goes in %g days unless "
                "re-added",
                len(left),
                self.bot.settings.guild_retention_days,
            )
