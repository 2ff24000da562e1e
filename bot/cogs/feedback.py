"""Reactions as votes: 👍 = +1, 👎 = -1 on the result a message shows.

Raw events, so reactions on messages from before a restart (not in the message cache) count
too. Ignored without touching the database: the bot's own reactions (Discord echoes them),
other bots, other emoji, and messages some other author sent. Anything left that is not a
result message is ignored by the service (``NOT_A_RESULT``, nothing written).

Votes are written one at a time, in the order the events arrived (an ``asyncio.Lock`` hands
itself over first come, first served), so 👍 → 👎 → remove 👍 always ends as 👎. On ready,
reactions cast while the bot was offline are reconciled in the background (bot.reconcile),
which needs to know when the bot was last seen: every gateway event bumps that (throttled).

A vote the database refuses even after the service's retries is queued in the service
(serving.vote_writer); a background loop stores the queue every ``vote_catch_up_seconds``, so
a database outage delays votes but loses none.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands, tasks

from bot.observability import vote_origin
from bot.reconcile import GatewayClock, ReconcileReport, reconcile_reactions
from serving.prompt_service import thumb_value
from storage.database import is_transient
from storage.repositories.votes import VoteOutcome

if TYPE_CHECKING:
    from bot.client import PromptBot

log = logging.getLogger(__name__)


class Feedback(commands.Cog):
    def __init__(self, bot: PromptBot) -> None:
        self.bot = bot
        self.votes_lock = asyncio.Lock()
        self.clock = GatewayClock(bot.db)
        #: the start-up reconciliation, once ready (tests await it)
        self.reconciliation: asyncio.Task[ReconcileReport] | None = None

    async def cog_load(self) -> None:
        await self.clock.load()  # before the gateway connects: the previous run's last event
        self.catch_up_votes.change_interval(seconds=self.bot.settings.vote_catch_up_seconds)
        self.catch_up_votes.start()

    async def cog_unload(self) -> None:
        self.catch_up_votes.cancel()
        if self.reconciliation is not None and not self.reconciliation.done():
            self.reconciliation.cancel()
        await self.clock.close()

    @commands.Cog.listener()
    async def on_socket_event_type(self, event_type: str) -> None:
        self.clock.seen(self.bot)

    def counts_as_vote(self, payload: discord.RawReactionActionEvent) -> bool:
        """A human's 👍/👎 on a message this bot wrote (as far as the event tells)."""
        if thumb_value(str(payload.emoji)) is None:
            return False
        me = self.bot.user
        if me is None or payload.user_id == me.id:
            return False
        if payload.message_author_id is not None and payload.message_author_id != me.id:
            return False
        member = payload.member or self.bot.get_user(payload.user_id)
        return not (member is not None and member.bot)

    async def record(
        self, payload: discord.RawReactionActionEvent, added: bool
    ) -> VoteOutcome | None:
        if not self.counts_as_vote(payload):
            return None
        async with self.votes_lock:
            outcome = await asyncio.to_thread(
                self.bot.service.record_reaction,
                str(payload.message_id),
                str(payload.user_id),
                str(payload.emoji),
                added,
            )
        log.debug(
            "reaction %s by %s on %s: %s",
            payload.emoji,
            payload.user_id,
            payload.message_id,
            outcome,
        )
        if outcome is not None:
            await self._count(payload, added, outcome)
        return outcome

    async def _count(
        self, payload: discord.RawReactionActionEvent, added: bool, outcome: VoteOutcome
    ) -> None:
        """Metrics: every handled reaction by value; a cast also by the result's model version
        and arm (one extra read, only for votes that were stored)."""
        origin = None
        if added and outcome in (VoteOutcome.RECORDED, VoteOutcome.CHANGED):
            try:
                origin = await asyncio.to_thread(vote_origin, self.bot.db, str(payload.message_id))
            except Exception as exc:  # the vote is stored; only its metric labels are lost
                if not is_transient(exc):
                    raise
                log.warning("vote counted without its model version: %s", type(exc).__name__)
        version, arm = origin or (None, None)
        value = thumb_value(str(payload.emoji)) or 0
        self.bot.metrics.observe_vote(value, outcome.value, version, arm)

    @tasks.loop(seconds=30.0)
    async def catch_up_votes(self) -> None:
        """Store the votes the database refused earlier (nothing to do most of the time)."""
        if not self.bot.service.votes.pending:
            return
        async with self.votes_lock:
            await asyncio.to_thread(self.bot.service.catch_up_votes)

    @catch_up_votes.error
    async def _catch_up_failed(self, error: BaseException) -> None:
        log.error("the vote catch-up failed; queued votes wait for the next start", exc_info=error)

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self.record(payload, added=True)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        await self.record(payload, added=False)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Once per process: catch up on votes cast while offline, in the background."""
        if self.reconciliation is None:
            settings = self.bot.settings
            self.reconciliation = asyncio.create_task(
                reconcile_reactions(
                    self.bot,
                    self.bot.service,
                    self.clock,
                    self.votes_lock,
                    days=settings.reconcile_days,
                    max_requests=settings.reconcile_max_requests,
                    requests_per_second=settings.reconcile_requests_per_second,
                ),
                name="promptbot-reconcile",
            )
            self.reconciliation.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task[ReconcileReport]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("reconciling reactions failed", exc_info=task.exception())
