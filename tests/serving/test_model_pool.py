"""Hot swapping: a new champion is picked up; a broken one never takes serving down."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest

from retrieval.base_model import ensure_base_model
from retrieval.corpus import import_prompt_file
from retrieval.engine_factory import ServingEngineFactory
from retrieval.model_registry import base_model_path
from serving.model_pool import EngineBuilding, ModelPool
from storage.database import Database
from storage.models import ModelStatus
from storage.repositories.model_versions import get_version, register_version, set_champion
from tests.helpers.serving import FakeEngines, GatedEngines, import_word_corpus

pytestmark = pytest.mark.slow  # every test exports the model to ONNX

T0 = datetime(2026, 1, 1)


def setup(db: Database, tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "a", "text": "A dragon sleeps."}\n{"id": "b", "text": "A ghost."}\n')
    import_prompt_file(db, corpus)
    ensure_base_model(db)


def test_new_champion_is_swapped_in(
    sqlite_db: Database, tmp_path: Path, model_cache_dir: Path
) -> None:
    setup(sqlite_db, tmp_path)
    pool = ModelPool(sqlite_db, ServingEngineFactory(model_cache_dir))
    assert pool.refresh().serving_id == "base"
    copy = tmp_path / "v1"
    shutil.copytree(base_model_path(), copy)
    with sqlite_db.session() as s:
        register_version(s, "v1", str(copy), ModelStatus.CANDIDATE, T0)
        set_champion(s, "v1", "test", "promote", T0)
    state = pool.refresh()
    assert (state.champion_id, state.serving_id, state.fallback_reason) == ("v1", "v1", None)
    assert pool.serving_engine().model.version_id == "v1"


def test_broken_champion_falls_back_and_says_why(
    sqlite_db: Database, tmp_path: Path, model_cache_dir: Path
) -> None:
    setup(sqlite_db, tmp_path)
    pool = ModelPool(sqlite_db, ServingEngineFactory(model_cache_dir))
    pool.refresh()
    with sqlite_db.session() as s:
        register_version(s, "v2", str(tmp_path / "gone"), ModelStatus.CANDIDATE, T0)
        set_champion(s, "v2", "test", "promote", T0)
    state = pool.refresh()
    assert state.champion_id == "v2" and state.serving_id == "base"
    assert state.fallback_reason is not None and "v2 failed to load" in state.fallback_reason
    hits = pool.serving_engine().search("dragon", 1)
    assert hits[0].prompt_id == "a"


def gated_pool(db: Database, tmp_path: Path, gated: str) -> tuple[ModelPool, GatedEngines]:
    """A pool over a small word corpus whose builds of version ``gated`` wait for release."""
    import_word_corpus(db, tmp_path, 16)
    ensure_base_model(db)
    engines = GatedEngines(FakeEngines(tmp_path / "cache"), gated=frozenset({gated}))
    return ModelPool(db, engines), engines


def test_an_engine_is_built_once_however_many_want_it_and_callers_hear_how_far_it_got(
    sqlite_db: Database, tmp_path: Path
) -> None:
    pool, engines = gated_pool(sqlite_db, tmp_path, gated="base")
    with ThreadPoolExecutor(max_workers=8) as threads:
        first = threads.submit(pool.serving_engine)  # nothing serves yet: this one builds
        assert engines.halfway.wait(10)
        with pytest.raises(EngineBuilding) as building:
            pool.serving_state()  # the request path: told, instead of building a second copy
        assert (building.value.version_id, building.value.percent) == ("base", 50)
        waiting = [threads.submit(pool.engine, "base") for _ in range(6)]
        engines.release.set()
        engine = first.result(10)
        assert all(w.result(10) is engine for w in waiting)
    assert engines.builds == ["base"]
    assert pool.serving_state().serving_id == "base"


def test_a_failed_build_fails_its_waiters_and_the_next_call_builds_again(
    sqlite_db: Database, tmp_path: Path
) -> None:
    pool, engines = gated_pool(sqlite_db, tmp_path, gated="base")
    with sqlite_db.session() as s:
        version = get_version(s, "base")
        assert version is not None
        real_path, version.artifact_path = version.artifact_path, str(tmp_path / "missing")
    with ThreadPoolExecutor(max_workers=2) as threads:
        first = threads.submit(pool.engine, "base")
        second = threads.submit(pool.engine, "base")
        with pytest.raises(FileNotFoundError):
            first.result(10)
        with pytest.raises(FileNotFoundError):
            second.result(10)
    with sqlite_db.session() as s:
        version = get_version(s, "base")
        assert version is not None
        version.artifact_path = real_path
    engines.release.set()
    assert pool.engine("base").model.version_id == "base"
    assert engines.builds == ["base"]  # the failed attempts never reached the factory


def test_the_old_index_keeps_serving_while_a_new_champion_is_built(
    sqlite_db: Database, tmp_path: Path
) -> None:
    pool, engines = gated_pool(sqlite_db, tmp_path, gated="v1")
    assert pool.refresh().serving_id == "base"
    with sqlite_db.session() as s:
        register_version(s, "v1", str(base_model_path()), ModelStatus.CANDIDATE, T0)
        set_champion(s, "v1", "test", "promote", T0)
    with ThreadPoolExecutor(max_workers=1) as poller:
        swapping = poller.submit(pool.refresh)  # the poll that notices the new champion
        assert engines.halfway.wait(10)
        assert pool.serving_state().serving_id == "base"
        assert pool.serving_engine().search("dragon castle", 3)  # answered meanwhile
        engines.release.set()
        assert swapping.result(10).serving_id == "v1"
    assert pool.serving_engine().model.version_id == "v1"
    assert engines.builds == ["base", "v1"]
