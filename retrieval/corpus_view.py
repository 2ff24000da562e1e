"""An in-memory, ORM-free view of a prompt corpus, from the database or from a prompt file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from retrieval.vocabulary import Vocabulary, default_vocabulary
from storage.database import Database
from storage.models import Prompt
from storage.prompt_file import PromptRecord, read_prompt_file
from storage.ratings import DEFAULT_RATING, Rating
from storage.repositories.prompts import SHARED, list_prompts


@dataclass(frozen=True)
class CorpusPrompt:
    id: str
    title: str
    text: str
    genres: list[str]
    themes: list[str]
    content_hash: str
    rating: Rating = DEFAULT_RATING
    guild_id: str | None = None  # None: the shared corpus; else the server that owns it
    local_id: str | None = None  # the id the owning server gave it


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


def from_row(p: Prompt) -> CorpusPrompt:
    return CorpusPrompt(
        p.id,
        p.title,
        p.text,
        list(p.genres),
        list(p.themes),
        p.content_hash,
        Rating(p.rating),
        guild_id=p.guild_id,
        local_id=p.local_id,
    )


def load_corpus_from_db(db: Database, scope: str = SHARED) -> list[CorpusPrompt]:
    """Live prompts in ``scope`` (storage.repositories.prompts): by default the shared corpus
    only, so training, evaluation and the CLI never see a server's own prompts unasked."""
    with db.session() as session:
        return [from_row(p) for p in list_prompts(session, scope)]


def load_corpus_from_file(path: Path, vocabulary: Vocabulary | None = None) -> list[CorpusPrompt]:
    """Read a prompt file for ranking/evaluation; raises if any line is bad."""
    from retrieval.corpus import canonicalize

    vocabulary = vocabulary or default_vocabulary()
    read = read_prompt_file(path)
    if read.errors:
        shown = "; ".join(str(e) for e in read.errors[:5])
        raise ValueError(f"{path}: {len(read.errors)} bad line(s): {shown}")
    return [from_record(canonicalize(r, vocabulary)) for r in read.records]
