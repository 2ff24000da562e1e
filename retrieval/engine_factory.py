"""The engine factory the serving model pool is given: which encoder serves a version, built.

``serving.model_pool`` loads engines by version but must not reach torch or evaluation code
(see ``serving``), while making an engine may need both: a new version is exported to ONNX
(torch) and, with ``int8="auto"``, its int8 copy is first measured against fp32 on the golden
queries (evaluation). So the pool only knows the call ``factory(model, prompts)``, and the
composition roots (the bot, the CLI, the simulator, tests) hand it this factory. The rules are
the ones the pool used to apply itself: ``int8_check.serving_backend`` picks the backend (int8
only with ONNX, ``auto`` and a passing verdict, measured once if missing; fp32 on any
failure), and ``engine_builder.build_engine`` loads the encoder and embeds the corpus.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from retrieval.corpus_view import CorpusPrompt
from retrieval.embedding_cache import Progress
from retrieval.engine import Backend, SearchEngine
from retrieval.engine_builder import build_engine
from retrieval.int8_check import serving_backend
from retrieval.model_registry import ModelRef
from storage.settings import Settings


@dataclass(frozen=True)
class ServingEngineFactory:
    """Builds the engine that serves a model version, from the serving settings."""

    cache_dir: Path
    backend: Backend = "onnx"
    int8: str = "off"  # "auto": serve int8 where its measured verdict allows
    approximate_above: int = 50_000
    hybrid: bool = False
    typo_tolerance: bool = False
    theme_weight: float = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ServingEngineFactory:
        """What the bot serves with: every serving setting as configured."""
        return cls(
            settings.cache_dir,
            backend=settings.backend,
            int8=settings.int8,
            approximate_above=settings.approximate_above,
            hybrid=settings.hybrid,
            typo_tolerance=settings.typo_tolerance,
            theme_weight=settings.theme_weight,
        )

    def __call__(
        self,
        model: ModelRef,
        prompts: Sequence[CorpusPrompt],
        progress: Progress | None = None,
    ) -> SearchEngine:
        return build_engine(
            model,
            prompts,
            self.cache_dir,
            backend=serving_backend(model, self.cache_dir, self.backend, self.int8),
            approximate_above=self.approximate_above,
            hybrid=self.hybrid,
            typo_tolerance=self.typo_tolerance,
            progress=progress,
            theme_weight=self.theme_weight,
        )
