"""Engine and session setup; one session per unit of work.

SQLite runs in WAL mode with foreign keys on (set on every new connection). The app refuses to
run on a database whose schema is not at the Alembic head, and says which command fixes it.

A database that cannot be used at all (a malformed URL, a server that does not answer, a
missing database, a SQLite file locked past the busy timeout) raises :class:`DatabaseUnavailable`
with a one-line message, never a driver traceback: SQLAlchemy's exceptions are translated here,
at the engine, so callers above storage/ never need to know SQLAlchemy's exception types. The
messages show the URL with its password masked.

The SQLite file holds Discord user ids and what people searched for, so it is private to its
owner: the folders promptbot creates for it are 0700 and the database file is 0600 (SQLite
gives its -wal and -shm files the database file's mode).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_S = 30.0
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
SQLITE_COMPANION_SUFFIXES = ("-wal", "-shm", "-journal")
# The migrations and the tests cover these two; anything else would fail in odd places later.
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
# SQLite errors that mean the file itself cannot be used (other SQLite errors stay as they are).
SQLITE_UNUSABLE_FILE = (
    "unable to open",
    "readonly database",
    "disk i/o error",
    "file is not a database",
    "database or disk is full",
    "malformed",
)
# postgres:// is what Heroku-style hosts hand out; SQLAlchemy only knows the postgresql name.
_URL_ALIASES = {"postgres": "postgresql+psycopg"}
_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


class SchemaNotMigratedError(RuntimeError):
    """The database is empty or behind the code's migrations."""


class DatabaseUnavailable(ValueError):
    """The database cannot be used at all; the message is one line, password masked."""


def is_transient(error: BaseException) -> bool:
    """Whether trying the same write again later may succeed: the database was unreachable,
    locked, restarted, or failed the commit (OperationalError: also PostgreSQL's serialization
    and deadlock failures). A constraint or data error is not transient: it would fail again.

    Callers above storage/ ask this instead of catching SQLAlchemy's exception types.
    """
    if isinstance(error, DatabaseUnavailable | OperationalError | InterfaceError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def utcnow() -> datetime:
    """Naive UTC now: the one time representation stored in the database."""
    return datetime.now(UTC).replace(tzinfo=None)


def mask_password(url: str) -> str:
    """The URL with any password replaced by ***, also for URLs SQLAlchemy cannot parse."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # unparseable: fall back to a pattern, never echo the secret
        return _PASSWORD_IN_URL.sub(r"\1***@", url)


def normalize_url(url: str) -> str:
    """Accept the ``postgres://`` spelling by rewriting it to the driver promptbot ships."""
    scheme, sep, rest = url.partition("://")
    return f"{_URL_ALIASES[scheme]}{sep}{rest}" if sep and scheme in _URL_ALIASES else url


def parse_url(url: str) -> URL:
    """SQLAlchemy's URL, or DatabaseUnavailable naming what is wrong with the string."""
    try:
        parsed = make_url(normalize_url(url))
        parsed.get_dialect()  # an unknown scheme fails here, not at the first query
        backend = parsed.get_backend_name()
        parsed.port  # noqa: B018 - a non-numeric port raises on access
    except (ArgumentError, ValueError, ImportError) as exc:
        raise DatabaseUnavailable(_invalid_url(url, _first_line(exc))) from None
    if backend not in SUPPORTED_BACKENDS:
        raise DatabaseUnavailable(_invalid_url(url, f"{backend} is not supported"))
    return parsed


def _invalid_url(url: str, reason: str) -> str:
    return (
        f"invalid database URL {mask_password(url)!r} ({reason}); expected e.g. "
        "sqlite:////path/promptbot.db or postgresql://user:password@host:5432/name"
    )


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL; None for other engines and in-memory databases."""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` and any missing parents as 0700; folders that already exist are kept."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue
        except OSError as exc:
            raise DatabaseUnavailable(f"cannot create {folder}: {exc.strerror}") from None


def _make_sqlite_file_private(path: Path) -> None:
    """Create the database file 0600 before SQLite does; tighten files left by older versions."""
    ensure_private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE_MODE))
    except OSError as exc:
        raise DatabaseUnavailable(f"cannot create the database {path}: {exc.strerror}") from None
    for file in (path, *(Path(f"{path}{suffix}") for suffix in SQLITE_COMPANION_SUFFIXES)):
        with contextlib.suppress(OSError):  # a file owned by someone else keeps its mode
            if file.exists() and file.stat().st_mode & 0o077:
                file.chmod(PRIVATE_FILE_MODE)


def _enable_sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    cursor.close()


def _first_line(error: BaseException | None) -> str:
    text = str(error or "").strip()
    return text.splitlines()[0] if text else type(error).__name__


def _unavailable_message(context: ExceptionContext, safe_url: str) -> str | None:
    """A one-line explanation when the database itself is unusable; None for other errors."""
    original = context.original_exception
    is_sqlite = context.engine is not None and context.engine.dialect.name == "sqlite"
    reason = _first_line(original)
    if is_sqlite and "locked" in reason:
        return (
            f"the database {safe_url} is locked by another process "
            f"(waited {SQLITE_BUSY_TIMEOUT_S:g} s); try again when it has finished"
        )
    if is_sqlite and any(m in reason.lower() for m in SQLITE_UNUSABLE_FILE):
        return f"cannot use the database {safe_url}: {reason}"
    if not isinstance(context.sqlalchemy_exception, OperationalError | InterfaceError):
        return None
    if context.connection is None or context.is_disconnect:
        return f"cannot use the database {safe_url}: {reason}"
    return None


def _translate_errors(engine: Engine, safe_url: str) -> None:
    def handle_error(context: ExceptionContext) -> None:
        if context.is_pre_ping:  # the pool retries with a fresh connection; let it
            return
        message = _unavailable_message(context, safe_url)
        if message:
            raise DatabaseUnavailable(message)

    event.listen(engine, "handle_error", handle_error)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; a SQLite file (and its folders) is created private if missing."""
    parsed = parse_url(url)
    try:
        engine = _create_engine(parsed)
    except ImportError as exc:  # e.g. postgresql+asyncpg without asyncpg installed
        raise DatabaseUnavailable(_invalid_url(url, f"driver not installed: {exc.name}")) from None
    _translate_errors(engine, parsed.render_as_string(hide_password=True))
    return engine


def _create_engine(parsed: URL) -> Engine:
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    path = sqlite_path(parsed.render_as_string(hide_password=False))
    if path is not None:
        _make_sqlite_file_private(path)
    engine = create_engine(
        parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
    )
    event.listen(engine, "connect", _enable_sqlite_pragmas)
    return engine


class Database:
    """An engine plus a session factory; ``with db.session() as s:`` is one transaction.

    ``must_exist`` is for commands that only use a database: a mistyped SQLite path then says
    so instead of quietly creating a new, empty database there.
    """

    def __init__(self, url: str, engine: Engine | None = None, must_exist: bool = False) -> None:
        self.url = normalize_url(url)
        if must_exist:
            path = sqlite_path(self.url)
            if path is not None and not path.is_file():
                raise DatabaseUnavailable(f"no database at {path}: run `promptbot init`")
        self.engine = engine or make_engine(self.url)
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
        return mask_password(self.url)

    def dispose(self) -> None:
        self.engine.dispose()
