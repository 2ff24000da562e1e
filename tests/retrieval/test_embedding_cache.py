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
from retrieval.embedding_cache import EmbeddingStats, embed_corpus, parts_dir
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


class Stopped(Exception):
    """Stands for the process being stopped mid-run."""


class StopsAfter(TextHashEncoder):
    """Encodes ``calls`` batches of texts, then stops as a killed process would."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.calls_left = calls

    def encode(
        self, texts: list[str], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        if self.calls_left == 0:
            raise Stopped
        self.calls_left -= 1
        return super().encode(texts, batch_size, show_progress)


def test_an_interrupted_run_keeps_its_finished_chunks_and_the_next_encodes_only_the_rest(
    prompts: list[CorpusPrompt], tmp_path: Path
) -> None:
    cache_file, corpus = tmp_path / "emb.npz", prompts[:250]
    steps: list[tuple[int, int]] = []
    with pytest.raises(Stopped):
        embed_corpus(
            StopsAfter(2), corpus, cache_file, chunk_rows=100, progress=lambda *s: steps.append(s)
        )
    assert steps == [(100, 250), (200, 250)]
    assert not cache_file.exists() and len(list(parts_dir(cache_file).glob("*.npz"))) == 2

    resumed, stats = TextHashEncoder(), EmbeddingStats()
    matrix = embed_corpus(resumed, corpus, cache_file, stats=stats, chunk_rows=100)
    assert resumed.encoded == [document_text(p) for p in corpus[200:]]
    assert (stats.encoded, stats.reused) == (50, 200)
    expected = np.stack([resumed.vector(document_text(p)) for p in corpus])
    np.testing.assert_array_equal(matrix, expected)
    assert cache_file.is_file() and not parts_dir(cache_file).exists()  # consolidated

    again = TextHashEncoder()
    np.testing.assert_array_equal(embed_corpus(again, corpus, cache_file), expected)
    assert again.encoded == []


def test_a_bulk_update_of_an_engine_is_resumable_and_a_small_one_stays_in_memory(
    prompts: list[CorpusPrompt], tmp_path: Path
) -> None:
    from retrieval.embedding_cache import CHUNK_ROWS
    from retrieval.engine import SearchEngine
    from retrieval.model_registry import ModelRef

    assert len(prompts) - 200 > CHUNK_ROWS  # the import below is a bulk one: two chunks
    model = ModelRef("m", tmp_path / "no-model")
    engine = SearchEngine.build(model, prompts[:200], tmp_path, StopsAfter(2))
    assert engine.cache_file is not None
    with pytest.raises(Stopped):
        engine.with_changes(prompts[200:], set())  # the first chunk is encoded, then a stop
    assert len(list(parts_dir(engine.cache_file).glob("*.npz"))) == 1

    engine.encoder = resumed = TextHashEncoder()
    updated = engine.with_changes(prompts[200:], set())
    assert resumed.encoded == [document_text(p) for p in prompts[200 + CHUNK_ROWS :]]
    assert len(updated) == len(prompts) and not parts_dir(engine.cache_file).exists()
    row = {p.id: i for i, p in enumerate(updated.prompts)}
    for p in (prompts[0], prompts[500], prompts[-1]):  # kept, resumed from the part, fresh
        expected = TextHashEncoder().vector(document_text(p))
        np.testing.assert_array_equal(updated.matrix[row[p.id]], expected)

    stamp = engine.cache_file.stat().st_mtime_ns
    edited = replace(prompts[0], text="A lighthouse on the moon.", content_hash="edited")
    small = updated.with_changes([edited], set())
    assert resumed.encoded[-1] == document_text(edited)
    assert engine.cache_file.stat().st_mtime_ns == stamp and len(small) == len(prompts)
