"""Online A/B experiments: vote counting per arm and the decision rule.

Assignment (which arm a user sees) happens at request time, in ``serving.arms``.

Decision rule: a mixture sequential probability ratio test (mSPRT; Johari, Pekelis & Walsh,
"Always valid inference", 2017 — the basis of Optimizely's Stats Engine) on the difference
in 👍 rate, 👍 / (👍 + 👎), between the arms. Its p-value stays valid however often it is
checked, so the scheduler may look every hour without inflating false positives the way a
daily fixed-sample z-test would (25-50% after repeated peeking). Rules, in order:

1. fewer than ``min_votes`` per arm: no decision yet;
2. always-valid p-value below ``alpha`` and candidate better: promote;
3. always-valid p-value below ``alpha`` and candidate worse: reject (stop early);
4. ``max_days`` elapsed without a verdict: keep the champion.

The Bayesian probability that the candidate is better (Beta(1+👍, 1+👎) posteriors) is stored
alongside for people to read; it does not drive the decision.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from retraining.influence import keep_within_share
from storage.database import Session
from storage.models import Arm
from storage.models import ExperimentDecision as Decision
from storage.repositories.experiments import arm_vote_counts_by_user

CHAMPION, CANDIDATE = Arm.CHAMPION, Arm.CANDIDATE  # the names the rules below use


@dataclass(frozen=True)
class ArmCounts:
    up: int
    down: int

    @property
    def votes(self) -> int:
        return self.up + self.down

    @property
    def rate(self) -> float:
        return self.up / self.votes if self.votes else float("nan")


@dataclass(frozen=True)
class DecisionRule:
    min_votes: int = 100
    alpha: float = 0.05
    tau: float = 0.1  # mixing scale: the size of differences in 👍 rate we expect to detect
    max_days: float = 14.0
    max_user_share: float = 1.0  # most of the counted votes one voter supplies (vote_pairs rule 10)


@dataclass(frozen=True)
class Verdict:
    decision: Decision | None  # None: keep running
    reason: str
    stats: dict[str, Any]


def msprt_lambda(champion: ArmCounts, candidate: ArmCounts, tau: float) -> float:
    """Mixture likelihood ratio for H0: equal rates, with a N(0, tau²) mixture on the gap."""
    delta = candidate.rate - champion.rate
    var = (
        shrunk_variance(champion.up, champion.votes) / champion.votes
        + shrunk_variance(candidate.up, candidate.votes) / candidate.votes
    )
    return mixture_lambda(delta, var, tau)


def mixture_lambda(delta: float, var: float, tau: float) -> float:
    """mSPRT statistic for an estimated effect ``delta`` with variance ``var`` (H0: zero)."""
    var = max(var, 1e-9)
    tau2 = tau * tau
    log_lambda = 0.5 * math.log(var / (var + tau2)) + tau2 * delta * delta / (
        2 * var * (var + tau2)
    )
    return math.exp(min(log_lambda, 700.0))


def shrunk_variance(successes: int, trials: int) -> float:
    """Bernoulli variance, shrunk toward 1/2 so early all-👍 runs do not claim zero variance."""
    p = (successes + 1) / (trials + 2)
    return p * (1 - p)


def prob_candidate_better(champion: ArmCounts, candidate: ArmCounts) -> float:
    """P(candidate's 👍 rate > champion's) under Beta(1+👍, 1+👎) posteriors (normal approx.)."""

    def moments(arm: ArmCounts) -> tuple[float, float]:
        a, b = 1 + arm.up, 1 + arm.down
        return a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1))

    (m1, v1), (m2, v2) = moments(champion), moments(candidate)
    return 0.5 * (1 + math.erf((m2 - m1) / math.sqrt(2 * (v1 + v2))))


def decide(
    champion: ArmCounts,
    candidate: ArmCounts,
    started_at: datetime,
    now: datetime,
    rule: DecisionRule,
    previous_p: float = 1.0,
) -> Verdict:
    stats: dict[str, Any] = {
        "champion": {**asdict(champion), "rate": _safe(champion.rate)},
        "candidate": {**asdict(candidate), "rate": _safe(candidate.rate)},
        "min_votes": rule.min_votes,
        "alpha": rule.alpha,
    }
    elapsed_days = (now - started_at) / timedelta(days=1)
    if min(champion.votes, candidate.votes) < rule.min_votes:
        stats["p_value"] = previous_p
        if elapsed_days >= rule.max_days:
            return Verdict(
                Decision.KEPT, f"{rule.max_days:g} days passed with too few votes", stats
            )
        return Verdict(None, f"waiting for {rule.min_votes} votes per arm", stats)
    lam = msprt_lambda(champion, candidate, rule.tau)
    p_value = min(previous_p, 1.0 / lam)  # always-valid p-values only ever decrease
    stats.update(
        p_value=p_value,
        msprt_lambda=lam,
        prob_candidate_better=prob_candidate_better(champion, candidate),
        delta=_safe(candidate.rate - champion.rate),
    )
    if p_value < rule.alpha:
        if candidate.rate > champion.rate:
            return Verdict(
                Decision.PROMOTED, f"candidate better (always-valid p={p_value:.4f})", stats
            )
        return Verdict(Decision.REJECTED, f"candidate worse (always-valid p={p_value:.4f})", stats)
    if elapsed_days >= rule.max_days:
        return Verdict(
            Decision.KEPT, f"no verdict after {rule.max_days:g} days; champion kept", stats
        )
    return Verdict(None, "no verdict yet", stats)


def _safe(x: float) -> float | None:
    return None if math.isnan(x) else round(x, 4)


def count_votes(
    session: Session, experiment_id: int, max_user_share: float = 1.0
) -> dict[str, ArmCounts]:
    """👍/👎 per arm on results served in this experiment (removed votes excluded); no voter
    supplies more than ``max_user_share`` of the votes counted (retraining.influence: the
    excess is dropped by a stable hash order of that voter's votes)."""
    by_user: dict[str, list[tuple[str | None, int, int]]] = defaultdict(list)
    for tally in arm_vote_counts_by_user(session, experiment_id):
        by_user[tally.user_id] += [(tally.arm, tally.value, i) for i in range(tally.count)]
    kept, _ = keep_within_share(by_user, max_user_share)
    counted = Counter((arm, value) for votes in kept.values() for arm, value, _ in votes)
    return {arm: ArmCounts(counted[(arm, 1)], counted[(arm, -1)]) for arm in (CHAMPION, CANDIDATE)}
