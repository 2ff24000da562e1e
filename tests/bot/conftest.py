"""A real PromptBot (discord.py) against tests.fakediscord, on a copy of a ready database.

Slow things happen once per session: the migrated database with the shipped corpus and the
base model (a template file each test copies), the ONNX export and corpus embeddings (the
shared ``model_cache_dir``), and a copy of the base model registered as "v1" in tests that
need a second version (its cache entries are copies of base's: same weights, same vectors).
Each test then starts its own FakeDiscord and bot, and checks nothing leaks.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.client import PromptBot
from retrieval.base_model import ensure_base_model
from retrieval.corpus import SHIPPED_CORPUS, import_prompt_file
from retrieval.engine import int8_dir_for, onnx_dir_for
from retrieval.int8_verdict import verdict_path
from retrieval.model_registry import ModelRef, base_model_path
from storage import migrations
from storage.database import Database
from storage.settings import Settings
from tests.fakediscord import FakeDiscord, running_client
from tests.helpers.bot import copy_database, make_settings, new_bot
from tests.helpers.databases import ENGINES, pg_admin_connection, pg_database_copy, pg_url

REPO_ROOT = Path(__file__).resolve().parents[2]
WARM_UP = """
import sys
from pathlib import Path
from retrieval.engine_factory import ServingEngineFactory
from serving.model_pool import ModelPool
from storage.database import Database
ModelPool(Database(sys.argv[1]), ServingEngineFactory(Path(sys.argv[2]), int8="auto")).refresh()
"""


# --------------------------------------------------------------------------- session


def _build_template(path: Path, with_corpus: bool) -> Path:
    url = f"sqlite:///{path}"
    migrations.upgrade(url)
    db = Database(url)
    try:
        if with_corpus:
            assert import_prompt_file(db, SHIPPED_CORPUS).ok
        ensure_base_model(db, actor="test")
    finally:
        db.dispose()
    return path


@pytest.fixture(scope="session")
def corpus_template(tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Path:
    """Migrated, shipped corpus imported, base champion; the base model embedded once.

    The ONNX export and the embedding run in a child process, so torch never loads into the
    test process (like the bot, tests then need only onnxruntime) and per-test garbage
    collection stays cheap.
    """
    path = _build_template(tmp_path_factory.mktemp("bot-db") / "corpus.db", with_corpus=True)
    subprocess.run(
        [sys.executable, "-c", WARM_UP, f"sqlite:///{path}", str(model_cache_dir)],
        check=True,
        cwd=REPO_ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    return path


@pytest.fixture(scope="session")
def empty_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated, base registered, no prompts imported."""
    return _build_template(tmp_path_factory.mktemp("bot-db") / "empty.db", with_corpus=False)


@pytest.fixture(scope="session")
def v1_model_dir(
    tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path, corpus_template: Path
) -> Path:
    """A copy of the base model (never written into site-packages) with warm cache entries."""
    target = tmp_path_factory.mktemp("models") / "v1"
    shutil.copytree(base_model_path(), target)
    base, v1 = ModelRef("base", base_model_path()), ModelRef("v1", target)
    shutil.copytree(onnx_dir_for(base, model_cache_dir), onnx_dir_for(v1, model_cache_dir))
    if int8_dir_for(base, model_cache_dir).is_dir():
        shutil.copytree(int8_dir_for(base, model_cache_dir), int8_dir_for(v1, model_cache_dir))
    if verdict_path(base, model_cache_dir).is_file():
        shutil.copy(verdict_path(base, model_cache_dir), verdict_path(v1, model_cache_dir))
    embeddings = model_cache_dir / "embeddings"  # layout of SearchEngine.build; else re-encoded
    for cached in embeddings.glob(f"{base.key}-*.npz"):
        shutil.copy(cached, embeddings / cached.name.replace(base.key, v1.key, 1))
    return target


# --------------------------------------------------------------------------- per test


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked ``both_engines`` runs its bot on SQLite and on PostgreSQL."""
    if "bot_engine" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "both_engines"
    ):
        metafunc.parametrize("bot_engine", ENGINES)


@pytest.fixture
def bot_engine() -> str:
    """The engine under ``bot_db``: SQLite, unless the test is marked ``both_engines``."""
    return "sqlite"


@pytest.fixture(scope="session")
def pg_corpus_template(corpus_template: Path, postgres_template: str) -> Iterator[str]:
    """``corpus_template`` on PostgreSQL, filled the same way, so its prompt ids (and with
    them the shared embedding cache) are the SQLite template's."""
    name = f"pb_corpus_{uuid.uuid4().hex[:10]}"
    with pg_admin_connection() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    db = Database(pg_url(name))
    try:
        assert import_prompt_file(db, SHIPPED_CORPUS).ok
        ensure_base_model(db, actor="test")
    finally:
        db.dispose()  # a template database must have no open connections
    yield name
    with pg_admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def bot_db(
    bot_engine: str, corpus_template: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Database]:
    if bot_engine == "sqlite":
        db = copy_database(corpus_template, tmp_path)
    else:
        db = Database(pg_database_copy(request, request.getfixturevalue("pg_corpus_template")))
    yield db
    db.dispose()


@pytest.fixture
def settings(bot_db: Database, tmp_path: Path, model_cache_dir: Path) -> Settings:
    return make_settings(bot_db, tmp_path, model_cache_dir)


@pytest_asyncio.fixture
async def no_leaks() -> AsyncIterator[None]:
    """Fail on unclosed sessions, never-retrieved task exceptions and pending tasks."""
    loop = asyncio.get_running_loop()
    reports: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reports.append(context))
    yield
    await asyncio.sleep(0.01)  # let just-finished tasks settle
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    gc.collect()
    loop.set_exception_handler(None)
    assert not reports, [r.get("message") for r in reports]
    assert not pending, pending


@pytest_asyncio.fixture
async def fake(no_leaks: None) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        server.add_guild("Prompt Club")
        yield server
        assert server.errors == []
        assert server.unhandled == []


@pytest_asyncio.fixture
async def bot(fake: FakeDiscord, settings: Settings, bot_db: Database) -> AsyncIterator[PromptBot]:
    async with running_client(new_bot(settings, bot_db), fake) as client:
        await fake.wait_for_commands("prompt", "model")
        yield client
