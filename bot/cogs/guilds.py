"""Servers coming and going: when the bot is removed from one, the time is stored, and that
server's data is deleted ``PROMPTBOT_GUILD_RETENTION_DAYS`` later (retraining.retention)
unless the bot is added back first, which keeps everything. On ready, every server the bot
is in counts as present (it may have been added back while the bot was offline)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from storage.database import Database, utcnow
from storage.repositories.audit import write_audit
from storage.repositories.guild_settings import record_guild_joined, record_guild_left

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
    async def on_ready(self) -> None:
        await asyncio.to_thread(guilds_present, self.bot.db, [str(g.id) for g in self.bot.guilds])
