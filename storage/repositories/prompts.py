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
from typing import TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from storage.models import ModelVersion, Prompt
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
        if row.content_hash != record.content_hash or row.rating != record.rating.value:
            row.title, row.text = record.title, record.text
            row.genres, row.themes = record.genres, record.themes
            row.source, row.content_hash, row.updated_at = source, record.content_hash, now
            row.rating = record.rating.value
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
                "rating": r.rating.value,
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


SelectT = TypeVar("SelectT", bound=Select)  # type: ignore[type-arg]

#: ``scope`` of the listing functions: the shared corpus only (the default, so training,
#: evaluation, the simulator and statistics never see a server's prompts unless asked),
#: every server's prompts too (what serving loads: it filters per request), or one server's.
SHARED, EVERY_GUILD = "shared", "every-guild"


def _in_scope(statement: SelectT, scope: str, include_removed: bool) -> SelectT:
    if not include_removed:
        statement = statement.where(Prompt.removed_at.is_(None))
    if scope == SHARED:
        return statement.where(Prompt.guild_id.is_(None))
    if scope == EVERY_GUILD:
        return statement
    return statement.where(or_(Prompt.guild_id.is_(None), Prompt.guild_id == scope))


def list_prompts(
    session: Session, scope: str = SHARED, include_removed: bool = False
) -> list[Prompt]:
    """Live prompts in ``scope``: SHARED, EVERY_GUILD, or a guild id (shared + that guild's)."""
    return list(
        session.scalars(_in_scope(select(Prompt), scope, include_removed).order_by(Prompt.id))
    )


def get_prompt(session: Session, prompt_id: str) -> Prompt | None:
    return session.get(Prompt, prompt_id)


def count_prompts(session: Session, scope: str = SHARED) -> int:
    statement = _in_scope(select(func.count()).select_from(Prompt), scope, False)
    return session.scalar(statement) or 0


def served_version(content_hash: str, rating: str) -> str:
    """What a served index must match for one prompt: its content and its rating (serving
    filters by rating, so a re-rating must reach it too, though it never re-embeds)."""
    return f"{content_hash}:{rating}"


def corpus_versions(session: Session, scope: str = EVERY_GUILD) -> dict[str, str]:
    """id -> served version of every live prompt in ``scope``: what a served index holds."""
    statement = _in_scope(select(Prompt.id, Prompt.content_hash, Prompt.rating), scope, False)
    return {
        pid: served_version(digest, rating) for pid, digest, rating in session.execute(statement)
    }


def corpus_fingerprint(session: Session, scope: str = EVERY_GUILD) -> str:
    """A hash of every live (id, content hash, rating) in ``scope``: changes whenever a prompt
    is added, edited, re-rated or removed."""
    digest = hashlib.sha256()
    for prompt_id, content_hash in sorted(corpus_versions(session, scope).items()):
        digest.update(f"{prompt_id}\0{content_hash}\n".encode())
    return digest.hexdigest()


def tag_counts(session: Session, scope: str = SHARED) -> tuple[Counter[str], Counter[str]]:
    genres: Counter[str] = Counter()
    themes: Counter[str] = Counter()
    statement = _in_scope(select(Prompt.genres, Prompt.themes), scope, False)
    for prompt_genres, prompt_themes in session.execute(statement):
        genres.update(prompt_genres)
        themes.update(prompt_themes)
    return genres, themes


def setup_census(session: Session) -> dict[str, int]:
    """What concurrent set-ups left behind (bench.concurrent_setup): every prompt row, the
    champion rows (exactly one after any number of racing inits), and rows an import edited."""
    count = select(func.count())
    return {
        "prompts": session.scalar(count.select_from(Prompt)) or 0,
        "champions": session.scalar(
            count.select_from(ModelVersion).where(ModelVersion.status == "champion")
        )
        or 0,
        "edited": session.scalar(count.select_from(Prompt).where(Prompt.text.like("% (edited)")))
        or 0,
    }
