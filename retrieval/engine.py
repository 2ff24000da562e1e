"""The search engine: one model version over one corpus, answering keyword queries.

``SearchEngine.build`` embeds the corpus with the encoder it is given, through the per-model
cache, and builds an exact index (numpy) or, above ``approximate_above`` prompts, an HNSW
index — same API either way. Hybrid search (BM25 fused with dense by reciprocal rank) is
available behind a setting; it measured worse than dense alone on our test split (see
docs/results.md), so it is off by default.

Making the encoder is not done here: exporting a model to ONNX, or the torch reference
encoder, needs torch, and this module is on the serving path, which must not reach torch
even through an import inside a function. ``retrieval.engine_builder.build_engine`` loads
the encoder for any backend and builds the engine in one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from retrieval.corpus_view import CorpusPrompt
from retrieval.documents import DEFAULT_FORMAT, document_text
from retrieval.embedding_cache import EmbeddingStats, embed_corpus
from retrieval.encoders import Encoder
from retrieval.model_registry import ModelRef
from retrieval.typo_tolerance import QueryCorrector, wordpiece_words
from retrieval.vector_index import ExactIndex, HnswIndex, build_index
from retrieval.vocabulary import default_vocabulary, normalize_query

Backend = Literal["onnx", "onnx-int8", "torch"]
RRF_K = 60


@dataclass(frozen=True)
class Hit:
    prompt: CorpusPrompt
    score: float

    @property
    def prompt_id(self) -> str:
        return self.prompt.id


def onnx_dir_for(model: ModelRef, cache_dir: Path) -> Path:
    return cache_dir / "onnx" / model.key


def int8_dir_for(model: ModelRef, cache_dir: Path) -> Path:
    return cache_dir / "onnx" / f"{model.key}-int8"


class SearchEngine:
    def __init__(
        self,
        model: ModelRef,
        encoder: Encoder,
        prompts: Sequence[CorpusPrompt],
        matrix: np.ndarray,
        approximate_above: int = 50_000,
        hybrid: bool = False,
        backend: Backend = "onnx",
        doc_format: str = DEFAULT_FORMAT,
        corrector: QueryCorrector | None = None,
    ) -> None:
        self.model = model
        self.corrector = corrector
        self.backend = backend
        self.encoder = encoder
        self.prompts = list(prompts)
        self.matrix = matrix
        self.index: ExactIndex | HnswIndex = build_index(
            matrix, approximate_above=approximate_above
        )
        self._genres = [frozenset(g.lower() for g in p.genres) for p in self.prompts]
        self._bm25 = _Bm25([document_text(p, doc_format) for p in self.prompts]) if hybrid else None

    @classmethod
    def build(
        cls,
        model: ModelRef,
        prompts: Sequence[CorpusPrompt],
        cache_dir: Path,
        encoder: Encoder,
        backend: Backend = "onnx",
        approximate_above: int = 50_000,
        hybrid: bool = False,
        show_progress: bool = False,
        stats: EmbeddingStats | None = None,
        doc_format: str = DEFAULT_FORMAT,
        typo_tolerance: bool = False,
    ) -> SearchEngine:
        """Embed ``prompts`` as ``doc_format`` with ``encoder``; backend and format key a cache."""
        cache_file = cache_dir / "embeddings" / f"{model.key}-{backend}-{doc_format}.npz"
        matrix = embed_corpus(encoder, prompts, cache_file, show_progress, stats, doc_format)
        corrector = (
            QueryCorrector.from_corpus(prompts, default_vocabulary(), wordpiece_words(model.path))
            if typo_tolerance
            else None
        )
        return cls(
            model,
            encoder,
            prompts,
            matrix,
            approximate_above,
            hybrid,
            backend,
            doc_format,
            corrector,
        )

    def normalize(self, query: str) -> str:
        """What is encoded for ``query``: normalized, and typo-corrected when tolerance is on."""
        if self.corrector is not None:
            return self.corrector.correct(query) or query
        return normalize_query(query) or query

    def __len__(self) -> int:
        return len(self.prompts)

    def genre_mask(self, genre: str | None) -> np.ndarray | None:
        if not genre:
            return None
        wanted = genre.lower()
        return np.fromiter((wanted in g for g in self._genres), dtype=bool, count=len(self._genres))

    def search(self, query: str, k: int = 5, genre: str | None = None) -> list[Hit]:
        return self.search_many([query], k, genre)[0]

    def search_many(
        self, queries: Sequence[str], k: int = 5, genre: str | None = None
    ) -> list[list[Hit]]:
        """Top-k hits per query (queries are normalized here, so callers may pass raw text)."""
        if not self.prompts or not queries:
            return [[] for _ in queries]
        normalized = [self.normalize(q) for q in queries]
        vectors = self.encoder.encode(normalized, batch_size=64)
        mask = self.genre_mask(genre)
        depth = min(len(self.prompts), max(k, 100) if self._bm25 else k)
        scores, ids = self.index.search(vectors, depth, allowed=mask)
        results = []
        for row, query in enumerate(normalized):
            pairs = [
                (int(i), float(s)) for i, s in zip(ids[row], scores[row], strict=True) if i >= 0
            ]
            if self._bm25 is not None:
                pairs = self._fuse(query, pairs, mask, depth)
            results.append([Hit(self.prompts[i], s) for i, s in pairs[:k]])
        return results

    def _fuse(
        self, query: str, dense: list[tuple[int, float]], mask: np.ndarray | None, depth: int
    ) -> list[tuple[int, float]]:
        assert self._bm25 is not None
        lexical = self._bm25.top(query, depth, mask)
        fused: dict[int, float] = {}
        for ranking in (dense, lexical):
            for rank, (i, _) in enumerate(ranking, start=1):
                fused[i] = fused.get(i, 0.0) + 1.0 / (RRF_K + rank)
        return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


class _Bm25:
    """bm25s over the same document text as the dense index (title, tags, text)."""

    def __init__(self, documents: list[str]) -> None:
        import bm25s

        self._bm25s = bm25s
        self._retriever = bm25s.BM25()
        self._retriever.index(
            bm25s.tokenize(documents, stopwords="en", show_progress=False), show_progress=False
        )
        self._n = len(documents)

    def scores(self, query: str) -> np.ndarray:
        tokens = self._bm25s.tokenize(
            [query], stopwords="en", show_progress=False, return_ids=False
        )[0]
        return np.asarray(self._retriever.get_scores(tokens), dtype=np.float32)

    def top(self, query: str, k: int, mask: np.ndarray | None = None) -> list[tuple[int, float]]:
        scores = self.scores(query)
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
        order = np.lexsort((np.arange(self._n), -scores))[:k]
        return [(int(i), float(scores[i])) for i in order if np.isfinite(scores[i])]


class Bm25Ranker:
    """BM25 alone, as a baseline: ``text`` only, or ``tags`` (the same text as dense)."""

    def __init__(
        self,
        prompts: Sequence[CorpusPrompt],
        with_tags: bool = True,
        doc_format: str = DEFAULT_FORMAT,
    ) -> None:
        self.prompts = list(prompts)
        texts = [
            document_text(p, doc_format) if with_tags else f"{p.title}. {p.text}"
            for p in self.prompts
        ]
        self._bm25 = _Bm25(texts)

    def search(self, query: str, k: int = 10) -> list[Hit]:
        return [Hit(self.prompts[i], s) for i, s in self._bm25.top(normalize_query(query), k)]
