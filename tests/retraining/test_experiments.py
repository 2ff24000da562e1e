"""The sequential decision rule on hand-made counts (arm assignment: tests/serving), and the
cap on one voter's share of the votes it reads, on both engines."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from retraining.experiment_check import rule_from
from retraining.experiments import (
    CANDIDATE,
    ArmCounts,
    DecisionRule,
    count_votes,
    decide,
    msprt_lambda,
)
from retraining.interleaving import count_interleaving
from storage.database import Database
from storage.models import Arm, ExperimentMode
from storage.repositories.experiments import start_experiment
from storage.repositories.model_versions import set_champion
from storage.settings import Settings
from tests.helpers.storage import add_prompts, add_versions, request_with_messages, vote

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


@pytest.mark.parametrize("mode", [ExperimentMode.INTERLEAVE, ExperimentMode.AB])
def test_one_voter_counts_for_no_more_than_their_share_of_an_experiment(
    db: Database, mode: ExperimentMode
) -> None:
    """40 users each 👍 the candidate's result once; one account 👎 it on 60 requests. With
    no cap the account outweighs all of them; under rule 10 it keeps 2 of its 60."""
    add_prompts(db)
    add_versions(db)
    with db.session() as s:
        set_champion(s, "base", actor="test", action="init", now=T0)
        experiment = start_experiment(s, "base", "v1", 1.0, T0, mode=mode).id
    interleaved = mode == ExperimentMode.INTERLEAVE
    voters = [(f"u{i}", 1) for i in range(40)] + [("mallory", -1)] * 60
    for n, (voter, value) in enumerate(voters):
        request_with_messages(
            db,
            voter,
            "g1",
            [f"m{n}"],
            experiment,
            Arm.INTERLEAVED if interleaved else Arm.CANDIDATE,
            teams=[Arm.CANDIDATE],
        )
        vote(db, f"m{n}", voter, value)
    capped = rule_from(Settings())
    assert capped.max_user_share == 0.05
    assert rule_from(Settings(influence_rule=False)).max_user_share == 1.0
    with db.session() as s:
        if interleaved:
            assert count_interleaving(s, experiment).credit_sum == 40 - 60
            counted = count_interleaving(s, experiment, capped.max_user_share)
            assert (counted.wins, counted.losses, counted.credit_sum) == (40, 2, 38)
        else:
            assert count_votes(s, experiment)[CANDIDATE] == ArmCounts(40, 60)
            assert count_votes(s, experiment, capped.max_user_share)[CANDIDATE] == ArmCounts(40, 2)
