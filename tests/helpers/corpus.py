"""Picking small corpora out of the shipped one by what the prompts are about, never by their
position in the file (which changes whenever the corpus is edited)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable
from typing import TypeVar

T = TypeVar("T")


def first_by_main_genre(
    items: Iterable[T],
    main_genre: Callable[[T], str],
    per_genre: int,
    genres: Collection[str] | None = None,
) -> list[T]:
    """The first ``per_genre`` items whose main (first) genre is each of ``genres`` (every
    genre when None), in their original order; fails if a wanted genre has too few."""
    taken: Counter[str] = Counter()
    picked = []
    for item in items:
        genre = main_genre(item)
        if (genres is None or genre in genres) and taken[genre] < per_genre:
            taken[genre] += 1
            picked.append(item)
    short = {g: taken[g] for g in (genres or ()) if taken[g] < per_genre}
    assert not short, f"too few prompts of these genres: {short}"
    return picked
