"""Model administration shared by the CLI (`promptbot models ...`) and Discord (`/model ...`).

Every change writes the audit log. Promotion and rollback only move the champion pointer;
serving processes notice within ``champion_poll_seconds`` and swap without a restart.
:func:`status` returns plain frozen dataclasses; how they read (Discord, CLI text, JSON) is
bot.formatting's business, so this module words nothing but refusals.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from retraining.experiment_check import current_verdict
from retraining.experiments import DecisionRule
from storage.database import Database, Session, utcnow
from storage.models import (
    Experiment,
    ExperimentDecision,
    ExperimentMode,
    ExperimentStatus,
    ModelStatus,
    ModelVersion,
    TrainingRun,
)
from storage.repositories.audit import write_audit
from storage.repositories.experiments import end_running_experiments, latest_experiment
from storage.repositories.model_versions import (
    UnknownModelVersionError,
    get_champion,
    get_version,
    latest_candidate,
    list_versions,
    rollback_target_id,
    set_champion,
)
from storage.repositories.training_runs import latest_run


class AdminError(ValueError):
    """A refused admin action, with a message fit to show the admin."""


@dataclass
class AdminResult:
    message: str
    changed: bool


@dataclass(frozen=True)
class VersionSummary:
    """One model version as admins see it."""

    id: str
    label: str
    status: ModelStatus
    parent: str | None
    created_at: datetime
    promoted_at: datetime | None
    metrics: dict[str, Any]
    reason: str
    path: str

    @property
    def test_ndcg5(self) -> float | None:
        """NDCG@5 on the whole test split, when the version was evaluated on it."""
        value = self.metrics.get("test", {}).get("all", {}).get("NDCG@5")
        return None if value is None else float(value)


@dataclass(frozen=True)
class ExperimentSummary:
    """The latest experiment; ``stats`` are the decision rule's numbers (votes per arm,
    interleaving wins/losses/ties, p-value), live when the status was asked with a rule."""

    id: int
    champion: str
    candidate: str
    status: ExperimentStatus
    mode: ExperimentMode
    traffic_share: float
    decision: ExperimentDecision | None
    reason: str
    stats: dict[str, Any]
    started_at: datetime
    decided_at: datetime | None


@dataclass(frozen=True)
class TrainingRunSummary:
    id: int
    status: str  # a TrainingRunStatus value, kept as stored
    reason: str
    candidate: str | None
    pairs: dict[str, Any]
    started_at: datetime
    finished_at: datetime | None
    error: str


@dataclass(frozen=True)
class ServingSummary:
    """What one serving process answers with; differs from the champion after a failed load."""

    version_id: str
    fallback_reason: str | None
    backend: str


@dataclass(frozen=True)
class LoopStatus:
    """`/model status` and `promptbot models status`: the state of the whole loop."""

    champion: VersionSummary | None
    candidate: VersionSummary | None
    experiment: ExperimentSummary | None
    last_training_run: TrainingRunSummary | None
    serving: ServingSummary | None = None  # only a serving process knows

    def with_serving(self, serving: ServingSummary) -> LoopStatus:
        return replace(self, serving=serving)


def version_summary(v: ModelVersion) -> VersionSummary:
    return VersionSummary(
        id=v.id,
        label=v.label,
        status=ModelStatus(v.status),
        parent=v.parent_id,
        created_at=v.created_at,
        promoted_at=v.promoted_at,
        metrics=v.metrics,
        reason=v.status_reason,
        path=v.artifact_path,
    )


def experiment_summary(experiment: Experiment, stats: dict[str, Any]) -> ExperimentSummary:
    return ExperimentSummary(
        id=experiment.id,
        champion=experiment.champion_version_id,
        candidate=experiment.candidate_version_id,
        status=ExperimentStatus(experiment.status),
        mode=ExperimentMode(experiment.mode),
        traffic_share=experiment.traffic_share,
        decision=ExperimentDecision(experiment.decision) if experiment.decision else None,
        reason=experiment.reason,
        stats=stats,
        started_at=experiment.started_at,
        decided_at=experiment.decided_at,
    )


def training_run_summary(run: TrainingRun) -> TrainingRunSummary:
    return TrainingRunSummary(
        id=run.id,
        status=run.status,
        reason=run.reason,
        candidate=run.candidate_version_id,
        pairs=run.pair_counts,
        started_at=run.started_at,
        finished_at=run.finished_at,
        error=run.error,
    )


def list_models(db: Database) -> list[VersionSummary]:
    with db.session() as session:
        return [version_summary(v) for v in list_versions(session)]


def promote(db: Database, version_id: str, actor: str, now: datetime | None = None) -> AdminResult:
    now = now or utcnow()
    with db.session() as session:
        version = get_version(session, version_id)
        if version is None:
            known = ", ".join(v.id for v in list_versions(session))
            raise AdminError(f"No model version '{version_id}' (known: {known}).")
        if version.status == ModelStatus.CHAMPION:
            return AdminResult(f"{version_id} is already the champion.", False)
        if not (Path(version.artifact_path) / "modules.json").is_file():
            raise AdminError(f"{version_id}'s model files are missing; it cannot serve.")
        previous = set_champion(session, version_id, actor=actor, action="promote", now=now)
        # a manual champion change ends any running experiment: its comparison no longer holds
        end_running_experiments(session, "promoted by an admin", now, promoted_id=version_id)
        write_audit(
            session,
            actor,
            "promote",
            now,
            target=version_id,
            details={"previous": previous.id if previous else None},
        )
    return AdminResult(
        f"{version_id} is now the champion (was {previous.id if previous else '-'}).", True
    )


def rollback(
    db: Database, actor: str, version_id: str | None = None, now: datetime | None = None
) -> AdminResult:
    now = now or utcnow()
    with db.session() as session:
        current = get_champion(session)
        target_id = version_id or rollback_target_id(session)
        if target_id is None:
            raise AdminError("There is no earlier champion to roll back to.")
        target = get_version(session, target_id)
        if target is None:
            raise AdminError(f"No model version '{target_id}'.")
        if current is not None and current.id == target_id:
            return AdminResult(f"{target_id} is already the champion.", False)
        if not (Path(target.artifact_path) / "modules.json").is_file():
            raise AdminError(f"{target_id}'s model files are missing; it cannot serve.")
        set_champion(session, target_id, actor=actor, action="rollback", now=now)
        end_running_experiments(session, "champion rolled back", now)
        write_audit(
            session,
            actor,
            "rollback",
            now,
            target=target_id,
            details={"from": current.id if current else None},
        )
    return AdminResult(
        f"Rolled back: {target_id} is now the champion (was {current.id if current else '-'}).",
        True,
    )


def _experiment_stats(
    session: Session, experiment: Experiment, rule: DecisionRule | None, now: datetime
) -> dict[str, Any]:
    """Stored stats are from the last scheduled check; with a rule, a running experiment's
    votes since then count too. current_verdict starts from the stored p-value, so its p is
    already the running minimum."""
    if rule is None or experiment.status != ExperimentStatus.RUNNING:
        return experiment.stats or {}
    return current_verdict(session, experiment, rule, now).stats


def status(
    db: Database, rule: DecisionRule | None = None, now: datetime | None = None
) -> LoopStatus:
    """The loop's state; with ``rule``, the running experiment's numbers are live."""
    now = now or utcnow()
    with db.session() as session:
        champion = get_champion(session)
        candidate = latest_candidate(session)
        experiment = latest_experiment(session)
        run = latest_run(session)
        return LoopStatus(
            champion=version_summary(champion) if champion else None,
            candidate=version_summary(candidate) if candidate else None,
            experiment=None
            if experiment is None
            else experiment_summary(experiment, _experiment_stats(session, experiment, rule, now)),
            last_training_run=training_run_summary(run) if run else None,
        )


__all__ = [
    "AdminError",
    "AdminResult",
    "ExperimentSummary",
    "LoopStatus",
    "ServingSummary",
    "TrainingRunSummary",
    "UnknownModelVersionError",
    "VersionSummary",
    "list_models",
    "promote",
    "rollback",
    "status",
]
