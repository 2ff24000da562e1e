"""The daily prompt's choice and its schedule: one post per server and local day however often
the job fires, no repeat within 60 days, 👍 preferred, genre respected; one job per server in
the persistent store, kept by the elected leader only, moved when the schedule changes and
carried over a restart (both engines, on simulated time)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from retraining.daily import (
    JOB_PREFIX,
    choose_daily_post,
    daily_job_specs,
    local_day,
    parse_time_of_day,
    pick,
)
from retraining.scheduler_leader import ScheduleLeader
from storage.database import Database
from storage.models import DailyPost, Prompt
from storage.prompt_file import PromptRecord
from storage.repositories import daily as repo
from storage.repositories.guild_prompts import write_guild_prompts
from storage.repositories.prompts import upsert_prompts
from storage.settings import Settings

T0 = datetime(2026, 3, 1, 12, 0)
GUILD, OTHER, CHANNEL = "100", "200", "300"


def seed(db: Database, n: int = 5) -> None:
    shared = [
        PromptRecord(f"s{i}", f"shared text {i}", f"S{i}", ["Fantasy" if i % 2 else "Horror"])
        for i in range(n)
    ]
    with db.session() as session:
        upsert_prompts(session, shared, "test", T0)
        write_guild_prompts(
            session, OTHER, [PromptRecord("x", "other server's", "X", ["Fantasy"])], "u", "t", T0
        )
        repo.set_schedule(session, GUILD, CHANNEL, "09:00", "Europe/Paris", None, "u", T0)


def posts(db: Database) -> list[tuple[str, str]]:
    with db.session() as session:
        return [(p.day, p.prompt_id) for p in session.query(DailyPost).order_by(DailyPost.id)]


def test_one_post_per_local_day_however_often_the_job_fires(db: Database) -> None:
    seed(db)
    first = choose_daily_post(db, GUILD, T0)
    assert first is not None
    assert choose_daily_post(db, GUILD, T0 + timedelta(hours=1)) is None  # a second process
    assert choose_daily_post(db, GUILD, T0 + timedelta(days=1)) is not None
    assert [day for day, _ in posts(db)] == ["2026-03-01", "2026-03-02"]


def test_no_repeat_within_the_window_and_never_another_servers_prompt(db: Database) -> None:
    seed(db, n=5)
    for day in range(5):
        choose_daily_post(db, GUILD, T0 + timedelta(days=day))
    chosen = [prompt_id for _, prompt_id in posts(db)]
    assert sorted(chosen) == [f"s{i}" for i in range(5)]  # all different, none from OTHER
    choose_daily_post(db, GUILD, T0 + timedelta(days=5))  # every prompt used: oldest returns
    assert posts(db)[-1][1] == chosen[0]


def test_genre_and_removed_prompts(db: Database) -> None:
    seed(db, n=6)
    with db.session() as session:
        repo.set_schedule(session, GUILD, CHANNEL, "09:00", "UTC", "Horror", "u", T0)
        session.get(Prompt, "s0").removed_at = T0  # type: ignore[union-attr]
    for day in range(2):
        choose_daily_post(db, GUILD, T0 + timedelta(days=day))
    assert {prompt_id for _, prompt_id in posts(db)} == {"s2", "s4"}


def test_prompts_with_thumbs_up_are_preferred(db: Database) -> None:
    seed(db, n=5)
    choose_daily_post(db, GUILD, T0)
    with db.session() as session:
        post = session.query(DailyPost).one()
        post.status, post.message_id = "posted", "m1"
        liked = post.prompt_id
    with db.session() as session:
        assert repo.record_daily_reaction(session, "m1", "7", 1, True, T0)
        assert repo.thumbs_up_in_guild(session, GUILD)[liked] == 1
        [row] = repo.daily_feedback_summary(session, T0 - timedelta(days=1))
        assert (row.prompt_id, row.up, row.down) == (liked, 1, 0)


def test_pick_draws_only_among_liked_prompts_when_there_are_any() -> None:
    prompts = [Prompt(id=f"p{i}") for i in range(10)]
    draws = {pick(prompts, {"p3": 2, "p7": 1}, f"seed{i}").id for i in range(50)}
    assert draws == {"p3", "p7"}
    assert len({pick(prompts, {}, f"seed{i}").id for i in range(50)}) > 3


def test_local_day_and_time_checks() -> None:
    assert local_day(datetime(2026, 3, 1, 23, 30), "Asia/Tokyo") == "2026-03-02"
    assert parse_time_of_day("9:05") == (9, 5)
    for bad in ("25:00", "9", "ab:cd", "12:60"):
        with pytest.raises(ValueError):
            parse_time_of_day(bad)


@pytest.fixture
def leaders(db: Database, db_url: str, tmp_path: Path) -> Iterator[list[ScheduleLeader]]:
    settings = Settings(home=tmp_path, database_url=db_url)
    made = [
        ScheduleLeader(settings, db, jobs={}, holder=name, extra_jobs=daily_job_specs)
        for name in ("a", "b")
    ]
    yield made
    for leader in made:
        leader.stop()


def stored_job(leader: ScheduleLeader, guild: str = GUILD) -> object:
    return leader.scheduler.get_job(JOB_PREFIX + guild)


def test_the_elected_scheduler_keeps_one_job_per_schedule(
    db: Database, leaders: list[ScheduleLeader]
) -> None:
    seed(db)
    a, b = leaders
    a.tick()
    b.tick()
    assert a.is_leader and not b.is_leader
    job = stored_job(a)
    assert job is not None and job.args == (GUILD,)
    due = job.next_run_time.astimezone(ZoneInfo("Europe/Paris"))
    assert (due.hour, due.minute) == (9, 0)

    with db.session() as session:
        repo.set_schedule(session, GUILD, CHANNEL, "18:30", "Asia/Tokyo", None, "u", T0)
    a.tick()
    due = stored_job(a).next_run_time.astimezone(ZoneInfo("Asia/Tokyo"))  # type: ignore[attr-defined]
    assert (due.hour, due.minute) == (18, 30)

    before = stored_job(a).next_run_time  # type: ignore[attr-defined]
    a.stop()  # a restart: the job and its next run come back from the store
    b.tick()
    assert b.is_leader and stored_job(b).next_run_time == before  # type: ignore[attr-defined]

    with db.session() as session:
        repo.delete_schedule(session, GUILD)
    b.tick()
    assert stored_job(b) is None


def test_the_report_shows_daily_feedback(db: Database) -> None:
    from retraining.monitoring import daily_feedback_lines

    seed(db)
    assert daily_feedback_lines(db, None)[-1] == "No daily prompt was posted in this period."
    choose_daily_post(db, GUILD, T0)
    with db.session() as session:
        post = session.query(DailyPost).one()
        post.status, post.message_id = "posted", "m1"
        chosen = post.prompt_id
    with db.session() as session:
        repo.record_daily_reaction(session, "m1", "7", 1, True, T0)
        repo.record_daily_reaction(session, "m1", "8", -1, True, T0)
        repo.record_daily_reaction(session, "m1", "8", -1, False, T0)  # taken back
    assert daily_feedback_lines(db, None)[-1] == f"| {chosen} | S{chosen[1:]} | 1 | 1 | 0 |"


def test_the_daily_prompt_stays_within_the_servers_rating_ceiling(db: Database) -> None:
    from storage.models import GuildSettingsRow

    ratings = {"s0": "general", "s1": "teen", "s2": "mature", "s3": "teen", "s4": "general"}
    seed(db, n=5)
    with db.session() as session:
        for prompt_id, rating in ratings.items():
            session.get(Prompt, prompt_id).rating = rating  # type: ignore[union-attr]
        session.add(GuildSettingsRow(guild_id=GUILD, content_ceiling="general", updated_at=T0))
    for day in range(4):
        choose_daily_post(db, GUILD, T0 + timedelta(days=day))
    chosen = [prompt_id for _, prompt_id in posts(db)]
    assert set(chosen) == {"s0", "s4"}  # general only; then the oldest general comes back
    with db.session() as session:
        session.get(GuildSettingsRow, GUILD).content_ceiling = "mature"  # type: ignore[union-attr]
    for day in range(4, 10):
        choose_daily_post(db, GUILD, T0 + timedelta(days=day))
    assert "s2" not in {prompt_id for _, prompt_id in posts(db)}  # never mature in a channel
