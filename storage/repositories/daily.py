"""The daily prompt: each server's schedule, the posts (one per server and local day) and the
reactions on them.

The scheduler only *chooses* a day's prompt (a ``pending`` post); whichever bot process is
connected to the server claims it with one conditional UPDATE and posts it. The unique
(guild, day) key makes a second choice for the same day fail harmlessly, and the claim makes
a second poster stand back, so any number of schedulers firing, processes or restarts still
give one post a day.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import (
    DailyFeedback,
    DailyPost,
    DailyPostStatus,
    DailySchedule,
    Prompt,
    Request,
    Result,
    Vote,
)


def get_schedule(session: Session, guild_id: str) -> DailySchedule | None:
    return session.get(DailySchedule, guild_id)


def set_schedule(
    session: Session,
    guild_id: str,
    channel_id: str,
    time_of_day: str,
    timezone: str,
    genre: str | None,
    actor: str,
    now: datetime,
) -> DailySchedule:
    row = session.get(DailySchedule, guild_id)
    if row is None:
        row = DailySchedule(guild_id=guild_id)
        session.add(row)
    row.channel_id, row.time_of_day, row.timezone, row.genre = (
        channel_id,
        time_of_day,
        timezone,
        genre,
    )
    row.enabled, row.disabled_reason, row.notified_at = True, "", None
    row.updated_by, row.updated_at = actor, now
    session.flush()
    return row


def delete_schedule(session: Session, guild_id: str) -> bool:
    deleted = session.execute(delete(DailySchedule).where(DailySchedule.guild_id == guild_id))
    return bool(deleted.rowcount)  # type: ignore[attr-defined]


def enabled_schedules(session: Session) -> list[DailySchedule]:
    statement = select(DailySchedule).where(DailySchedule.enabled.is_(True))
    return list(session.scalars(statement.order_by(DailySchedule.guild_id)))


def disable_schedule(session: Session, guild_id: str, reason: str, now: datetime) -> bool:
    """Turn the schedule off with the reason; True only for the call that turned it off."""
    changed = session.execute(
        update(DailySchedule)
        .where(DailySchedule.guild_id == guild_id, DailySchedule.enabled.is_(True))
        .values(enabled=False, disabled_reason=reason, updated_at=now)
    )
    return bool(changed.rowcount)  # type: ignore[attr-defined]


def mark_notified(session: Session, guild_id: str, now: datetime) -> bool:
    """Record that admins were told the job stopped; True only the first time."""
    changed = session.execute(
        update(DailySchedule)
        .where(DailySchedule.guild_id == guild_id, DailySchedule.notified_at.is_(None))
        .values(notified_at=now)
    )
    return bool(changed.rowcount)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- choosing


def recently_posted(session: Session, channel_id: str, since: datetime) -> set[str]:
    statement = select(DailyPost.prompt_id).where(
        DailyPost.channel_id == channel_id, DailyPost.created_at >= since
    )
    return set(session.scalars(statement))


def thumbs_up_in_guild(session: Session, guild_id: str) -> Counter[str]:
    """Net 👍 per prompt in one server: votes on `/prompt` results there plus reactions on
    its daily posts."""
    tally: Counter[str] = Counter()
    votes = (
        select(Result.prompt_id, func.sum(Vote.value))
        .join(Vote, Vote.result_id == Result.id)
        .join(Request, Request.id == Result.request_id)
        .where(Request.guild_id == guild_id, Vote.removed_at.is_(None))
        .group_by(Result.prompt_id)
    )
    daily = (
        select(DailyPost.prompt_id, func.sum(DailyFeedback.value))
        .join(DailyFeedback, DailyFeedback.post_id == DailyPost.id)
        .where(DailyPost.guild_id == guild_id, DailyFeedback.removed_at.is_(None))
        .group_by(DailyPost.prompt_id)
    )
    for statement in (votes, daily):
        for prompt_id, total in session.execute(statement):
            tally[prompt_id] += int(total or 0)
    return tally


def daily_candidates(session: Session, guild_id: str, genre: str | None) -> list[Prompt]:
    """Live prompts the server may be given: shared plus its own, of ``genre`` if set."""
    statement = select(Prompt).where(
        Prompt.removed_at.is_(None), or_(Prompt.guild_id.is_(None), Prompt.guild_id == guild_id)
    )
    prompts = list(session.scalars(statement.order_by(Prompt.id)))
    if genre:
        wanted = genre.lower()
        prompts = [p for p in prompts if wanted in (g.lower() for g in p.genres)]
    return prompts


def add_pending_post(
    session: Session, guild_id: str, channel_id: str, day: str, prompt_id: str, now: datetime
) -> DailyPost | None:
    """The day's post, or None if that day already has one (another scheduler, a restart)."""
    try:
        with session.begin_nested():
            row = DailyPost(
                guild_id=guild_id,
                channel_id=channel_id,
                day=day,
                prompt_id=prompt_id,
                status=DailyPostStatus.PENDING,
                created_at=now,
            )
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row


def last_posted_at(session: Session, channel_id: str) -> dict[str, datetime]:
    statement = (
        select(DailyPost.prompt_id, func.max(DailyPost.created_at))
        .where(DailyPost.channel_id == channel_id)
        .group_by(DailyPost.prompt_id)
    )
    return {prompt_id: at for prompt_id, at in session.execute(statement)}


def post_for_day(session: Session, guild_id: str, day: str) -> DailyPost | None:
    statement = select(DailyPost).where(DailyPost.guild_id == guild_id, DailyPost.day == day)
    return session.scalars(statement).first()


# --------------------------------------------------------------------------- posting


@dataclass(frozen=True)
class PostToSend:
    post_id: int
    guild_id: str
    channel_id: str
    prompt_id: str
    day: str


def pending_posts(
    session: Session, guild_ids: set[str], stale_before: datetime
) -> list[PostToSend]:
    """Posts this process could send: pending, or claimed by a poster that vanished."""
    if not guild_ids:
        return []
    statement = select(DailyPost).where(
        DailyPost.guild_id.in_(sorted(guild_ids)),
        or_(
            DailyPost.status == DailyPostStatus.PENDING,
            (DailyPost.status == DailyPostStatus.POSTING) & (DailyPost.claimed_at < stale_before),
        ),
    )
    return [
        PostToSend(p.id, p.guild_id, p.channel_id, p.prompt_id, p.day)
        for p in session.scalars(statement.order_by(DailyPost.id))
    ]


def claim_post(
    session: Session, post_id: int, holder: str, now: datetime, stale_before: datetime
) -> bool:
    claimed = session.execute(
        update(DailyPost)
        .where(
            DailyPost.id == post_id,
            or_(
                DailyPost.status == DailyPostStatus.PENDING,
                (DailyPost.status == DailyPostStatus.POSTING)
                & (DailyPost.claimed_at < stale_before),
            ),
        )
        .values(status=DailyPostStatus.POSTING, claimed_by=holder, claimed_at=now)
    )
    return bool(claimed.rowcount)  # type: ignore[attr-defined]


def finish_post(
    session: Session, post_id: int, message_id: str | None, now: datetime, failed: bool = False
) -> None:
    status = DailyPostStatus.FAILED if failed else DailyPostStatus.POSTED
    session.execute(
        update(DailyPost)
        .where(DailyPost.id == post_id)
        .values(status=status, message_id=message_id, posted_at=now)
    )


def release_post(session: Session, post_id: int) -> None:
    """Give a claimed post back (Discord failed for a moment): the next poll retries it."""
    session.execute(
        update(DailyPost)
        .where(DailyPost.id == post_id, DailyPost.status == DailyPostStatus.POSTING)
        .values(status=DailyPostStatus.PENDING, claimed_by=None, claimed_at=None)
    )


def post_for_message(session: Session, message_id: str) -> DailyPost | None:
    return session.scalars(select(DailyPost).where(DailyPost.message_id == message_id)).first()


def record_daily_reaction(
    session: Session, message_id: str, voter_id: str, value: int, added: bool, now: datetime
) -> bool:
    """A 👍/👎 on a daily post; False if the message is no daily post."""
    post = post_for_message(session, message_id)
    if post is None:
        return False
    row = session.scalars(
        select(DailyFeedback).where(
            DailyFeedback.post_id == post.id, DailyFeedback.voter_id == voter_id
        )
    ).first()
    if added:
        if row is None:
            session.add(
                DailyFeedback(post_id=post.id, voter_id=voter_id, value=value, changed_at=now)
            )
        else:
            row.value, row.changed_at, row.removed_at = value, now, None
    elif row is not None and row.value == value and row.removed_at is None:
        row.removed_at, row.changed_at = now, now
    session.flush()
    return True


@dataclass(frozen=True)
class DailyFeedbackRow:
    prompt_id: str
    title: str
    posts: int
    up: int
    down: int


def daily_feedback_summary(session: Session, since: datetime) -> list[DailyFeedbackRow]:
    """Per prompt posted since ``since``: how many daily posts and their live 👍/👎."""
    posts = session.execute(
        select(DailyPost.id, DailyPost.prompt_id, Prompt.title)
        .join(Prompt, Prompt.id == DailyPost.prompt_id)
        .where(DailyPost.created_at >= since, DailyPost.status == DailyPostStatus.POSTED)
    ).all()
    counts: dict[str, list[int]] = {}
    titles: dict[str, str] = {}
    post_prompt = {}
    for post_id, prompt_id, title in posts:
        counts.setdefault(prompt_id, [0, 0, 0])[0] += 1
        titles[prompt_id] = title
        post_prompt[post_id] = prompt_id
    if post_prompt:
        feedback = session.execute(
            select(DailyFeedback.post_id, DailyFeedback.value).where(
                DailyFeedback.post_id.in_(list(post_prompt)), DailyFeedback.removed_at.is_(None)
            )
        )
        for post_id, value in feedback:
            counts[post_prompt[post_id]][1 if value > 0 else 2] += 1
    return [
        DailyFeedbackRow(pid, titles[pid], c[0], c[1], c[2])
        for pid, c in sorted(counts.items(), key=lambda item: (-item[1][1], item[0]))
    ]


def no_repeat_window(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)
