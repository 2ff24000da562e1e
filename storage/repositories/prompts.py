"""Prompts: upsert by id, list, corpus fingerprint, counts by tag."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Prompt
from storage.prompt_file import PromptRecord


@dataclass
class UpsertCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0


def upsert_prompts(
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
                    created_at=now,
                    updated_at=now,
                )
            )
            counts.added += 1
        elif row.content_hash != digest:
            row.title, row.text = record.title, record.text
            row.genres, row.themes = record.genres, record.themes
            row.source, row.content_hash, row.updated_at = source, digest, now
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
