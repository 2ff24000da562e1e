"""Team-draft interleaving: champion and candidate rankings merged into one list per request.

Mode ``interleave`` of an experiment (``PROMPTBOT_EXPERIMENT_MODE``). A user in the
experiment (twice ``PROMPTBOT_EXPERIMENT_SHARE`` of users, all of them at the default 0.5, so
the candidate drafts the same share of shown results as in an A/B test) gets one list drafted
from both rankings (Radlinski, Kurup & Joachims,
"How does clickthrough data reflect retrieval quality?", 2008): each round a fair coin picks
which model drafts first, each model adds its best result not already shown, and every result
remembers the model ("team") that drafted it. A 👍 credits +1 to the result's team, a 👎 -1,
unless both models rank the result at the same place (below). The draft runs at request time
(``serving.team_draft``); this module holds the decision rule on the credit it earns.

Why it is more sensitive than A/B: both models answer the same user and query in the same
list, so the comparison is paired and the variance between users and queries cancels out.

Agreed results get no credit. A result both models rank at the same place (stored with arm
``agreed``, the drafting model still in ``model_version_id``) would be shown there whichever
model served, so a vote on it says nothing about which model is better, while the coin
deciding which team drafted it adds noise. A result both rank but at different places keeps
its credit: the model that ranks it higher tends to draft it, which is how team-draft
rewards a better order. Successive generations agree on most of their lists, and on five
simulated experiments (unseen-prompt runs, base vs v1 up to v2 vs v3) the z statistic of the
mean credit was 3.58 / 3.14 / 0.78 / 6.49 / 3.14 crediting every result, 4.30 / 2.80 / 4.38
/ 3.69 / 4.14 crediting only results one model alone had, and 4.06 / 3.93 / 4.43 / 7.21 /
5.71 leaving out only the agreed ones (the 0.78 was a v3 whose expected 👍 rate was 2 points
above its champion's). A/A (identical models) agrees everywhere, so every request ties and
the experiment can only end kept.

Decision: per request with votes, the candidate's credit minus the champion's (0 when only
agreed results got votes). Its mean is tested against 0 with the same mixture sequential
probability ratio test as A/B (normal mixture, plug-in variance; always-valid p-value) and
the same rules: at least ``min_votes`` requests with votes, promote or reject below
``alpha``, keep the champion after ``max_days``. Wins, losses and ties are stored for people
to read. The mean difference rather than the share of requests won: on the same experiment
with every result credited, the win share gave z = 2.86 and the mean difference z = 3.64,
as a 👍 for one model with a 👎 for the other counts twice a lone 👍 there, while the win
share counts both as one win. With identical models the coin flips make every difference
symmetric around 0, so the test keeps its false-positive guarantee (peeking test in
tests/retraining).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from retraining.experiments import (
    CANDIDATE,
    CHAMPION,
    ArmCounts,
    DecisionRule,
    Verdict,
    mixture_lambda,
)
from retraining.influence import rows_within_share
from storage.database import Session
from storage.models import Arm, ExperimentMode
from storage.models import ExperimentDecision as Decision
from storage.repositories.experiments import team_vote_counts

INTERLEAVED, AGREED = Arm.INTERLEAVED, Arm.AGREED  # the names the vote counting below uses
NO_VOTES = ArmCounts(0, 0)


@dataclass(frozen=True)
class InterleavingCounts:
    wins: int  # requests the candidate's results earned more credit on
    losses: int
    ties: int  # requests with votes but equal credit
    credit_sum: int  # sum over requests of (candidate's credit - champion's credit)
    credit_sq_sum: int  # sum of its squares, for the variance
    champion: ArmCounts  # 👍/👎 on results that team drafted, agreed ones aside
    candidate: ArmCounts
    agreed: ArmCounts = NO_VOTES  # 👍/👎 on results both ranked alike: credited to neither

    @property
    def requests(self) -> int:
        return self.wins + self.losses + self.ties

    @classmethod
    def from_credit(
        cls,
        differences: Sequence[int],
        champion: ArmCounts,
        candidate: ArmCounts,
        agreed: ArmCounts = NO_VOTES,
    ) -> InterleavingCounts:
        return cls(
            sum(d > 0 for d in differences),
            sum(d < 0 for d in differences),
            sum(d == 0 for d in differences),
            sum(differences),
            sum(d * d for d in differences),
            champion,
            candidate,
            agreed,
        )


def count_interleaving(
    session: Session, experiment_id: int, max_user_share: float = 1.0
) -> InterleavingCounts:
    """Credit per request and team from the votes on interleaved results (removed excluded);
    a request whose votes all fell on agreed results counts as a tie. No voter's votes count
    on more than ``max_user_share`` of the voted requests (retraining.influence): one account
    voting against every list would otherwise hold the experiment without a verdict."""
    tallies, _ = rows_within_share(
        team_vote_counts(session, experiment_id),
        max_user_share,
        user=lambda t: t.user_id,
        unit=lambda t: t.request_id,
    )
    credit: dict[int, int] = {}
    # keyed by plain strings: stored teams come back as str, and an Arm equals its value
    votes: dict[str, dict[int, int]] = {arm: {1: 0, -1: 0} for arm in (CHAMPION, CANDIDATE, AGREED)}
    for tally in tallies:
        if tally.team is None or tally.team not in votes:
            continue
        votes[tally.team][tally.value] += tally.count
        credit.setdefault(tally.request_id, 0)
        if tally.team == AGREED:
            continue
        sign = 1 if tally.team == CANDIDATE else -1
        credit[tally.request_id] += sign * tally.value * tally.count
    return InterleavingCounts.from_credit(
        list(credit.values()),
        ArmCounts(votes[CHAMPION][1], votes[CHAMPION][-1]),
        ArmCounts(votes[CANDIDATE][1], votes[CANDIDATE][-1]),
        ArmCounts(votes[AGREED][1], votes[AGREED][-1]),
    )


def credit_variance(counts: InterleavingCounts) -> float:
    """Sample variance of the per-request credit difference, with one pseudo-request each of
    +1 and -1 added so a short all-alike run does not claim zero variance."""
    n = counts.requests + 2
    mean = counts.credit_sum / n
    return max(0.0, (counts.credit_sq_sum + 2 - n * mean * mean) / (n - 1))


def decide_interleaving(
    counts: InterleavingCounts,
    started_at: datetime,
    now: datetime,
    rule: DecisionRule,
    previous_p: float = 1.0,
) -> Verdict:
    n = counts.requests
    mean_credit = counts.credit_sum / n if n else float("nan")
    stats: dict[str, Any] = {
        "mode": ExperimentMode.INTERLEAVE.value,
        "wins": counts.wins,
        "losses": counts.losses,
        "ties": counts.ties,
        "champion": {"up": counts.champion.up, "down": counts.champion.down},
        "candidate": {"up": counts.candidate.up, "down": counts.candidate.down},
        "agreed": {"up": counts.agreed.up, "down": counts.agreed.down},
        "min_votes": rule.min_votes,
        "alpha": rule.alpha,
    }
    elapsed_days = (now - started_at) / timedelta(days=1)
    if n < rule.min_votes:
        stats["p_value"] = previous_p
        if elapsed_days >= rule.max_days:
            return Verdict(
                Decision.KEPT, f"{rule.max_days:g} days passed with too few votes", stats
            )
        return Verdict(None, f"waiting for {rule.min_votes} requests with votes", stats)
    variance = credit_variance(counts) / n
    p_value = min(previous_p, 1.0 / mixture_lambda(mean_credit, variance, rule.tau))
    stats.update(p_value=p_value, mean_credit=round(mean_credit, 4))
    tally = f"won {counts.wins}, lost {counts.losses}, tied {counts.ties}"
    if p_value < rule.alpha:
        if mean_credit > 0:
            return Verdict(
                Decision.PROMOTED,
                f"candidate better in interleaved lists ({tally}; always-valid p={p_value:.4f})",
                stats,
            )
        return Verdict(
            Decision.REJECTED,
            f"candidate worse in interleaved lists ({tally}; always-valid p={p_value:.4f})",
            stats,
        )
    if elapsed_days >= rule.max_days:
        return Verdict(
            Decision.KEPT, f"no verdict after {rule.max_days:g} days; champion kept", stats
        )
    return Verdict(None, "no verdict yet", stats)
