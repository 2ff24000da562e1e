"""Online A/B experiments: stable assignment, vote counting per arm, and the decision rule.

Assignment: a user's arm is a stable hash of (experiment id, user id), so a user sees one
model for the whole experiment and arms split traffic at the configured share.

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

import hashlib
import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Experiment, Request, Result, Vote

CHAMPION, CANDIDATE = "champion", "candidate"


def assign_arm(experiment_id: int, user_id: str, share: float) -> str:
    digest = hashlib.sha256(f"{experiment_id}:{user_id}".encode()).digest()
    unit = int.from_bytes(digest[:8], "big") / 2**64
    return CANDIDATE if unit < share else CHAMPION


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


@dataclass(frozen=True)
class Verdict:
    decision: str | None  # promoted / rejected / kept / None (keep running)
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
            return Verdict("kept", f"{rule.max_days:g} days passed with too few votes", stats)
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
            return Verdict("promoted", f"candidate better (always-valid p={p_value:.4f})", stats)
        return Verdict("rejected", f"candidate worse (always-valid p={p_value:.4f})", stats)
    if elapsed_days >= rule.max_days:
        return Verdict("kept", f"no verdict after {rule.max_days:g} days; champion kept", stats)
    return Verdict(None, "no verdict yet", stats)


def _safe(x: float) -> float | None:
    return None if math.isnan(x) else round(x, 4)


def count_votes(session: Session, experiment_id: int) -> dict[str, ArmCounts]:
    """👍/👎 per arm on results served in this experiment (removed votes excluded)."""
    stmt = (
        select(Result.arm, Vote.value, func.count())
        .join(Vote, Vote.result_id == Result.id)
        .join(Request, Request.id == Result.request_id)
        .where(Request.experiment_id == experiment_id, Vote.removed_at.is_(None))
        .group_by(Result.arm, Vote.value)
    )
    raw: dict[str, dict[int, int]] = {CHAMPION: {}, CANDIDATE: {}}
    for arm, value, n in session.execute(stmt):
        if arm in raw:
            raw[arm][value] = n
    return {arm: ArmCounts(v.get(1, 0), v.get(-1, 0)) for arm, v in raw.items()}


def running_experiment(session: Session) -> Experiment | None:
    return session.scalars(
        select(Experiment).where(Experiment.status == "running").order_by(Experiment.id.desc())
    ).first()


def start_experiment(
    session: Session,
    champion_id: str,
    candidate_id: str,
    share: float,
    now: datetime,
    mode: str = "ab",
) -> Experiment:
    if running_experiment(session) is not None:
        raise RuntimeError("an experiment is already running")
    experiment = Experiment(
        champion_version_id=champion_id,
        candidate_version_id=candidate_id,
        traffic_share=share,
        mode=mode,
        status="running",
        started_at=now,
        stats={},
    )
    session.add(experiment)
    session.flush()
    return experiment


def finish_experiment(
    experiment: Experiment,
    decision: str,
    reason: str,
    now: datetime,
    stats: dict[str, Any] | None = None,
) -> None:
    experiment.status = "finished"
    experiment.decision = decision
    experiment.reason = reason
    experiment.decided_at = now
    if stats is not None:
        experiment.stats = stats
