"""The offline gate a candidate must pass before it meets live users.

- Golden set (``data/eval`` test split): the candidate's NDCG@5 may not fall more than
  ``tolerance`` below the champion's, on the whole corpus or on held-out prompts.
- Vote slice (votes on queries held out of training): the candidate must agree with more
  held-out votes than the champion (see :func:`vote_slice_metrics`), or with as many while
  ranking the 👍 prompts higher (their NDCG@5). The tie-break matters: with ~100 held-out
  judgments, top-10 agreement saturates, and in the simulator later generations tied it
  exactly while ranking 👍 prompts higher. With no held-out votes, the candidate must instead
  beat the champion on the golden test split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retraining.vote_pairs import VoteJudgment
from retrieval.corpus_view import CorpusPrompt
from retrieval.engine import SearchEngine
from retrieval.golden_set import ndcg5
from retrieval.metrics import aggregate
from retrieval.model_registry import ModelRef


def vote_slice_metrics(
    model: ModelRef,
    prompts: Sequence[CorpusPrompt],
    judgments: Sequence[VoteJudgment],
    cache_dir: Path,
) -> dict[str, float]:
    """How well a model agrees with held-out votes.

    ``agreement``: the share of held-out judgments the model's ranking agrees with — a 👍
    prompt ranks in its top 10 for that query, a 👎 prompt stays out of its top 3 (where
    users actually look). ``NDCG@5`` of the 👍 prompts is added when there are any.
    """
    if not judgments:
        return {"n": 0.0}
    engine = SearchEngine.build(model, prompts, cache_dir)
    queries = sorted({j.query for j in judgments})
    ranked = engine.search_many(queries, 10)
    rankings = {q: [h.prompt_id for h in hits] for q, hits in zip(queries, ranked, strict=True)}
    agree = [
        (j.prompt_id in rankings[j.query][:10])
        if j.value > 0
        else (j.prompt_id not in rankings[j.query][:3])
        for j in judgments
    ]
    out = {"n": float(len(judgments)), "agreement": sum(agree) / len(agree)}
    relevant: dict[str, dict[str, int]] = {}
    for j in judgments:
        if j.value > 0:
            relevant.setdefault(j.query, {})[j.prompt_id] = 1
    if relevant:
        out["NDCG@5"] = aggregate(rankings, relevant)["all"]["NDCG@5"]
    return out


@dataclass
class GateDecision:
    passed: bool
    reason: str
    details: dict[str, Any]


def gate(
    champion_golden: dict,
    candidate_golden: dict,
    champion_votes: dict,
    candidate_votes: dict,
    tolerance: float,
) -> GateDecision:
    details = {
        "golden_test": [_maybe(champion_golden, "test"), _maybe(candidate_golden, "test")],
        "golden_heldout": [_maybe(champion_golden, "heldout"), _maybe(candidate_golden, "heldout")],
        "vote_slice_agreement": [champion_votes.get("agreement"), candidate_votes.get("agreement")],
        "vote_slice_ndcg5": [champion_votes.get("NDCG@5"), candidate_votes.get("NDCG@5")],
        "vote_slice_judgments": int(candidate_votes.get("n", 0)),
        "tolerance": tolerance,
    }
    for setting in ("test", "heldout"):
        if "all" not in champion_golden.get(setting, {}) or "all" not in candidate_golden.get(
            setting, {}
        ):
            continue  # no golden queries for this corpus (e.g. a community's own prompts)
        drop = ndcg5(champion_golden, setting) - ndcg5(candidate_golden, setting)
        if drop > tolerance:
            return GateDecision(
                False,
                f"golden {setting} NDCG@5 fell by {drop:.3f} (tolerance {tolerance:.3f})",
                details,
            )
    if candidate_votes.get("n", 0) > 0:
        gain = candidate_votes["agreement"] - champion_votes["agreement"]
        ndcg_gain = candidate_votes.get("NDCG@5", 0.0) - champion_votes.get("NDCG@5", 0.0)
        if gain > 0:
            return GateDecision(
                True, f"held-out vote agreement {gain:+.3f}, golden within tolerance", details
            )
        if gain == 0 and ndcg_gain > 0:
            return GateDecision(
                True,
                f"held-out votes: same agreement, 👍 prompts ranked higher (NDCG@5 "
                f"{ndcg_gain:+.3f}), golden within tolerance",
                details,
            )
        return GateDecision(
            False,
            f"no gain on held-out votes (agreement {gain:+.3f}, NDCG@5 of 👍 {ndcg_gain:+.3f})",
            details,
        )
    if "all" not in candidate_golden.get("test", {}):
        return GateDecision(False, "no held-out votes and no golden queries to judge by", details)
    gain = ndcg5(candidate_golden) - ndcg5(champion_golden)
    if gain <= 0:
        return GateDecision(False, "no held-out votes and no golden gain", details)
    return GateDecision(True, f"no held-out votes; golden NDCG@5 {gain:+.3f}", details)


def _maybe(metrics: dict, setting: str) -> float | None:
    return metrics.get(setting, {}).get("all", {}).get("NDCG@5")
