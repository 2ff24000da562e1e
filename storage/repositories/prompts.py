"""Prompts: upsert by id, list, corpus fingerprint, counts by tag.

An upsert first writes every record in one savepoint. Records are validated before they get
here (storage.prompt_file), so the database should accept them all; if it still refuses one
(a limit the validation does not know about), the batch is retried one savepoint per record, so
the refused records are reported by id and every other record still lands, on SQLite and on
PostgreSQL alike (where one failed statement would otherwise abort the whole transaction).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from storage.models import Prompt
from storage.prompt_file import PromptRecord


@dataclass
class UpsertCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: dict[str, str] = field(default_factory=dict)  # id -> why the database refused it

    def add(self, other: UpsertCounts) -> None:
        self.added += other.added
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.rejected.update(other.rejected)


def upsert_prompts(
    session: Session, records: list[PromptRecord], source: str, now: datetime
) -> UpsertCounts:
    """Add new ids, update changed ones; records the database refuses end up in ``rejected``."""
    _open_sqlite_transaction(session)
    try:
        with session.begin_nested():
            return _upsert_all(session, records, source, now)
    except StatementError:
        pass
    counts = UpsertCounts()
    for record in records:
        try:
            with session.begin_nested():
                counts.add(_upsert_all(session, [record], source, now))
        except StatementError as exc:
            counts.rejected[record.id] = _database_reason(exc)
    return counts


def _open_sqlite_transaction(session: Session) -> None:
    """Make sure SQLite is inside a real transaction before the first SAVEPOINT.

    Python's sqlite3 opens a transaction only before its first INSERT/UPDATE/DELETE; a SAVEPOINT
    issued before that starts one of its own, which RELEASE then commits, so a later failure
    could no longer roll the import back. BEGIN IMMEDIATE also takes the write lock up front
    (waiting up to the busy timeout), so the reads that follow cannot go stale before the writes.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    if not connection.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _database_reason(exc: StatementError) -> str:
    original = exc.orig if exc.orig is not None else exc
    lines = str(original).strip().splitlines()
    return f"the database refused it: {lines[0] if lines else type(original).__name__}"


def _upsert_all(
    session: Session, records: list[PromptRecord], source: str, now: datetime
) -> UpsertCounts:
    counts = UpsertCounts()
    existing = (
        {
            p.id: p
            for p in session.scalars(select(Prompt).where(Prompt.id.in_([r.id for r in records])))
        }
        if records
        else {}
    )
    for record in records:
        row = existing.get(record.id)
        digest = record.content_hash
        if row is None:
            session.add(
                Prompt(
                    id=record.id,
                    title=record.title,
                    text=record.text,
                    genres=record.genres,
                    themes=record.themes,
                    source=source,
                    content_hash=digest,
                    rating=record.rating.value,
                    created_at=now,
                    updated_at=now,
                )
            )
            counts.added += 1
        elif row.content_hash != digest or row.rating != record.rating.value:
            row.title, row.text = record.title, record.text
            row.genres, row.themes = record.genres, record.themes
            row.source, row.content_hash, row.updated_at = source, digest, now
            row.rating = record.rating.value
            counts.updated += 1
        else:
            counts.unchanged += 1
    session.flush()
    return counts


def list_prompts(session: Session) -> list[Prompt]:
    return list(session.scalars(select(Prompt).order_by(Prompt.id)))


def get_prompt(session: Session, prompt_id: str) -> Prompt | None:
    return session.get(Prompt, prompt_id)


def count_prompts(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Prompt)) or 0


def corpus_fingerprint(session: Session) -> str:
    """A hash of every (id, content hash, rating): changes whenever any prompt is added,
    edited or re-rated (serving filters by rating, so a re-rating must reach it too)."""
    digest = hashlib.sha256()
    for prompt_id, content_hash, rating in session.execute(
        select(Prompt.id, Prompt.content_hash, Prompt.rating).order_by(Prompt.id)
    ):
        digest.update(f"{prompt_id}\0{content_hash}\0{rating}\n".encode())
    return digest.hexdigest()


def tag_counts(session: Session) -> tuple[Counter[str], Counter[str]]:
    genres: Counter[str] = Counter()
    themes: Counter[str] = Counter()
    for prompt_genres, prompt_themes in session.execute(select(Prompt.genres, Prompt.themes)):
        genres.update(prompt_genres)
        themes.update(prompt_themes)
    return genres, themes
