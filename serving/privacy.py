"""A user's data: what the bot holds about them, and forgetting it (Discord's developer policy
expects deletion on request). `/privacy show|forget` and `promptbot users forget` both call
these, so the two do exactly the same thing (storage.repositories.privacy says what).

The audit log records that a deletion happened and how much it deleted, never whose data it
was: keeping the id there would keep exactly what was asked to go.
"""

from __future__ import annotations

from datetime import datetime

from storage.database import Database, utcnow
from storage.repositories.audit import write_audit
from storage.repositories.privacy import Forgotten, UserData, forget_user, user_data

__all__ = ["Forgotten", "UserData", "describe_user", "forget"]


def describe_user(db: Database, user_id: str) -> UserData:
    with db.session() as session:
        return user_data(session, user_id)


def forget(db: Database, user_id: str, via: str, now: datetime | None = None) -> Forgotten:
    """Delete the user's votes and unlink their requests; ``via`` says who asked (``discord``
    for the user themself, ``cli:<operator>`` for a request by mail)."""
    now = now or utcnow()
    with db.session() as session:
        forgotten = forget_user(session, user_id, now)
        write_audit(
            session,
            via,
            "privacy.forget",
            now,
            "user",
            {"votes": forgotten.votes, "requests": forgotten.requests},
        )
    return forgotten
