"""Importing prompt files into the database (tags mapped to the controlled vocabulary)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from retrieval.vocabulary import Vocabulary, default_vocabulary
from storage.database import Database, utcnow
from storage.prompt_file import LineError, PromptRecord, read_prompt_file
from storage.repositories.prompts import UpsertCounts, upsert_prompts
from storage.settings import DATA_DIR

SHIPPED_CORPUS = DATA_DIR / "prompts.jsonl"
SOURCE_CHARS = 200


@dataclass
class ImportReport:
    path: Path
    counts: UpsertCounts
    errors: list[LineError]

    @property
    def ok(self) -> bool:
        return not self.errors


def canonicalize(record: PromptRecord, vocabulary: Vocabulary) -> PromptRecord:
    return replace(
        record,
        genres=vocabulary.canonical_genres(record.genres),
        themes=vocabulary.canonical_themes(record.themes),
    )


def import_prompt_file(
    db: Database, path: Path, vocabulary: Vocabulary | None = None
) -> ImportReport:
    """Add or update prompts by id in one transaction.

    Every good line lands, or (if the import itself fails) none do. A bad line never takes the
    others down: it is reported by number and skipped, whether the file reader or the database
    refused it.
    """
    vocabulary = vocabulary or default_vocabulary()
    read = read_prompt_file(path)
    records = [canonicalize(r, vocabulary) for r in read.records]
    with db.session() as session:
        counts = upsert_prompts(session, records, source=_source_name(path), now=utcnow())
    errors = read.errors + [
        LineError(read.line_numbers[prompt_id], reason)
        for prompt_id, reason in counts.rejected.items()
    ]
    return ImportReport(path, counts, sorted(errors, key=lambda e: e.line))


def _source_name(path: Path) -> str:
    """The file name as stored with each prompt, cut to the column's 200 characters."""
    return path.name[:SOURCE_CHARS]
