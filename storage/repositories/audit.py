"""The audit log: who did which admin action, when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import AuditEntry


def write_audit(
    session: Session,
    actor: str,
    action: str,
    now: datetime,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(at=now, actor=actor, action=action, target=target, details=details or {})
    session.add(entry)
    session.flush()
    return entry


def recent_audit(session: Session, limit: int = 50) -> list[AuditEntry]:
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    return list(session.scalars(stmt))
