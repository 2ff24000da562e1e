"""`/privacy show|forget`: what the bot holds about you, and deleting it, privately.

``forget`` asks first, with a Confirm and a Cancel button only the asking user can press
(the reply is ephemeral anyway); nothing is deleted until Confirm. Works in servers and in
direct messages alike: a user's data is theirs wherever it was made.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs import tell
from bot.formatting import (
    FORGET_CANCELLED,
    FORGET_QUESTION,
    NO_PINGS,
    forgotten_text,
    privacy_text,
)
from serving.privacy import describe_user, forget

if TYPE_CHECKING:
    from bot.client import PromptBot

CONFIRM_SECONDS = 120.0


class ConfirmForget(discord.ui.View):
    """Confirm / Cancel under the question; only ``user_id`` may answer."""

    def __init__(self, bot: PromptBot, user_id: int) -> None:
        super().__init__(timeout=CONFIRM_SECONDS)
        self.bot = bot
        self.user_id = user_id

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return interaction.user.id == self.user_id

    @discord.ui.button(
        label="Delete my data", style=discord.ButtonStyle.danger, custom_id="privacy:forget"
    )
    async def confirm(self, interaction: discord.Interaction, _button: discord.ui.Button) -> None:
        self.stop()
        await interaction.response.defer()
        forgotten = await asyncio.to_thread(forget, self.bot.db, str(self.user_id), "discord")
        await interaction.edit_original_response(content=forgotten_text(forgotten), view=None)

    @discord.ui.button(
        label="Cancel", style=discord.ButtonStyle.secondary, custom_id="privacy:cancel"
    )
    async def cancel(self, interaction: discord.Interaction, _button: discord.ui.Button) -> None:
        self.stop()
        await interaction.response.edit_message(content=FORGET_CANCELLED, view=None)


class PrivacyGroup(app_commands.Group):
    def __init__(self, bot: PromptBot) -> None:
        self.bot = bot
        super().__init__(name="privacy", description="What I keep about you, and deleting it")

    @app_commands.command(name="show", description="What I keep about you (only you see it)")
    async def show(self, interaction: discord.Interaction) -> None:
        data = await asyncio.to_thread(describe_user, self.bot.db, str(interaction.user.id))
        await tell(interaction, privacy_text(data, self._guild_names()))

    @app_commands.command(name="forget", description="Delete your votes and unlink your searches")
    async def forget(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            FORGET_QUESTION,
            view=ConfirmForget(self.bot, interaction.user.id),
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )

    def _guild_names(self) -> dict[str, str]:
        return {str(g.id): g.name for g in self.bot.guilds}


class Privacy(commands.Cog):
    def __init__(self, bot: PromptBot) -> None:
        self.bot = bot
        self.group = PrivacyGroup(bot)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.group, override=True)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command("privacy")
