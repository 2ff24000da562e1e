"""Session-wide fixtures: migrated databases on SQLite and PostgreSQL, isolated per test, and
the model cache every test shares.

Tests that take ``db``, ``db_url`` or ``empty_db_url`` run once per engine (ids ``[sqlite]``
and ``[postgresql]``). Locally a PostgreSQL that cannot be reached skips its half and the run
ends with a banner that says how many tests that was; on CI (CI=true) it fails them instead,
because CI must run both engines. The database plumbing is in tests/helpers/databases.py.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings as hypothesis_settings

from tests.helpers.charts import ChartRecorder, record_charts
from tests.helpers.databases import (
    ENGINES,
    POSTGRES_UNREACHABLE,
    fresh_database_url,
    no_postgres_banner,
    on_ci,
    pg_admin_connection,
    pg_url,
    skipped_for_lack_of_postgres,
)

if TYPE_CHECKING:
    from storage.database import Database

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# What `promptbot`'s settings set in its own process (bot.cli.common.keep_library_files_inside),
# fixed here once: in-process CLI tests would otherwise leave it pointing into their tmp_path.
_LIBRARY_CACHE = Path(tempfile.mkdtemp(prefix="promptbot-test-libraries-"))
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(_LIBRARY_CACHE / "torchinductor"))
os.environ.setdefault("MPLCONFIGDIR", str(_LIBRARY_CACHE / "matplotlib"))

# Property tests: a modest number of examples keeps the fast suite fast; no deadline, because
# a shared 2-core CI runner makes any one example's time meaningless; no example database, so
# a run never depends on an earlier one. HYPOTHESIS_PROFILE=thorough looks harder, on purpose.
hypothesis_settings.register_profile("default", max_examples=150, deadline=None, database=None)
hypothesis_settings.register_profile("thorough", max_examples=5000, deadline=None, database=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated PostgreSQL database used as the template for per-test copies."""
    from storage import migrations

    try:
        admin = pg_admin_connection()
    except Exception as exc:
        if on_ci():
            pytest.fail(f"PostgreSQL is required on CI but unreachable: {exc}")
        pytest.skip(f"{POSTGRES_UNREACHABLE}: {exc}")
    name = f"pb_tmpl_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        migrations.upgrade(pg_url(name))
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


@pytest.fixture(params=ENGINES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database URL — once on SQLite, once on PostgreSQL."""
    return fresh_database_url(request.param, request, tmp_path)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    from storage.database import Database

    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture(params=ENGINES)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, unmigrated database URL — once on SQLite, once on PostgreSQL."""
    return fresh_database_url(request.param, request, tmp_path, migrated=False)


@pytest.fixture
def sqlite_db(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A migrated SQLite database, for tests that are about logic rather than the engine."""
    from storage.database import Database

    database = Database(fresh_database_url("sqlite", request, tmp_path))
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def model_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ONNX exports and corpus embeddings shared by the whole test session (made once)."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture
def drawn_charts(monkeypatch: pytest.MonkeyPatch) -> ChartRecorder:
    """Each matplotlib figure saved during the test, as the series it shows, by file name."""
    return record_charts(monkeypatch)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say loudly when half the engine matrix did not run, after everything else."""
    count = skipped_for_lack_of_postgres(terminalreporter.stats.get("skipped", []))
    if not count:
        return
    terminalreporter.write_sep("!", "PostgreSQL half of the engine matrix skipped", red=True)
    for line in no_postgres_banner(count):
        terminalreporter.write_line(line, red=True, bold=True)
    terminalreporter.write_sep("!", red=True)
