"""Query-side typo tolerance: misspelled words snapped to the corpus vocabulary before encoding.

A word-piece encoder splits "drgaons" into pieces unrelated to "dragons", so one typo can move
a query far from what the user meant. Every query word that is neither in the corpus (titles,
texts, tags), nor in the controlled vocabulary (data/vocabulary.json), nor a whole word of
the model's WordPiece vocabulary, nor among the 40,000 most frequent English words (real
spellings the corpus lacks: "mariner", "wacky") is replaced by the known word
closest to it in edit distance (a swap of two letters counts as one edit) — at most 1 edit
for words of 4-7 letters, 2 from 8 — the more frequent one on ties. Known words are never
touched, so clean queries pass unchanged and cost one set lookup per word; rapidfuzz does
the search for the rest.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from rapidfuzz import process
from rapidfuzz.distance import OSA

from retrieval.documents import PromptLike
from retrieval.vocabulary import Vocabulary, normalize_query

_TOKEN = re.compile(r"[a-z]+(?:['-][a-z]+)*")
MIN_LENGTH = 4  # shorter words are too ambiguous to correct ("cat" -> "car"?)
# Measured on the judged noisy queries (docs/results.md "Typos and variants"): from 40,000 on,
# clean queries are no longer "corrected"; 40,000-82,765 words all score within 0.003. The
# rarer end of the list holds words that typos spell ("abut" for "about", "sene" for "sense").
ENGLISH_WORDS = 40_000
_FREQUENCY_LIST = "frequency_dictionary_en_82_765.txt"  # symspellpy's, most frequent first


def tokens(text: str) -> list[str]:
    """Words of the normalized text; a hyphenated word also yields its parts."""
    words = _TOKEN.findall(normalize_query(text))
    return words + [part for w in words if "-" in w for part in w.split("-")]


def max_edits(word: str) -> int:
    return 1 if len(word) < 8 else 2


class QueryCorrector:
    """Snaps unknown words to the nearest known word; built once per corpus."""

    def __init__(self, frequencies: Counter[str], dictionary: Iterable[str] = ()) -> None:
        self._frequencies = frequencies
        # dictionary words are correct spellings the corpus lacks: never corrected, never targets
        self._known = frozenset(frequencies) | frozenset(dictionary)
        # bucketed by length: a word within k edits is within k letters of the query word's
        # length, so only those buckets are searched (the same matches, a fraction of the work)
        self._by_length: dict[int, list[str]] = {}
        for word in sorted(frequencies, key=lambda w: (-frequencies[w], w)):
            self._by_length.setdefault(len(word), []).append(word)

    @classmethod
    def from_corpus(
        cls,
        prompts: Sequence[PromptLike],
        vocabulary: Vocabulary | None = None,
        dictionary: Iterable[str] = (),
    ) -> QueryCorrector:
        counts: Counter[str] = Counter()
        for p in prompts:
            counts.update(tokens(" ".join([p.title, p.text, *p.genres, *p.themes])))
        if vocabulary is not None:
            counts.update(_vocabulary_words(vocabulary))
        return cls(counts, dictionary)

    def __contains__(self, word: str) -> bool:
        return word in self._known

    def correct_word(self, word: str) -> str:
        if "-" in word and word not in self._known:
            return "-".join(self.correct_word(part) for part in word.split("-"))
        if word in self._known or len(word) < MIN_LENGTH or not word.isalpha():
            return word
        limit = max_edits(word)
        choices = [
            w
            for length in range(len(word) - limit, len(word) + limit + 1)
            for w in self._by_length.get(length, ())
        ]
        matches = process.extract(word, choices, scorer=OSA.distance, score_cutoff=limit, limit=20)
        if not matches:
            return word
        best = min(matches, key=lambda m: (m[1], -self._frequencies[m[0]], m[0]))
        return best[0]

    def correct(self, query: str) -> str:
        """The normalized query with each unknown word replaced by its nearest known word."""
        return " ".join(self.correct_word(w) for w in normalize_query(query).split())


def wordpiece_words(model_dir: Path) -> frozenset[str]:
    """Whole words of the model's WordPiece vocabulary: real English spellings.

    Without them, correct words the corpus happens to lack ("wacky", "hiking") would be
    "corrected" into corpus words ("tacky", "hiding"). Read from ``vocab.txt`` or, as saved
    fine-tuned models have only that, from ``tokenizer.json``.
    """
    return frozenset(
        w
        for w in _wordpiece_vocab(model_dir)
        if len(w) >= MIN_LENGTH and w.isalpha() and w.islower()
    )


@functools.cache
def english_words(top_n: int = ENGLISH_WORDS) -> frozenset[str]:
    """The ``top_n`` most frequent English words (of four letters or more) in symspellpy's
    frequency list, read once per process."""
    listing = importlib.resources.files("symspellpy").joinpath(_FREQUENCY_LIST)
    words = (line.split(maxsplit=1)[0] for line in listing.read_text("utf-8").splitlines()[:top_n])
    return frozenset(w for w in words if len(w) >= MIN_LENGTH and w.isalpha())


def _wordpiece_vocab(model_dir: Path) -> list[str]:
    vocab_txt, tokenizer_json = model_dir / "vocab.txt", model_dir / "tokenizer.json"
    if vocab_txt.is_file():
        return vocab_txt.read_text(encoding="utf-8").splitlines()
    if tokenizer_json.is_file():
        try:
            vocab = json.loads(tokenizer_json.read_text(encoding="utf-8"))["model"]["vocab"]
        except (ValueError, KeyError, TypeError):
            return []
        return list(vocab) if isinstance(vocab, dict) else []
    return []


def _vocabulary_words(vocabulary: Vocabulary) -> Iterable[str]:
    groups = [vocabulary.genres, vocabulary.themes, vocabulary.topics]
    for group in groups:
        for canonical, synonyms in group.items():
            for name in (canonical, *synonyms):
                yield from tokens(name)
    for phrasing in vocabulary.phrasings:
        yield from tokens(phrasing)
