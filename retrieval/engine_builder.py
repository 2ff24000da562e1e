"""Search engines for any backend, made in one call: encoder first, then the engine.

``load_encoder`` turns a model version into the encoder a backend names: the ONNX export
(made once per version and cached, which needs torch), its int8 quantization (made once
from the export), or the torch reference itself. ``build_engine`` loads that encoder and
builds a ``SearchEngine`` over a corpus. Everything that evaluates, trains or benchmarks
builds engines this way. torch_encoder and onnx_export import torch only when they run, so
importing this module stays cheap. The serving path only receives a ready-made engine factory
(``retrieval.engine_factory``) from its composition root, so ``retrieval.engine`` and
``serving`` stay free of torch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from retrieval.corpus_view import CorpusPrompt
from retrieval.documents import DEFAULT_FORMAT
from retrieval.embedding_cache import EmbeddingStats, Progress
from retrieval.encoders import Encoder, OnnxEncoder
from retrieval.engine import Backend, SearchEngine, int8_dir_for, onnx_dir_for
from retrieval.model_registry import ModelRef
from retrieval.onnx_export import export_onnx, quantize_int8
from retrieval.torch_encoder import TorchEncoder

log = logging.getLogger(__name__)


def load_encoder(
    model: ModelRef, backend: Backend, cache_dir: Path, threads: int | None = None
) -> Encoder:
    """The encoder for ``model``; the ONNX export is made once per model and cached."""
    if backend == "torch":
        return TorchEncoder(model.path, threads=threads)
    onnx_dir = onnx_dir_for(model, cache_dir)
    if not (onnx_dir / "model.onnx").is_file():
        log.info("exporting %s to ONNX (once per model version)", model.label)
        export_onnx(model.path, onnx_dir)
    if backend == "onnx-int8":
        int8_dir = int8_dir_for(model, cache_dir)
        if not (int8_dir / "model.onnx").is_file():
            log.info("quantizing %s to int8 (once per model version)", model.label)
            quantize_int8(onnx_dir, int8_dir)
        onnx_dir = int8_dir
    return OnnxEncoder(onnx_dir, threads=threads)


def build_engine(
    model: ModelRef,
    prompts: Sequence[CorpusPrompt],
    cache_dir: Path,
    backend: Backend = "onnx",
    approximate_above: int = 50_000,
    hybrid: bool = False,
    show_progress: bool = False,
    encoder: Encoder | None = None,
    stats: EmbeddingStats | None = None,
    doc_format: str = DEFAULT_FORMAT,
    typo_tolerance: bool = False,
    progress: Progress | None = None,
    theme_weight: float = 0.0,
) -> SearchEngine:
    """``model`` over ``prompts`` on ``backend``; ``encoder`` reuses one already loaded."""
    return SearchEngine.build(
        model,
        prompts,
        cache_dir,
        encoder or load_encoder(model, backend, cache_dir),
        backend=backend,
        approximate_above=approximate_above,
        hybrid=hybrid,
        show_progress=show_progress,
        stats=stats,
        doc_format=doc_format,
        typo_tolerance=typo_tolerance,
        progress=progress,
        theme_weight=theme_weight,
    )
