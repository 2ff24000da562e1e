"""The fixed golden evaluation (``data/eval``) used by `train`, `evaluate` and the gate.

Two settings, both on the test split of queries:

- ``test``: search the whole corpus (what users get);
- ``heldout``: search only the held-out prompts, which no training pair ever contains — the
  measure of generalization to prompts the model never saw.

Results are typed (:class:`GoldenMetrics`, :class:`RetrievalMetrics`) so callers name what
they compare; ``to_dict``/``from_dict`` keep the JSON stored on a model version in its
original ``{setting: {slice: {"NDCG@5": ...}}}`` shape, so existing databases read unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from retrieval.corpus_view import CorpusPrompt
from retrieval.engine import Backend
from retrieval.engine_builder import build_engine
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


@dataclass(frozen=True)
class RetrievalMetrics:
    """Mean ranking metrics over a group of judged queries (``n`` of them)."""

    p1: float
    p3: float
    p5: float
    mrr10: float
    ndcg5: float
    ndcg10: float
    recall10: float
    n: int

    # attribute -> key in the stored JSON (and in :func:`retrieval.metrics.aggregate`)
    KEYS: ClassVar[dict[str, str]] = {
        "p1": "P@1",
        "p3": "P@3",
        "p5": "P@5",
        "mrr10": "MRR@10",
        "ndcg5": "NDCG@5",
        "ndcg10": "NDCG@10",
        "recall10": "Recall@10",
    }

    @classmethod
    def from_dict(cls, data: Mapping[str, float]) -> RetrievalMetrics:
        # a metric missing from an old or hand-written row reads as "not measured"
        values = {attr: float(data.get(key, math.nan)) for attr, key in cls.KEYS.items()}
        return cls(**values, n=int(data.get("n", 0)))

    def to_dict(self) -> dict[str, float]:
        return {**{key: getattr(self, attr) for attr, key in self.KEYS.items()}, "n": float(self.n)}


@dataclass(frozen=True)
class SettingMetrics:
    """One evaluation setting: metrics over all its queries (slice ``all``) and per slice."""

    slices: Mapping[str, RetrievalMetrics] = field(default_factory=dict)

    @property
    def overall(self) -> RetrievalMetrics | None:
        """None when the setting has no judged query (e.g. a community's own corpus)."""
        return self.slices.get("all")

    @property
    def ndcg5(self) -> float | None:
        return self.overall.ndcg5 if self.overall else None

    @classmethod
    def from_dict(cls, data: Mapping[str, Mapping[str, float]]) -> SettingMetrics:
        return cls({name: RetrievalMetrics.from_dict(m) for name, m in data.items()})

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {name: m.to_dict() for name, m in self.slices.items()}


@dataclass(frozen=True)
class GoldenMetrics:
    """A model on the golden set: the ``test`` and ``heldout`` settings."""

    test: SettingMetrics = field(default_factory=SettingMetrics)
    held_out: SettingMetrics = field(default_factory=SettingMetrics)

    @property
    def measured(self) -> bool:
        """Whether these were ever computed (a version row may predate its evaluation)."""
        return bool(self.test.slices or self.held_out.slices)

    def settings(self) -> dict[str, SettingMetrics]:
        """By the setting names stored in JSON and shown in tables."""
        return {"test": self.test, "heldout": self.held_out}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GoldenMetrics:
        """From a version's stored metrics; keys other than the two settings are ignored."""
        return cls(
            SettingMetrics.from_dict(data.get("test", {})),
            SettingMetrics.from_dict(data.get("heldout", {})),
        )

    def to_dict(self) -> dict[str, dict[str, dict[str, float]]]:
        return {name: setting.to_dict() for name, setting in self.settings().items()}


def load_golden_set(prompts: Sequence[CorpusPrompt]) -> GoldenSet:
    from retrieval.eval_sets import load_queries

    return GoldenSet(list(prompts), load_queries(), Split.load())


def evaluate_model(
    model: ModelRef, golden: GoldenSet, cache_dir: Path, backend: Backend = "onnx"
) -> GoldenMetrics:
    """One model on both golden settings."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, (prompts, queries) in golden.settings().items():
        engine = build_engine(model, prompts, cache_dir, backend=backend)
        out[name] = evaluate_ranker(dense_ranker(engine), queries)
    return GoldenMetrics.from_dict(out)


def baseline_rankers(prompts: Sequence[CorpusPrompt]) -> dict[str, Ranker]:
    return {
        "bm25 (text)": bm25_ranker(prompts, with_tags=False),
        "bm25 (text+tags)": bm25_ranker(prompts, with_tags=True),
    }


def hybrid_ranker(model: ModelRef, prompts: Sequence[CorpusPrompt], cache_dir: Path) -> Ranker:
    return dense_ranker(build_engine(model, prompts, cache_dir, hybrid=True))
