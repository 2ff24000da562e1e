"""What the bot holds about one user or one server, and deleting it.

A user's data is their requests (what they searched for, where) and their votes. Forgetting
a user deletes their votes and unlinks their requests (``user_id`` becomes ``forgotten``), so
no request or vote can be tied to them again and no future dataset can hold their votes; the
searches themselves stay, anonymous, so other people's votes on those results keep their
meaning and an experiment's counts stay consistent (a deleted vote simply no longer counts on
either side). The reactions may still stand on Discord, so each is remembered by message and
a digest of the voter (:class:`storage.models.ForgottenReaction`) and never read back.

A server's data — its requests, their results and every vote on them, its settings and its
catch-up progress — is deleted by :func:`delete_guild_data` (the retention job).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from storage.models import (
    DailyFeedback,
    DailyPost,
    DailySchedule,
    ForgottenReaction,
    GuildDeparture,
    GuildPromptSettings,
    GuildSettingsRow,
    Prompt,
    PromptSubmission,
    ReconcileProgress,
    Request,
    Result,
    Vote,
)

FORGOTTEN_USER = "forgotten"


def voter_digest(user_id: str) -> str:
    """What a forgotten reaction keeps of its voter: enough to recognise the same reaction
    again, not a stored id (though anyone holding the id can recompute it)."""
    return hashlib.sha256(f"promptbot-forgotten-voter:{user_id}".encode()).hexdigest()


@dataclass(frozen=True)
class UserData:
    """Counts per server (None: direct messages or the CLI)."""

    requests: dict[str | None, int]
    votes: dict[str | None, int]

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def total_votes(self) -> int:
        return sum(self.votes.values())


def user_data(session: Session, user_id: str) -> UserData:
    requests = Counter(
        dict(
            session.execute(
                select(Request.guild_id, func.count())
                .where(Request.user_id == user_id)
                .group_by(Request.guild_id)
            ).all()
        )
    )
    votes = Counter(
        dict(
            session.execute(
                select(Request.guild_id, func.count())
                .select_from(Vote)
                .join(Result, Vote.result_id == Result.id)
                .join(Request, Result.request_id == Request.id)
                .where(Vote.voter_id == user_id)
                .group_by(Request.guild_id)
            ).all()
        )
    )
    return UserData(dict(requests), dict(votes))


@dataclass(frozen=True)
class Forgotten:
    votes: int
    requests: int


def forget_user(session: Session, user_id: str, now: datetime) -> Forgotten:
    """Delete ``user_id``'s votes and unlink their requests, in one transaction."""
    messages = session.scalars(
        select(Result.message_id)
        .join(Vote, Vote.result_id == Result.id)
        .where(Vote.voter_id == user_id, Result.message_id.is_not(None))
    ).all()
    digest = voter_digest(user_id)
    known = set(
        session.scalars(
            select(ForgottenReaction.message_id).where(ForgottenReaction.voter_digest == digest)
        )
    )
    for message_id in set(messages) - known:
        session.add(ForgottenReaction(message_id=message_id, voter_digest=digest, forgotten_at=now))
    votes = session.execute(delete(Vote).where(Vote.voter_id == user_id)).rowcount  # type: ignore[attr-defined]
    requests = session.execute(
        update(Request).where(Request.user_id == user_id).values(user_id=FORGOTTEN_USER)
    ).rowcount  # type: ignore[attr-defined]
    # reactions on daily posts and authorship of servers' prompts are the user's too
    session.execute(delete(DailyFeedback).where(DailyFeedback.voter_id == user_id))
    session.execute(
        update(PromptSubmission)
        .where(PromptSubmission.submitter_id == user_id)
        .values(submitter_id=FORGOTTEN_USER)
    )
    session.execute(
        update(Prompt).where(Prompt.added_by == user_id).values(added_by=FORGOTTEN_USER)
    )
    session.flush()
    return Forgotten(votes=int(votes or 0), requests=int(requests or 0))


def forgotten_voters(session: Session, message_id: str) -> set[str]:
    """Digests of the voters whose reaction on this message must not become a vote again."""
    stmt = select(ForgottenReaction.voter_digest).where(ForgottenReaction.message_id == message_id)
    return set(session.scalars(stmt))


def reaction_given_again(session: Session, message_id: str, user_id: str) -> None:
    """A forgotten voter reacted again, live: that is a new choice, so the reaction counts."""
    session.execute(
        delete(ForgottenReaction).where(
            ForgottenReaction.message_id == message_id,
            ForgottenReaction.voter_digest == voter_digest(user_id),
        )
    )


def _delete_own_prompts_and_daily(session: Session, guild_id: str) -> None:
    """The server's daily prompt (schedule, posts, reactions), its submissions, its curation
    settings and its own prompts (their results went with its requests just before)."""
    post_ids = select(DailyPost.id).where(DailyPost.guild_id == guild_id)
    session.execute(delete(DailyFeedback).where(DailyFeedback.post_id.in_(post_ids)))
    session.execute(delete(DailyPost).where(DailyPost.guild_id == guild_id))
    session.execute(delete(DailySchedule).where(DailySchedule.guild_id == guild_id))
    session.execute(delete(PromptSubmission).where(PromptSubmission.guild_id == guild_id))
    session.execute(delete(GuildPromptSettings).where(GuildPromptSettings.guild_id == guild_id))
    session.execute(delete(Prompt).where(Prompt.guild_id == guild_id))


@dataclass(frozen=True)
class GuildData:
    requests: int
    votes: int


def delete_guild_data(session: Session, guild_id: str) -> GuildData:
    """Everything stored for one server: requests, their results and votes, its settings,
    its catch-up progress and its departure record."""
    request_ids = select(Request.id).where(Request.guild_id == guild_id)
    result_ids = select(Result.id).where(Result.request_id.in_(request_ids))
    channels = set(
        session.scalars(
            select(Request.channel_id).where(
                Request.guild_id == guild_id, Request.channel_id.is_not(None)
            )
        )
    )
    votes = session.execute(delete(Vote).where(Vote.result_id.in_(result_ids))).rowcount  # type: ignore[attr-defined]
    session.execute(delete(Result).where(Result.request_id.in_(request_ids)))
    requests = session.execute(delete(Request).where(Request.guild_id == guild_id)).rowcount  # type: ignore[attr-defined]
    if channels:
        session.execute(delete(ReconcileProgress).where(ReconcileProgress.channel_id.in_(channels)))
    session.execute(delete(GuildSettingsRow).where(GuildSettingsRow.guild_id == guild_id))
    session.execute(delete(GuildDeparture).where(GuildDeparture.guild_id == guild_id))
    _delete_own_prompts_and_daily(session, guild_id)
    session.flush()
    return GuildData(requests=int(requests or 0), votes=int(votes or 0))
