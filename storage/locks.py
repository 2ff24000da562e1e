"""One-at-a-time sections across processes: migrations and first-time set-up.

Two `promptbot init`s on a fresh database both see an empty schema and both run CREATE TABLE;
the second fails. Such sections hold a lock the database's other users can see:

* PostgreSQL: a session-level advisory lock (``pg_advisory_lock``) on a connection of its own,
  released on exit or when the connection dies (a killed process never leaves it held);
* SQLite: an exclusive ``flock`` on a file beside the database (``<name>.db.lock``, 0600),
  which the kernel releases when the process dies; an in-memory database needs none.

The lock is per database and per name, so unrelated sections do not wait for each other.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from storage.database import (
    PRIVATE_FILE_MODE,
    ensure_private_dir,
    make_engine,
    parse_url,
    sqlite_path,
)


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (what pg_advisory_lock takes)."""
    digest = hashlib.sha256(f"promptbot:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_file_for(database: Path, name: str) -> Path:
    return database.with_name(f"{database.name}.{name}.lock")


@contextmanager
def database_lock(url: str, name: str) -> Iterator[None]:
    """Hold the lock ``name`` on the database at ``url`` for the duration of the block."""
    if parse_url(url).get_backend_name() == "postgresql":
        with _advisory_lock(url, advisory_key(name)):
            yield
        return
    path = sqlite_path(url)
    if path is None:
        yield
        return
    with _file_lock(lock_file_for(path, name)):
        yield


@contextmanager
def _advisory_lock(url: str, key: int) -> Iterator[None]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    finally:
        engine.dispose()


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    ensure_private_dir(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, PRIVATE_FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
