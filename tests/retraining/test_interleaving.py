"""Team-draft interleaving: credit per request through the real service, and the rule.

The draft itself is tested in tests/serving/test_team_draft.py."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from retraining.experiment_check import check_experiment
from retraining.experiments import CANDIDATE, CHAMPION, ArmCounts, DecisionRule
from retraining.interleaving import (
    AGREED,
    INTERLEAVED,
    InterleavingCounts,
    count_interleaving,
    decide_interleaving,
)
from retrieval.engine_factory import ServingEngineFactory
from serving.model_pool import ModelPool
from serving.prompt_service import PromptService
from storage.database import Database
from storage.models import ModelStatus, Request
from storage.repositories.experiments import start_experiment
from storage.repositories.model_versions import register_version
from storage.settings import Settings
from tests.helpers.retraining import T0

RULE = DecisionRule(min_votes=100, alpha=0.05, tau=0.1, max_days=14)


def counts(wins: int, losses: int, ties: int = 0) -> InterleavingCounts:
    """Requests where the candidate's results got one more 👍 (wins) or one fewer (losses)."""
    return InterleavingCounts.from_credit(
        [1] * wins + [-1] * losses + [0] * ties, ArmCounts(0, 0), ArmCounts(0, 0)
    )


def test_rule_on_hand_made_counts() -> None:
    day3 = T0 + timedelta(days=3)
    win = decide_interleaving(counts(150, 90, ties=60), T0, day3, RULE)
    assert win.decision == "promoted" and win.stats["p_value"] < 0.05
    assert "won 150, lost 90, tied 60" in win.reason
    loss = decide_interleaving(counts(80, 160, ties=60), T0, day3, RULE)
    assert loss.decision == "rejected"
    few = decide_interleaving(counts(60, 5, ties=20), T0, day3, RULE)
    assert few.decision is None and "waiting" in few.reason
    even = decide_interleaving(counts(200, 195, ties=100), T0, day3, RULE)
    assert even.decision is None
    late = decide_interleaving(counts(200, 195), T0, T0 + timedelta(days=15), RULE)
    assert late.decision == "kept"


def test_the_size_of_a_credit_gap_counts_not_only_its_sign() -> None:
    """+2 (a 👍 for the candidate's result, a 👎 for the champion's) weighs more than +1."""
    day3 = T0 + timedelta(days=3)
    ones = InterleavingCounts.from_credit([1] * 90 + [-1] * 70 + [0] * 40, *no_votes())
    twos = InterleavingCounts.from_credit([2] * 90 + [-1] * 70 + [0] * 40, *no_votes())
    assert (ones.wins, ones.losses) == (twos.wins, twos.losses)
    p_ones = decide_interleaving(ones, T0, day3, RULE).stats["p_value"]
    p_twos = decide_interleaving(twos, T0, day3, RULE).stats["p_value"]
    assert p_twos < 0.05 < p_ones


def no_votes() -> tuple[ArmCounts, ArmCounts]:
    return ArmCounts(0, 0), ArmCounts(0, 0)


@pytest.mark.slow
def test_repeated_peeking_at_symmetric_credit_rarely_decides() -> None:
    """A/A: per-request credit differences symmetric around 0 (as the coin flips make them),
    checked every 25 requests up to 1,500, in 300 experiments."""
    rng = np.random.default_rng(7)
    values, weights = [-2, -1, 0, 1, 2], [0.05, 0.3, 0.3, 0.3, 0.05]
    decided = 0
    for _ in range(300):
        diffs = [int(d) for d in rng.choice(values, size=1500, p=weights)]
        p = 1.0
        for n in range(100, 1501, 25):
            c = InterleavingCounts.from_credit(diffs[:n], *no_votes())
            v = decide_interleaving(c, T0, T0 + timedelta(hours=n), RULE, p)
            p = v.stats["p_value"]
            if v.decision in ("promoted", "rejected"):
                decided += 1
                break
    assert decided / 300 <= 0.05


@pytest.fixture
def interleave_experiment(
    loop_db: Database, loop_settings: Settings, weak_start_model: Path
) -> Database:
    with loop_db.session() as session:
        register_version(session, "weak", str(weak_start_model), ModelStatus.CANDIDATE, T0)
        start_experiment(session, "base", "weak", share=1.0, now=T0, mode="interleave")
    return loop_db


def service_for(db: Database, settings: Settings) -> PromptService:
    pool = ModelPool(db, ServingEngineFactory(settings.cache_dir))
    pool.refresh()
    return PromptService(db, pool)


@pytest.mark.slow
def test_service_drafts_both_models_and_votes_credit_their_team(
    interleave_experiment: Database, loop_settings: Settings
) -> None:
    db = interleave_experiment
    service = service_for(db, loop_settings)
    pool = service.pool
    credit: dict[int, dict[str, int]] = {}
    agreed_votes = 0
    for i in range(40):
        now = T0 + timedelta(minutes=i)
        served = service.serve(f"user{i % 5}", "dark castle ghost", count=3, now=now)
        assert served.arm == INTERLEAVED and served.experiment_id is not None
        assert len({r.prompt.id for r in served.results}) == 3
        top = {
            v: [h.prompt_id for h in pool.engine(v).search("dark castle ghost", 3)]
            for v in ("base", "weak")
        }
        for r in served.results:
            assert r.model_version in ("base", "weak")
            assert r.prompt.id in top[r.model_version]
            same_place = r.prompt.id in top["base"] and top["base"].index(r.prompt.id) == (
                top["weak"].index(r.prompt.id) if r.prompt.id in top["weak"] else -1
            )
            team = {"base": CHAMPION, "weak": CANDIDATE}[r.model_version]
            assert r.arm == (AGREED if same_place else team)
        first = served.results[0]  # the user likes the top result only
        service.attach_message(first.result_id, f"m{i}", "c")
        value = 1 if i % 3 else -1
        service.record_reaction(f"m{i}", f"user{i % 5}", "👍" if value > 0 else "👎", True, now)
        assert first.arm is not None
        credit[served.request_id] = {first.arm: value}
        agreed_votes += first.arm == AGREED
    with db.session() as session:
        counted = count_interleaving(session, 1)
    expected_wins = sum(c.get(CANDIDATE, 0) > c.get(CHAMPION, 0) for c in credit.values())
    expected_losses = sum(c.get(CANDIDATE, 0) < c.get(CHAMPION, 0) for c in credit.values())
    assert (counted.wins, counted.losses, counted.ties) == (
        expected_wins,
        expected_losses,
        agreed_votes,
    )
    assert counted.requests == 40
    assert counted.credit_sum == sum(
        c.get(CANDIDATE, 0) - c.get(CHAMPION, 0) for c in credit.values()
    )
    assert counted.candidate.votes + counted.champion.votes == 40 - agreed_votes
    assert counted.agreed.votes == agreed_votes
    with db.session() as session:
        arms = set(session.scalars(select(Request.arm)))
    assert arms == {INTERLEAVED}


@pytest.mark.slow
def test_interleaved_experiment_rejects_a_clearly_worse_candidate(
    interleave_experiment: Database, loop_settings: Settings
) -> None:
    """Users 👍 results of the genre they asked for, 👎 the rest; the degraded model loses."""
    db = interleave_experiment
    service = service_for(db, loop_settings)
    genres = ["Horror", "Fantasy", "Mystery"]
    for i in range(150):
        genre, now = genres[i % 3], T0 + timedelta(minutes=i)
        served = service.serve(f"user{i % 11}", f"{genre.lower()} story", count=3, now=now)
        for r in served.results[:2]:
            service.attach_message(r.result_id, f"m{i}-{r.rank}", "c")
            emoji = "👍" if genre in r.prompt.genres else "👎"
            service.record_reaction(f"m{i}-{r.rank}", f"user{i % 11}", emoji, True, now)
    outcome = check_experiment(db, loop_settings, T0 + timedelta(days=1))
    assert outcome is not None
    verdict = outcome[1]
    assert verdict.decision == "rejected", verdict.stats
    assert verdict.stats["losses"] > verdict.stats["wins"]
