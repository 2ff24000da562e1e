"""PromptService: which model answers a user, what an interleaved list holds, what is stored.

The pool gets its engines from a small fake factory (a hashed bag-of-words encoder that
differs per model version) exactly as it gets the real one: these tests are about the request
path, not about models, so they need no ONNX export and run in well under a second each.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from retrieval.base_model import ensure_base_model
from retrieval.corpus import import_prompt_file
from retrieval.model_registry import base_model_path
from retrieval.vocabulary import normalize_query
from serving.arms import assign_arm, interleaved_share
from serving.model_pool import ModelPool
from serving.prompt_service import BadQueryError, PromptService, thumb_value, validate_keywords
from serving.team_draft import credited_teams, draft_rng, team_draft
from storage.database import Database
from storage.models import Arm, ExperimentMode, ModelStatus, Request, Result
from storage.ratings import Rating
from storage.repositories.experiments import start_experiment
from storage.repositories.model_versions import register_version, set_champion
from tests.helpers.serving import WORDS, FakeEngines, GatedEngines, import_word_corpus

T0 = datetime(2026, 3, 1, 12)


@pytest.fixture
def db(sqlite_db: Database, tmp_path: Path) -> Database:
    """Base and a second version "v1" (same files: the fake encoder tells them apart)."""
    import_word_corpus(sqlite_db, tmp_path, 32)
    ensure_base_model(sqlite_db)
    with sqlite_db.session() as session:
        register_version(session, "v1", str(base_model_path()), ModelStatus.CANDIDATE, T0)
    return sqlite_db


def service_for(db: Database, tmp_path: Path) -> PromptService:
    pool = ModelPool(db, FakeEngines(tmp_path / "cache"))
    pool.refresh()
    return PromptService(db, pool, clock=lambda: T0)


def start(db: Database, share: float, mode: ExperimentMode) -> int:
    with db.session() as session:
        return start_experiment(session, "base", "v1", share=share, now=T0, mode=mode).id


def stored_arms(db: Database) -> tuple[list[str | None], list[str | None]]:
    with db.session() as session:
        requests = list(session.scalars(select(Request.arm).order_by(Request.id)))
        results = list(session.scalars(select(Result.arm).order_by(Result.id)))
    return requests, results


def test_without_an_experiment_the_champion_answers(db: Database, tmp_path: Path) -> None:
    served = service_for(db, tmp_path).serve("u1", "Dragon castle!", count=3)
    assert (served.model_version, served.arm, served.experiment_id) == ("base", None, None)
    assert served.normalized == "dragon castle"
    assert [r.rank for r in served.results] == [1, 2, 3]
    assert stored_arms(db) == ([None], [None, None, None])


def test_ab_users_see_their_arms_model_and_the_arm_is_stored(db: Database, tmp_path: Path) -> None:
    experiment_id = start(db, 0.5, ExperimentMode.AB)
    service = service_for(db, tmp_path)
    users = [f"user{i}" for i in range(30)]
    served = [service.serve(u, "ghost ship", count=2) for u in users]
    expected = [assign_arm(experiment_id, u, 0.5) for u in users]
    assert [s.arm for s in served] == expected
    assert {Arm.CHAMPION, Arm.CANDIDATE} <= set(expected)
    version_of = {Arm.CHAMPION: "base", Arm.CANDIDATE: "v1"}
    for s, arm in zip(served, expected, strict=True):
        assert s.experiment_id == experiment_id
        assert s.model_version == version_of[arm]
        assert {r.arm for r in s.results} == {arm}
    requests, _ = stored_arms(db)
    assert requests == [str(arm) for arm in expected]


def test_interleaved_lists_are_drafted_from_both_models_with_each_results_team(
    db: Database, tmp_path: Path
) -> None:
    start(db, 0.5, ExperimentMode.INTERLEAVE)  # twice 0.5: every user is interleaved
    service = service_for(db, tmp_path)
    engines = {v: service.pool.engine(v) for v in ("base", "v1")}
    team_of = {"base": Arm.CHAMPION, "v1": Arm.CANDIDATE}
    versions_seen: set[str] = set()
    for i, query in enumerate(["dragon castle", "ghost ship storm", "witch forest", "robot"]):
        now = T0 + timedelta(minutes=i)
        served = service.serve(f"user{i}", query, count=4, now=now)
        assert served.arm == Arm.INTERLEAVED and served.model_version == "v1"
        champion = engines["base"].search(query, 4)
        candidate = engines["v1"].search(query, 4)
        pairs = zip(champion, candidate, strict=True)
        agreed = {c.prompt_id for c, d in pairs if c.prompt_id == d.prompt_id}
        assert len({r.prompt.id for r in served.results}) == 4
        for r in served.results:
            versions_seen.add(r.model_version)
            ranking = champion if r.model_version == "base" else candidate
            assert r.prompt.id in {h.prompt_id for h in ranking}
            assert r.arm == (Arm.AGREED if r.prompt.id in agreed else team_of[r.model_version])
        again = service.serve(f"user{i}", query, count=4, now=now)
        assert [r.prompt.id for r in again.results] == [r.prompt.id for r in served.results]
    assert versions_seen == {"base", "v1"}
    requests, results = stored_arms(db)
    assert set(requests) == {"interleaved"}
    assert {"champion", "candidate"} <= set(results) <= {"champion", "candidate", "agreed"}


def test_the_service_drafts_as_team_draft_does(db: Database, tmp_path: Path) -> None:
    """Same coins, same list: the service adds nothing of its own to the draft."""
    experiment_id = start(db, 0.5, ExperimentMode.INTERLEAVE)
    service = service_for(db, tmp_path)
    served = service.serve("user7", "storm ocean", count=5)
    champion = service.pool.engine("base").search("storm ocean", 5)
    candidate = service.pool.engine("v1").search("storm ocean", 5)
    rng = draft_rng(experiment_id, "user7", "storm ocean", T0)
    drafted = credited_teams(champion, candidate, team_draft(champion, candidate, 5, rng))
    assert [(r.prompt.id, r.arm) for r in served.results] == [
        (hit.prompt_id, arm) for hit, _, arm in drafted
    ]


def test_users_outside_the_interleaved_share_get_the_champion_outside_the_experiment(
    db: Database, tmp_path: Path
) -> None:
    experiment_id = start(db, 0.2, ExperimentMode.INTERLEAVE)
    service = service_for(db, tmp_path)
    users = [f"user{i}" for i in range(40)]
    share = interleaved_share(0.2)
    inside = {u for u in users if assign_arm(experiment_id, u, share) == Arm.CANDIDATE}
    assert 0 < len(inside) < len(users)
    for user in users:
        served = service.serve(user, "winter train", count=2)
        if user in inside:
            assert (served.arm, served.experiment_id) == (Arm.INTERLEAVED, experiment_id)
        else:
            assert (served.model_version, served.arm, served.experiment_id) == ("base", None, None)


def test_while_the_champion_cannot_load_nobody_enters_the_experiment(
    db: Database, tmp_path: Path
) -> None:
    with db.session() as session:
        register_version(session, "gone", str(tmp_path / "gone"), ModelStatus.CANDIDATE, T0)
        set_champion(session, "gone", "test", "promote", T0)
        start_experiment(session, "gone", "v1", share=1.0, now=T0)
    service = service_for(db, tmp_path)
    assert service.pool.state is not None and service.pool.state.fallback_reason
    served = service.serve("user1", "mirror garden", count=2)
    assert (served.model_version, served.arm, served.experiment_id) == ("base", None, None)


@pytest.mark.parametrize("keywords", ["", "   ", "!!! ???", "x" * 201])
def test_unusable_keywords_are_refused_and_nothing_is_recorded(
    db: Database, tmp_path: Path, keywords: str
) -> None:
    with pytest.raises(BadQueryError):
        service_for(db, tmp_path).serve("u1", keywords)
    assert stored_arms(db) == ([], [])


RATING_OF = {0: Rating.GENERAL, 1: Rating.TEEN, 2: Rating.MATURE}


def rate_corpus(db: Database, tmp_path: Path) -> dict[str, Rating]:
    """The same 32 prompts, re-imported with a third of them at each rating."""
    corpus = tmp_path / "rated.jsonl"
    lines = [
        {
            "id": f"p{i:02d}",
            "text": f"A {WORDS[i % 16]} and a {WORDS[(i * 7 + 3) % 16]}.",
            "rating": RATING_OF[i % 3].value,
        }
        for i in range(32)
    ]
    corpus.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert import_prompt_file(db, corpus).ok
    return {line["id"]: RATING_OF[i % 3] for i, line in enumerate(lines)}


def ratings_served(service: PromptService, ratings: dict[str, Rating], **where: object) -> set:
    shown: set[Rating] = set()
    for query in ("dragon castle", "ghost ship", "storm ocean", "winter clock", "robot"):
        served = service.serve("u1", query, count=5, **where)  # type: ignore[arg-type]
        assert len(served.results) == 5  # filtering never leaves a short list here
        shown |= {ratings[r.prompt.id] for r in served.results}
    return shown


def test_each_server_sees_only_what_its_ceiling_and_channel_allow(
    db: Database, tmp_path: Path
) -> None:
    ratings = rate_corpus(db, tmp_path)
    service = service_for(db, tmp_path)
    service.guild_settings.update("1", {"content_ceiling": Rating.GENERAL}, "t")
    service.guild_settings.update("3", {"content_ceiling": Rating.MATURE}, "t")
    general, teen, mature = Rating.GENERAL, Rating.TEEN, Rating.MATURE
    assert ratings_served(service, ratings, guild_id="1") == {general}
    assert ratings_served(service, ratings, guild_id="1", age_restricted=True) == {general}
    assert ratings_served(service, ratings, guild_id="2") == {general, teen}  # default: teen
    assert ratings_served(service, ratings, guild_id="2", age_restricted=True) == {general, teen}
    assert ratings_served(service, ratings, guild_id="3") == {general, teen}
    assert ratings_served(service, ratings, guild_id="3", age_restricted=True) == set(Rating)
    assert ratings_served(service, ratings) == {general, teen}  # a DM or the CLI: the default
    assert mature in set(ratings.values())


def test_interleaved_lists_respect_the_ceiling_on_both_sides(db: Database, tmp_path: Path) -> None:
    ratings = rate_corpus(db, tmp_path)
    start(db, 0.5, ExperimentMode.INTERLEAVE)
    service = service_for(db, tmp_path)
    service.guild_settings.update("1", {"content_ceiling": Rating.GENERAL}, "t")
    served = service.serve("u1", "dragon castle", count=5, guild_id="1")
    assert served.arm == Arm.INTERLEAVED
    assert {r.model_version for r in served.results} == {"base", "v1"}
    assert {ratings[r.prompt.id] for r in served.results} == {Rating.GENERAL}


def test_a_server_out_of_experiments_always_gets_the_champion(db: Database, tmp_path: Path) -> None:
    start(db, 1.0, ExperimentMode.AB)  # everyone else is in the candidate arm
    service = service_for(db, tmp_path)
    service.guild_settings.update("1", {"join_experiments": False}, "t")
    for user in ("u1", "u2", "u3"):
        out = service.serve(user, "ghost ship", guild_id="1")
        assert (out.model_version, out.arm, out.experiment_id) == ("base", None, None)
        inside = service.serve(user, "ghost ship", guild_id="2")
        assert (inside.model_version, inside.arm) == ("v1", Arm.CANDIDATE)


def test_a_servers_default_and_maximum_count(db: Database, tmp_path: Path) -> None:
    service = service_for(db, tmp_path)
    service.guild_settings.update("1", {"max_count": 3, "default_count": 2}, "t")
    assert len(service.serve("u1", "ghost ship", count=None, guild_id="1").results) == 2
    assert len(service.serve("u1", "ghost ship", count=5, guild_id="1").results) == 3
    assert len(service.serve("u1", "ghost ship", count=None, guild_id="2").results) == 1
    assert len(service.serve("u1", "ghost ship", count=5, guild_id="2").results) == 5


@given(st.text(max_size=260))
def test_keywords_are_a_bounded_normal_query_or_one_bad_query_reason(raw: str) -> None:
    try:
        normalized = validate_keywords(raw, 200)
    except BadQueryError as exc:
        assert str(exc).strip() and "\n" not in str(exc)
        return
    assert normalized and len(raw) <= 200
    assert normalized == normalize_query(normalized) and len(normalized) <= 36 * len(raw)


@pytest.mark.parametrize(
    ("emoji", "value"),
    [("👍", 1), ("👎", -1), ("👍🏽", 1), ("👎🏿", -1), ("👍\ufe0f", 1), ("👌", None), ("🏽", None)],
)
def test_a_thumb_counts_in_any_skin_tone(emoji: str, value: int | None) -> None:
    assert thumb_value(emoji) == value


def test_while_a_candidate_is_being_built_its_users_get_the_champion_outside_the_experiment(
    db: Database, tmp_path: Path
) -> None:
    start(db, 1.0, ExperimentMode.AB)  # every user is in the candidate's arm
    engines = GatedEngines(FakeEngines(tmp_path / "cache"), gated=frozenset({"v1"}))
    pool = ModelPool(db, engines)
    pool.refresh()
    service = PromptService(db, pool, clock=lambda: T0)
    with ThreadPoolExecutor(max_workers=1) as first_user:
        building = first_user.submit(service.serve, "u1", "ghost ship", 2)
        assert engines.halfway.wait(10)
        meanwhile = [service.serve(f"u{i}", "ghost ship", count=2) for i in range(2, 6)]
        engines.release.set()
        first = building.result(10)
    after = service.serve("u9", "ghost ship", count=2)
    assert {(s.model_version, s.arm, s.experiment_id) for s in meanwhile} == {("base", None, None)}
    assert (first.model_version, first.arm) == ("v1", Arm.CANDIDATE)
    assert (after.model_version, after.arm) == ("v1", Arm.CANDIDATE)
    assert engines.builds == ["base", "v1"]  # the candidate built once, by the first request
