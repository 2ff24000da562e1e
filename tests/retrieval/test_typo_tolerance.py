"""Typo tolerance: unknown words snap to the nearest corpus word; known and dictionary words,
short words and clean queries pass untouched."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from retrieval.corpus_view import CorpusPrompt
from retrieval.typo_tolerance import (
    MIN_LENGTH,
    QueryCorrector,
    english_words,
    max_edits,
    wordpiece_words,
)
from retrieval.vocabulary import normalize_query

PROMPTS = [
    CorpusPrompt("p1", "Dragons of Ash", "A dragon guards a plague village.", ["Fantasy"], [], "a"),
    CorpusPrompt("p2", "League Night", "Bowling league drama.", ["Humor"], ["Friendship"], "b"),
    CorpusPrompt(
        "p3", "Post Office", "A post-apocalyptic mail route.", ["Science Fiction"], [], "c"
    ),
]


def corrector(dictionary: tuple[str, ...] = ()) -> QueryCorrector:
    return QueryCorrector.from_corpus(PROMPTS, dictionary=dictionary)


def test_dropped_doubled_and_swapped_letters_are_corrected() -> None:
    fix = corrector()
    assert fix.correct("fantasy drgaons") == "fantasy dragons"  # swap: one edit
    assert fix.correct("Draggons!!") == "dragons"
    assert fix.correct("frendship") == "friendship"
    assert fix.correct("post-apocallyptic") == "post-apocalyptic"  # long word: up to 2 edits


def test_known_short_and_dictionary_words_are_left_alone() -> None:
    fix = corrector(dictionary=("wacky",))
    assert fix.correct("dragon league") == "dragon league"
    assert fix.correct("cat") == "cat"  # too short to correct safely
    assert fix.correct("wacky") == "wacky"  # a real word the corpus lacks: not "tacky"
    assert fix.correct("zzzzqqq") == "zzzzqqq"  # nothing close: unchanged


def test_ties_go_to_the_more_frequent_word() -> None:
    fix = QueryCorrector(Counter({"plague": 5, "league": 1}))
    assert fix.correct_word("pleague") in {"plague", "league"}
    assert fix.correct_word("plagve") == "plague"
    assert max_edits("dragons") == 1 and max_edits("friendship") == 2


def test_wordpiece_words_keeps_whole_lowercase_words(tmp_path: Path) -> None:
    (tmp_path / "vocab.txt").write_text("[CLS]\n##ing\nhiking\nCat\nthe\nmariner\n")
    assert wordpiece_words(tmp_path) == frozenset({"hiking", "mariner"})
    assert wordpiece_words(tmp_path / "missing") == frozenset()


def test_wordpiece_words_read_from_a_saved_models_tokenizer_json(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.json").write_text(
        json.dumps({"model": {"type": "WordPiece", "vocab": {"[CLS]": 0, "hiking": 1, "##s": 2}}})
    )
    assert wordpiece_words(tmp_path) == frozenset({"hiking"})
    (tmp_path / "tokenizer.json").write_text("not json")
    assert wordpiece_words(tmp_path) == frozenset()


# --------------------------------------------------------------------------- properties

typed = st.text(max_size=120) | st.lists(
    st.sampled_from(["dragon", "drgaon", "leage", "post-ofice", "Frendship!", "x", "--", "é"]),
    max_size=12,
).map(" ".join)


@given(typed)
def test_correcting_never_raises_is_idempotent_and_never_grows_a_query(query: str) -> None:
    fix = corrector(dictionary=("wacky",))
    corrected = fix.correct(query)
    assert fix.correct(corrected) == corrected
    assert corrected == normalize_query(corrected)  # what is encoded is already normal
    words = normalize_query(query).split()
    assert len(corrected.split()) == len(words)
    assert len(corrected) <= len(" ".join(words)) + 2 * len(words)  # at most 2 edits a word


def test_common_english_words_are_known_and_rare_ones_are_not() -> None:
    words = english_words()
    assert {"mariner", "wacky", "about", "sense"} <= words
    assert "abut" not in words and "sene" not in words  # typos of "about" and "sense"
    assert all(len(w) >= MIN_LENGTH and w.isalpha() for w in words)
    assert english_words(100) < words  # the list is read most frequent first
    # a clean word the corpus lacks stays as typed once the English words are known
    assert corrector(dictionary=tuple(words)).correct("wacky mariner") == "wacky mariner"
