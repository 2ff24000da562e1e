"""The fixed golden evaluation (``data/eval``) used by `train`, `evaluate` and the gate.

Two settings, both on the test split of queries:

- ``test``: search the whole corpus (what users get);
- ``heldout``: search only the held-out prompts, which no training pair ever contains — the
  measure of generalization to prompts the model never saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from retrieval.corpus_view import CorpusPrompt
from retrieval.engine import Backend, SearchEngine
from retrieval.eval_sets import JudgedQuery, Split, restrict_to
from retrieval.evaluation import Ranker, bm25_ranker, dense_ranker, evaluate_ranker
from retrieval.model_registry import ModelRef


@dataclass
class GoldenSet:
    prompts: list[CorpusPrompt]
    queries: list[JudgedQuery]
    split: Split

    def settings(self) -> dict[str, tuple[list[CorpusPrompt], list[JudgedQuery]]]:
        test = self.split.test_queries(self.queries)
        known = {p.id for p in self.prompts}
        heldout_ids = frozenset(self.split.heldout_prompts & known)
        heldout_prompts = [p for p in self.prompts if p.id in heldout_ids]
        return {
            "test": (self.prompts, restrict_to(test, known)),
            "heldout": (heldout_prompts, restrict_to(test, heldout_ids)),
        }


def load_golden_set(prompts: Sequence[CorpusPrompt]) -> GoldenSet:
    from retrieval.eval_sets import load_queries

    return GoldenSet(list(prompts), load_queries(), Split.load())


def evaluate_model(
    model: ModelRef, golden: GoldenSet, cache_dir: Path, backend: Backend = "onnx"
) -> dict[str, dict[str, dict[str, float]]]:
    """``{setting: {slice: metrics}}`` for one model."""
    out = {}
    for name, (prompts, queries) in golden.settings().items():
        engine = SearchEngine.build(model, prompts, cache_dir, backend=backend)
        out[name] = evaluate_ranker(dense_ranker(engine), queries)
    return out


def baseline_rankers(prompts: Sequence[CorpusPrompt]) -> dict[str, Ranker]:
    return {
        "bm25 (text)": bm25_ranker(prompts, with_tags=False),
        "bm25 (text+tags)": bm25_ranker(prompts, with_tags=True),
    }


def hybrid_ranker(model: ModelRef, prompts: Sequence[CorpusPrompt], cache_dir: Path) -> Ranker:
    return dense_ranker(SearchEngine.build(model, prompts, cache_dir, hybrid=True))


def ndcg5(metrics: dict[str, dict[str, dict[str, float]]], setting: str = "test") -> float:
    return metrics[setting]["all"]["NDCG@5"]
