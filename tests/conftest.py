"""Shared fixtures: migrated databases on SQLite and PostgreSQL, isolated per test.

Each engine's schema is migrated once per session into a template (a SQLite file, a
PostgreSQL template database); every test gets its own copy, so tests never collide and a
PostgreSQL run never touches another run's data. On CI (CI=true) a PostgreSQL that cannot be
reached fails the tests instead of skipping them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PG_ADMIN_URL = os.environ.get(
    "PROMPTBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ENGINES = ["sqlite", "postgresql"]


def _pg_admin_connection():  # type: ignore[no-untyped-def]
    import psycopg

    url = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(url, autocommit=True, connect_timeout=3)


def _pg_url(database: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated PostgreSQL database used as the template for per-test copies."""
    from storage import migrations

    try:
        admin = _pg_admin_connection()
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required on CI but unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    name = f"pb_tmpl_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        migrations.upgrade(_pg_url(name))
        yield name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from storage import migrations

    path = tmp_path_factory.mktemp("sqlite_template") / "template.db"
    migrations.upgrade(f"sqlite:///{path}")
    return path


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
    name = f"pb_test_{uuid.uuid4().hex[:10]}"
    template = f' TEMPLATE "{template_name}"' if migrated else ""
    with _pg_admin_connection() as admin:
        admin.execute(f'CREATE DATABASE "{name}"{template}')

    def drop() -> None:
        with _pg_admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    request.addfinalizer(drop)
    return _pg_url(name)


@pytest.fixture(params=ENGINES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database URL — once on SQLite, once on PostgreSQL."""
    return fresh_database_url(request.param, request, tmp_path)


@pytest.fixture
def db(db_url: str):  # type: ignore[no-untyped-def]
    from storage.database import Database

    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture(params=ENGINES)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, unmigrated database URL — once on SQLite, once on PostgreSQL."""
    return fresh_database_url(request.param, request, tmp_path, migrated=False)


@pytest.fixture
def sqlite_db(tmp_path: Path, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """A migrated SQLite database, for tests that are about logic rather than the engine."""
    from storage.database import Database

    database = Database(fresh_database_url("sqlite", request, tmp_path))
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def model_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ONNX exports and corpus embeddings shared by the whole test session (made once)."""
    return tmp_path_factory.mktemp("model-cache")
