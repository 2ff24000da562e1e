"""`/settings show|set|reset`: one server's own choices, for its admins (Manage Server or the
admin role; being the bot's operator does not count, a server decides for itself).

Values are parsed by serving.guild_settings.parse_setting, which explains any out-of-range
value privately and stores nothing; channels the bot cannot see are refused (/prompt could
never answer there). A change is stored, audited with guild, channel and user, and seen by
every bot process within 10 s (serving.guild_settings).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.checks import Access, requires
from bot.cogs import tell
from bot.formatting import settings_text
from serving.guild_settings import SETTING_NAMES, SettingError, parse_setting

if TYPE_CHECKING:
    from bot.client import PromptBot

SETTING_CHOICES = [app_commands.Choice(name=name, value=name) for name in SETTING_NAMES]


def bot_can_use(guild: discord.Guild, channel_id: str) -> bool:
    """The bot sees the text channel and may post there."""
    channel = guild.get_channel(int(channel_id))
    if channel is None or not isinstance(channel, discord.abc.Messageable):
        return False
    permissions = channel.permissions_for(guild.me)
    return permissions.view_channel and permissions.send_messages


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class SettingsGroup(app_commands.Group):
    def __init__(self, bot: PromptBot) -> None:
        self.bot = bot
        super().__init__(name="settings", description="This server's settings for the bot")

    @app_commands.command(name="show", description="This server's settings")
    @requires(Access.SERVER_ADMIN)
    async def show(self, interaction: discord.Interaction) -> None:
        settings = await asyncio.to_thread(self.bot.guild_settings.get, interaction.guild_id)
        await tell(interaction, settings_text(settings, self._global_cooldown()))

    @app_commands.command(name="set", description="Change one setting")
    @app_commands.describe(name="Which setting", value="Its new value")
    @app_commands.choices(name=SETTING_CHOICES)
    @requires(Access.SERVER_ADMIN)
    async def set_value(
        self,
        interaction: discord.Interaction,
        name: str,
        value: app_commands.Range[str, 0, 1000],
    ) -> None:
        guild = interaction.guild
        assert guild is not None  # guild_only
        try:
            parsed = parse_setting(
                name, value, self._global_cooldown(), lambda c: bot_can_use(guild, c)
            )
            settings = await asyncio.to_thread(
                self.bot.guild_settings.update,
                guild.id,
                {name: parsed},
                f"discord:{interaction.user.id}",
                None,
                {"channel_id": str(interaction.channel_id)},
            )
        except SettingError as exc:
            await tell(interaction, str(exc))
            return
        await tell(interaction, "Saved.\n" + settings_text(settings, self._global_cooldown()))

    @app_commands.command(name="reset", description="Back to the defaults (one setting or all)")
    @app_commands.describe(name="Which setting (default: all of them)")
    @app_commands.choices(name=SETTING_CHOICES)
    @requires(Access.SERVER_ADMIN)
    async def reset(self, interaction: discord.Interaction, name: str | None = None) -> None:
        assert interaction.guild_id is not None
        try:
            settings = await asyncio.to_thread(
                self.bot.guild_settings.reset,
                interaction.guild_id,
                f"discord:{interaction.user.id}",
                None if name is None else [name],
                None,
                {"channel_id": str(interaction.channel_id)},
            )
        except SettingError as exc:
            await tell(interaction, str(exc))
            return
        await tell(interaction, "Reset.\n" + settings_text(settings, self._global_cooldown()))

    def _global_cooldown(self) -> tuple[int, float]:
        return (self.bot.settings.cooldown_requests, self.bot.settings.cooldown_seconds)


class ServerSettings(commands.Cog):
    def __init__(self, bot: PromptBot) -> None:
        self.bot = bot
        self.group = SettingsGroup(bot)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.group, override=True)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command("settings")
