"""Team-draft interleaving: champion and candidate rankings merged into one list per request.

Mode ``interleave`` of an experiment (``PROMPTBOT_EXPERIMENT_MODE``). A user in the
experiment (twice ``PROMPTBOT_EXPERIMENT_SHARE`` of users, all of them at the default 0.5, so
the candidate drafts the same share of shown results as in an A/B test) gets one list drafted
from both rankings (Radlinski, Kurup & Joachims,
"How does clickthrough data reflect retrieval quality?", 2008): each round a fair coin picks
which model drafts first, each model adds its best result not already shown, and every result
remembers the model ("team") that drafted it. A 👍 credits +1 to the result's team, a 👎 -1;
the request goes to the team with the higher credit, ties count for neither.

Why it is more sensitive than A/B: both models answer the same user and query in the same
list, so the comparison is paired and the variance between users and queries cancels out;
results both models rank alike go to a random team and only add noise symmetrically.

Decision: the share of decisive requests the candidate wins is tested against 1/2 with the
same mixture sequential probability ratio test as A/B (always-valid p-value), and the same
rules: at least ``min_votes`` decisive requests, promote or reject below ``alpha``, keep the
champion after ``max_days``. With identical models (A/A) every win is a fair coin flip, so
the test keeps its false-positive guarantee.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retraining.experiments import (
    CANDIDATE,
    CHAMPION,
    ArmCounts,
    DecisionRule,
    Verdict,
    mixture_lambda,
    shrunk_variance,
)
from storage.models import Request, Result, Vote

INTERLEAVED = "interleaved"  # Request.arm of an interleaved request; its results carry the team


class Ranked(Protocol):
    @property
    def prompt_id(self) -> str: ...


H = TypeVar("H", bound=Ranked)


def interleaved_share(share: float) -> float:
    """Share of users shown interleaved lists, so the candidate's share of shown results
    matches an A/B test at ``share``: half of each interleaved list is the candidate's."""
    return min(1.0, 2 * share)


def team_draft(
    champion: Sequence[H], candidate: Sequence[H], k: int, rng: random.Random
) -> list[tuple[H, str]]:
    """Up to ``k`` results drafted from both rankings, each with the team that drafted it."""
    rankings = {CHAMPION: list(champion), CANDIDATE: list(candidate)}
    picked: list[tuple[H, str]] = []
    shown: set[str] = set()
    team_size = {CHAMPION: 0, CANDIDATE: 0}

    def next_unshown(team: str) -> H | None:
        return next((h for h in rankings[team] if h.prompt_id not in shown), None)

    while len(picked) < k:
        if team_size[CHAMPION] != team_size[CANDIDATE]:
            order = sorted(team_size, key=team_size.__getitem__)  # the smaller team drafts
        else:
            order = [CHAMPION, CANDIDATE] if rng.random() < 0.5 else [CANDIDATE, CHAMPION]
        for team in order:  # a team whose ranking is used up lets the other draft
            hit = next_unshown(team)
            if hit is not None:
                break
        else:
            break
        picked.append((hit, team))
        shown.add(hit.prompt_id)
        team_size[team] += 1
    return picked


def draft_rng(experiment_id: int, user_id: str, query: str, now: datetime) -> random.Random:
    """The coin flips of one request: reproducible for the simulator, fresh per request."""
    key = f"{experiment_id}:{user_id}:{query}:{now.isoformat()}".encode()
    return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))


@dataclass(frozen=True)
class InterleavingCounts:
    wins: int  # requests the candidate's results earned more credit on
    losses: int
    ties: int  # requests with votes but equal credit
    champion: ArmCounts  # 👍/👎 on results each team drafted
    candidate: ArmCounts

    @property
    def decisive(self) -> int:
        return self.wins + self.losses


def count_interleaving(session: Session, experiment_id: int) -> InterleavingCounts:
    """Credit per request and team from the votes on interleaved results (removed excluded)."""
    stmt = (
        select(Result.request_id, Result.arm, Vote.value, func.count())
        .join(Vote, Vote.result_id == Result.id)
        .join(Request, Request.id == Result.request_id)
        .where(
            Request.experiment_id == experiment_id,
            Request.arm == INTERLEAVED,
            Vote.removed_at.is_(None),
        )
        .group_by(Result.request_id, Result.arm, Vote.value)
    )
    credit: dict[int, dict[str, int]] = {}
    votes = {CHAMPION: {1: 0, -1: 0}, CANDIDATE: {1: 0, -1: 0}}
    for request_id, team, value, n in session.execute(stmt):
        if team not in votes:
            continue
        votes[team][value] += n
        per_team = credit.setdefault(request_id, {CHAMPION: 0, CANDIDATE: 0})
        per_team[team] += value * n
    wins = sum(c[CANDIDATE] > c[CHAMPION] for c in credit.values())
    losses = sum(c[CANDIDATE] < c[CHAMPION] for c in credit.values())
    return InterleavingCounts(
        wins,
        losses,
        len(credit) - wins - losses,
        ArmCounts(votes[CHAMPION][1], votes[CHAMPION][-1]),
        ArmCounts(votes[CANDIDATE][1], votes[CANDIDATE][-1]),
    )


def decide_interleaving(
    counts: InterleavingCounts,
    started_at: datetime,
    now: datetime,
    rule: DecisionRule,
    previous_p: float = 1.0,
) -> Verdict:
    n = counts.decisive
    win_rate = counts.wins / n if n else float("nan")
    stats: dict[str, Any] = {
        "mode": "interleave",
        "wins": counts.wins,
        "losses": counts.losses,
        "ties": counts.ties,
        "champion": {"up": counts.champion.up, "down": counts.champion.down},
        "candidate": {"up": counts.candidate.up, "down": counts.candidate.down},
        "min_votes": rule.min_votes,
        "alpha": rule.alpha,
    }
    elapsed_days = (now - started_at) / timedelta(days=1)
    if n < rule.min_votes:
        stats["p_value"] = previous_p
        if elapsed_days >= rule.max_days:
            return Verdict("kept", f"{rule.max_days:g} days passed with too few votes", stats)
        return Verdict(None, f"waiting for {rule.min_votes} decisive requests", stats)
    variance = shrunk_variance(counts.wins, n) / n
    p_value = min(previous_p, 1.0 / mixture_lambda(win_rate - 0.5, variance, rule.tau))
    stats.update(p_value=p_value, win_rate=round(win_rate, 4))
    if p_value < rule.alpha:
        if counts.wins > counts.losses:
            return Verdict(
                "promoted",
                f"candidate wins {win_rate:.0%} of interleaved requests (always-valid "
                f"p={p_value:.4f})",
                stats,
            )
        return Verdict(
            "rejected",
            f"candidate wins only {win_rate:.0%} of interleaved requests (always-valid "
            f"p={p_value:.4f})",
            stats,
        )
    if elapsed_days >= rule.max_days:
        return Verdict("kept", f"no verdict after {rule.max_days:g} days; champion kept", stats)
    return Verdict(None, "no verdict yet", stats)
