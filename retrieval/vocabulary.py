"""The controlled vocabulary (data/vocabulary.json) and query normalization.

Genres and themes have canonical names plus the words users actually type ("sci-fi",
"whodunit", "spooky"). Tags in imported files are mapped to canonical names when known, and
kept as given otherwise (a community's own corpus may use its own tags).
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from storage.settings import DATA_DIR

VOCABULARY_PATH = DATA_DIR / "vocabulary.json"
_NON_WORD = re.compile(r"[^\w\s'-]+", re.UNICODE)
_SPACES = re.compile(r"\s+")


def normalize_query(text: str) -> str:
    """Lowercase, NFKC, punctuation to spaces (keeping - and '), whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _NON_WORD.sub(" ", text).replace("_", " ")
    text = " ".join(word.strip("-'") for word in text.split())
    return _SPACES.sub(" ", text).strip()


def _key(name: str) -> str:
    return normalize_query(name)


@dataclass(frozen=True)
class Vocabulary:
    genres: dict[str, list[str]]
    themes: dict[str, list[str]]
    phrasings: list[str]
    topics: dict[str, list[str]]  # concrete subjects and the words users type for them

    @classmethod
    def load(cls, path: Path = VOCABULARY_PATH) -> Vocabulary:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(raw["genres"], raw["themes"], raw.get("phrasings", []), raw.get("topics", {}))

    @property
    def _genre_lookup(self) -> dict[str, str]:
        return _lookup(tuple((k, tuple(v)) for k, v in self.genres.items()))

    @property
    def _theme_lookup(self) -> dict[str, str]:
        return _lookup(tuple((k, tuple(v)) for k, v in self.themes.items()))

    def canonical_genre(self, name: str) -> str | None:
        return self._genre_lookup.get(_key(name))

    def canonical_theme(self, name: str) -> str | None:
        return self._theme_lookup.get(_key(name))

    def canonical_genres(self, names: list[str]) -> list[str]:
        return _dedupe(self.canonical_genre(n) or n for n in names)

    def canonical_themes(self, names: list[str]) -> list[str]:
        return _dedupe(self.canonical_theme(n) or n for n in names)


@cache
def _lookup(entries: tuple[tuple[str, tuple[str, ...]], ...]) -> dict[str, str]:
    table: dict[str, str] = {}
    for canonical, synonyms in entries:
        for name in (canonical, *synonyms):
            table.setdefault(_key(name), canonical)
    return table


def _dedupe(names: object) -> list[str]:
    seen: list[str] = []
    for name in names:  # type: ignore[attr-defined]
        if name not in seen:
            seen.append(name)
    return seen


@cache
def default_vocabulary() -> Vocabulary:
    return Vocabulary.load()
