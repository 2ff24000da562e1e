"""Opening a database: an un-migrated schema is refused with the command that fixes it, and
SQLite runs in WAL mode with foreign keys enforced."""

from __future__ import annotations

import pytest

from storage import migrations
from storage.database import Database, SchemaNotMigratedError


def test_unmigrated_database_is_refused_with_the_command_to_run(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    try:
        with pytest.raises(SchemaNotMigratedError, match="promptbot db upgrade"):
            db.require_migrated()
        migrations.upgrade(empty_db_url)
        db.require_migrated()
    finally:
        db.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_db: Database) -> None:
    with sqlite_db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
