"""Model versions and the champion pointer.

Versions never change once trained; what moves is which one is champion (like MLflow's
aliases). Every move is appended to ``champion_changes`` so a rollback can walk back.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import ChampionChange, ModelStatus, ModelVersion

BASE_VERSION_ID = "base"
SYMBOLIC_REFS = ("base", "champion", "candidate")


class UnknownModelVersionError(LookupError):
    pass


def register_version(
    session: Session,
    version_id: str,
    artifact_path: str,
    status: ModelStatus,
    now: datetime,
    label: str = "",
    parent_id: str | None = None,
    hyperparams: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    dataset_id: int | None = None,
    status_reason: str = "",
) -> ModelVersion:
    version = ModelVersion(
        id=version_id,
        label=label,
        artifact_path=artifact_path,
        parent_id=parent_id,
        status=status.value,
        status_reason=status_reason,
        hyperparams=hyperparams or {},
        metrics=metrics or {},
        dataset_id=dataset_id,
        created_at=now,
    )
    session.add(version)
    session.flush()
    return version


def next_version_id(session: Session) -> str:
    numbers = [
        int(m.group(1))
        for vid in session.scalars(select(ModelVersion.id))
        if (m := re.fullmatch(r"v(\d+)", vid))
    ]
    return f"v{max(numbers, default=0) + 1}"


def get_version(session: Session, version_id: str) -> ModelVersion | None:
    return session.get(ModelVersion, version_id)


def get_champion(session: Session) -> ModelVersion | None:
    return session.scalars(
        select(ModelVersion).where(ModelVersion.status == ModelStatus.CHAMPION.value)
    ).first()


def latest_candidate(session: Session) -> ModelVersion | None:
    return session.scalars(
        select(ModelVersion)
        .where(ModelVersion.status == ModelStatus.CANDIDATE.value)
        .order_by(ModelVersion.created_at.desc(), ModelVersion.id.desc())
    ).first()


def resolve_version(session: Session, ref: str) -> ModelVersion:
    """``base``, ``champion``, ``candidate`` or a version id -> the version row."""
    if ref == "champion":
        version = get_champion(session)
    elif ref == "candidate":
        version = latest_candidate(session)
    else:
        version = get_version(session, ref)
    if version is None:
        known = ", ".join(v.id for v in list_versions(session)) or "none registered"
        raise UnknownModelVersionError(f"No model version '{ref}' (known: {known}).")
    return version


def list_versions(session: Session) -> list[ModelVersion]:
    return list(session.scalars(select(ModelVersion).order_by(ModelVersion.created_at)))


def set_status(session: Session, version_id: str, status: ModelStatus, reason: str = "") -> None:
    version = session.get(ModelVersion, version_id)
    if version is None:
        raise UnknownModelVersionError(f"No model version '{version_id}'.")
    version.status = status.value
    version.status_reason = reason
    session.flush()


def _status_after_serving(version: ModelVersion, rolled_back: bool) -> str:
    if version.id == BASE_VERSION_ID:
        return ModelStatus.BASE.value
    return ModelStatus.REJECTED.value if rolled_back else ModelStatus.RETIRED.value


def set_champion(
    session: Session, version_id: str, actor: str, action: str, now: datetime
) -> ModelVersion | None:
    """Make ``version_id`` champion; returns the version it replaced (or None)."""
    target = session.get(ModelVersion, version_id)
    if target is None:
        raise UnknownModelVersionError(f"No model version '{version_id}'.")
    previous = get_champion(session)
    if previous is not None and previous.id == target.id:
        return previous
    if previous is not None:
        previous.status = _status_after_serving(previous, rolled_back=action == "rollback")
        previous.status_reason = f"{action} by {actor}"
        session.flush()  # the one-champion index must see the old one step down first
    target.status = ModelStatus.CHAMPION.value
    target.status_reason = f"{action} by {actor}"
    target.promoted_at = now
    session.add(
        ChampionChange(
            version_id=target.id,
            previous_version_id=previous.id if previous else None,
            action=action,
            actor=actor,
            at=now,
        )
    )
    session.flush()
    return previous


def rollback_target_id(session: Session) -> str | None:
    """The most recent earlier champion, skipping versions that were themselves rolled back."""
    current = get_champion(session)
    skipped = {current.id} if current else set()
    changes = session.scalars(select(ChampionChange).order_by(ChampionChange.id.desc()))
    for change in changes:
        if change.action == "rollback" and change.previous_version_id:
            skipped.add(change.previous_version_id)
        for candidate in (change.version_id, change.previous_version_id):
            if candidate and candidate not in skipped:
                return candidate
    return None


def champion_history(session: Session) -> list[ChampionChange]:
    return list(session.scalars(select(ChampionChange).order_by(ChampionChange.id)))
