"""`/model ...`: status, list, promote, rollback and stopping an experiment, for admins.

The same functions as `promptbot models ...` (retraining.model_admin), so both write the
same audit log; the actor is ``discord:<user id>``. Hidden by default from members without
Manage Server, and checked again at run time (server owners can change who sees it). Every
reply is private, and each command defers first: loading a newly promoted model can take
longer than Discord's 3-second window. After a promotion or rollback the pool is refreshed
at once, so the very next `/prompt` uses the new champion.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.checks import is_model_admin, model_admin_only
from bot.cogs import tell
from bot.formatting import models_text, serving_line, status_text
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


def status_report(db: Database, pool: ModelPool, settings: Settings) -> str:
    """The CLI's status plus what this process serves; the stored experiment numbers are from
    the last hourly check, so the running experiment's votes are counted again here."""
    report = status(db, rule=rule_from(settings))
    state = pool.state
    if state is not None:
        serving = ServingSummary(state.serving_id, state.fallback_reason, state.backend)
        report = report.with_serving(serving)
    return status_text(report)


def _actor(interaction: discord.Interaction) -> str:
    return f"discord:{interaction.user.id}"


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class ModelAdmin(
    commands.GroupCog,
    group_name="model",
    group_description="Manage the prompt model (server managers)",
):
    experiment = app_commands.Group(
        name="experiment", description="The running experiment (interleaved or A/B)"
    )

    def __init__(self, bot: PromptBot) -> None:
        self.bot = bot
        super().__init__()

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
    @model_admin_only()
    async def show_status(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        report = await asyncio.to_thread(
            status_report, self.bot.db, self.bot.pool, self.bot.settings
        )
        await tell(interaction, report)

    @app_commands.command(name="list", description="All model versions")
    @model_admin_only()
    async def list_versions(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await tell(interaction, models_text(await asyncio.to_thread(list_models, self.bot.db)))

    @app_commands.command(name="promote", description="Make a model version the champion")
    @app_commands.describe(version="Version id, e.g. v3")
    @model_admin_only()
    async def promote_version(self, interaction: discord.Interaction, version: str) -> None:
        await self._change_champion(interaction, promote, self.bot.db, version, _actor(interaction))

    @app_commands.command(
        name="rollback", description="Return to the previous champion (or to a given version)"
    )
    @app_commands.describe(version="Version id (default: the previous champion)")
    @model_admin_only()
    async def rollback_version(
        self, interaction: discord.Interaction, version: str | None = None
    ) -> None:
        await self._change_champion(
            interaction, rollback, self.bot.db, _actor(interaction), version
        )

    @experiment.command(name="stop", description="Stop the running experiment; the champion stays")
    @model_admin_only()
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
        if not is_model_admin(interaction, self.bot.settings.admin_role):
            return []
        versions = await asyncio.to_thread(list_models, self.bot.db)
        ids = [v.id for v in reversed(versions) if current.lower() in v.id.lower()]
        return [app_commands.Choice(name=i, value=i) for i in ids[:MAX_CHOICES]]
