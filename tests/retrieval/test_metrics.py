"""Metric functions against hand-computed examples."""

from __future__ import annotations

import math

import pytest

from retrieval.metrics import (
    aggregate,
    ndcg_at,
    precision_at,
    query_metrics,
    recall_at,
    reciprocal_rank,
)

REL = {"a": 2, "b": 1, "c": 1}


def test_precision_counts_relevant_in_top_k() -> None:
    assert precision_at(["x", "a", "y", "b", "z"], REL, 1) == 0
    assert precision_at(["x", "a", "y", "b", "z"], REL, 3) == pytest.approx(1 / 3)
    assert precision_at(["x", "a", "y", "b", "z"], REL, 5) == pytest.approx(2 / 5)
    assert precision_at(["a"], REL, 3) == pytest.approx(1 / 3)  # short list: still divided by k


def test_reciprocal_rank() -> None:
    assert reciprocal_rank(["x", "y", "b"], REL) == pytest.approx(1 / 3)
    assert reciprocal_rank(["x"] * 3 + ["y"] * 8 + ["a"], REL) == pytest.approx(1 / 3)  # deduped
    assert reciprocal_rank([f"n{i}" for i in range(10)] + ["a"], REL) == 0.0  # beyond 10


def test_ndcg_hand_computed() -> None:
    # ranked: x(0) a(2) b(1); ideal: a(2) b(1) c(1)
    dcg = 0 + 2 / math.log2(3) + 1 / math.log2(4)
    ideal = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at(["x", "a", "b"], REL, 5) == pytest.approx(dcg / ideal)
    assert ndcg_at(["a", "b", "c"], REL, 5) == pytest.approx(1.0)
    # tie in grades: either order of b and c is ideal
    assert ndcg_at(["a", "c", "b"], REL, 5) == pytest.approx(1.0)
    # ideal is truncated at k: with k=1 only 'a' counts
    assert ndcg_at(["b"], REL, 1) == pytest.approx(1 / 2)


def test_duplicates_earn_no_extra_credit() -> None:
    assert precision_at(["a", "a", "a"], REL, 3) == pytest.approx(1 / 3)
    assert ndcg_at(["b", "b", "b"], REL, 3) == ndcg_at(["b"], REL, 3)
    assert recall_at(["b", "b", "c"], REL, 10) == pytest.approx(2 / 3)


def test_query_with_no_relevant_item_is_left_out() -> None:
    assert query_metrics(["a", "b"], {}) is None
    assert query_metrics(["a", "b"], {"a": 0}) is None
    with pytest.raises(ValueError):
        ndcg_at(["a"], {}, 5)
    summary = aggregate(
        {"q1": ["a"], "q2": ["a"]}, {"q1": {"a": 1}, "q2": {}}, {"q1": "s", "q2": "s"}
    )
    assert summary["all"]["n"] == 1 and summary["all"]["P@1"] == 1.0
    assert summary["s"]["n"] == 1


def test_mrr_is_never_below_p_at_1() -> None:
    rankings = {"q1": ["a", "x"], "q2": ["x", "a"], "q3": ["x", "y"]}
    judgments = {q: {"a": 1} for q in rankings}
    summary = aggregate(rankings, judgments)["all"]
    assert summary["P@1"] == pytest.approx(1 / 3)
    assert summary["MRR@10"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert summary["MRR@10"] >= summary["P@1"]
