"""Ranking metrics with the standard definitions, per query and averaged.

- P@k: relevant (grade > 0) results among the top k, divided by k.
- MRR@10: 1 / rank of the first relevant result within the top 10, else 0.
- NDCG@k: DCG with linear graded gains (grade / log2(rank + 1)), divided by the DCG of the
  ideal ordering of *all* judged relevant items (trec_eval's definition).
- Recall@10: relevant results in the top 10 / all relevant items.

A ranked list is de-duplicated (first occurrence wins) before scoring, so a system cannot
earn credit twice for one prompt. A query with no relevant item has no defined score: it is
left out of the averages (and counted), never scored as 0 or 1.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

METRIC_NAMES = ("P@1", "P@3", "P@5", "MRR@10", "NDCG@5", "NDCG@10", "Recall@10")


def _dedupe(ranked: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    return [d for d in ranked if not (d in seen or seen.add(d))]  # type: ignore[func-returns-value]


def precision_at(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    return sum(1 for d in _dedupe(ranked)[:k] if relevant.get(d, 0) > 0) / k


def reciprocal_rank(ranked: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    for rank, d in enumerate(_dedupe(ranked)[:k], start=1):
        if relevant.get(d, 0) > 0:
            return 1.0 / rank
    return 0.0


def dcg(gains: Sequence[float]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg_at(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    ideal = dcg(sorted((g for g in relevant.values() if g > 0), reverse=True)[:k])
    if ideal == 0:
        raise ValueError("NDCG is undefined for a query with no relevant item")
    return dcg([relevant.get(d, 0) for d in _dedupe(ranked)[:k]]) / ideal


def recall_at(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    total = sum(1 for g in relevant.values() if g > 0)
    if total == 0:
        raise ValueError("recall is undefined for a query with no relevant item")
    return sum(1 for d in _dedupe(ranked)[:k] if relevant.get(d, 0) > 0) / total


def query_metrics(ranked: Sequence[str], relevant: Mapping[str, int]) -> dict[str, float] | None:
    """Every metric for one query, or None when the query has no relevant item."""
    if not any(g > 0 for g in relevant.values()):
        return None
    return {
        "P@1": precision_at(ranked, relevant, 1),
        "P@3": precision_at(ranked, relevant, 3),
        "P@5": precision_at(ranked, relevant, 5),
        "MRR@10": reciprocal_rank(ranked, relevant, 10),
        "NDCG@5": ndcg_at(ranked, relevant, 5),
        "NDCG@10": ndcg_at(ranked, relevant, 10),
        "Recall@10": recall_at(ranked, relevant, 10),
    }


def mean_metrics(per_query: Sequence[dict[str, float]]) -> dict[str, float]:
    if not per_query:
        return {name: float("nan") for name in METRIC_NAMES}
    return {name: sum(q[name] for q in per_query) / len(per_query) for name in METRIC_NAMES}


def aggregate(
    rankings: Mapping[str, Sequence[str]],
    judgments: Mapping[str, Mapping[str, int]],
    slices: Mapping[str, str] | None = None,
) -> dict[str, dict[str, float]]:
    """Mean metrics overall (key ``all``) and per slice; ``n`` counts the scored queries."""
    groups: dict[str, list[dict[str, float]]] = defaultdict(list)
    for qid, relevant in judgments.items():
        scores = query_metrics(rankings.get(qid, []), relevant)
        if scores is None:
            continue
        groups["all"].append(scores)
        if slices and qid in slices:
            groups[slices[qid]].append(scores)
    return {name: {**mean_metrics(rows), "n": float(len(rows))} for name, rows in groups.items()}
