"""Deterministic typo and variant copies of judged queries: the words users actually type.

Each query gets exactly one variant, chosen and applied by a generator seeded with its qid, so
``data/eval/queries_noisy.jsonl`` can be rebuilt byte for byte
(``python -m retrieval.query_noise``). Variants: a dropped, doubled or swapped letter inside a
word of five or more letters, a genre written the way people shorten it ("scifi", "sci fi",
"SF"), a plural turned singular or the other way, a trailing emoji, and all caps. Judgments
are copied unchanged: a typo does not change what the user wanted.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from retrieval.eval_sets import EVAL_DIR, QUERIES_PATH, JudgedQuery, load_queries

NOISY_QUERIES_PATH = EVAL_DIR / "queries_noisy.jsonl"
GENRE_VARIANTS: dict[str, tuple[str, ...]] = {
    "sci-fi": ("scifi", "sci fi", "SF"),
    "science fiction": ("scifi", "sci fi", "SF"),
    "fantasy": ("fantasy stuff",),
    "horror": ("horrror",),
    "romance": ("romantic",),
    "mystery": ("mysteries",),
}
EMOJI = ("🙂", "🔥", "✨", "🐉", "👀")
_WORD = re.compile(r"[A-Za-z]{5,}")


def _rng(qid: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(qid.encode()).digest()[:8], "big"))


def _edit_one_word(query: str, rng: random.Random, edit: Callable[[str, int], str]) -> str | None:
    words = list(_WORD.finditer(query))
    if not words:
        return None
    match = rng.choice(words)
    word = match.group()
    position = rng.randrange(1, len(word) - 1)  # keep the first and last letter
    return query[: match.start()] + edit(word, position) + query[match.end() :]


def drop_letter(query: str, rng: random.Random) -> str | None:
    return _edit_one_word(query, rng, lambda w, i: w[:i] + w[i + 1 :])


def double_letter(query: str, rng: random.Random) -> str | None:
    return _edit_one_word(query, rng, lambda w, i: w[:i] + w[i] + w[i:])


def swap_letters(query: str, rng: random.Random) -> str | None:
    return _edit_one_word(query, rng, lambda w, i: w[: i - 1] + w[i] + w[i - 1] + w[i + 1 :])


def genre_variant(query: str, rng: random.Random) -> str | None:
    lowered = query.lower()
    for name, variants in GENRE_VARIANTS.items():
        start = lowered.find(name)
        if start >= 0:
            return query[:start] + rng.choice(variants) + query[start + len(name) :]
    return None


def plural_variant(query: str, rng: random.Random) -> str | None:
    words = [m for m in re.finditer(r"[A-Za-z]{4,}", query)]
    if not words:
        return None
    match = rng.choice(words)
    word = match.group()
    if word.endswith("ies"):
        other = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith("ss"):
        other = word[:-1]
    elif word.endswith(("s", "x", "ch", "sh")):
        other = word + "es"
    elif word.endswith("y") and word[-2] not in "aeiou":
        other = word[:-1] + "ies"
    else:
        other = word + "s"
    return query[: match.start()] + other + query[match.end() :]


def trailing_emoji(query: str, rng: random.Random) -> str | None:
    return f"{query} {rng.choice(EMOJI)}"


def all_caps(query: str, rng: random.Random) -> str | None:
    return query.upper()


VARIANTS: dict[str, Callable[[str, random.Random], str | None]] = {
    "drop": drop_letter,
    "double": double_letter,
    "swap": swap_letters,
    "genre": genre_variant,
    "plural": plural_variant,
    "emoji": trailing_emoji,
    "caps": all_caps,
}
# typos are what users make most; emoji and caps are cheap checks of normalization
WEIGHTS = {"drop": 3, "double": 2, "swap": 3, "genre": 2, "plural": 2, "emoji": 1, "caps": 1}


TYPOS = ("drop", "double", "swap")


def misspelled(text: str, rng: random.Random) -> str | None:
    """``text`` with one typo (a dropped, doubled or swapped letter), or None if no word has
    five letters. Training pairs use it; only letter typos, so the judged noisy queries' other
    kinds (genre spellings, plurals, emoji, caps) stay a test of the rest of the pipeline."""
    return VARIANTS[rng.choice(TYPOS)](text, rng)


def noisy_variant(query: JudgedQuery) -> tuple[JudgedQuery, str]:
    """The query's one variant and the name of what was done to it."""
    rng = _rng(query.qid)
    names = [n for n in VARIANTS for _ in range(WEIGHTS[n])]
    for name in rng.sample(names, len(names)):
        text = VARIANTS[name](query.query, rng)
        if text and text != query.query:
            return replace(query, query=text), name
    return replace(query, query=query.query.upper()), "caps"


def noisy_rows(queries: Sequence[JudgedQuery]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for q in queries:
        variant, name = noisy_variant(q)
        rows.append(
            {
                "qid": q.qid,
                "query": variant.query,
                "clean": q.query,
                "variant": name,
                "slice": q.slice,
                "relevant": q.relevant,
            }
        )
    return rows


def write_noisy(source: Path = QUERIES_PATH, target: Path = NOISY_QUERIES_PATH) -> int:
    rows = noisy_rows(load_queries(source))
    target.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return len(rows)


if __name__ == "__main__":
    print(f"wrote {write_noisy()} queries to {NOISY_QUERIES_PATH}")
