"""Leases: a named lock with an expiry, so only one retraining cycle runs across processes.

Acquisition is a single conditional UPDATE (or an INSERT racing on the primary key), which is
atomic on both SQLite and PostgreSQL. A holder that dies simply lets its lease expire.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import Lease


def try_acquire_lease(
    session: Session, name: str, holder: str, ttl: timedelta, now: datetime
) -> bool:
    taken = session.execute(
        update(Lease)
        .where(Lease.name == name, or_(Lease.expires_at < now, Lease.holder == holder))
        .values(holder=holder, acquired_at=now, expires_at=now + ttl)
    )
    if taken.rowcount:  # type: ignore[attr-defined]
        return True
    try:
        with session.begin_nested():
            session.add(Lease(name=name, holder=holder, acquired_at=now, expires_at=now + ttl))
    except IntegrityError:
        return False
    return True


def renew_lease(session: Session, name: str, holder: str, ttl: timedelta, now: datetime) -> bool:
    renewed = session.execute(
        update(Lease).where(Lease.name == name, Lease.holder == holder).values(expires_at=now + ttl)
    )
    return bool(renewed.rowcount)  # type: ignore[attr-defined]


def release_lease(session: Session, name: str, holder: str) -> None:
    session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))


def current_lease(session: Session, name: str) -> Lease | None:
    return session.get(Lease, name)
