"""The search engine: ranking, genre filter, approximate index and hybrid."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from retrieval.corpus import SHIPPED_CORPUS
from retrieval.corpus_view import CorpusPrompt, load_corpus_from_file
from retrieval.engine import RRF_K, Bm25Ranker, SearchEngine
from retrieval.engine_builder import build_engine
from retrieval.model_registry import resolve_model
from retrieval.vector_index import HnswIndex

pytestmark = pytest.mark.slow  # embeds the whole shipped corpus


@pytest.fixture(scope="module")
def prompts() -> list[CorpusPrompt]:
    return load_corpus_from_file(SHIPPED_CORPUS)


@pytest.fixture(scope="module")
def engine(prompts: list[CorpusPrompt], model_cache_dir: Path) -> SearchEngine:
    return build_engine(resolve_model("base", None), prompts, model_cache_dir)


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
    prompts: list[CorpusPrompt], model_cache_dir: Path, engine: SearchEngine
) -> None:
    approx = build_engine(
        resolve_model("base", None), prompts, model_cache_dir, approximate_above=100
    )
    assert isinstance(approx.index, HnswIndex)
    queries = ["haunted lighthouse", "time loop romance", "write about my grandmother"]
    exact_ids = [[h.prompt_id for h in r] for r in engine.search_many(queries, 10)]
    approx_ids = [[h.prompt_id for h in r] for r in approx.search_many(queries, 10)]
    overlap = sum(len(set(a) & set(b)) for a, b in zip(exact_ids, approx_ids, strict=True))
    assert overlap / 30 >= 0.9


def test_hybrid_fuses_dense_and_bm25_ranks(
    prompts: list[CorpusPrompt], model_cache_dir: Path, engine: SearchEngine
) -> None:
    """Reciprocal-rank fusion of the dense top 100 and the BM25 top 100, ties by corpus order."""
    hybrid = build_engine(resolve_model("base", None), prompts, model_cache_dir, hybrid=True)
    query = "western ghost town"
    dense = [h.prompt_id for h in engine.search(query, 100)]
    lexical = [h.prompt_id for h in Bm25Ranker(prompts).search(query, 100)]
    fused: dict[str, float] = defaultdict(float)
    for ranking in (dense, lexical):
        for rank, prompt_id in enumerate(ranking, start=1):
            fused[prompt_id] += 1.0 / (RRF_K + rank)
    position = {p.id: i for i, p in enumerate(prompts)}
    expected = sorted(fused, key=lambda pid: (-fused[pid], position[pid]))[:5]

    hits = hybrid.search(query, 5)
    assert [h.prompt_id for h in hits] == expected
    assert [h.score for h in hits] == pytest.approx([fused[pid] for pid in expected])
    assert expected != dense[:5]  # the lexical ranking moved something: fusion is not a no-op


def test_typo_tolerance_corrects_queries_before_encoding(
    prompts: list[CorpusPrompt], tmp_path: Path
) -> None:
    from retrieval.model_registry import ModelRef
    from tests.helpers.encoders import TextHashEncoder

    encoder = TextHashEncoder()
    model = ModelRef("m", tmp_path / "no-model")
    tolerant = SearchEngine.build(model, prompts[:50], tmp_path, encoder, typo_tolerance=True)
    strict = SearchEngine.build(model, prompts[:50], tmp_path, encoder)
    encoder.encoded.clear()
    tolerant.search("Fantasy DRGAONS!!", 3)
    assert encoder.encoded == ["fantasy dragons"]
    assert strict.normalize("Fantasy DRGAONS!!") == "fantasy drgaons"
