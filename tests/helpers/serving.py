"""A fast stand-in for the model behind serving: a hashed bag-of-words encoder that differs
per model version, and an engine factory the pool takes as it takes the real one."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.corpus import import_prompt_file
from retrieval.corpus_view import CorpusPrompt
from retrieval.embedding_cache import Progress
from retrieval.engine import SearchEngine
from retrieval.model_registry import ModelRef
from serving.model_pool import EngineFactory
from storage.database import Database

DIM = 64
WORDS = (
    *("dragon", "castle", "ghost", "ship", "storm", "forest", "witch", "robot"),
    *("ocean", "desert", "letter", "train", "mirror", "garden", "clock", "winter"),
)


def import_word_corpus(db: Database, directory: Path, count: int) -> None:
    """``count`` prompts ``p00``.. into ``db``, each naming two of WORDS (what the fake
    encoder tells apart), through the real import."""
    corpus = directory / "corpus.jsonl"
    lines = [
        {"id": f"p{i:02d}", "text": f"A {WORDS[i % 16]} and a {WORDS[(i * 7 + 3) % 16]}."}
        for i in range(count)
    ]
    corpus.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert import_prompt_file(db, corpus).ok


class HashingEncoder:
    """Bag of words, one pseudo-random vector per word plus a per-version twist, so two
    versions rank alike but not identically."""

    dim = DIM

    def __init__(self, version: str) -> None:
        self.version = version

    def encode(
        self, texts: list[str], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        rows = [self._vector(text) for text in texts]
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), DIM)

    def _vector(self, text: str) -> np.ndarray:
        total = np.zeros(DIM)
        for word in text.lower().replace(".", " ").split():
            total += _word_vector(word) + 0.9 * _word_vector(f"{self.version}/{word}")
        return total / max(float(np.linalg.norm(total)), 1e-12)


def _word_vector(word: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "big")
    return np.random.default_rng(seed).standard_normal(DIM)


@dataclass(frozen=True)
class FakeEngines:
    """An engine factory for the pool, as ``retrieval.engine_factory`` is in production."""

    cache_dir: Path

    def __call__(
        self,
        model: ModelRef,
        prompts: Sequence[CorpusPrompt],
        progress: Progress | None = None,
    ) -> SearchEngine:
        encoder = HashingEncoder(model.version_id or "path")
        return SearchEngine.build(model, prompts, self.cache_dir, encoder, progress=progress)


class GatedEngines:
    """An engine factory (``inner``: ``FakeEngines`` or the real one) whose builds of
    ``gated`` versions report half their embedding done and then wait for ``release``: a
    build caught in flight, as a large corpus makes it for minutes. Builds are logged."""

    def __init__(self, inner: EngineFactory, gated: frozenset[str]) -> None:
        self.inner = inner
        self.gated = gated
        self.builds: list[str] = []
        self.halfway = threading.Event()
        self.release = threading.Event()

    def __call__(
        self,
        model: ModelRef,
        prompts: Sequence[CorpusPrompt],
        progress: Progress | None = None,
    ) -> SearchEngine:
        self.builds.append(model.version_id or "path")
        if model.version_id in self.gated:
            if progress is not None:
                progress(len(prompts) // 2, len(prompts))
            self.halfway.set()
            if not self.release.wait(30):
                raise TimeoutError("the test never released the build")
        return self.inner(model, prompts, progress)
