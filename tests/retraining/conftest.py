"""A small, real world for loop tests: 80 shipped prompts in two clusters of genres, the base
model, a degraded model to improve on, and settings that make a retraining cycle quick.

Plain helpers (the tiny training recipe, tag-made judged queries, casting votes) are in
tests/helpers/retraining.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval.base_model import ensure_base_model
from retrieval.corpus import SHIPPED_CORPUS, import_prompt_file
from retrieval.corpus_view import load_corpus_from_db
from retrieval.golden_set import GoldenSet
from storage.database import Database
from storage.settings import Settings
from tests.helpers.corpus import first_by_main_genre
from tests.helpers.retraining import tag_golden

# Two clusters a retrained model can learn to tell apart: fantasy and its neighbours, and
# the dark genres. Ten prompts of each, by main (first) genre, in file order.
SMALL_CORPUS_GENRES = (
    "Fantasy",
    "Children's",
    "Mythology",
    "Fairy Tale Retelling",
    "Horror",
    "Gothic",
    "Mystery",
    "Thriller",
)
PROMPTS_PER_GENRE = 10


@pytest.fixture(scope="session")
def small_corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lines = SHIPPED_CORPUS.read_text(encoding="utf-8").splitlines()
    picked = first_by_main_genre(
        lines, lambda line: json.loads(line)["genres"][0], PROMPTS_PER_GENRE, SMALL_CORPUS_GENRES
    )
    path = tmp_path_factory.mktemp("corpus") / "small.jsonl"
    path.write_text("\n".join(picked) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def weak_start_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A degraded copy of the base model: a retrained candidate should beat it."""
    from retraining.simulator import make_degraded_copy
    from retrieval.model_registry import base_model_path

    path = tmp_path_factory.mktemp("weak") / "model"
    make_degraded_copy(base_model_path(), path, seed=5, degrade=True)
    return path


@pytest.fixture
def loop_settings(db_url: str, tmp_path: Path, model_cache_dir: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=db_url,
        cache_home=model_cache_dir,
        retrain_min_votes=10,
        replay_min_pairs=40,
        experiment_min_votes=20,
        train_threads=1,
        int8="off",  # int8 serving has its own tests; here it would only add minutes
    )


@pytest.fixture
def loop_db(loop_settings: Settings, small_corpus_file: Path) -> Iterator[Database]:
    db = Database(loop_settings.resolved_database_url)
    assert import_prompt_file(db, small_corpus_file).ok
    ensure_base_model(db, actor="test")
    yield db
    db.dispose()


@pytest.fixture
def golden(loop_db: Database) -> GoldenSet:
    return tag_golden(load_corpus_from_db(loop_db))
