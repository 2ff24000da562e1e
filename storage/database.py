"""Engine and session setup; one session per unit of work.

SQLite runs in WAL mode with foreign keys on (set on every new connection). The app refuses to
run on a database whose schema is not at the Alembic head, and says which command fixes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


class SchemaNotMigratedError(RuntimeError):
    """The database is empty or behind the code's migrations."""


def utcnow() -> datetime:
    """Naive UTC now: the one time representation stored in the database."""
    return datetime.now(UTC).replace(tzinfo=None)


def _enable_sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _enable_sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


class Database:
    """An engine plus a session factory; ``with db.session() as s:`` is one transaction."""

    def __init__(self, url: str, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine or make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def require_migrated(self) -> None:
        from storage.migrations import current_revision, head_revision

        current, head = current_revision(self.engine), head_revision()
        if current != head:
            state = "is empty" if current is None else f"is at revision {current}, code at {head}"
            raise SchemaNotMigratedError(
                f"The database {self.safe_url} {state}. Run `promptbot db upgrade` "
                "(or `promptbot init`) first."
            )

    @property
    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()
