"""Prompts: upsert by id, list, corpus fingerprint, counts by tag.

An upsert first writes every record in one savepoint. Records are validated before they get
here (storage.prompt_file), so the database should accept them all; if it still refuses one
(a limit the validation does not know about), the batch is retried one savepoint per record, so
the refused records are reported by id and every other record still lands, on SQLite and on
PostgreSQL alike (where one failed statement would otherwise abort the whole transaction).

New ids are written with ``INSERT ... ON CONFLICT (id) DO NOTHING``: when another import (or
`init`) adds the same id between this one's read and its write, the row it stored is read back
and updated like any existing row, instead of failing the import on the primary key.
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
from storage.upsert import insert_for

#: rows per INSERT: well under SQLite's 32,766 bound parameters at nine columns a row
INSERT_CHUNK = 1000


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
    existing = _existing(session, [r.id for r in records])
    new = [r for r in records if r.id not in existing]
    inserted = _insert_new(session, new, source, now)
    counts.added = len(inserted)
    raced = [r.id for r in new if r.id not in inserted]  # added meanwhile by another writer
    if raced:
        existing.update(_existing(session, raced, for_update=True))
    for record in records:
        if record.id in inserted:
            continue
        row = existing[record.id]
        if row.content_hash != record.content_hash:
            row.title, row.text = record.title, record.text
            row.genres, row.themes = record.genres, record.themes
            row.source, row.content_hash, row.updated_at = source, record.content_hash, now
            counts.updated += 1
        else:
            counts.unchanged += 1
    session.flush()
    return counts


def _existing(session: Session, ids: list[str], for_update: bool = False) -> dict[str, Prompt]:
    found: dict[str, Prompt] = {}
    for start in range(0, len(ids), INSERT_CHUNK):
        stmt = select(Prompt).where(Prompt.id.in_(ids[start : start + INSERT_CHUNK]))
        if for_update:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        found.update({p.id: p for p in session.scalars(stmt)})
    return found


def _insert_new(
    session: Session, records: list[PromptRecord], source: str, now: datetime
) -> set[str]:
    """Insert the records whose ids no one has stored yet; returns the ids this call stored."""
    inserted: set[str] = set()
    for start in range(0, len(records), INSERT_CHUNK):
        rows = [
            {
                "id": r.id,
                "title": r.title,
                "text": r.text,
                "genres": r.genres,
                "themes": r.themes,
                "source": source,
                "content_hash": r.content_hash,
                "created_at": now,
                "updated_at": now,
            }
            for r in records[start : start + INSERT_CHUNK]
        ]
        stmt = (
            insert_for(session, Prompt)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(Prompt.id)
        )
        inserted.update(session.scalars(stmt))
    return inserted


def list_prompts(session: Session) -> list[Prompt]:
    return list(session.scalars(select(Prompt).order_by(Prompt.id)))


def get_prompt(session: Session, prompt_id: str) -> Prompt | None:
    return session.get(Prompt, prompt_id)


def count_prompts(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Prompt)) or 0


def corpus_fingerprint(session: Session) -> str:
    """A hash of every (id, content hash): changes whenever any prompt is added or edited."""
    digest = hashlib.sha256()
    for prompt_id, content_hash in session.execute(
        select(Prompt.id, Prompt.content_hash).order_by(Prompt.id)
    ):
        digest.update(f"{prompt_id}\0{content_hash}\n".encode())
    return digest.hexdigest()


def tag_counts(session: Session) -> tuple[Counter[str], Counter[str]]:
    genres: Counter[str] = Counter()
    themes: Counter[str] = Counter()
    for prompt_genres, prompt_themes in session.execute(select(Prompt.genres, Prompt.themes)):
        genres.update(prompt_genres)
        themes.update(prompt_themes)
    return genres, themes
