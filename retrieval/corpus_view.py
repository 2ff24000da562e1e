"""An in-memory, ORM-free view of a prompt corpus, from the database or from a prompt file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from retrieval.vocabulary import Vocabulary, default_vocabulary
from storage.database import Database
from storage.prompt_file import PromptRecord, read_prompt_file
from storage.ratings import DEFAULT_RATING, Rating
from storage.repositories.prompts import list_prompts


@dataclass(frozen=True)
class CorpusPrompt:
    id: str
    title: str
    text: str
    genres: list[str]
    themes: list[str]
    content_hash: str
    rating: Rating = DEFAULT_RATING


def from_record(record: PromptRecord) -> CorpusPrompt:
    return CorpusPrompt(
        record.id,
        record.title,
        record.text,
        list(record.genres),
        list(record.themes),
        record.content_hash,
        record.rating,
    )


def load_corpus_from_db(db: Database) -> list[CorpusPrompt]:
    with db.session() as session:
        return [
            CorpusPrompt(
                p.id,
                p.title,
                p.text,
                list(p.genres),
                list(p.themes),
                p.content_hash,
                Rating(p.rating),
            )
            for p in list_prompts(session)
        ]


def load_corpus_from_file(path: Path, vocabulary: Vocabulary | None = None) -> list[CorpusPrompt]:
    """Read a prompt file for ranking/evaluation; raises if any line is bad."""
    from retrieval.corpus import canonicalize

    vocabulary = vocabulary or default_vocabulary()
    read = read_prompt_file(path)
    if read.errors:
        shown = "; ".join(str(e) for e in read.errors[:5])
        raise ValueError(f"{path}: {len(read.errors)} bad line(s): {shown}")
    return [from_record(canonicalize(r, vocabulary)) for r in read.records]
