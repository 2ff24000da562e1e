"""Requests (one per `/prompt`) and the results shown for them, with their Discord message ids."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from storage.models import Prompt, Request, Result


@dataclass(frozen=True)
class ShownResult:
    prompt_id: str
    score: float
    model_version_id: str
    arm: str | None = None


def record_request(
    session: Session,
    *,
    user_id: str,
    raw_query: str,
    normalized_query: str,
    model_version_id: str,
    results: list[ShownResult],
    now: datetime,
    guild_id: str | None = None,
    channel_id: str | None = None,
    genre_filter: str | None = None,
    experiment_id: int | None = None,
    arm: str | None = None,
    latency_ms: float | None = None,
    source: str = "discord",
) -> Request:
    request = Request(
        user_id=user_id,
        guild_id=guild_id,
        channel_id=channel_id,
        raw_query=raw_query,
        normalized_query=normalized_query,
        genre_filter=genre_filter,
        model_version_id=model_version_id,
        experiment_id=experiment_id,
        arm=arm,
        latency_ms=latency_ms,
        source=source,
        created_at=now,
    )
    ids = {shown.prompt_id for shown in results}
    known = select(Prompt.id, Prompt.content_hash).where(Prompt.id.in_(ids))
    hashes = {prompt_id: content_hash for prompt_id, content_hash in session.execute(known)}
    request.results = [
        Result(
            prompt_content_hash=hashes.get(shown.prompt_id, ""),
            rank=rank,
            prompt_id=shown.prompt_id,
            score=shown.score,
            model_version_id=shown.model_version_id,
            arm=shown.arm,
        )
        for rank, shown in enumerate(results, start=1)
    ]
    session.add(request)
    session.flush()
    return request


def attach_message(session: Session, result_id: int, message_id: str, channel_id: str) -> None:
    result = session.get(Result, result_id)
    if result is None:
        raise LookupError(f"No result {result_id}.")
    result.message_id, result.channel_id = message_id, channel_id
    session.flush()


def result_for_message(session: Session, message_id: str) -> Result | None:
    return session.scalars(select(Result).where(Result.message_id == message_id)).first()


def result_messages_since(session: Session, since: datetime) -> list[Result]:
    """Results shown as Discord messages since ``since`` (for reaction reconciliation)."""
    stmt = (
        select(Result)
        .join(Request)
        .where(Request.created_at >= since, Result.message_id.is_not(None))
        .order_by(Result.id)
    )
    return list(session.scalars(stmt))


def requests_since(session: Session, since: datetime | None = None) -> list[Request]:
    stmt = select(Request).options(selectinload(Request.results)).order_by(Request.id)
    if since is not None:
        stmt = stmt.where(Request.created_at >= since)
    return list(session.scalars(stmt))
