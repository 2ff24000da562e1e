"""The corpus embedding cache: only new or changed prompts are encoded again, and every other
row is reused exactly. What the vectors mean does not matter here, so a stand-in encoder that
logs what it was asked to encode replaces the model."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from retrieval.corpus import SHIPPED_CORPUS
from retrieval.corpus_view import CorpusPrompt, load_corpus_from_file
from retrieval.documents import document_text
from retrieval.embedding_cache import EmbeddingStats, embed_corpus
from tests.helpers.encoders import TextHashEncoder


@pytest.fixture(scope="module")
def prompts() -> list[CorpusPrompt]:
    return load_corpus_from_file(SHIPPED_CORPUS)


def test_cache_reencodes_only_changed_prompts(prompts: list[CorpusPrompt], tmp_path: Path) -> None:
    encoder = TextHashEncoder()
    small, newcomer = prompts[:30], prompts[40]
    cache_file = tmp_path / "emb.npz"
    first_stats = EmbeddingStats()
    first = embed_corpus(encoder, small, cache_file, stats=first_stats)
    assert (first_stats.encoded, first_stats.reused) == (30, 0)
    assert encoder.encoded == [document_text(p) for p in small]

    edited = replace(
        small[4], text="A completely different prompt about submarines.", content_hash="edited"
    )
    changed = [*small[:4], edited, *small[5:]]
    encoder.encoded.clear()
    stats = EmbeddingStats()
    second = embed_corpus(encoder, changed, cache_file, stats=stats)
    assert (stats.encoded, stats.reused) == (1, 29)
    assert encoder.encoded == [document_text(edited)]
    np.testing.assert_array_equal(second[4], encoder.vector(document_text(edited)))
    assert (second[:4] == first[:4]).all() and (second[5:] == first[5:]).all()

    encoder.encoded.clear()
    added = EmbeddingStats()
    third = embed_corpus(encoder, [*changed, newcomer], cache_file, stats=added)
    assert (added.encoded, added.reused) == (1, 30)
    assert encoder.encoded == [document_text(newcomer)]
    assert (third[:30] == second).all()


def test_an_unreadable_cache_is_rebuilt(prompts: list[CorpusPrompt], tmp_path: Path) -> None:
    cache_file = tmp_path / "emb.npz"
    cache_file.write_bytes(b"not an npz file")
    encoder = TextHashEncoder()
    stats = EmbeddingStats()
    vectors = embed_corpus(encoder, prompts[:5], cache_file, stats=stats)
    assert (stats.encoded, stats.reused) == (5, 0)
    assert vectors.shape == (5, encoder.dim)
    again = EmbeddingStats()
    embed_corpus(encoder, prompts[:5], cache_file, stats=again)
    assert (again.encoded, again.reused) == (0, 5)


def test_document_format_picks_the_text_and_keys_the_engine_cache(
    prompts: list[CorpusPrompt], tmp_path: Path
) -> None:
    from retrieval.engine import SearchEngine
    from retrieval.model_registry import ModelRef

    encoder = TextHashEncoder()
    embed_corpus(encoder, prompts[:3], tmp_path / "tags.npz", doc_format="tags_text")
    assert encoder.encoded == [document_text(p, "tags_text") for p in prompts[:3]]

    model = ModelRef("m", tmp_path / "no-model")
    for fmt in ("title_labels", "tags_title"):
        SearchEngine.build(model, prompts[:3], tmp_path, TextHashEncoder(), doc_format=fmt)
    names = sorted(p.name for p in (tmp_path / "embeddings").iterdir())
    assert names == [f"{model.key}-onnx-tags_title.npz", f"{model.key}-onnx-title_labels.npz"]
