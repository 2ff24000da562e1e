"""Query normalisation: any text gives a short, stable form, never an exception."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from retrieval.vocabulary import default_vocabulary, normalize_query

# NFKC maps one character to at most 18 (U+FDFA); lowercasing at most doubles a character
MAX_GROWTH = 18 * 2
queries = st.text(max_size=200) | st.text(st.characters(codec="utf-8"), max_size=200)


def test_punctuation_case_and_spacing_are_normalised() -> None:
    assert normalize_query("  Sci-Fi!!  DRAGONS,  'ghosts' ") == "sci-fi dragons ghosts"
    assert normalize_query("ｆａｎｔａｓｙ") == "fantasy"  # full-width letters (NFKC)
    assert normalize_query("?!…") == ""


@given(queries)
def test_normalising_is_idempotent(query: str) -> None:
    once = normalize_query(query)
    assert normalize_query(once) == once


@given(queries)
def test_the_normal_form_is_short_and_clean(query: str) -> None:
    normal = normalize_query(query)
    assert len(normal) <= MAX_GROWTH * len(query)
    assert normal == normal.strip() and "  " not in normal
    assert not any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in normal)
    assert normal == normal.lower() or not normal.isascii()


@given(st.text(max_size=40))
def test_canonical_names_never_raise(name: str) -> None:
    vocabulary = default_vocabulary()
    assert vocabulary.canonical_genre(name) in (None, *vocabulary.genres)
    assert vocabulary.canonical_theme(name) in (None, *vocabulary.themes)
