"""Concurrent `promptbot init` and `promptbot import` as real processes.

    python -m bench.concurrent_setup [--runs 20] [--engines sqlite postgresql]

For each engine, on a fresh, empty database: ``--runs`` `promptbot init` processes started at
the same moment (migrations, shipped corpus, base model as champion), then ``--runs``
`promptbot import` processes of one file at the same moment (the shipped corpus with every
tenth prompt's text changed, so each run races the others on updates as well as on
unchanged rows). A run fails when it exits non-zero or prints a traceback. Reported per round:
failures, tracebacks, wall time, and what the database holds afterwards (prompts, champions).
PostgreSQL runs on a database of its own (``wt_18b_setup_<random>``, dropped after).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from retrieval.corpus import SHIPPED_CORPUS
from storage.database import Database
from storage.repositories.prompts import setup_census
from tests.helpers.databases import pg_admin_connection, pg_url

REPO_ROOT = Path(__file__).resolve().parents[1]
CLI = "from bot.cli import app; app()"


def edited_corpus(target: Path) -> Path:
    lines = SHIPPED_CORPUS.read_text(encoding="utf-8").splitlines()
    out = []
    for i, line in enumerate(lines):
        record = json.loads(line)
        if i % 10 == 0:
            record["text"] = record["text"] + " (edited)"
        out.append(json.dumps(record))
    target.write_text("\n".join(out) + "\n", encoding="utf-8")
    return target


def run_round(args: list[list[str]], env: dict[str, str]) -> dict[str, Any]:
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLI, *a],
            env=env,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for a in args
    ]
    outputs = [(p.communicate()[0], p.returncode) for p in procs]
    tracebacks = sum("Traceback" in out for out, _ in outputs)
    failed = [out for out, rc in outputs if rc != 0 or "Traceback" in out]
    return {
        "runs": len(args),
        "failures": len(failed),
        "tracebacks": tracebacks,
        "seconds": round(time.perf_counter() - started, 1),
        "first_failure": failed[0].strip().splitlines()[-1] if failed else "",
    }


def database_state(url: str) -> dict[str, int]:
    db = Database(url)
    try:
        with db.session() as session:
            return setup_census(session)
    finally:
        db.dispose()


def run_engine(url: str, runs: int, home: Path) -> dict[str, Any]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "PROMPTBOT_HOME": str(home),
        "PROMPTBOT_DATABASE_URL": url,
        "PROMPTBOT_INT8": "off",
    }
    corpus = edited_corpus(home / "edited.jsonl")
    init = run_round([["init"]] * runs, env)
    after_init = database_state(url)
    imports = run_round([["import", str(corpus)]] * runs, env)
    return {"init": init | after_init, "import": imports | database_state(url)}


def run_sqlite(runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        return run_engine(f"sqlite:///{home / 'db' / 'promptbot.db'}", runs, home)


def run_postgresql(runs: int) -> dict[str, Any]:
    name = f"wt_18b_setup_{uuid.uuid4().hex[:8]}"
    with pg_admin_connection() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory() as tmp:
            return run_engine(pg_url(name), runs, Path(tmp))
    finally:
        with pg_admin_connection() as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--engines", nargs="+", default=["sqlite", "postgresql"])
    args = parser.parse_args()
    runners = {"sqlite": run_sqlite, "postgresql": run_postgresql}
    rows = {engine: runners[engine](args.runs) for engine in args.engines}
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
