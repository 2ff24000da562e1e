"""The one "is the candidate better" rule, on hand-made metrics."""

from __future__ import annotations

import pytest

from retraining.gate import GateResult, VoteSliceMetrics, compare
from retrieval.golden_set import GoldenMetrics

GOLDEN = GoldenMetrics.from_dict(
    {"test": {"all": {"NDCG@5": 0.60}}, "heldout": {"all": {"NDCG@5": 0.55}}}
)


def golden(test: float, heldout: float) -> GoldenMetrics:
    return GoldenMetrics.from_dict(
        {"test": {"all": {"NDCG@5": test}}, "heldout": {"all": {"NDCG@5": heldout}}}
    )


def votes(agreement: float, ndcg: float) -> VoteSliceMetrics:
    return VoteSliceMetrics(judgments=100, agreement=agreement, ndcg5=ndcg)


def failed_checks(result: GateResult) -> list[str]:
    return [check.name for check in result.checks if not check.passed]


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
    champion: VoteSliceMetrics, candidate: VoteSliceMetrics, passed: bool, says: str
) -> None:
    result = compare(GOLDEN, GOLDEN, 0.01, champion, candidate)
    assert result.passed is passed
    assert says in result.reason
    assert failed_checks(result) == ([] if passed else ["held-out votes"])
    assert result.details["vote_slice_ndcg5"] == [champion.ndcg5, candidate.ndcg5]


def test_a_golden_drop_beyond_tolerance_fails_whatever_the_votes_say() -> None:
    result = compare(GOLDEN, golden(0.60, 0.53), 0.01, votes(0.5, 0.5), votes(0.9, 0.9))
    assert not result.passed
    assert failed_checks(result) == ["golden heldout"]
    assert result.reason == "golden heldout NDCG@5 fell by 0.020 (tolerance 0.010)"


def test_a_drop_within_tolerance_is_allowed() -> None:
    result = compare(GOLDEN, golden(0.595, 0.545), 0.01, votes(0.5, 0.5), votes(0.6, 0.5))
    assert result.passed
    assert result.reason == "held-out vote agreement +0.100, golden within tolerance"


@pytest.mark.parametrize(
    ("candidate", "passed", "reason"),
    [
        (golden(0.65, 0.55), True, "no held-out votes; golden NDCG@5 +0.050"),
        (golden(0.65, 0.545), True, "no held-out votes; golden NDCG@5 +0.050"),
        (golden(0.60, 0.60), False, "no held-out votes and no golden gain (+0.000)"),
        (golden(0.65, 0.50), False, "golden heldout NDCG@5 fell by 0.050 (tolerance 0.010)"),
    ],
)
def test_without_votes_the_candidate_must_gain_on_the_golden_test_split(
    candidate: GoldenMetrics, passed: bool, reason: str
) -> None:
    """The rule `promptbot train --promote` applies: no vote evidence at all."""
    result = compare(GOLDEN, candidate, 0.01)
    assert (result.passed, result.reason) == (passed, reason)


def test_settings_without_judged_queries_are_skipped_not_failed() -> None:
    no_heldout = GoldenMetrics.from_dict({"test": {"all": {"NDCG@5": 0.7}}, "heldout": {}})
    result = compare(GOLDEN, no_heldout, 0.01)
    assert result.passed
    assert [check.name for check in result.checks] == ["golden test", "golden gain"]
    nothing = compare(GoldenMetrics(), GoldenMetrics(), 0.01)
    assert not nothing.passed
    assert nothing.reason == "no held-out votes and no golden queries to judge by"


def test_gate_details_keep_their_stored_shape() -> None:
    result = compare(GOLDEN, golden(0.62, 0.56), 0.01, votes(0.5, 0.4), votes(0.6, 0.5))
    assert result.details == {
        "golden_test": [0.60, 0.62],
        "golden_heldout": [0.55, 0.56],
        "vote_slice_agreement": [0.5, 0.6],
        "vote_slice_ndcg5": [0.4, 0.5],
        "vote_slice_judgments": 100,
        "tolerance": 0.01,
    }
