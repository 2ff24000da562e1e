"""The noisy query set: deterministic, one real change per query, judgments unchanged, and the
committed file is exactly what the generator writes."""

from __future__ import annotations

import json
import random

from rapidfuzz.distance import OSA

from retrieval.eval_sets import JudgedQuery, load_queries
from retrieval.query_noise import (
    NOISY_QUERIES_PATH,
    VARIANTS,
    all_caps,
    genre_variant,
    misspelled,
    noisy_rows,
    noisy_variant,
    plural_variant,
    swap_letters,
)


def test_committed_noisy_file_matches_the_generator() -> None:
    committed = [json.loads(line) for line in NOISY_QUERIES_PATH.read_text().splitlines()]
    assert committed == noisy_rows(load_queries())


def test_every_variant_changes_the_query_and_keeps_its_judgments() -> None:
    queries = load_queries()
    rows = noisy_rows(queries)
    assert {r["variant"] for r in rows} <= set(VARIANTS)
    assert len({r["variant"] for r in rows}) == len(VARIANTS)
    for q, row in zip(queries, rows, strict=True):
        assert row["query"] != q.query and row["clean"] == q.query
        assert row["relevant"] == q.relevant and row["qid"] == q.qid


def test_variants_are_deterministic_and_shaped_as_named() -> None:
    q = JudgedQuery("q9", "space station sci-fi")
    assert noisy_variant(q) == noisy_variant(q)
    rng = random.Random(1)
    assert genre_variant("space station sci-fi", rng) in {
        "space station scifi",
        "space station sci fi",
        "space station SF",
    }
    assert plural_variant("ghost", rng) == "ghosts"
    assert plural_variant("mysteries", rng) == "mystery"
    assert all_caps("a b", rng) == "A B"
    swapped = swap_letters("dragons", rng)
    assert swapped != "dragons" and sorted(swapped) == sorted("dragons")
    assert swapped[0] == "d" and swapped[-1] == "s"


def test_misspelled_makes_one_letter_typo_and_keeps_short_words() -> None:
    rng = random.Random(3)
    for _ in range(50):
        typo = misspelled("haunted lighthouse", rng)
        assert typo is not None and typo != "haunted lighthouse"
        assert OSA.distance(typo, "haunted lighthouse") == 1  # one drop, double or swap
    assert misspelled("a cat", random.Random(0)) is None  # no word of five letters
