"""INSERT ... ON CONFLICT for the engine a session is bound to.

Select-then-insert loses a race: two processes both see no row and the second INSERT fails on
the unique constraint. ``ON CONFLICT`` settles the race inside the database, and both engines
promptbot supports speak it with the same SQLAlchemy API (the sqlite and postgresql dialects'
``insert``), so repositories pick the dialect here and write one statement.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_for(session: Session, entity: Any) -> Any:
    """The dialect's ``insert(entity)``, which has ``on_conflict_do_nothing/do_update``."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(entity)
    return sqlite.insert(entity)
