"""The search engine: ranking, genre filter, approximate index, hybrid, and the embedding cache."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from retrieval.corpus import SHIPPED_CORPUS
from retrieval.corpus_view import load_corpus_from_file
from retrieval.embedding_cache import EmbeddingStats, embed_corpus
from retrieval.engine import SearchEngine, load_encoder
from retrieval.model_registry import resolve_model
from retrieval.vector_index import HnswIndex


@pytest.fixture(scope="module")
def prompts():  # type: ignore[no-untyped-def]
    return load_corpus_from_file(SHIPPED_CORPUS)


@pytest.fixture(scope="module")
def engine(prompts, model_cache_dir: Path) -> SearchEngine:  # type: ignore[no-untyped-def]
    return SearchEngine.build(resolve_model("base", None), prompts, model_cache_dir)


def test_dragons_find_dragons(engine: SearchEngine) -> None:
    hits = engine.search("Fantasy DRAGONS!!", 5)
    assert len(hits) == 5
    assert all("dragon" in (h.prompt.title + h.prompt.text).lower() for h in hits[:3])
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_genre_filter_narrows_results(engine: SearchEngine) -> None:
    hits = engine.search("dragons", 5, genre="Children's")
    assert hits and all("Children's" in h.prompt.genres for h in hits)
    assert engine.search("dragons", 5, genre="No Such Genre") == []


def test_approximate_index_above_threshold_agrees_with_exact(
    prompts,
    model_cache_dir: Path,  # type: ignore[no-untyped-def]
    engine: SearchEngine,
) -> None:
    approx = SearchEngine.build(
        resolve_model("base", None), prompts, model_cache_dir, approximate_above=100
    )
    assert isinstance(approx.index, HnswIndex)
    queries = ["haunted lighthouse", "time loop romance", "write about my grandmother"]
    exact_ids = [[h.prompt_id for h in r] for r in engine.search_many(queries, 10)]
    approx_ids = [[h.prompt_id for h in r] for r in approx.search_many(queries, 10)]
    overlap = sum(len(set(a) & set(b)) for a, b in zip(exact_ids, approx_ids, strict=True))
    assert overlap / 30 >= 0.9


def test_hybrid_fuses_bm25_and_dense(prompts, model_cache_dir: Path) -> None:  # type: ignore[no-untyped-def]
    hybrid = SearchEngine.build(resolve_model("base", None), prompts, model_cache_dir, hybrid=True)
    hits = hybrid.search("western ghost town", 5)
    assert len(hits) == 5 and len({h.prompt_id for h in hits}) == 5


def test_cache_reencodes_only_changed_prompts(
    prompts,
    model_cache_dir: Path,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    encoder = load_encoder(resolve_model("base", None), "onnx", model_cache_dir)
    small = prompts[:30]
    cache_file = tmp_path / "emb.npz"
    first_stats = EmbeddingStats()
    first = embed_corpus(encoder, small, cache_file, stats=first_stats)
    assert (first_stats.encoded, first_stats.reused) == (30, 0)
    changed = list(small)
    changed[4] = replace(
        changed[4],
        text="A completely different prompt about submarines.",
        content_hash="changed-hash",
    )
    stats = EmbeddingStats()
    second = embed_corpus(encoder, changed, cache_file, stats=stats)
    assert (stats.encoded, stats.reused) == (1, 29)
    assert (second[4] @ first[4]) < 0.9
    assert (second[:4] == first[:4]).all() and (second[5:] == first[5:]).all()
    added = EmbeddingStats()
    embed_corpus(encoder, [*changed, prompts[40]], cache_file, stats=added)
    assert (added.encoded, added.reused) == (1, 30)
