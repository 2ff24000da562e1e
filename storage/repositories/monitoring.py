"""Read-only views of the loop's history: traffic and votes over time.

For `promptbot report` and the simulator's daily statistics: nothing here writes. Rows come
back as small frozen dataclasses so callers never touch query results.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Request, Result, Vote
from storage.repositories.experiments import ArmVoteCount


@dataclass(frozen=True)
class RequestTiming:
    created_at: datetime
    latency_ms: float | None


@dataclass(frozen=True)
class VoteEvent:
    """A standing vote with the model version and experiment arm of the result it is on."""

    cast_at: datetime
    value: int
    model_version_id: str
    arm: str | None


def request_timings(session: Session, since: datetime | None = None) -> list[RequestTiming]:
    stmt = select(Request.created_at, Request.latency_ms)
    if since is not None:
        stmt = stmt.where(Request.created_at >= since)
    return [RequestTiming(created, latency) for created, latency in session.execute(stmt)]


def vote_events(session: Session, since: datetime | None = None) -> list[VoteEvent]:
    """Votes not removed, cast at or after ``since``."""
    stmt = (
        select(Vote.cast_at, Vote.value, Result.model_version_id, Result.arm)
        .join(Result, Result.id == Vote.result_id)
        .where(Vote.removed_at.is_(None))
    )
    if since is not None:
        stmt = stmt.where(Vote.cast_at >= since)
    return [VoteEvent(*row) for row in session.execute(stmt)]


def count_requests_between(session: Session, start: datetime, end: datetime) -> int:
    """Requests made in [start, end)."""
    stmt = (
        select(func.count())
        .select_from(Request)
        .where(Request.created_at >= start, Request.created_at < end)
    )
    return session.scalar(stmt) or 0


def arm_votes_between(session: Session, start: datetime, end: datetime) -> list[ArmVoteCount]:
    """Votes not removed, cast in [start, end), per (result arm, value)."""
    stmt = (
        select(Result.arm, Vote.value, func.count())
        .join(Vote, Vote.result_id == Result.id)
        .where(Vote.cast_at >= start, Vote.cast_at < end, Vote.removed_at.is_(None))
        .group_by(Result.arm, Vote.value)
    )
    return [ArmVoteCount(arm, value, n) for arm, value, n in session.execute(stmt)]
