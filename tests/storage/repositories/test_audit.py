"""The audit log round trip."""

from __future__ import annotations

from storage.database import Database
from storage.repositories import audit
from tests.helpers.storage import T0


def test_audit_round_trip(db: Database) -> None:
    with db.session() as s:
        audit.write_audit(s, "alice#1", "promote", T0, target="v1", details={"from": "base"})
    with db.session() as s:
        (entry,) = audit.recent_audit(s)
        assert (entry.actor, entry.action, entry.target, entry.details) == (
            "alice#1",
            "promote",
            "v1",
            {"from": "base"},
        )
