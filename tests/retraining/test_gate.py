"""The offline gate's rules on hand-made metrics."""

from __future__ import annotations

import pytest

from retraining.gate import gate

GOLDEN = {"test": {"all": {"NDCG@5": 0.60}}, "heldout": {"all": {"NDCG@5": 0.55}}}


def votes(agreement: float, ndcg: float) -> dict[str, float]:
    return {"n": 100.0, "agreement": agreement, "NDCG@5": ndcg}


@pytest.mark.parametrize(
    ("champion", "candidate", "passed", "says"),
    [
        (votes(0.68, 0.84), votes(0.70, 0.80), True, "agreement +0.020"),
        (votes(0.68, 0.84), votes(0.68, 0.85), True, "same agreement"),
        (votes(0.68, 0.84), votes(0.68, 0.84), False, "no gain"),
        (votes(0.68, 0.84), votes(0.66, 0.90), False, "no gain"),
    ],
)
def test_held_out_votes_need_more_agreement_or_equal_agreement_with_better_ranking(
    champion: dict[str, float], candidate: dict[str, float], passed: bool, says: str
) -> None:
    decision = gate(GOLDEN, GOLDEN, champion, candidate, tolerance=0.01)
    assert decision.passed is passed
    assert says in decision.reason
    assert decision.details["vote_slice_ndcg5"] == [champion["NDCG@5"], candidate["NDCG@5"]]


def test_a_golden_drop_beyond_tolerance_fails_whatever_the_votes_say() -> None:
    worse = {"test": {"all": {"NDCG@5": 0.60}}, "heldout": {"all": {"NDCG@5": 0.53}}}
    decision = gate(GOLDEN, worse, votes(0.5, 0.5), votes(0.9, 0.9), tolerance=0.01)
    assert not decision.passed and "heldout" in decision.reason
