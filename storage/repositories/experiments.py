"""Experiments: at most one running at a time, and the votes cast on what each one served.

The decision rules (retraining.experiments, retraining.interleaving) only ever see the vote
tallies returned here, so how a vote is tied to an arm or a team is decided in one place:
through the result it was cast on, the request that result answered, and that request's
experiment. Removed votes never count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from storage.models import (
    Arm,
    Experiment,
    ExperimentDecision,
    ExperimentMode,
    ExperimentStatus,
    Request,
    Result,
    Vote,
)


class ExperimentAlreadyRunningError(RuntimeError):
    """A second experiment would split traffic the first one relies on."""


@dataclass(frozen=True)
class ArmVoteCount:
    """How many votes of one value the results of one arm got (from one user, where asked)."""

    arm: str | None
    value: int
    count: int
    user_id: str = ""


@dataclass(frozen=True)
class TeamVoteCount:
    """How many votes of one value one user gave one team's results in one interleaved
    request."""

    request_id: int
    team: str | None
    value: int
    count: int
    user_id: str = ""


@dataclass(frozen=True)
class InterleavedVote:
    """One vote on an interleaved result, with what is needed to re-credit it offline."""

    request_id: int
    model_version_id: str
    prompt_id: str
    value: int
    query: str


def running_experiment(session: Session) -> Experiment | None:
    return session.scalars(
        select(Experiment)
        .where(Experiment.status == ExperimentStatus.RUNNING.value)
        .order_by(Experiment.id.desc())
    ).first()


def latest_experiment(session: Session) -> Experiment | None:
    """The most recently started experiment, running or finished."""
    return session.scalars(select(Experiment).order_by(Experiment.id.desc()).limit(1)).first()


def get_experiment(session: Session, experiment_id: int) -> Experiment | None:
    return session.get(Experiment, experiment_id)


def list_experiments(session: Session, mode: ExperimentMode | None = None) -> list[Experiment]:
    """Experiments oldest first, optionally only those of one mode."""
    stmt = select(Experiment).order_by(Experiment.id)
    if mode is not None:
        stmt = stmt.where(Experiment.mode == mode.value)
    return list(session.scalars(stmt))


def start_experiment(
    session: Session,
    champion_id: str,
    candidate_id: str,
    share: float,
    now: datetime,
    mode: ExperimentMode = ExperimentMode.AB,
) -> Experiment:
    if running_experiment(session) is not None:
        raise ExperimentAlreadyRunningError("an experiment is already running")
    experiment = Experiment(
        champion_version_id=champion_id,
        candidate_version_id=candidate_id,
        traffic_share=share,
        mode=ExperimentMode(mode).value,  # settings hand in the plain string
        status=ExperimentStatus.RUNNING.value,
        started_at=now,
        stats={},
    )
    session.add(experiment)
    session.flush()
    return experiment


def finish_experiment(
    session: Session,
    experiment: Experiment,
    decision: ExperimentDecision,
    reason: str,
    now: datetime,
    stats: dict[str, Any] | None = None,
) -> None:
    experiment.status = ExperimentStatus.FINISHED.value
    experiment.decision = ExperimentDecision(decision).value
    experiment.reason = reason
    experiment.decided_at = now
    if stats is not None:
        experiment.stats = stats
    session.flush()


def end_running_experiments(
    session: Session, reason: str, now: datetime, promoted_id: str | None = None
) -> list[int]:
    """Finish every running experiment; the one whose candidate is ``promoted_id`` counts as
    promoted, the others keep their champion. Returns the ids of the experiments ended."""
    ended = []
    running = select(Experiment).where(Experiment.status == ExperimentStatus.RUNNING.value)
    for experiment in session.scalars(running):
        promoted = experiment.candidate_version_id == promoted_id
        decision = ExperimentDecision.PROMOTED if promoted else ExperimentDecision.KEPT
        finish_experiment(session, experiment, decision, reason, now)
        ended.append(experiment.id)
    return ended


def arm_vote_counts(session: Session, experiment_id: int) -> list[ArmVoteCount]:
    """Votes per (result arm, value) on everything served in this experiment."""
    stmt = _experiment_votes(experiment_id, Result.arm, Vote.value, func.count()).group_by(
        Result.arm, Vote.value
    )
    return [ArmVoteCount(arm, value, n) for arm, value, n in session.execute(stmt)]


def arm_vote_counts_by_user(session: Session, experiment_id: int) -> list[ArmVoteCount]:
    """Votes per (result arm, value, voter) on everything served in this experiment."""
    stmt = _experiment_votes(
        experiment_id, Result.arm, Vote.value, func.count(), Vote.voter_id
    ).group_by(Result.arm, Vote.value, Vote.voter_id)
    return [ArmVoteCount(*row) for row in session.execute(stmt)]


def _experiment_votes(experiment_id: int, *columns: Any) -> Select[Any]:
    """``columns`` of the standing votes on results served in this experiment."""
    return (
        select(*columns)
        .join(Vote, Vote.result_id == Result.id)
        .join(Request, Request.id == Result.request_id)
        .where(Request.experiment_id == experiment_id, Vote.removed_at.is_(None))
    )


def _interleaved_votes(experiment_id: int, *columns: Any) -> Select[Any]:
    return _experiment_votes(experiment_id, *columns).where(Request.arm == Arm.INTERLEAVED.value)


def team_vote_counts(session: Session, experiment_id: int) -> list[TeamVoteCount]:
    """Votes per (interleaved request, result team, value) in this experiment."""
    stmt = _interleaved_votes(
        experiment_id, Result.request_id, Result.arm, Vote.value, func.count(), Vote.voter_id
    ).group_by(Result.request_id, Result.arm, Vote.value, Vote.voter_id)
    return [TeamVoteCount(*row) for row in session.execute(stmt)]


def interleaved_votes(session: Session, experiment_id: int) -> list[InterleavedVote]:
    """Every vote on this experiment's interleaved results, one row per vote."""
    stmt = _interleaved_votes(
        experiment_id,
        Result.request_id,
        Result.model_version_id,
        Result.prompt_id,
        Vote.value,
        Request.normalized_query,
    )
    return [InterleavedVote(*row) for row in session.execute(stmt)]
