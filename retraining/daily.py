"""Choosing each server's prompt of the day, run by the elected scheduler.

Every enabled `/daily` schedule is one APScheduler job (``daily:<guild id>``, a cron trigger
at the schedule's local time in its time zone), kept in the persistent job store like the
retraining jobs, so it survives restarts and runs in exactly one process: the scheduler
leader (retraining.scheduler_leader), which re-reads the schedules at every election round
and adds, moves or drops jobs to match.

The job only *chooses*: it writes the day's ``pending`` post. Posting needs the Discord
connection of the process that has the server, which may not be the scheduler's process (a
`promptbot worker`, another shard), so the bot's daily cog claims pending posts and sends
them. The unique (server, local day) key means a job that fires twice — a leader change in
the middle, a catch-up after downtime — still gives one post.

What is chosen: a live prompt the server may see (shared or its own), of the schedule's
genre if set, within its rating ceiling, not posted in that channel in the last
``PROMPTBOT_DAILY_NO_REPEAT_DAYS`` (60) days; never above the server's rating ceiling
(:func:`default_rating_filter`). Prompts with net 👍 in that server (votes on
`/prompt` results there, reactions on its daily posts) are preferred: one of them is drawn,
weighted by its 👍, whenever there is one. The draw is seeded by server and day, so a repeat
of the same choice gives the same prompt. If every prompt was posted within the window, the
one posted longest ago comes back.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable, Mapping
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from retraining.scheduler import JobSpec
from storage.database import Database, utcnow
from storage.models import DailySchedule, Prompt
from storage.ratings import effective_ceiling, parse_rating
from storage.repositories import daily as repo
from storage.repositories.guild_settings import guild_settings
from storage.settings import Settings

log = logging.getLogger(__name__)
JOB_PREFIX = "daily:"
MISFIRE_GRACE_S = 6 * 3600  # a post missed while every scheduler was down still goes out

#: Which of the candidate prompts a server may be shown (default: its rating ceiling).
RatingFilter = Callable[[str, list[Prompt]], list[Prompt]]


def daily_trigger(schedule: DailySchedule) -> object:
    from apscheduler.triggers.cron import CronTrigger

    hour, minute = parse_time_of_day(schedule.time_of_day)
    return CronTrigger(hour=hour, minute=minute, timezone=ZoneInfo(schedule.timezone))


def parse_time_of_day(text: str) -> tuple[int, int]:
    """``"HH:MM"`` (24-hour) as (hour, minute); ValueError with the reason otherwise."""
    parts = text.strip().split(":")
    if len(parts) != 2 or not all(p.isdigit() and len(p) <= 2 for p in parts):
        raise ValueError(f"time must look like 09:30 (24-hour), not {text!r}")
    hour, minute = int(parts[0]), int(parts[1])
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ValueError(f"time must be between 00:00 and 23:59, not {text!r}")
    return hour, minute


def daily_job_specs(db: Database) -> dict[str, JobSpec]:
    """One job per enabled schedule, for the scheduler leader to keep in its store."""
    with db.session() as session:
        schedules = repo.enabled_schedules(session)
        specs = {}
        for schedule in schedules:
            try:
                trigger = daily_trigger(schedule)
            except (ValueError, KeyError) as exc:  # stored before a tz database change
                log.warning("daily schedule of %s unusable: %s", schedule.guild_id, exc)
                continue
            specs[JOB_PREFIX + schedule.guild_id] = JobSpec(
                "retraining.daily:scheduled_daily_post",
                trigger,
                {"args": [schedule.guild_id], "misfire_grace_time": MISFIRE_GRACE_S},
            )
        return specs


def local_day(now_utc: datetime, timezone: str) -> str:
    """The ISO date it is in ``timezone`` at the naive-UTC ``now_utc``."""
    aware = now_utc.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(timezone))
    return aware.date().isoformat()


def next_post_at(schedule: DailySchedule, now_utc: datetime) -> datetime:
    """When the next post is due, as an aware datetime in the schedule's zone."""
    zone = ZoneInfo(schedule.timezone)
    hour, minute = parse_time_of_day(schedule.time_of_day)
    local_now = now_utc.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone)
    today = datetime.combine(local_now.date(), time(hour, minute), zone)
    return today if today > local_now else today + timedelta(days=1)


def choose_daily_post(
    db: Database,
    guild_id: str,
    now: datetime,
    no_repeat_days: int = 60,
    rating_filter: RatingFilter | None = None,
) -> int | None:
    """Write today's pending post for ``guild_id``; its id, or None when the schedule is off
    or today already has a post (then nothing is written). ``rating_filter`` defaults to
    the server's rating ceiling."""
    with db.session() as session:
        schedule = repo.get_schedule(session, guild_id)
        if schedule is None or not schedule.enabled:
            return None
        day = local_day(now, schedule.timezone)
        if repo.post_for_day(session, guild_id, day) is not None:
            return None
        candidates = repo.daily_candidates(session, guild_id, schedule.genre)
        candidates = (rating_filter or default_rating_filter(db))(guild_id, candidates)
        if not candidates:
            log.warning("daily prompt for %s: no prompt fits (genre %s)", guild_id, schedule.genre)
            return None
        since = now - timedelta(days=no_repeat_days)
        recent = repo.recently_posted(session, schedule.channel_id, since)
        fresh = [p for p in candidates if p.id not in recent] or _least_recent(
            repo.last_posted_at(session, schedule.channel_id), candidates
        )
        liked = repo.thumbs_up_in_guild(session, guild_id)
        chosen = pick(fresh, liked, f"{guild_id}:{day}")
        post = repo.add_pending_post(session, guild_id, schedule.channel_id, day, chosen.id, now)
        return None if post is None else post.id


def _least_recent(last: Mapping[str, datetime], candidates: list[Prompt]) -> list[Prompt]:
    """Every prompt was posted within the window: the one posted longest ago comes back."""
    oldest = min(candidates, key=lambda p: (last.get(p.id, datetime.min), p.id))
    return [oldest]


def pick(prompts: list[Prompt], liked: Mapping[str, int], seed: str) -> Prompt:
    """One prompt: drawn among those with net 👍 (weighted by it) if any, else among all."""
    rng = random.Random(int(hashlib.sha256(seed.encode()).hexdigest()[:16], 16))
    favourites = [p for p in prompts if liked.get(p.id, 0) > 0]
    if favourites:
        return rng.choices(favourites, weights=[liked[p.id] for p in favourites])[0]
    return rng.choice(prompts)


def scheduled_daily_post(guild_id: str) -> None:
    """Job entry point (referenced by name so the job store can persist it)."""
    settings = Settings()
    db = Database(settings.resolved_database_url)
    try:
        post_id = choose_daily_post(
            db, guild_id, utcnow(), settings.daily_no_repeat_days, default_rating_filter(db)
        )
        log.info("daily prompt for %s: %s", guild_id, f"post {post_id}" if post_id else "none")
    finally:
        db.dispose()


def default_rating_filter(db: Database) -> RatingFilter:
    """The server's rating ceiling (its content setting). The scheduler cannot ask Discord
    whether the channel is age-restricted, so the ceiling is taken as for an ordinary channel:
    ``mature`` is never chosen for a daily post."""

    def within_ceiling(guild_id: str, prompts: list[Prompt]) -> list[Prompt]:
        with db.session() as session:
            ceiling = effective_ceiling(guild_settings(session, guild_id).content_ceiling, False)
        return [p for p in prompts if parse_rating(p.rating).level <= ceiling.level]

    return within_ceiling
