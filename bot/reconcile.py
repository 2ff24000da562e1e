"""Catching up on votes cast (or taken back) while the bot was away, within Discord's limits.

The gateway does not replay reactions from before a (non-resumed) connection, so after a start
the bot compares the 👍/👎 on its result messages with the votes table and brings the table in
line: a reaction with no vote is recorded, a vote whose reaction is gone is removed. Bots'
reactions never count.

What is read, and how:

* **Only what can have changed while the bot was away.** Each gateway shard stores when it last
  handled an event (:class:`GatewayClock`, throttled). Results are only posted in answer to
  events, so the messages that can hold unrecorded votes are those posted from
  ``reconcile_days`` ago up to when the shard was last seen; messages posted after this start
  are handled live. Only the channels of this process's guilds are read (other shards' guilds
  belong to other processes).
* **Channel history, 100 messages a request** (``GET /channels/{id}/messages?after=&limit=100``)
  from the channel's oldest such result to its newest, never further. A history page carries
  each message's reaction counts, so a message whose human 👍/👎 counts equal its standing
  votes is settled without another request; only the others have their reaction lists read.
* **Under a request budget** (``reconcile_max_requests`` per start, paced at
  ``reconcile_requests_per_second`` so interactive traffic keeps Discord's rate limit). A scan
  cut short stores, per channel, the last message it read; the next start begins there and
  then wraps around to the channel's start (that part may have changed again meanwhile), and
  channels unread the longest go first, so a bot restarting often still covers everything.
* **In the background**, after ready: `/prompt` never waits for it. While it reads and writes
  one message it holds the live reaction handler's lock, so a reaction arriving meanwhile is
  applied after (and on top of) what the catch-up saw.

Equal counts can hide a swap (one voter removed 👍 while another added one); that costs one
vote until the next reaction on the message, and saves reading every list on every start.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import discord

from serving.prompt_service import THUMBS, PromptService, thumb_value
from storage.database import Database, is_transient, utcnow
from storage.repositories.reconcile import (
    ChannelProgress,
    ResultChannel,
    finish_channel,
    gateway_presence,
    reconcile_progress,
    result_channels,
    save_cursor,
    standing_vote_counts,
    touch_gateway,
)
from storage.repositories.votes import standing_votes

log = logging.getLogger(__name__)
EMOJI_FOR = {value: emoji for emoji, value in THUMBS.items()}
PAGE = 100  # messages per history request and users per reaction-list request (Discord's max)
#: the shortest gap between two writes of a shard's last-seen time
PRESENCE_INTERVAL = timedelta(seconds=30)
#: results are recorded shortly after the event they answer (the search runs in between)
ANSWER_SLACK = timedelta(minutes=2)


@dataclass(frozen=True)
class VoteChange:
    voter_id: str
    value: int
    added: bool  # False: remove the standing vote of this value


@dataclass
class ReconcileReport:
    messages: int = 0  # result messages compared
    recorded: int = 0
    removed: int = 0
    requests: int = 0  # REST reads made
    history_pages: int = 0
    reaction_reads: int = 0
    complete: bool = True  # False: the request budget ran out; the next start continues
    unreachable: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        tail = "" if self.complete else "; request budget spent, the next start continues"
        return (
            f"reconciled {self.messages} result message(s) with {self.requests} read(s) "
            f"({self.history_pages} history page(s), {self.reaction_reads} reaction list(s)): "
            f"{self.recorded} vote(s) recorded, {self.removed} removed, "
            f"{len(self.unreachable)} unreachable{tail}"
        )


# --------------------------------------------------------------------------- last seen


def shard_keys(client: discord.Client) -> list[str]:
    """The "id/count" keys of the shards this process runs (a plain client is "0/1")."""
    count = client.shard_count or 1
    ids = getattr(client, "shard_ids", None)  # AutoShardedClient's, once launched
    if ids is None:  # a plain client runs one shard
        ids = [client.shard_id or 0]
    return [f"{shard}/{count}" for shard in sorted(ids)]


class GatewayClock:
    """Remembers, in the database, when this process's shards last handled an event.

    ``load`` (before the gateway connects) keeps what the previous run stored: the start of
    the downtime. ``seen`` is called for every event and writes at most every
    :data:`PRESENCE_INTERVAL`, in a worker thread, never blocking the event loop.
    """

    def __init__(self, db: Database, interval: timedelta = PRESENCE_INTERVAL) -> None:
        self.db = db
        self.interval = interval
        self.started_at = utcnow()
        self.previous: dict[str, datetime] = {}
        self._last_write = -math.inf
        self._writing: asyncio.Task[None] | None = None

    async def load(self) -> None:
        self.previous = await asyncio.to_thread(_presence, self.db)

    def seen(self, client: discord.Client) -> None:
        now = time.monotonic()
        if now - self._last_write < self.interval.total_seconds():
            return
        if self._writing is not None and not self._writing.done():
            return
        self._last_write = now
        self._writing = asyncio.create_task(
            asyncio.to_thread(_touch, self.db, shard_keys(client)), name="promptbot-presence"
        )
        self._writing.add_done_callback(_log_presence_failure)

    async def close(self) -> None:
        if self._writing is not None:
            await asyncio.gather(self._writing, return_exceptions=True)

    def away_since(self, keys: Sequence[str]) -> datetime | None:
        """When the earliest of ``keys`` was last seen by a previous run (None: never)."""
        seen = [self.previous.get(key) for key in keys]
        if not seen or any(at is None for at in seen):
            return None
        return min(at for at in seen if at is not None)


def _presence(db: Database) -> dict[str, datetime]:
    with db.session() as session:
        return gateway_presence(session)


def _touch(db: Database, keys: list[str]) -> None:
    with db.session() as session:
        touch_gateway(session, keys, utcnow())


def _log_presence_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("could not store the gateway's last-seen time: %s", task.exception())


# --------------------------------------------------------------------------- the plan


def plan_votes(reactions: dict[str, set[int]], standing: dict[str, int]) -> list[VoteChange]:
    """What to change so the votes match the reactions (voter id -> thumbs values).

    A voter with both 👍 and 👎 keeps whichever vote stands; with both and no vote the order
    they were added is unknowable, so nothing is recorded for them.
    """
    changes = []
    for voter in sorted(reactions.keys() | standing.keys()):
        wanted, have = reactions.get(voter, set()), standing.get(voter)
        if have in wanted:
            continue
        if len(wanted) == 1:
            changes.append(VoteChange(voter, next(iter(wanted)), added=True))
        elif not wanted and have is not None:
            changes.append(VoteChange(voter, have, added=False))
    return changes


@dataclass(frozen=True)
class Segment:
    """Read ``channel_id`` from after message ``after`` up to message ``until`` (inclusive)."""

    channel_id: int
    after: int
    until: int


def plan_segments(
    channels: Sequence[ResultChannel], progress: dict[str, ChannelProgress]
) -> list[Segment]:
    """The reads of one catch-up, in order: channels whose last scan was cut short first
    (from where it stopped, then from their start up to there), then the ones read longest
    ago (never read: first)."""

    def bounds(channel: ResultChannel) -> tuple[int, int, int | None]:
        """(after, until, where an interrupted scan stopped, if inside them)."""
        start, end = int(channel.message_ids[0]) - 1, int(channel.message_ids[-1])
        state = progress.get(channel.channel_id)
        cursor = int(state.cursor_message_id) if state and state.cursor_message_id else None
        return start, end, cursor if cursor is not None and start < cursor < end else None

    def order(channel: ResultChannel) -> tuple[int, datetime, int]:
        state = progress.get(channel.channel_id)
        checked = state.checked_at if state and state.checked_at else datetime.min
        return (1 if bounds(channel)[2] is None else 0, checked, int(channel.channel_id))

    segments = []
    for channel in sorted(channels, key=order):
        channel_id = int(channel.channel_id)
        start, end, cursor = bounds(channel)
        if cursor is None:
            segments.append(Segment(channel_id, start, end))
        else:
            segments += [Segment(channel_id, cursor, end), Segment(channel_id, start, cursor)]
    return segments


def human_counts(message: discord.Message) -> dict[int, int]:
    """Thumbs value -> how many others than the bot reacted with it (bots included: only the
    reaction lists tell them apart)."""
    counts: dict[int, int] = {}
    for reaction in message.reactions:
        value = thumb_value(str(reaction.emoji))
        if value is not None:  # 👍 and 👍🏽 are separate reactions of one value
            counts[value] = counts.get(value, 0) + reaction.count - (1 if reaction.me else 0)
    return counts


def settled(message: discord.Message, standing: dict[int, int]) -> bool:
    """Whether the page's counts already match the standing votes (no list needs reading)."""
    counts = human_counts(message)
    return all(counts.get(value, 0) == standing.get(value, 0) for value in THUMBS.values())


# --------------------------------------------------------------------------- reading


class Budget:
    """At most ``limit`` REST reads, no faster than ``per_second``."""

    def __init__(self, limit: int, per_second: float) -> None:
        self.limit = limit
        self.gap = 1.0 / per_second
        self.spent = 0
        self._next = 0.0

    def left(self) -> int:
        return self.limit - self.spent

    async def spend(self, reads: int = 1) -> bool:
        """Take ``reads`` reads (waiting for the pace); False when they would exceed it."""
        if self.spent + reads > self.limit:
            return False
        self.spent += reads
        loop = asyncio.get_running_loop()
        wait = self._next - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        self._next = max(loop.time(), self._next) + self.gap * reads
        return True


class BudgetSpent(Exception):
    pass


@dataclass
class Catchup:
    client: discord.Client
    service: PromptService
    lock: asyncio.Lock
    budget: Budget
    report: ReconcileReport

    @property
    def db(self) -> Database:
        return self.service.db

    async def read(self, reads: int = 1) -> None:
        if not await self.budget.spend(reads):
            raise BudgetSpent
        self.report.requests += reads

    async def scan(self, segment: Segment, results: set[int]) -> None:
        """Read one segment page by page, storing how far it got after each page."""
        channel = self.client.get_partial_messageable(segment.channel_id)
        after = segment.after
        while after < segment.until:
            await self.read()
            self.report.history_pages += 1
            page = [
                m
                async for m in channel.history(
                    limit=PAGE, after=discord.Object(after), oldest_first=True
                )
            ]
            mine = [m for m in page if m.id in results and m.id <= segment.until]
            await self.settle_page(mine)
            if len(page) < PAGE:
                break
            after = page[-1].id
            await asyncio.to_thread(_save_cursor, self.db, segment.channel_id, after)

    async def settle_page(self, messages: list[discord.Message]) -> None:
        ids = [str(m.id) for m in messages]
        standing = await asyncio.to_thread(_standing_counts, self.db, ids)
        for message in messages:
            self.report.messages += 1
            if not settled(message, standing.get(str(message.id), {})):
                async with self.lock:
                    await self.settle_message(message)

    async def settle_message(self, message: discord.Message) -> None:
        voters: dict[str, set[int]] = {}
        for reaction in message.reactions:
            value = thumb_value(str(reaction.emoji))
            if value is None or reaction.count <= (1 if reaction.me else 0):
                continue  # not a thumb, or only the bot's own
            await self.read(math.ceil(reaction.count / PAGE))
            self.report.reaction_reads += 1
            async for user in reaction.users(limit=None):
                if not user.bot:
                    voters.setdefault(str(user.id), set()).add(value)
        standing = await asyncio.to_thread(_standing, self.db, message.id)
        changes = plan_votes(voters, standing)
        if changes:
            recorded, removed = await asyncio.to_thread(
                apply_changes, self.service, message.id, changes
            )
            self.report.recorded += recorded
            self.report.removed += removed


def apply_changes(
    service: PromptService, message_id: int, changes: Iterable[VoteChange]
) -> tuple[int, int]:
    """Write the planned changes (in a worker thread); returns (recorded, removed)."""
    recorded = removed = 0
    for change in changes:
        outcome = service.record_reaction(
            str(message_id), change.voter_id, EMOJI_FOR[change.value], change.added, live=False
        )
        if outcome is None:
            continue
        if change.added:
            recorded += outcome.value in ("recorded", "changed", "queued")
        else:
            removed += outcome.value == "removed"
    return recorded, removed


def _standing(db: Database, message_id: int) -> dict[str, int]:
    with db.session() as session:
        return standing_votes(session, str(message_id))


def _standing_counts(db: Database, message_ids: list[str]) -> dict[str, dict[int, int]]:
    with db.session() as session:
        return standing_vote_counts(session, message_ids)


def _save_cursor(db: Database, channel_id: int, message_id: int) -> None:
    with db.session() as session:
        save_cursor(session, str(channel_id), str(message_id))


def _finish(db: Database, channel_id: int) -> None:
    with db.session() as session:
        finish_channel(session, str(channel_id), utcnow())


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime


def downtime_window(clock: GatewayClock, keys: Sequence[str], days: int) -> Window:
    """Results posted from ``days`` ago up to when these shards were last seen (plus the time
    an answer takes); never later than this start, after which reactions arrive live."""
    away = clock.away_since(keys)
    until = clock.started_at if away is None else min(away + ANSWER_SLACK, clock.started_at)
    return Window(since=clock.started_at - timedelta(days=days), until=until)


def _load_plan(
    db: Database, window: Window, guild_ids: set[str], with_dms: bool
) -> tuple[list[Segment], dict[int, set[int]]]:
    with db.session() as session:
        channels = [
            c
            for c in result_channels(session, window.since, window.until)
            if (c.guild_id in guild_ids if c.guild_id else with_dms)
        ]
        progress = reconcile_progress(session)
    results = {int(c.channel_id): {int(m) for m in c.message_ids} for c in channels}
    return plan_segments(channels, progress), results


async def reconcile_reactions(
    client: discord.Client,
    service: PromptService,
    clock: GatewayClock,
    lock: asyncio.Lock,
    *,
    days: int,
    max_requests: int,
    requests_per_second: float,
) -> ReconcileReport:
    """Bring votes in line with the reactions on the result messages this process's shards
    may have missed votes on (see the module docstring)."""
    keys = shard_keys(client)
    window = downtime_window(clock, keys, days)
    guild_ids = {str(guild.id) for guild in client.guilds}
    with_dms = any(key.startswith("0/") for key in keys)
    segments, results = await asyncio.to_thread(_load_plan, service.db, window, guild_ids, with_dms)
    report = ReconcileReport()
    catchup = Catchup(client, service, lock, Budget(max_requests, requests_per_second), report)
    remaining = {segment.channel_id: 0 for segment in segments}
    for segment in segments:
        remaining[segment.channel_id] += 1
    try:
        for segment in segments:
            await _scan_segment(catchup, segment, results[segment.channel_id])
            remaining[segment.channel_id] -= 1
            if not remaining[segment.channel_id]:
                await asyncio.to_thread(_finish, service.db, segment.channel_id)
    except BudgetSpent:
        report.complete = False
    log.info("%s", report)
    return report


async def _scan_segment(catchup: Catchup, segment: Segment, results: set[int]) -> None:
    """One segment; a channel that cannot be read is reported and skipped (a budget running
    out is not caught: the cursor stored after the last full page is where the next start
    resumes)."""
    try:
        await catchup.scan(segment, results)
    except discord.HTTPException as exc:  # channel gone, no longer readable, Discord failing
        log.warning("cannot read channel %s: %s", segment.channel_id, exc)
        catchup.report.unreachable.append(str(segment.channel_id))
    except Exception as exc:  # the database failed: skip this channel, not the whole catch-up
        if not is_transient(exc):
            raise
        log.warning("database failed reconciling channel %s: %s", segment.channel_id, exc)
        catchup.report.unreachable.append(str(segment.channel_id))
