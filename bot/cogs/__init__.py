"""The bot's cogs, one per concern, and the reply helpers they share.

* ``prompts``: `/prompt` and keeping the served model current;
* ``feedback``: reactions as votes, and catching up on them after a restart;
* ``admin``: `/model ...`: operators change the shared model, server admins see its status;
* ``settings``: `/settings ...`, one server's own choices;
* ``privacy``: `/privacy show|forget`;
* ``guilds``: servers coming and going (for the retention job);
* ``guild_prompts``: `/prompts ...`, a server's own prompts and their moderation queue;
* ``daily``: `/daily ...`, the prompt of the day.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import discord

from bot.formatting import NO_PINGS

if TYPE_CHECKING:
    from bot.client import PromptBot


PUBLIC_PLACEHOLDER = "promptbot_public_placeholder"


async def defer_publicly(interaction: discord.Interaction) -> None:
    """Show "thinking…" to everyone; :func:`tell` knows to take it down if need be."""
    await interaction.response.defer(thinking=True)
    interaction.extras[PUBLIC_PLACEHOLDER] = True


async def tell(interaction: discord.Interaction, text: str) -> None:
    """Answer only the user who asked (ephemeral), whatever state the interaction is in.

    After a public deferral the first follow-up would fill that public placeholder, so the
    placeholder is deleted and the notice sent as a private follow-up instead.
    """
    response = interaction.response
    if not response.is_done():
        await response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)
        return
    if interaction.extras.pop(PUBLIC_PLACEHOLDER, False):
        # already gone or never shown: the follow-up below still explains
        with contextlib.suppress(discord.HTTPException):
            await interaction.delete_original_response()
    await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)


async def send_public(interaction: discord.Interaction, embed: discord.Embed) -> discord.Message:
    """Post for everyone: the response, else a follow-up (the first fills a placeholder)."""
    if interaction.response.is_done():
        interaction.extras.pop(PUBLIC_PLACEHOLDER, None)
        return await interaction.followup.send(embed=embed, allowed_mentions=NO_PINGS, wait=True)
    callback = await interaction.response.send_message(embed=embed, allowed_mentions=NO_PINGS)
    if isinstance(callback.resource, discord.Message):
        return callback.resource
    return await interaction.original_response()


async def add_cogs(bot: PromptBot) -> None:
    from bot.cogs.admin import ModelAdmin
    from bot.cogs.daily import Daily
    from bot.cogs.feedback import Feedback
    from bot.cogs.guild_prompts import GuildPromptCommands
    from bot.cogs.guilds import Guilds
    from bot.cogs.privacy import Privacy
    from bot.cogs.prompts import Prompts
    from bot.cogs.settings import ServerSettings

    for cog in (
        Prompts(bot),
        Feedback(bot),
        ModelAdmin(bot),
        ServerSettings(bot),
        Privacy(bot),
        Guilds(bot),
        GuildPromptCommands(bot),
        Daily(bot),
    ):
        await bot.add_cog(cog)
