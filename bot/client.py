"""The Discord client: wiring settings, database and model pool to the cogs.

``setup_hook`` (after login, before the gateway connects) warms the serving model so the
first `/prompt` is fast, adds the cogs, optionally joins the election for the retraining
scheduler (retraining.scheduler_leader: threads, never this event loop) and syncs the slash
commands: to ``dev_guild_id`` when set (instant), else globally. Everything slow —
encoding, SQL, loading a model — runs in worker threads, so heartbeats keep flowing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.checks import Access, AccessRefused, OperatorIds, UserCooldowns
from bot.formatting import (
    GUILD_ONLY,
    NOT_OPERATOR,
    NOT_SERVER_ADMIN,
    UNEXPECTED,
    cooldown_notice,
)
from retrieval.engine_factory import ServingEngineFactory
from serving.guild_prompts import GuildPrompts
from serving.guild_settings import GuildSettingsCache
from serving.metrics import ServingMetrics
from serving.model_pool import ModelPool, NoCorpusError
from serving.prompt_service import PromptService
from storage.database import Database
from storage.settings import Settings

log = logging.getLogger(__name__)
# no voice here: discord.py's "PyNaCl / davey is not installed" warnings are only noise
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False


def build_pool(db: Database, settings: Settings) -> ModelPool:
    return ModelPool(db, ServingEngineFactory.from_settings(settings))


class PromptTree(app_commands.CommandTree):
    """Turns refused checks into polite private notices; anything else is logged.

    ``guild_only`` on a group only asks Discord to hide it in direct messages; nothing in
    discord.py refuses such a command when an interaction arrives without a guild (a stale
    client, a hostile one). :meth:`interaction_check` does, before any command check runs,
    so an operator's `/model rollback` from a DM is refused like everyone's, and audited.
    """

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        command = interaction.command
        if interaction.guild_id is not None or command is None or not server_only(command):
            return True
        if interaction.type is not discord.InteractionType.application_command:
            return False  # an autocomplete in a DM: no choices, nothing to answer
        from bot.checks import audit_direct_message

        await asyncio.to_thread(audit_direct_message, self.client.db, interaction)  # type: ignore[attr-defined]
        raise app_commands.NoPrivateMessage()

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        from bot.cogs import tell

        if isinstance(error, app_commands.CommandOnCooldown):
            text = cooldown_notice(error.retry_after, error.cooldown.rate, error.cooldown.per)
        elif isinstance(error, AccessRefused) and interaction.guild_id is None:
            text = GUILD_ONLY
        elif isinstance(error, AccessRefused):
            text = NOT_OPERATOR if error.access is Access.OPERATOR else NOT_SERVER_ADMIN
        elif isinstance(error, app_commands.NoPrivateMessage):
            text = GUILD_ONLY
        else:
            command = interaction.command.qualified_name if interaction.command else "?"
            log.error("/%s failed", command, exc_info=error)
            text = UNEXPECTED
        with contextlib.suppress(discord.HTTPException):
            await tell(interaction, text)


def server_only(command: app_commands.Command[Any, ..., Any] | app_commands.ContextMenu) -> bool:
    """True when the command (or the group it belongs to) is marked ``guild_only``."""
    root: Any = getattr(command, "root_parent", None) or command
    contexts = getattr(root, "allowed_contexts", None)
    if contexts is not None:
        return not (contexts.dm_channel or contexts.private_channel)
    return bool(getattr(root, "guild_only", False))


class PromptBot(commands.Bot):
    """promptbot on Discord. Default intents only: slash commands and raw reaction events
    need no privileged intent (no message content, no member list)."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        pool: ModelPool | None = None,
        run_scheduler: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=discord.Intents.default(),
            tree_cls=PromptTree,
            allowed_mentions=discord.AllowedMentions.none(),
            **options,
        )
        self.settings = settings
        self.db = db
        self.pool = pool or build_pool(db, settings)
        self.guild_settings = GuildSettingsCache(db)  # every server's own settings, cached
        self.guild_prompts = GuildPrompts(
            db, self.pool, settings.guild_max_prompts, settings.guild_open_submissions
        )
        self.service = PromptService(
            db,
            self.pool,
            settings.max_keywords_chars,
            guild_settings=self.guild_settings,
            scopes=self.guild_prompts.scope_for,
        )
        self.cooldowns = UserCooldowns(settings.cooldown_requests, settings.cooldown_seconds)
        self.operators = OperatorIds.parse(settings.operator_ids)
        if self.operators.ignored:
            log.warning(
                "PROMPTBOT_OPERATOR_IDS: ignored %d entr%s that are not Discord user ids",
                len(self.operators.ignored),
                "y" if len(self.operators.ignored) == 1 else "ies",
            )
        self.run_scheduler = run_scheduler
        self.scheduler: Any = None
        self.metrics = ServingMetrics()
        self.metrics_server: Any = None

    async def setup_hook(self) -> None:
        from bot.cogs import add_cogs
        from bot.observability import start_metrics_server

        await self.warm_up()
        self.metrics_server = await start_metrics_server(self, self.metrics)
        await add_cogs(self)
        if self.run_scheduler:  # runs the schedule only while elected; all off this loop
            from retraining.daily import daily_job_specs
            from retraining.scheduler_leader import ScheduleLeader

            self.scheduler = ScheduleLeader(
                self.settings,
                on_change=self.metrics.set_scheduler_leader,
                extra_jobs=daily_job_specs,
            )
            self.scheduler.start()
        await self.sync_commands()

    async def warm_up(self) -> None:
        """Load the champion now rather than on the first `/prompt`; problems are logged and
        `/prompt` explains them to users, so the bot still starts."""
        try:
            state = await asyncio.to_thread(self.pool.refresh)
            log.info("serving model %s", state.serving_id)
        except NoCorpusError as exc:
            log.warning("%s", exc)
        except Exception:
            log.exception("no model could be loaded; /prompt will say so")

    async def sync_commands(self) -> None:
        """Global commands (or a copy in the dev guild, which shows at once), then the
        operators' commands in the control guild, if there is one."""
        guild_id, control_id = self.settings.dev_guild_id, self.settings.control_guild_id
        if guild_id:
            guild = discord.Object(guild_id)
            self.tree.copy_global_to(guild=guild)
            if control_id == guild_id:  # the control guild's full /model wins over the copy
                self._add_control_commands_to(guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d command(s) to guild %s", len(synced), guild_id)
        else:
            synced = await self.tree.sync()
            log.info("synced %d command(s) globally (may take a while to show)", len(synced))
        if control_id and control_id != guild_id:
            synced = await self.tree.sync(guild=discord.Object(control_id))
            log.info("synced %d operator command(s) to control guild %s", len(synced), control_id)

    def _add_control_commands_to(self, guild: discord.abc.Snowflake) -> None:
        from bot.cogs.admin import ModelAdmin

        cog = self.get_cog("ModelAdmin")
        if isinstance(cog, ModelAdmin) and cog.control_group is not None:
            self.tree.add_command(cog.control_group, guild=guild, override=True)

    async def on_ready(self) -> None:
        log.info(
            "logged in as %s (%s) in %d guild(s)",
            self.user,
            self.user.id if self.user else "?",
            len(self.guilds),
        )

    async def close(self) -> None:
        if self.metrics_server is not None:
            await self.metrics_server.stop()
            self.metrics_server = None
        if self.scheduler is not None:
            await asyncio.to_thread(self.scheduler.stop)  # releases the lease: blocking I/O
            self.scheduler = None
        await super().close()


class ShardedPromptBot(PromptBot, commands.AutoShardedBot):
    """The bot `promptbot run` starts: one or more gateway shards in this process. Without a
    shard count discord.py asks Discord (``GET /gateway/bot``) how many to run; with shard ids
    this process runs only those, and other processes the rest, sharing the database."""


async def run_bot(
    settings: Settings,
    db: Database,
    token: str,
    run_scheduler: bool = True,
    shard_count: int | None = None,
    shard_ids: list[int] | None = None,
) -> None:
    """Run until closed or SIGINT/SIGTERM; login errors propagate to the caller."""
    bot = ShardedPromptBot(
        settings, db, run_scheduler=run_scheduler, shard_count=shard_count, shard_ids=shard_ids
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with bot:
        runner = asyncio.create_task(bot.start(token), name="promptbot")
        stopper = asyncio.create_task(stop.wait(), name="promptbot-stop")
        done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if runner in done:
            runner.result()  # LoginFailure and friends reach the CLI
            return
        log.info("stopping")
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
