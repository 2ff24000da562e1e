"""Whether a model version's int8 ONNX copy may serve instead of its fp32 export.

int8 (weight-only 8-bit blocks, ``retrieval.onnx_export``) quarters the layer weights a query
reads: on 2 cores the `/prompt` path takes about 0.8 of fp32's time, because fp32's 42 MB of
layer weights no longer fit the 32 MB L3 cache beside the prompt matrix. It also moves
embeddings slightly (mean cosine to fp32 about 0.9997), so the answer to "is it as good?" is
measured, per model version, never assumed:

* both precisions rank the golden test queries (``data/eval``) over the shipped corpus and
  over its held-out prompts, exactly as `promptbot evaluate` does;
* int8 serves only if its NDCG@5, averaged over those two settings, is no more than
  ``MAX_MEAN_LOSS`` below fp32's and neither setting loses more than ``MAX_SETTING_LOSS`` (the
  gate's own tolerance for "not worse"). ``MAX_MEAN_LOSS`` (0.005) is what one or two queries
  of about 120 moving their best prompt from rank 1 to 2 cost: below what the golden set can
  tell apart, and the dynamic int8 used before lost 0.012-0.023 where it lost;
* top-1 agreement with fp32 on those queries is recorded beside it for people to read. It is
  not the criterion: near-ties between equally relevant prompts flip under any small change.

The verdict is computed once per version (about 10 s on 2 cores) and kept as JSON next to the
int8 export; the retraining cycle and `promptbot init` compute it ahead so a bot only reads it.
This module measures; reading a stored verdict needs no evaluation code and lives in
``retrieval.int8_verdict``, which the serving path is allowed to reach while this module is not.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from retrieval.corpus_view import CorpusPrompt
from retrieval.engine import Backend, SearchEngine
from retrieval.engine_builder import build_engine
from retrieval.evaluation import dense_ranker, evaluate_ranker
from retrieval.golden_set import GoldenSet, load_golden_set
from retrieval.int8_verdict import Int8Verdict, int8_considered, read_verdict, verdict_path
from retrieval.model_registry import ModelRef

log = logging.getLogger(__name__)
MAX_SETTING_LOSS = 0.01
MAX_MEAN_LOSS = 0.005
PRECISIONS: dict[str, Backend] = {"fp32": "onnx", "int8": "onnx-int8"}


def serving_backend(model: ModelRef, cache_dir: Path, backend: Backend, int8: str) -> Backend:
    """The backend that serves ``model``: int8 only with ``backend="onnx"``, ``int8="auto"``
    and a passing verdict (any failure to reach one keeps fp32)."""
    if not int8_considered(backend, int8):
        return backend
    try:
        verdict = int8_verdict(model, cache_dir)
    except Exception:  # a verdict is an optimisation: fp32 always works
        log.exception("int8 check of %s failed; serving fp32", model.label)
        return "onnx"
    return "onnx-int8" if verdict.serve else "onnx"


def int8_verdict(model: ModelRef, cache_dir: Path, golden: GoldenSet | None = None) -> Int8Verdict:
    """The cached verdict for ``model``, measuring it first if there is none."""
    stored = read_verdict(model, cache_dir)
    if stored is not None:
        return stored
    log.info("checking whether int8 serves %s as well as fp32 (once per version)", model.label)
    verdict = measure_int8(model, cache_dir, golden or _shipped_golden_set())
    _write_atomically(verdict_path(model, cache_dir), json.dumps(verdict.to_dict(), indent=2))
    return verdict


def measure_int8(model: ModelRef, cache_dir: Path, golden: GoldenSet) -> Int8Verdict:
    ndcg: dict[str, dict[str, float]] = {name: {} for name in PRECISIONS}
    top1: dict[str, list[str | None]] = {}
    for setting, (prompts, queries) in golden.settings().items():
        for name, backend in PRECISIONS.items():
            engine = _engine(model, prompts, cache_dir, backend)
            metrics = evaluate_ranker(dense_ranker(engine), queries)
            ndcg[name][setting] = metrics["all"]["NDCG@5"]
            if setting == "test":
                hits = engine.search_many([q.query for q in queries], 1)
                top1[name] = [h[0].prompt_id if h else None for h in hits]
    agreement = _agreement(top1["fp32"], top1["int8"])
    serve, reason = decide(ndcg["fp32"], ndcg["int8"])
    return Int8Verdict(serve, reason, ndcg, agreement)


def decide(fp32: dict[str, float], int8: dict[str, float]) -> tuple[bool, str]:
    """The rule in the module docstring, with the reason in words."""
    mean_fp32 = sum(fp32.values()) / len(fp32)
    mean_int8 = sum(int8.values()) / len(int8)
    worst = min(fp32, key=lambda s: int8[s] - fp32[s])
    loss = fp32[worst] - int8[worst]
    if loss > MAX_SETTING_LOSS:
        return False, f"int8 loses {loss:.3f} NDCG@5 on {worst} (> {MAX_SETTING_LOSS})"
    if mean_fp32 - mean_int8 > MAX_MEAN_LOSS:
        return False, (f"int8 mean NDCG@5 {mean_int8:.3f} < fp32 {mean_fp32:.3f} - {MAX_MEAN_LOSS}")
    return True, f"int8 mean NDCG@5 {mean_int8:.3f}, fp32 {mean_fp32:.3f}"


def _engine(
    model: ModelRef, prompts: list[CorpusPrompt], cache_dir: Path, backend: Backend
) -> SearchEngine:
    return build_engine(model, prompts, cache_dir, backend=backend)


def _agreement(a: list[str | None], b: list[str | None]) -> float:
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a) if a else 1.0


def _shipped_golden_set() -> GoldenSet:
    from retrieval.corpus import SHIPPED_CORPUS
    from retrieval.corpus_view import load_corpus_from_file

    return load_golden_set(load_corpus_from_file(SHIPPED_CORPUS))


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
