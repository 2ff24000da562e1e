"""The sequential decision rule on hand-made counts (arm assignment: tests/serving)."""

from __future__ import annotations

from datetime import datetime, timedelta

from retraining.experiments import ArmCounts, DecisionRule, decide, msprt_lambda

T0 = datetime(2026, 1, 1)
RULE = DecisionRule(min_votes=100, alpha=0.05, tau=0.1, max_days=14)


def test_clear_win_promotes() -> None:
    v = decide(ArmCounts(300, 200), ArmCounts(420, 80), T0, T0 + timedelta(days=3), RULE)
    assert v.decision == "promoted"
    assert v.stats["p_value"] < 0.05 and v.stats["prob_candidate_better"] > 0.99


def test_clear_loss_rejects() -> None:
    v = decide(ArmCounts(400, 100), ArmCounts(250, 250), T0, T0 + timedelta(days=3), RULE)
    assert v.decision == "rejected"


def test_too_few_votes_waits_even_when_lopsided() -> None:
    v = decide(ArmCounts(10, 40), ArmCounts(50, 0), T0, T0 + timedelta(days=1), RULE)
    assert v.decision is None and "waiting" in v.reason


def test_timeout_keeps_the_champion() -> None:
    v = decide(ArmCounts(300, 200), ArmCounts(305, 195), T0, T0 + timedelta(days=15), RULE)
    assert v.decision == "kept"
    v = decide(ArmCounts(3, 2), ArmCounts(3, 2), T0, T0 + timedelta(days=15), RULE)
    assert v.decision == "kept"


def test_equal_arms_do_not_decide() -> None:
    v = decide(ArmCounts(600, 400), ArmCounts(600, 400), T0, T0 + timedelta(days=2), RULE)
    assert v.decision is None
    assert msprt_lambda(ArmCounts(600, 400), ArmCounts(600, 400), 0.1) < 1


def test_always_valid_p_value_never_increases() -> None:
    v = decide(
        ArmCounts(300, 200), ArmCounts(300, 200), T0, T0 + timedelta(days=2), RULE, previous_p=0.2
    )
    assert v.stats["p_value"] == 0.2


def test_repeated_peeking_at_aa_rarely_promotes() -> None:
    """A/A: identical arms checked every 50 votes for 40 looks, 200 simulated experiments."""
    import numpy as np

    rng = np.random.default_rng(1)
    false_decisions = 0
    for _ in range(200):
        a = rng.random(2000) < 0.6
        b = rng.random(2000) < 0.6
        p = 1.0
        for n in range(100, 2001, 50):
            v = decide(
                ArmCounts(int(a[:n].sum()), n - int(a[:n].sum())),
                ArmCounts(int(b[:n].sum()), n - int(b[:n].sum())),
                T0,
                T0,
                RULE,
                p,
            )
            p = v.stats["p_value"]
            if v.decision:
                false_decisions += 1
                break
    assert false_decisions / 200 <= 0.05
