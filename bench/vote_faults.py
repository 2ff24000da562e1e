"""Votes lost when a share of database commits fail.

    python -m bench.vote_faults [--votes 2000] [--messages 40] [--share 0.10]

For each engine: a fresh migrated database with ``--messages`` result messages, then
``--votes`` reactions (adds and removes of 👍/👎 by 25 voters, seeded) through
``PromptService.record_reaction`` while the test fault injector (tests/helpers/faults.py) fails
``--share`` of all commits; then the periodic catch-up is run until its queue is empty.
Reported: commits failed, retries, the most votes queued at once, and votes lost = standing
votes that differ from a replay of the reactions with the votes table's rules (missing, wrong
value, or stray). PostgreSQL runs on a database of its own (``wt_18b_vote_faults_<random>``,
dropped after) on the server the tests use (``PROMPTBOT_TEST_POSTGRES_URL``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from serving.prompt_service import PromptService
from storage.database import Database
from storage.migrations import upgrade
from tests.helpers.databases import pg_admin_connection, pg_url
from tests.helpers.faults import (
    expected_votes,
    fail_commits,
    reaction_storm,
    stored_votes,
    votes_lost,
)
from tests.helpers.storage import T0, add_prompts, add_versions, shown

USERS = [f"u{i}" for i in range(25)]


def run_engine(url: str, votes: int, share: float, seed: int, messages: int) -> dict[str, Any]:
    message_ids = [f"m{i}" for i in range(messages)]
    upgrade(url)
    db = Database(url)
    try:
        add_prompts(db, len(message_ids))
        add_versions(db)
        shown(db, message_ids)
        service = PromptService(db, pool=None, clock=lambda: T0)  # type: ignore[arg-type]
        faults = fail_commits(db.engine, share=share, seed=seed)
        events = reaction_storm(votes, message_ids, USERS, seed=seed)
        started, peak = time.perf_counter(), 0
        for e in events:
            service.record_reaction(e.message_id, e.user_id, e.emoji, e.added)
            peak = max(peak, service.votes.pending)
        catch_ups = 0
        while service.votes.pending:
            service.catch_up_votes()
            catch_ups += 1
        seconds = time.perf_counter() - started
        faults.enabled = False
        expected = expected_votes(events)
        return {
            "reactions": votes,
            "standing_votes_expected": len(expected),
            "commits": faults.commits,
            "commits_failed": faults.failed,
            "retries": service.votes.retries,
            "peak_queued": peak,
            "catch_up_rounds": catch_ups,
            "votes_lost": votes_lost(expected, stored_votes(db)),
            "seconds": round(seconds, 2),
        }
    finally:
        db.dispose()


def run_sqlite(votes: int, share: float, seed: int, messages: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        return run_engine(f"sqlite:///{Path(tmp) / 'votes.db'}", votes, share, seed, messages)


def run_postgresql(votes: int, share: float, seed: int, messages: int) -> dict[str, Any]:
    name = f"wt_18b_vote_faults_{uuid.uuid4().hex[:8]}"
    with pg_admin_connection() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        return run_engine(pg_url(name), votes, share, seed, messages)
    finally:
        with pg_admin_connection() as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=2000)
    parser.add_argument("--share", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--messages", type=int, default=40, help="result messages voted on")
    parser.add_argument("--engines", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runners = {"sqlite": run_sqlite, "postgresql": run_postgresql}
    rows = {e: runners[e](args.votes, args.share, args.seed, args.messages) for e in args.engines}
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    keys = list(next(iter(rows.values())))
    print("| engine | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for engine, row in rows.items():
        print(f"| {engine} | " + " | ".join(str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
