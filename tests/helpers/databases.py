"""Fresh test databases on both engines, and what a run without PostgreSQL has to say.

Each engine's schema is migrated once per session into a template (a SQLite file, a
PostgreSQL template database, made by fixtures in tests/conftest.py); every test gets its own
copy, so tests never collide and a PostgreSQL run never touches another run's data.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

ENGINES = ["sqlite", "postgresql"]
PG_ADMIN_URL = os.environ.get(
    "PROMPTBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# The skip reason every PostgreSQL test carries when the server cannot be reached; the
# end-of-run banner counts the skips by it.
POSTGRES_UNREACHABLE = "PostgreSQL unreachable"


def on_ci() -> bool:
    """CI sets CI=true; there a missing PostgreSQL is an error, not a skip."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def pg_admin_connection() -> Any:
    """An autocommit connection to the admin database (CREATE/DROP DATABASE need one)."""
    import psycopg

    url = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(url, autocommit=True, connect_timeout=3)


def pg_url(database: str) -> str:
    """The URL of another database on the same server as the admin one."""
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database


def fresh_database_url(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path, migrated: bool = True
) -> str:
    """A new database of the given engine for one test: migrated (from the template) or empty."""
    if engine == "sqlite":
        target = tmp_path / f"pb_{uuid.uuid4().hex[:8]}.db"
        if migrated:
            shutil.copy(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite:///{target}"
    template_name: str = request.getfixturevalue("postgres_template")
    return pg_database_copy(request, template_name if migrated else None)


def pg_database_copy(request: pytest.FixtureRequest, template: str | None) -> str:
    """A new PostgreSQL database for one test, copied from ``template`` (empty without one),
    dropped when the test ends."""
    name = f"pb_test_{uuid.uuid4().hex[:10]}"
    with pg_admin_connection() as admin:
        admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))

    def drop() -> None:
        with pg_admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    request.addfinalizer(drop)
    return pg_url(name)


def skipped_for_lack_of_postgres(skipped: list[pytest.TestReport]) -> int:
    """How many of the skipped tests were skipped because PostgreSQL was unreachable."""
    return sum(
        isinstance(report.longrepr, tuple) and POSTGRES_UNREACHABLE in str(report.longrepr[2])
        for report in skipped
    )


def no_postgres_banner(count: int) -> list[str]:
    """The lines a local run without PostgreSQL ends with, so half a matrix never looks whole."""
    return [
        f"{count} test(s) were SKIPPED because PostgreSQL is unreachable at {PG_ADMIN_URL}.",
        "Only the SQLite half of the engine matrix ran; CI runs both engines and fails here.",
        "Start PostgreSQL (or set PROMPTBOT_TEST_POSTGRES_URL) to run the other half,",
        'or choose SQLite only on purpose with -k "not postgresql".',
    ]
