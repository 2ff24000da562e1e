"""Votes: where a 👍/👎 on a result message is recorded, changed or removed.

One vote per (result, voter). The latest reaction wins: 👎 after 👍 changes the vote to -1.
Removing a reaction removes the vote only if that reaction is the one the vote holds, so
taking back an old 👍 after switching to 👎 keeps the -1.

Two processes may record the same user's first vote at once (a live reaction and a catch-up,
two shards, a retry): the first vote is an ``INSERT ... ON CONFLICT DO NOTHING``, and the one
that loses the race updates the row the winner stored instead of failing on the constraint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from storage.models import Request, Result, Vote
from storage.repositories.requests import result_for_message
from storage.upsert import insert_for


class VoteOutcome(StrEnum):
    RECORDED = "recorded"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    REMOVED = "removed"
    NOT_A_RESULT = "not_a_result"  # a message the bot did not send as a result
    NO_VOTE = "no_vote"
    QUEUED = "queued"  # not stored yet (the database failed); the writer's catch-up stores it


def record_vote(
    session: Session, message_id: str, voter_id: str, value: int, now: datetime
) -> VoteOutcome:
    if value not in (1, -1):
        raise ValueError("a vote is +1 or -1")
    result = result_for_message(session, message_id)
    if result is None:
        return VoteOutcome.NOT_A_RESULT
    if _insert_first_vote(session, result.id, voter_id, value, now):
        return VoteOutcome.RECORDED
    vote = _locked_vote(session, result.id, voter_id)
    assert vote is not None  # the insert found it; votes are only ever marked removed
    if vote.value == value and vote.removed_at is None:
        return VoteOutcome.UNCHANGED
    vote.value, vote.changed_at, vote.removed_at = value, now, None
    session.flush()
    return VoteOutcome.CHANGED


def _insert_first_vote(
    session: Session, result_id: int, voter_id: str, value: int, now: datetime
) -> bool:
    """Store the vote if this voter has none on the result; False when one exists already."""
    stmt = (
        insert_for(session, Vote)
        .values(result_id=result_id, voter_id=voter_id, value=value, cast_at=now, changed_at=now)
        .on_conflict_do_nothing(index_elements=["result_id", "voter_id"])
        .returning(Vote.id)  # rowcount is not reliable for ON CONFLICT across drivers
    )
    return session.execute(stmt).scalar_one_or_none() is not None


def _locked_vote(session: Session, result_id: int, voter_id: str) -> Vote | None:
    """The vote, row-locked on PostgreSQL so two changes of it apply one after the other."""
    stmt = (
        select(Vote)
        .where(Vote.result_id == result_id, Vote.voter_id == voter_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalars(stmt).first()


def remove_vote(
    session: Session, message_id: str, voter_id: str, value: int, now: datetime
) -> VoteOutcome:
    result = result_for_message(session, message_id)
    if result is None:
        return VoteOutcome.NOT_A_RESULT
    vote = _locked_vote(session, result.id, voter_id)
    if vote is None or vote.removed_at is not None or vote.value != value:
        return VoteOutcome.NO_VOTE
    vote.removed_at, vote.changed_at = now, now
    session.flush()
    return VoteOutcome.REMOVED


def current_vote(session: Session, message_id: str, voter_id: str) -> Vote | None:
    stmt = (
        select(Vote).join(Result).where(Result.message_id == message_id, Vote.voter_id == voter_id)
    )
    return session.scalars(stmt).first()


@dataclass(frozen=True)
class VoteView:
    """A vote with everything needed to learn from it."""

    vote_id: int
    message_id: str | None
    user_id: str
    value: int
    removed: bool
    prompt_id: str
    query: str
    rank: int
    model_version: str
    arm: str | None
    experiment_id: int | None
    cast_at: datetime
    changed_at: datetime
    guild_id: str | None = None  # the server of the request (None: DM, CLI or simulator)
    # True once the prompt was edited after it was shown: the vote judged another text.
    prompt_changed: bool = False


def list_votes(
    session: Session,
    since: datetime | None = None,
    after_id: int | None = None,
    include_removed: bool = False,
    limit: int | None = None,
) -> list[VoteView]:
    """Votes newest first (by last change)."""
    stmt = (
        select(Vote)
        .options(
            joinedload(Vote.result).joinedload(Result.request),
            joinedload(Vote.result).joinedload(Result.prompt),
        )
        .join(Result)
        .join(Request)
        .order_by(Vote.changed_at.desc(), Vote.id.desc())
    )
    if since is not None:
        stmt = stmt.where(Vote.changed_at >= since)
    if after_id is not None:
        stmt = stmt.where(Vote.id > after_id)
    if not include_removed:
        stmt = stmt.where(Vote.removed_at.is_(None))
    if limit is not None:
        stmt = stmt.limit(limit)
    return [
        VoteView(
            vote_id=v.id,
            message_id=v.result.message_id,
            user_id=v.voter_id,
            value=v.value,
            removed=v.removed_at is not None,
            prompt_id=v.result.prompt_id,
            query=v.result.request.normalized_query,
            rank=v.result.rank,
            model_version=v.result.model_version_id,
            arm=v.result.arm,
            experiment_id=v.result.request.experiment_id,
            cast_at=v.cast_at,
            changed_at=v.changed_at,
            guild_id=v.result.request.guild_id,
            prompt_changed=v.result.prompt_content_hash != v.result.prompt.content_hash,
        )
        for v in session.scalars(stmt).unique()
    ]


def standing_votes(session: Session, message_id: str) -> dict[str, int]:
    """Voter id -> value of every vote not removed on one result message.

    The bot compares this with the message's reactions on start-up to catch up on votes cast
    or taken back while it was offline.
    """
    stmt = (
        select(Vote.voter_id, Vote.value)
        .join(Result)
        .where(Result.message_id == message_id, Vote.removed_at.is_(None))
    )
    return {voter: value for voter, value in session.execute(stmt)}
