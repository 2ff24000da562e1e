"""`/model ...`: the shared model. Operators change it; server admins may only look.

One model answers every server, so promote, rollback, stopping an experiment and listing
versions are for the bot's operators only (bot.checks: the application's owner or team, and
``PROMPTBOT_OPERATOR_IDS``); server admins (Manage Server or the admin role) keep a read-only
`/model status` that leaves out what only operators need (the last training run and
fallback details). With ``PROMPTBOT_CONTROL_GUILD_ID`` the operators' commands are registered
in that server only, and every other server has `/model status` alone.

The same functions as `promptbot models ...` (retraining.model_admin), so both write the
same audit log; the actor is ``discord:<user id>``, and every attempt, allowed or refused,
is audited with guild, channel and user (bot.checks.requires). Every reply is private, and
each command defers first: loading a newly promoted model can take longer than Discord's
3-second window. After a promotion or rollback the pool is refreshed at once, so the very
next `/prompt` uses the new champion.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.checks import Access, access_of, requires
from bot.cogs import tell
from bot.formatting import models_text, public_status_text, serving_line, status_text
from retraining import experiment_check
from retraining.experiment_check import rule_from
from retraining.model_admin import (
    AdminError,
    ServingSummary,
    list_models,
    promote,
    rollback,
    status,
)
from serving.model_pool import ModelPool
from storage.database import Database
from storage.settings import Settings

if TYPE_CHECKING:
    from bot.client import PromptBot

MAX_CHOICES = 25
OPERATOR_SUBCOMMANDS = ("list", "promote", "rollback", "experiment")


def status_report(db: Database, pool: ModelPool, settings: Settings, full: bool = True) -> str:
    """The CLI's status plus what this process serves; the stored experiment numbers are from
    the last hourly check, so the running experiment's votes are counted again here.
    ``full`` False: what a server admin sees (no training runs, no failure details)."""
    report = status(db, rule=rule_from(settings))
    state = pool.state
    if state is not None:
        serving = ServingSummary(state.serving_id, state.fallback_reason, state.backend)
        report = report.with_serving(serving)
    return status_text(report) if full else public_status_text(report)


def _actor(interaction: discord.Interaction) -> str:
    return f"discord:{interaction.user.id}"


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class ModelGroup(app_commands.Group):
    """`/model`; :func:`model_groups` makes the full group and the status-only one."""

    experiment = app_commands.Group(
        name="experiment", description="The running experiment (operators)"
    )

    def __init__(self, bot: PromptBot) -> None:
        self.bot = bot
        super().__init__(name="model", description="The prompt model every server shares")

    async def _change_champion(
        self, interaction: discord.Interaction, action: Any, *args: Any
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            result = await asyncio.to_thread(action, *args)
        except AdminError as exc:
            await tell(interaction, str(exc))
            return
        text = result.message
        if result.changed:
            state = await asyncio.to_thread(self.bot.pool.refresh)
            serving = serving_line(state.serving_id, state.fallback_reason, state.backend)
            text += f"\nServing now: {serving}"
        await tell(interaction, text)

    @app_commands.command(
        name="status", description="Champion, candidate, experiment and last training run"
    )
    @requires(Access.SERVER_ADMIN, Access.OPERATOR)
    async def show_status(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        full = Access.OPERATOR in await access_of(interaction)
        report = await asyncio.to_thread(
            status_report, self.bot.db, self.bot.pool, self.bot.settings, full
        )
        await tell(interaction, report)

    @app_commands.command(name="list", description="All model versions")
    @requires(Access.OPERATOR)
    async def list_versions(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await tell(interaction, models_text(await asyncio.to_thread(list_models, self.bot.db)))

    @app_commands.command(name="promote", description="Make a model version the champion")
    @app_commands.describe(version="Version id, e.g. v3")
    @requires(Access.OPERATOR)
    async def promote_version(self, interaction: discord.Interaction, version: str) -> None:
        await self._change_champion(interaction, promote, self.bot.db, version, _actor(interaction))

    @app_commands.command(
        name="rollback", description="Return to the previous champion (or to a given version)"
    )
    @app_commands.describe(version="Version id (default: the previous champion)")
    @requires(Access.OPERATOR)
    async def rollback_version(
        self, interaction: discord.Interaction, version: str | None = None
    ) -> None:
        await self._change_champion(
            interaction, rollback, self.bot.db, _actor(interaction), version
        )

    @experiment.command(name="stop", description="Stop the running experiment; the champion stays")
    @requires(Access.OPERATOR)
    async def stop_experiment(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = await asyncio.to_thread(
            experiment_check.stop_experiment, self.bot.db, _actor(interaction)
        )
        await tell(interaction, text)

    @promote_version.autocomplete("version")
    @rollback_version.autocomplete("version")
    async def version_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if Access.OPERATOR not in await access_of(interaction):
            return []
        versions = await asyncio.to_thread(list_models, self.bot.db)
        ids = [v.id for v in reversed(versions) if current.lower() in v.id.lower()]
        return [app_commands.Choice(name=i, value=i) for i in ids[:MAX_CHOICES]]


def model_groups(bot: PromptBot) -> tuple[ModelGroup, ModelGroup | None]:
    """(the global `/model`, the control guild's `/model` or None): without a control guild
    the global group holds every subcommand; with one, the global group is `status` alone."""
    full = ModelGroup(bot)
    if bot.settings.control_guild_id is None:
        return full, None
    status_only = ModelGroup(bot)
    for name in OPERATOR_SUBCOMMANDS:
        status_only.remove_command(name)
    return status_only, full


class ModelAdmin(commands.Cog):
    """Adds the `/model` groups to the tree (and takes them away again on unload)."""

    def __init__(self, bot: PromptBot) -> None:
        self.bot = bot
        self.global_group, self.control_group = model_groups(bot)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.global_group, override=True)
        if self.control_group is not None:
            guild = discord.Object(self.bot.settings.control_guild_id or 0)
            self.bot.tree.add_command(self.control_group, guild=guild, override=True)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command("model")
        if self.control_group is not None:
            guild = discord.Object(self.bot.settings.control_guild_id or 0)
            self.bot.tree.remove_command("model", guild=guild)
