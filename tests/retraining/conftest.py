"""A small, real world for loop tests: 80 shipped prompts, the base model, judged queries made
from the tags, and votes cast through the real PromptService."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from serving.prompt_service import PromptService
from retraining.trainer import TrainConfig
from retrieval.base_model import ensure_base_model
from retrieval.corpus import SHIPPED_CORPUS, import_prompt_file
from retrieval.corpus_view import CorpusPrompt, load_corpus_from_db
from retrieval.eval_sets import JudgedQuery, Split
from retrieval.golden_set import GoldenSet
from serving.model_pool import ModelPool
from storage.database import Database
from storage.settings import Settings

T0 = datetime(2026, 2, 2, 9)
TINY_TRAINING = TrainConfig(
    epochs=1,
    batch_size=8,
    max_steps=3,
    loss="mnrl",
    hard_negatives=False,
    average_with_start=0.0,
    pairs_per_prompt=2,
)


@pytest.fixture(scope="session")
def small_corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lines = SHIPPED_CORPUS.read_text(encoding="utf-8").splitlines()
    picked = lines[:40] + lines[430:470]  # fantasy/children's + horror/mystery
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
def loop_db(loop_settings: Settings, small_corpus_file: Path):  # type: ignore[no-untyped-def]
    db = Database(loop_settings.sqlalchemy_url)
    assert import_prompt_file(db, small_corpus_file).ok
    ensure_base_model(db, actor="test")
    yield db
    db.dispose()


def tag_golden(prompts: list[CorpusPrompt]) -> GoldenSet:
    by_genre: dict[str, set[str]] = defaultdict(set)
    for p in prompts:
        for g in p.genres:
            by_genre[g].add(p.id)
    queries = [
        JudgedQuery(f"g{i}", genre.lower(), "genre_topic", {pid: 2 for pid in ids})
        for i, (genre, ids) in enumerate(sorted(by_genre.items()))
        if len(ids) >= 3
    ]
    heldout = frozenset(p.id for i, p in enumerate(prompts) if i % 5 == 0)
    return GoldenSet(
        prompts, queries, Split(heldout, frozenset(), frozenset(q.qid for q in queries))
    )


@pytest.fixture
def golden(loop_db: Database) -> GoldenSet:
    return tag_golden(load_corpus_from_db(loop_db))


def cast_votes(
    db: Database, settings: Settings, n_requests: int, seed: int = 0, start: datetime = T0
) -> int:
    """Users ask genre queries; 👍 results of that genre, 👎 the others. Returns votes cast."""
    rng = random.Random(seed)
    pool = ModelPool(db, settings.cache_dir)
    pool.refresh()
    service = PromptService(db, pool)
    prompts = {p.id: p for p in load_corpus_from_db(db)}
    genres = sorted({g for p in prompts.values() for g in p.genres})
    votes = 0
    for i in range(n_requests):
        genre = rng.choice(genres)
        now = start + timedelta(minutes=i)
        served = service.serve(
            f"user{i % 7}", f"{genre.lower()} story", count=3, source="test", now=now
        )
        for result in served.results:
            message_id = f"m{served.request_id}-{result.rank}"
            service.attach_message(result.result_id, message_id, "c1")
            emoji = "👍" if genre in result.prompt.genres else "👎"
            service.record_reaction(message_id, f"user{i % 7}", emoji, True, now)
            votes += 1
    return votes
