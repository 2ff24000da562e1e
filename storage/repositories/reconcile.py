"""What catching up on reactions after a restart needs: when each gateway shard was last
seen, which result messages it may have missed votes on, the votes standing on them, and how
far an interrupted catch-up got per channel.

Every row here belongs to one shard (a channel lives in one guild, a guild on one shard), so
one process writes it; the get-then-write upserts only guard against a rare double start.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import GatewayPresence, ReconcileProgress, Request, Result, Vote


@dataclass(frozen=True)
class ResultChannel:
    """A channel with result messages to check, oldest message first."""

    channel_id: str
    guild_id: str | None
    message_ids: tuple[str, ...]


@dataclass(frozen=True)
class ChannelProgress:
    cursor_message_id: str | None
    checked_at: datetime | None


def touch_gateway(session: Session, shards: Iterable[str], now: datetime) -> None:
    """Record that these shards handled an event at ``now``."""
    for shard in shards:
        row = session.get(GatewayPresence, shard)
        if row is not None:
            row.last_event_at = max(row.last_event_at, now)
            continue
        try:
            with session.begin_nested():
                session.add(GatewayPresence(shard=shard, last_event_at=now))
        except IntegrityError:  # another process wrote it first: its time is as good
            pass
    session.flush()


def gateway_presence(session: Session) -> dict[str, datetime]:
    """Shard ("id/count") -> when it last handled an event."""
    rows = session.execute(select(GatewayPresence.shard, GatewayPresence.last_event_at))
    return {shard: at for shard, at in rows}


def result_channels(session: Session, since: datetime, until: datetime) -> list[ResultChannel]:
    """Channels with results shown as messages between ``since`` and ``until``, each with those
    messages' ids in Discord order (by id, which is creation order)."""
    stmt = (
        select(Result.channel_id, Request.guild_id, Result.message_id)
        .join(Request)
        .where(
            Request.created_at >= since,
            Request.created_at <= until,
            Result.message_id.is_not(None),
            Result.channel_id.is_not(None),
        )
    )
    by_channel: dict[str, tuple[str | None, list[str]]] = {}
    for channel_id, guild_id, message_id in session.execute(stmt):
        if channel_id is not None and message_id is not None:  # filtered above; for the types
            by_channel.setdefault(channel_id, (guild_id, []))[1].append(message_id)
    return [
        ResultChannel(channel_id, guild_id, tuple(sorted(ids, key=int)))
        for channel_id, (guild_id, ids) in sorted(by_channel.items())
    ]


def standing_vote_counts(session: Session, message_ids: Iterable[str]) -> dict[str, dict[int, int]]:
    """Message id -> {vote value: number of votes standing} (messages without votes absent)."""
    ids = list(message_ids)
    if not ids:
        return {}
    stmt = (
        select(Result.message_id, Vote.value, func.count())
        .join(Result)
        .where(Result.message_id.in_(ids), Vote.removed_at.is_(None))
        .group_by(Result.message_id, Vote.value)
    )
    counts: dict[str, dict[int, int]] = {}
    for message_id, value, count in session.execute(stmt):
        if message_id is not None:  # filtered by the IN above; for the types
            counts.setdefault(message_id, {})[value] = count
    return counts


def reconcile_progress(session: Session) -> dict[str, ChannelProgress]:
    rows = session.scalars(select(ReconcileProgress))
    return {r.channel_id: ChannelProgress(r.cursor_message_id, r.checked_at) for r in rows}


def _progress_row(session: Session, channel_id: str) -> ReconcileProgress:
    row = session.get(ReconcileProgress, channel_id)
    if row is None:
        row = ReconcileProgress(channel_id=channel_id)
        session.add(row)
    return row


def save_cursor(session: Session, channel_id: str, message_id: str) -> None:
    """The scan of ``channel_id`` has read up to ``message_id``."""
    _progress_row(session, channel_id).cursor_message_id = message_id
    session.flush()


def finish_channel(session: Session, channel_id: str, now: datetime) -> None:
    """The scan of ``channel_id`` read everything it had to."""
    row = _progress_row(session, channel_id)
    row.cursor_message_id, row.checked_at = None, now
    session.flush()
