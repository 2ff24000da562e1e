"""Leases: one holder until it expires."""

from __future__ import annotations

from datetime import timedelta

from storage.database import Database
from storage.repositories import leases
from tests.helpers.storage import T0


def test_lease_is_exclusive_until_it_expires(db: Database) -> None:
    ttl = timedelta(minutes=10)
    with db.session() as s:
        assert leases.try_acquire_lease(s, "retrain", "worker-a", ttl, T0)
    with db.session() as s:
        assert not leases.try_acquire_lease(
            s, "retrain", "worker-b", ttl, T0 + timedelta(minutes=5)
        )
        assert leases.renew_lease(s, "retrain", "worker-a", ttl, T0 + timedelta(minutes=5))
    with db.session() as s:
        assert not leases.try_acquire_lease(
            s, "retrain", "worker-b", ttl, T0 + timedelta(minutes=14)
        )
        assert leases.try_acquire_lease(s, "retrain", "worker-b", ttl, T0 + timedelta(minutes=16))
        assert leases.current_lease(s, "retrain").holder == "worker-b"
        leases.release_lease(s, "retrain", "worker-b")
    with db.session() as s:
        assert leases.current_lease(s, "retrain") is None
