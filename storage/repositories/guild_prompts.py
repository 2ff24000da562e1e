"""A server's own prompts: add, edit, remove, list and count them, and moderation queue rows.

A guild prompt's primary key is derived from the server and the id the server gave it
(``local_id``), so two servers may both call a prompt "1" and one server's import can never
overwrite another's (or a shared) prompt. Removing sets ``removed_at``: votes, results and
daily posts keep pointing at the row, and every listing that serves prompts skips it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import GuildPromptSettings, Prompt, PromptSubmission, SubmissionStatus
from storage.prompt_file import PromptRecord
from storage.repositories.prompts import _open_sqlite_transaction


def guild_prompt_key(guild_id: str, local_id: str) -> str:
    """The global id of a server's prompt (fits the 64-character column for any local id)."""
    digest = hashlib.sha256(f"{guild_id}\0{local_id}".encode()).hexdigest()[:20]
    return f"g{guild_id}-{digest}"


class GuildPromptIdTaken(RuntimeError):
    """Another transaction added a prompt with the same id after this one looked (on
    PostgreSQL two concurrent writers of one new id both see no row); the caller's
    transaction is lost and may be retried, when the row will be found."""


@dataclass(frozen=True)
class GuildWrite:
    added: int = 0
    updated: int = 0
    unchanged: int = 0


def count_guild_prompts(session: Session, guild_id: str) -> int:
    statement = (
        select(func.count())
        .select_from(Prompt)
        .where(Prompt.guild_id == guild_id, Prompt.removed_at.is_(None))
    )
    return session.scalar(statement) or 0


def get_guild_prompt(
    session: Session, guild_id: str, local_id: str, include_removed: bool = False
) -> Prompt | None:
    row = session.get(Prompt, guild_prompt_key(guild_id, local_id))
    if row is None or row.guild_id != guild_id:
        return None
    if row.removed_at is not None and not include_removed:
        return None
    return row


def write_guild_prompts(
    session: Session,
    guild_id: str,
    records: list[PromptRecord],
    author_id: str,
    source: str,
    now: datetime,
) -> GuildWrite:
    """Add or update the server's prompts by local id in the caller's transaction; a removed
    prompt written again comes back (it is the server's id, reused on purpose)."""
    _open_sqlite_transaction(session)
    added = updated = unchanged = 0
    keys = {guild_prompt_key(guild_id, r.id): r for r in records}
    existing = {p.id: p for p in session.scalars(select(Prompt).where(Prompt.id.in_(list(keys))))}
    for key, record in keys.items():
        row = existing.get(key)
        if row is None:
            session.add(
                Prompt(
                    id=key,
                    title=record.title,
                    text=record.text,
                    genres=record.genres,
                    themes=record.themes,
                    source=source[:200],
                    content_hash=record.content_hash,
                    rating=record.rating.value,
                    created_at=now,
                    updated_at=now,
                    guild_id=guild_id,
                    local_id=record.id,
                    added_by=author_id,
                )
            )
            added += 1
        elif (
            row.content_hash != record.content_hash
            or row.rating != record.rating.value
            or row.removed_at is not None
        ):
            row.title, row.text, row.rating = record.title, record.text, record.rating.value
            row.genres, row.themes = record.genres, record.themes
            row.content_hash, row.updated_at, row.removed_at = record.content_hash, now, None
            updated += 1
        else:
            unchanged += 1
    try:
        session.flush()
    except IntegrityError as exc:
        raise GuildPromptIdTaken(str(exc.orig)) from exc
    return GuildWrite(added, updated, unchanged)


def remove_guild_prompt(session: Session, guild_id: str, local_id: str, now: datetime) -> bool:
    """Mark the prompt removed; False if the server has no such live prompt. One UPDATE, so
    two admins removing at once both see a clear outcome and the row is marked once."""
    marked = session.execute(
        update(Prompt)
        .where(
            Prompt.id == guild_prompt_key(guild_id, local_id),
            Prompt.guild_id == guild_id,
            Prompt.removed_at.is_(None),
        )
        .values(removed_at=now, updated_at=now)
    )
    return bool(marked.rowcount)  # type: ignore[attr-defined]


def list_guild_prompts(
    session: Session, guild_id: str, offset: int = 0, limit: int | None = None
) -> list[Prompt]:
    statement = (
        select(Prompt)
        .where(Prompt.guild_id == guild_id, Prompt.removed_at.is_(None))
        .order_by(Prompt.created_at, Prompt.local_id)
        .offset(offset)
    )
    if limit is not None:
        statement = statement.limit(limit)
    return list(session.scalars(statement))


def taken_local_ids(session: Session, guild_id: str) -> set[str]:
    statement = select(Prompt.local_id).where(Prompt.guild_id == guild_id)
    return {local_id for local_id in session.scalars(statement) if local_id}


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class CurationSettings:
    queue_channel_id: str | None = None
    curator_role_id: str | None = None
    own_prompts_only: bool = False


def curation_settings(session: Session, guild_id: str) -> CurationSettings:
    row = session.get(GuildPromptSettings, guild_id)
    if row is None:
        return CurationSettings()
    return CurationSettings(row.queue_channel_id, row.curator_role_id, row.own_prompts_only)


def set_curation_settings(
    session: Session, guild_id: str, settings: CurationSettings, actor: str, now: datetime
) -> None:
    row = session.get(GuildPromptSettings, guild_id)
    if row is None:
        row = GuildPromptSettings(guild_id=guild_id)
        session.add(row)
    row.queue_channel_id = settings.queue_channel_id
    row.curator_role_id = settings.curator_role_id
    row.own_prompts_only = settings.own_prompts_only
    row.updated_by, row.updated_at = actor, now
    session.flush()


# --------------------------------------------------------------------------- submissions


def open_submission_count(session: Session, guild_id: str, submitter_id: str) -> int:
    statement = (
        select(func.count())
        .select_from(PromptSubmission)
        .where(
            PromptSubmission.guild_id == guild_id,
            PromptSubmission.submitter_id == submitter_id,
            PromptSubmission.status == SubmissionStatus.OPEN,
        )
    )
    return session.scalar(statement) or 0


def add_submission(
    session: Session,
    guild_id: str,
    submitter_id: str,
    record: PromptRecord,
    rating: str | None,
    now: datetime,
) -> PromptSubmission:
    row = PromptSubmission(
        guild_id=guild_id,
        submitter_id=submitter_id,
        title=record.title,
        text=record.text,
        genres=record.genres,
        themes=record.themes,
        rating=rating,
        status=SubmissionStatus.OPEN,
        revision=1,
        reason="",
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def get_submission(session: Session, submission_id: int) -> PromptSubmission | None:
    return session.get(PromptSubmission, submission_id)


def set_queue_message(
    session: Session, submission_id: int, channel_id: str, message_id: str
) -> None:
    session.execute(
        update(PromptSubmission)
        .where(PromptSubmission.id == submission_id)
        .values(queue_channel_id=channel_id, queue_message_id=message_id)
    )


def decide_submission(
    session: Session,
    submission_id: int,
    status: SubmissionStatus,
    moderator_id: str,
    now: datetime,
    reason: str = "",
    prompt_id: str | None = None,
) -> bool:
    """Close an open submission; False if someone else closed it first (one UPDATE that only
    matches while it is open, so approving twice approves once)."""
    closed = session.execute(
        update(PromptSubmission)
        .where(
            PromptSubmission.id == submission_id,
            PromptSubmission.status == SubmissionStatus.OPEN,
        )
        .values(
            status=status,
            moderator_id=moderator_id,
            decided_at=now,
            reason=reason,
            prompt_id=prompt_id,
        )
    )
    return bool(closed.rowcount)  # type: ignore[attr-defined]


def edit_submission(
    session: Session, submission_id: int, expected_revision: int, record: PromptRecord
) -> bool:
    """Replace an open submission's text if nobody edited it since ``expected_revision``."""
    edited = session.execute(
        update(PromptSubmission)
        .where(
            PromptSubmission.id == submission_id,
            PromptSubmission.status == SubmissionStatus.OPEN,
            PromptSubmission.revision == expected_revision,
        )
        .values(
            title=record.title,
            text=record.text,
            genres=record.genres,
            themes=record.themes,
            rating=record.rating.value,
            revision=expected_revision + 1,
        )
    )
    return bool(edited.rowcount)  # type: ignore[attr-defined]
