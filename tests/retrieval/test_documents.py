"""Document formats: each puts title, tags and text where its name says, and the default is
one of them (the cache key depends on it)."""

from __future__ import annotations

import pytest

from retrieval.corpus_view import CorpusPrompt
from retrieval.documents import DEFAULT_FORMAT, FORMATS, LEGACY_FORMAT, document_text

PROMPT = CorpusPrompt(
    id="p1",
    title="The Last Lamp",
    text="Write the keeper's final night.",
    genres=["Fantasy", "Horror"],
    themes=["Grief"],
    content_hash="h1",
)


def test_formats_place_tags_and_title_as_named() -> None:
    assert document_text(PROMPT, "title_labels") == (
        "The Last Lamp. Genres: Fantasy, Horror. Themes: Grief. Write the keeper's final night."
    )
    assert document_text(PROMPT, "tags_title") == (
        "Fantasy, Horror; Grief. The Last Lamp. Write the keeper's final night."
    )
    assert (
        document_text(PROMPT, "tags_text")
        == "Fantasy, Horror; Grief. Write the keeper's final night."
    )
    assert document_text(PROMPT, "title_text_labels").endswith(
        "Genres: Fantasy, Horror. Themes: Grief."
    )
    assert document_text(PROMPT, "labels_title").startswith(
        "Genres: Fantasy, Horror. Themes: Grief. The Last Lamp."
    )


def test_every_format_keeps_text_and_tags_and_skips_missing_parts() -> None:
    untagged = CorpusPrompt("p2", "", "Only text.", [], [], "h2")
    for fmt in FORMATS:
        assert "Grief" in document_text(PROMPT, fmt) and "final night" in document_text(PROMPT, fmt)
        assert document_text(untagged, fmt) == "Only text."


def test_default_is_a_known_format_and_unknown_formats_are_refused() -> None:
    assert DEFAULT_FORMAT in FORMATS and LEGACY_FORMAT in FORMATS
    assert document_text(PROMPT) == document_text(PROMPT, DEFAULT_FORMAT)
    with pytest.raises(ValueError, match="unknown document format 'nope'"):
        document_text(PROMPT, "nope")
