"""Model administration shared by the CLI (`promptbot models ...`) and Discord (`/model ...`).

Every change writes the audit log. Promotion and rollback only move the champion pointer;
serving processes notice within ``champion_poll_seconds`` and swap without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from storage.database import Database, utcnow
from storage.models import Experiment, ModelStatus, ModelVersion, TrainingRun
from storage.repositories.audit import write_audit
from storage.repositories.model_versions import (
    UnknownModelVersionError,
    get_champion,
    get_version,
    latest_candidate,
    list_versions,
    rollback_target_id,
    set_champion,
)


class AdminError(ValueError):
    """A refused admin action, with a message fit to show the admin."""


@dataclass
class AdminResult:
    message: str
    changed: bool


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def version_summary(v: ModelVersion) -> dict[str, Any]:
    return {
        "id": v.id,
        "label": v.label,
        "status": v.status,
        "parent": v.parent_id,
        "created_at": v.created_at.isoformat(timespec="seconds"),
        "promoted_at": _iso(v.promoted_at),
        "metrics": v.metrics,
        "reason": v.status_reason,
        "path": v.artifact_path,
    }


def list_models(db: Database) -> list[dict[str, Any]]:
    with db.session() as session:
        return [version_summary(v) for v in list_versions(session)]


def promote(db: Database, version_id: str, actor: str, now: datetime | None = None) -> AdminResult:
    now = now or utcnow()
    with db.session() as session:
        version = get_version(session, version_id)
        if version is None:
            known = ", ".join(v.id for v in list_versions(session))
            raise AdminError(f"No model version '{version_id}' (known: {known}).")
        if version.status == ModelStatus.CHAMPION.value:
            return AdminResult(f"{version_id} is already the champion.", False)
        if not (Path(version.artifact_path) / "modules.json").is_file():
            raise AdminError(f"{version_id}'s model files are missing; it cannot serve.")
        previous = set_champion(session, version_id, actor=actor, action="promote", now=now)
        _end_experiments_on(session, version_id, now, "promoted by an admin")
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
        _end_experiments_on(session, None, now, "champion rolled back")
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


def _end_experiments_on(session, promoted_id: str | None, now: datetime, reason: str) -> None:  # type: ignore[no-untyped-def]
    """A manual champion change ends any running experiment: its comparison no longer holds."""
    for experiment in session.scalars(select(Experiment).where(Experiment.status == "running")):
        experiment.status = "finished"
        experiment.decision = (
            "promoted" if experiment.candidate_version_id == promoted_id else "kept"
        )
        experiment.reason = reason
        experiment.decided_at = now


def status(db: Database) -> dict[str, Any]:
    with db.session() as session:
        champion = get_champion(session)
        candidate = latest_candidate(session)
        experiment = session.scalars(
            select(Experiment).order_by(Experiment.id.desc()).limit(1)
        ).first()
        run = session.scalars(select(TrainingRun).order_by(TrainingRun.id.desc()).limit(1)).first()
        return {
            "champion": version_summary(champion) if champion else None,
            "candidate": version_summary(candidate) if candidate else None,
            "experiment": None
            if experiment is None
            else {
                "id": experiment.id,
                "champion": experiment.champion_version_id,
                "candidate": experiment.candidate_version_id,
                "status": experiment.status,
                "mode": experiment.mode,
                "traffic_share": experiment.traffic_share,
                "decision": experiment.decision,
                "reason": experiment.reason,
                "stats": experiment.stats,
                "started_at": experiment.started_at.isoformat(timespec="seconds"),
                "decided_at": _iso(experiment.decided_at),
            },
            "last_training_run": None
            if run is None
            else {
                "id": run.id,
                "status": run.status,
                "reason": run.reason,
                "candidate": run.candidate_version_id,
                "pairs": run.pair_counts,
                "started_at": run.started_at.isoformat(timespec="seconds"),
                "finished_at": _iso(run.finished_at),
                "error": run.error,
            },
        }


__all__ = [
    "AdminError",
    "AdminResult",
    "UnknownModelVersionError",
    "list_models",
    "promote",
    "rollback",
    "status",
]
