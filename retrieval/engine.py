"""The search engine: one model version over one corpus, answering keyword queries.

``SearchEngine.build`` embeds the corpus with the encoder it is given, through the per-model
cache, and builds an exact index (numpy) or, above ``approximate_above`` prompts, an HNSW
index — same API either way. Hybrid search (BM25 fused with dense by reciprocal rank) is
available behind a setting; it measured worse than dense alone on our test split (see
docs/results.md), so it is off by default. With ``theme_weight`` above 0 a second stage
(``retrieval.theme_match``) lifts the dense top 30 prompts whose theme tags the query names.

Making the encoder is not done here: exporting a model to ONNX, or the torch reference
encoder, needs torch, and this module is on the serving path, which must not reach torch
even through an import inside a function. ``retrieval.engine_builder.build_engine`` loads
the encoder for any backend and builds the engine in one call.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from retrieval.corpus_view import CorpusPrompt
from retrieval.documents import DEFAULT_FORMAT, document_text
from retrieval.embedding_cache import CHUNK_ROWS, EmbeddingStats, Progress, embed_corpus
from retrieval.encoders import Encoder
from retrieval.model_registry import ModelRef
from retrieval.theme_match import RERANK_DEPTH, ThemeMatcher
from retrieval.typo_tolerance import QueryCorrector, english_words, wordpiece_words
from retrieval.vector_index import ExactIndex, HnswIndex, build_index
from retrieval.vocabulary import default_vocabulary, normalize_query
from storage.ratings import Rating
from storage.repositories.prompts import served_version

Backend = Literal["onnx", "onnx-int8", "torch"]
RRF_K = 60


@dataclass(frozen=True)
class Scope:
    """Which prompts one server may be shown: the shared corpus plus its own (only its own
    with ``own_only``), never another server's; ``excluded`` ids are left out (e.g. prompts
    above the server's rating ceiling)."""

    guild_id: str | None
    own_only: bool = False
    excluded: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Hit:
    prompt: CorpusPrompt
    score: float

    @property
    def prompt_id(self) -> str:
        return self.prompt.id


def onnx_dir_for(model: ModelRef, cache_dir: Path) -> Path:
    return cache_dir / "onnx" / model.key


# How the int8 copy is made (retrieval.onnx_export): part of its cache names, so a copy, its
# verdict or its embeddings from another scheme (the dynamic int8 of before) are never read.
INT8_SCHEME = "w8b32"


def int8_dir_for(model: ModelRef, cache_dir: Path) -> Path:
    return cache_dir / "onnx" / f"{model.key}-int8-{INT8_SCHEME}"


def embedding_cache_file(model: ModelRef, cache_dir: Path, backend: str, doc_format: str) -> Path:
    precision = f"{backend}-{INT8_SCHEME}" if backend == "onnx-int8" else backend
    return cache_dir / "embeddings" / f"{model.key}-{precision}-{doc_format}.npz"


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
        cache_file: Path | None = None,
        theme_weight: float = 0.0,
    ) -> None:
        self.model = model
        self.cache_file = cache_file  # where this engine's rows are cached (None: memory only)
        self.corrector = corrector
        self.backend = backend
        self.encoder = encoder
        self.prompts = list(prompts)
        self.matrix = matrix
        self.index: ExactIndex | HnswIndex = build_index(
            matrix, approximate_above=approximate_above
        )
        self.approximate_above = approximate_above
        self.hybrid = hybrid
        self.doc_format = doc_format
        self._genres = [frozenset(g.lower() for g in p.genres) for p in self.prompts]
        self.theme_weight = theme_weight
        # built only with the stage on: nothing else reads a prompt's themes per search
        self.themes_of_row = [frozenset(p.themes) for p in self.prompts] if theme_weight else []
        self.theme_matcher = (
            ThemeMatcher.from_corpus(self.themes_of_row, default_vocabulary())
            if theme_weight
            else None
        )
        self._rating_levels = np.fromiter(
            (p.rating.level for p in self.prompts), dtype=np.int8, count=len(self.prompts)
        )
        self._bm25 = _Bm25([document_text(p, doc_format) for p in self.prompts]) if hybrid else None
        self._shared = np.fromiter(
            (p.guild_id is None for p in self.prompts), dtype=bool, count=len(self.prompts)
        )
        self._guild_rows: dict[str, list[int]] = {}
        for row, prompt in enumerate(self.prompts):
            if prompt.guild_id is not None:
                self._guild_rows.setdefault(prompt.guild_id, []).append(row)
        self._row_of = {prompt.id: row for row, prompt in enumerate(self.prompts)}

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
        progress: Progress | None = None,
        theme_weight: float = 0.0,
    ) -> SearchEngine:
        """Embed ``prompts`` as ``doc_format`` with ``encoder``; backend and format key a cache."""
        cache_file = embedding_cache_file(model, cache_dir, backend, doc_format)
        matrix = embed_corpus(
            encoder, prompts, cache_file, show_progress, stats, doc_format, progress=progress
        )
        corrector = (
            QueryCorrector.from_corpus(
                prompts, default_vocabulary(), wordpiece_words(model.path) | english_words()
            )
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
            cache_file,
            theme_weight,
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

    def scope_mask(self, scope: Scope | None) -> np.ndarray | None:
        """Rows a search in ``scope`` may return; None: every row (no scope given, as the CLI
        and evaluation search a corpus that holds only what they loaded)."""
        if scope is None:
            return None
        mask = np.zeros(len(self.prompts), dtype=bool) if scope.own_only else self._shared.copy()
        rows = self._guild_rows.get(scope.guild_id or "", [])
        mask[rows] = True
        if scope.excluded:
            excluded = [self._row_of[i] for i in scope.excluded if i in self._row_of]
            mask[excluded] = False
        return mask

    def _mask(
        self, genre: str | None, max_rating: Rating | None, scope: Scope | None
    ) -> np.ndarray | None:
        """Every restriction of one search combined (None: no restriction at all)."""
        filters, scope_mask = self.filter_mask(genre, max_rating), self.scope_mask(scope)
        if filters is None or scope_mask is None:
            return filters if scope_mask is None else scope_mask
        return filters & scope_mask

    def rating_mask(self, max_rating: Rating | None) -> np.ndarray | None:
        """Prompts rated at most ``max_rating``; None: no limit."""
        if max_rating is None or max_rating.level >= len(Rating) - 1:
            return None
        return self._rating_levels <= max_rating.level

    def filter_mask(self, genre: str | None, max_rating: Rating | None) -> np.ndarray | None:
        genres, ratings = self.genre_mask(genre), self.rating_mask(max_rating)
        if genres is None or ratings is None:
            return genres if ratings is None else ratings
        return genres & ratings

    def search(
        self,
        query: str,
        k: int = 5,
        genre: str | None = None,
        max_rating: Rating | None = None,
        scope: Scope | None = None,
    ) -> list[Hit]:
        return self.search_many([query], k, genre, max_rating, scope)[0]

    def search_many(
        self,
        queries: Sequence[str],
        k: int = 5,
        genre: str | None = None,
        max_rating: Rating | None = None,
        scope: Scope | None = None,
    ) -> list[list[Hit]]:
        """Top-k hits per query (queries are normalized here, so callers may pass raw text),
        among the prompts of ``genre`` rated at most ``max_rating`` (None: any)."""
        if not self.prompts or not queries:
            return [[] for _ in queries]
        normalized = [self.normalize(q) for q in queries]
        vectors = self.encoder.encode(normalized, batch_size=64)
        mask = self._mask(genre, max_rating, scope)
        if mask is not None and not mask.any():
            return [[] for _ in queries]
        depth = min(len(self.prompts), max(k, 100) if self._bm25 else self._rerank_depth(k))
        scores, ids = self.index.search(vectors, depth, allowed=mask)
        results = []
        for row, query in enumerate(normalized):
            pairs = [
                (int(i), float(s)) for i, s in zip(ids[row], scores[row], strict=True) if i >= 0
            ]
            if self._bm25 is not None:
                pairs = self._fuse(query, pairs, mask, depth)
            if self.theme_matcher is not None:
                pairs = self.theme_matcher.rerank(
                    query, pairs, self.themes_of_row, self.theme_weight
                )
            results.append([Hit(self.prompts[i], s) for i, s in pairs[:k]])
        return results

    def _rerank_depth(self, k: int) -> int:
        return max(k, RERANK_DEPTH) if self.theme_matcher is not None else k

    def most_similar(self, document: str, scope: Scope) -> Hit | None:
        """The prompt in ``scope`` closest to ``document`` (a prompt's document text): the
        near-duplicate check for a new prompt."""
        mask = self.scope_mask(scope)
        if mask is None or not mask.any():
            return None
        vector = self.encoder.encode([document], batch_size=1)
        scores, ids = self.index.search(vector, 1, allowed=mask)
        if ids.shape[1] == 0 or ids[0][0] < 0:
            return None
        return Hit(self.prompts[int(ids[0][0])], float(scores[0][0]))

    @functools.cached_property
    def corpus_fingerprint(self) -> str:
        """What this engine holds, comparable with the stored corpus (see ModelPool)."""
        return corpus_fingerprint_of(self.content_hashes())

    def has(self, prompt_id: str) -> bool:
        return prompt_id in self._row_of

    def content_hashes(self) -> dict[str, str]:
        """id -> served version (content hash and rating), as storage's corpus_versions."""
        return {p.id: served_version(p.content_hash, p.rating.value) for p in self.prompts}

    def with_changes(
        self,
        upserted: Sequence[CorpusPrompt],
        removed: set[str],
        progress: Progress | None = None,
    ) -> SearchEngine:
        """A new engine with ``upserted`` prompts added or replaced and ``removed`` ids gone,
        encoding only the upserted prompts: every other row keeps its vector. This engine is
        left untouched, so searches running on it finish undisturbed while the pool swaps.

        A bulk change (at least ``CHUNK_ROWS`` new texts, as after a large import) is encoded
        through the chunked embedding cache, so a process stopped half-way keeps what it had
        encoded; a few prompts (a curator's add) are encoded in memory, in milliseconds."""
        replaced = {p.id for p in upserted} | removed
        keep = [row for row, p in enumerate(self.prompts) if p.id not in replaced]
        known = {p.content_hash: self.matrix[row] for row, p in enumerate(self.prompts)}
        prompts = [self.prompts[row] for row in keep] + list(upserted)
        new_texts = {p.content_hash for p in upserted if p.content_hash not in known}
        if self.cache_file is not None and len(new_texts) >= CHUNK_ROWS:
            matrix = embed_corpus(
                self.encoder,
                prompts,
                self.cache_file,
                doc_format=self.doc_format,
                known=known,
                progress=progress,
            )
        else:  # only the upserted rows are looked up or encoded; the kept ones are one slice
            fresh = embed_corpus(
                self.encoder, upserted, None, doc_format=self.doc_format, known=known
            )
            matrix = np.concatenate([self.matrix[keep], fresh])
        return SearchEngine(
            self.model,
            self.encoder,
            prompts,
            matrix,
            self.approximate_above,
            self.hybrid,
            self.backend,
            self.doc_format,
            self.corrector,
            self.cache_file,
            self.theme_weight,
        )

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


def corpus_fingerprint_of(versions: dict[str, str]) -> str:
    """A hash of (id, content hash) pairs, in id order."""
    digest = hashlib.sha256()
    for prompt_id, content_hash in sorted(versions.items()):
        digest.update(f"{prompt_id}\0{content_hash}\n".encode())
    return digest.hexdigest()


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
