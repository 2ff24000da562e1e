"""A small, real world for loop tests: a tiny training recipe, judged queries made from the
tags, and votes cast through the real PromptService.

The fixtures that build the database and models are in tests/retraining/conftest.py.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta

from retraining.trainer import TrainConfig
from retrieval.corpus_view import CorpusPrompt, load_corpus_from_db
from retrieval.engine_factory import ServingEngineFactory
from retrieval.eval_sets import JudgedQuery, Split
from retrieval.golden_set import GoldenSet
from serving.model_pool import ModelPool
from serving.prompt_service import PromptService
from storage.database import Database
from storage.prompt_file import PromptRecord
from storage.repositories.guild_prompts import write_guild_prompts
from storage.repositories.guild_settings import update_guild_settings
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


def tag_golden(prompts: list[CorpusPrompt]) -> GoldenSet:
    """One judged query per genre with at least three prompts; every fifth prompt held out."""
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


def cast_votes(
    db: Database, settings: Settings, n_requests: int, seed: int = 0, start: datetime = T0
) -> int:
    """Users ask genre queries; 👍 results of that genre, 👎 the others. Returns votes cast."""
    rng = random.Random(seed)
    pool = ModelPool(db, ServingEngineFactory(settings.cache_dir))
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


SERVER_PROMPTS = [
    PromptRecord(
        "wyrm", "A clockwork wyrm winds itself down under the chapel.", "Wyrm", ["Fantasy"]
    ),
    PromptRecord("bells", "The clockwork bells ring thirteen and the town forgets.", "Bells", []),
]


def vote_on_server_prompts(
    db: Database, settings: Settings, contributes: dict[str, bool], start: datetime = T0
) -> dict[str, set[str]]:
    """Each server gets its own prompts and its ``contribute_votes`` choice; its members ask
    for "clockwork" prompts and 👍 the server's own. Returns the ids voted on, per server."""
    with db.session() as session:
        for guild_id, contributes_votes in contributes.items():
            write_guild_prompts(session, guild_id, SERVER_PROMPTS, "curator", "test", start)
            changes = {"contribute_votes": contributes_votes}
            update_guild_settings(session, guild_id, changes, "curator", start)
    pool = ModelPool(db, ServingEngineFactory(settings.cache_dir))
    pool.refresh()
    service = PromptService(db, pool)
    voted: dict[str, set[str]] = defaultdict(set)
    for g, guild_id in enumerate(contributes):
        for i in range(4):
            now = start + timedelta(hours=1, minutes=10 * g + i)
            user = f"{guild_id}-member{i}"
            served = service.serve(user, "clockwork", count=5, guild_id=guild_id, now=now)
            for result in served.results:
                if result.prompt.guild_id != guild_id:
                    continue
                message_id = f"m{served.request_id}-{result.rank}"
                service.attach_message(result.result_id, message_id, "c1")
                service.record_reaction(message_id, user, "👍", True, now)
                voted[guild_id].add(result.prompt.id)
    return dict(voted)
