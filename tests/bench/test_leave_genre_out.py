"""Leave-genre-out training pairs: nothing of the held-out genre reaches training."""

from __future__ import annotations

from bench.leave_genre_out import genre_words, pairs_without
from retraining.corpus_pairs import Pair


def test_pairs_of_the_held_out_genre_are_all_dropped() -> None:
    pairs = [
        Pair("dragons", "p1", "content"),  # positive in the genre
        Pair("a lighthouse", "p9", "content", negative_id="p2"),  # negative in the genre
        Pair("sci-fi robots", "p9", "genre"),  # anchor names the genre
        Pair("space opera", "p9", "genre"),  # ... through a synonym
        Pair("a judged query", "p9", "judged"),  # judged queries stay unseen
        Pair("grief and loss", "p9", "theme"),  # kept
        Pair("scifiction", "p9", "content"),  # kept: not the genre word itself
    ]
    kept = pairs_without(pairs, "Science Fiction", {"p1", "p2"})
    assert [p.anchor for p in kept] == ["grief and loss", "scifiction"]


def test_genre_words_include_synonyms_normalized() -> None:
    words = genre_words("Science Fiction")
    assert {"science fiction", "sci-fi", "sf"} <= set(words)
    assert genre_words("No Such Genre") == ["no such genre"]
