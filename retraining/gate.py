"""Is the candidate better than the champion? The one rule, used by every path to a new model.

:func:`compare` answers it for the retraining cycle's offline gate (before a candidate meets
live users) and for `promptbot train --promote` (which makes a candidate champion at once):

1. No golden drop: on the golden test split (``data/eval``), the candidate's NDCG@5 may not
   fall more than ``tolerance`` (``PROMPTBOT_GATE_TOLERANCE``, default 0.01) below the
   champion's, searching the whole corpus (``test``) or only the held-out prompts
   (``heldout``). A setting without judged queries (a community's own corpus) is skipped.
2. A gain, judged by the best evidence there is:

   - held-out votes (votes on queries kept out of training, see :func:`vote_slice_metrics`):
     the candidate must agree with more of them than the champion, or with as many while
     ranking the 👍 prompts higher (their NDCG@5). The tie-break matters: with ~100 held-out
     judgments top-10 agreement saturates, and in the simulator later generations tied it
     exactly while ranking 👍 prompts higher;
   - without held-out votes (always the case for `promptbot train`): a higher golden test
     NDCG@5 than the champion's.

The candidate passes when every check passes; the reason given is the first failed check's,
or the deciding gain's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retraining.vote_pairs import VoteJudgment
from retrieval.corpus_view import CorpusPrompt
from retrieval.engine_builder import build_engine
from retrieval.golden_set import GoldenMetrics
from retrieval.metrics import aggregate
from retrieval.model_registry import ModelRef


@dataclass(frozen=True)
class VoteSliceMetrics:
    """How well a model agrees with held-out votes (see :func:`vote_slice_metrics`)."""

    judgments: int = 0
    agreement: float | None = None
    ndcg5: float | None = None  # of the 👍 prompts; None when no held-out vote is a 👍

    def to_dict(self) -> dict[str, float]:
        """The stored shape: ``{"n", "agreement", "NDCG@5"}``, measured keys only."""
        out = {"n": float(self.judgments)}
        if self.agreement is not None:
            out["agreement"] = self.agreement
        if self.ndcg5 is not None:
            out["NDCG@5"] = self.ndcg5
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, float]) -> VoteSliceMetrics:
        return cls(int(data.get("n", 0)), data.get("agreement"), data.get("NDCG@5"))


def vote_slice_metrics(
    model: ModelRef,
    prompts: Sequence[CorpusPrompt],
    judgments: Sequence[VoteJudgment],
    cache_dir: Path,
) -> VoteSliceMetrics:
    """``agreement``: the share of held-out judgments the model's ranking agrees with — a 👍
    prompt ranks in its top 10 for that query, a 👎 prompt stays out of its top 3 (where
    users actually look). ``ndcg5`` of the 👍 prompts when there are any."""
    if not judgments:
        return VoteSliceMetrics()
    engine = build_engine(model, prompts, cache_dir)
    queries = sorted({j.query for j in judgments})
    ranked = engine.search_many(queries, 10)
    rankings = {q: [h.prompt_id for h in hits] for q, hits in zip(queries, ranked, strict=True)}
    agree = [
        (j.prompt_id in rankings[j.query][:10])
        if j.value > 0
        else (j.prompt_id not in rankings[j.query][:3])
        for j in judgments
    ]
    relevant: dict[str, dict[str, int]] = {}
    for j in judgments:
        if j.value > 0:
            relevant.setdefault(j.query, {})[j.prompt_id] = 1
    ndcg = aggregate(rankings, relevant)["all"]["NDCG@5"] if relevant else None
    return VoteSliceMetrics(len(judgments), sum(agree) / len(agree), ndcg)


@dataclass(frozen=True)
class Check:
    """One named part of the rule, passed or not, and why."""

    name: str  # "golden test", "golden heldout", "held-out votes", "golden gain"
    passed: bool
    reason: str


@dataclass(frozen=True)
class GateResult:
    """The answer of :func:`compare`: every check made, and what decides."""

    checks: tuple[Check, ...]
    details: dict[str, Any]  # the numbers compared; stored with the version as metrics["gate"]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def reason(self) -> str:
        failed = [check for check in self.checks if not check.passed]
        if failed:
            return failed[0].reason
        gain = self.checks[-1]
        if gain.name == "held-out votes":
            return f"{gain.reason}, golden within tolerance"
        return gain.reason


def compare(
    champion: GoldenMetrics,
    candidate: GoldenMetrics,
    tolerance: float,
    champion_votes: VoteSliceMetrics | None = None,
    candidate_votes: VoteSliceMetrics | None = None,
) -> GateResult:
    """Apply the rule in this module's docstring to measured metrics."""
    champion_votes = champion_votes or VoteSliceMetrics()
    candidate_votes = candidate_votes or VoteSliceMetrics()
    checks = [
        check
        for setting in ("test", "heldout")
        if (check := no_golden_drop(champion, candidate, setting, tolerance)) is not None
    ]
    if candidate_votes.judgments > 0:
        checks.append(held_out_vote_gain(champion_votes, candidate_votes))
    else:
        checks.append(golden_gain(champion, candidate))
    return GateResult(
        tuple(checks), gate_details(champion, candidate, champion_votes, candidate_votes, tolerance)
    )


def no_golden_drop(
    champion: GoldenMetrics, candidate: GoldenMetrics, setting: str, tolerance: float
) -> Check | None:
    """None when the setting has no judged queries: nothing to compare."""
    before = champion.settings()[setting].ndcg5
    after = candidate.settings()[setting].ndcg5
    if before is None or after is None:
        return None
    drop = before - after
    if drop > tolerance:
        reason = f"golden {setting} NDCG@5 fell by {drop:.3f} (tolerance {tolerance:.3f})"
        return Check(f"golden {setting}", False, reason)
    return Check(f"golden {setting}", True, f"golden {setting} NDCG@5 within tolerance")


def held_out_vote_gain(champion: VoteSliceMetrics, candidate: VoteSliceMetrics) -> Check:
    gain = (candidate.agreement or 0.0) - (champion.agreement or 0.0)
    ndcg_gain = (candidate.ndcg5 or 0.0) - (champion.ndcg5 or 0.0)
    if gain > 0:
        return Check("held-out votes", True, f"held-out vote agreement {gain:+.3f}")
    if gain == 0 and ndcg_gain > 0:
        reason = (
            f"held-out votes: same agreement, 👍 prompts ranked higher (NDCG@5 {ndcg_gain:+.3f})"
        )
        return Check("held-out votes", True, reason)
    reason = f"no gain on held-out votes (agreement {gain:+.3f}, NDCG@5 of 👍 {ndcg_gain:+.3f})"
    return Check("held-out votes", False, reason)


def golden_gain(champion: GoldenMetrics, candidate: GoldenMetrics) -> Check:
    before, after = champion.test.ndcg5, candidate.test.ndcg5
    if before is None or after is None:
        return Check("golden gain", False, "no held-out votes and no golden queries to judge by")
    gain = after - before
    if gain <= 0:
        return Check("golden gain", False, f"no held-out votes and no golden gain ({gain:+.3f})")
    return Check("golden gain", True, f"no held-out votes; golden NDCG@5 {gain:+.3f}")


def gate_details(
    champion: GoldenMetrics,
    candidate: GoldenMetrics,
    champion_votes: VoteSliceMetrics,
    candidate_votes: VoteSliceMetrics,
    tolerance: float,
) -> dict[str, Any]:
    """``[champion, candidate]`` for each number the rule looks at."""
    return {
        "golden_test": [champion.test.ndcg5, candidate.test.ndcg5],
        "golden_heldout": [champion.held_out.ndcg5, candidate.held_out.ndcg5],
        "vote_slice_agreement": [champion_votes.agreement, candidate_votes.agreement],
        "vote_slice_ndcg5": [champion_votes.ndcg5, candidate_votes.ndcg5],
        "vote_slice_judgments": candidate_votes.judgments,
        "tolerance": tolerance,
    }
