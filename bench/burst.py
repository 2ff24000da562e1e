"""Bursts of `/prompt` against a real `promptbot run`: who gets a first response in 3 s.

    python -m bench.burst [--bursts 150 300] [--engines sqlite postgresql] [--policy timer]
                          [--json]

For each database engine this starts `promptbot run --no-scheduler` as its own process
against the fake Discord of tests/fakediscord (this process hosts the fake), on a database
with the shipped corpus and the base model, and then

- fires each burst: N different users run `/prompt` at the same moment; reported are how
  many got a first response (direct or "thinking…") within Discord's 3 s, how many Discord
  would have refused as too late (10062), how many were deferred, p50/p95/max of the
  first-response latency, and the lines the bot logged about requests it could not answer;
- ramps an open-loop request rate (``--rates``, ``--ramp-seconds`` at each) until the p95
  first-response latency reaches 1 s; the sustained rate is the highest below that.

Latency is measured by the fake: from writing INTERACTION_CREATE on the gateway to the bot's
first callback POST ("res": to the first visible result message). ``--policy timer`` starts
the bot with /prompt deferring only after a fixed 2 s, the policy before the burst rules, as
a baseline on the same machine. The fake and the bot share the machine's cores, as a bot and its
network stack would; both are pinned to ``--cores`` CPUs (default 2) when the machine has
more. The ONNX export and corpus embeddings are made once, in a child process, and cached
under ``--cache`` (default ``$PROMPTBOT_HOME/bench/burst`` or ``~/.cache/promptbot/bench/burst``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
WINDOW_S = 3.0  # Discord's deadline for a first response
TARGET_P95_S = 1.0
KEYWORDS = (
    "fantasy dragons",
    "haunted lighthouse",
    "space pirates",
    "time travel grief",
    "a detective who cannot sleep",
    "robots learning to paint",
    "a city under the sea",
    "letters from a lost sister",
)
TIMER_POLICY = """
from bot.cogs.prompts import Prompts
Prompts.defer_after, Prompts.busy_searches, Prompts.late_after_s = 2.0, 10**9, float("inf")
Prompts._swapping_engines = lambda self: False
from bot.cli import app
app()
"""
DEFAULT_PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
WARM_UP = """
import sys
from pathlib import Path
from retrieval.engine_factory import ServingEngineFactory
from serving.model_pool import ModelPool
from storage.database import Database
ModelPool(Database(sys.argv[1]), ServingEngineFactory(Path(sys.argv[2]), int8="auto")).refresh()
"""


@dataclass
class BurstResult:
    engine: str
    requests: int
    answered_in_3s: int
    too_late: int
    unanswered: int
    deferred: int
    p50_s: float
    p95_s: float
    max_s: float
    results_p95_s: float
    results_max_s: float
    logged_unanswered: int
    tracebacks: int


@dataclass
class RampStep:
    engine: str
    rate: float
    requests: int
    p50_s: float
    p95_s: float
    max_s: float
    answered_in_3s: int
    results_p95_s: float


# --- the database and the model cache ------------------------------------------------------


def default_cache() -> Path:
    home = os.environ.get("PROMPTBOT_HOME")
    base = Path(home) if home else Path.home() / ".cache" / "promptbot"
    return base / "bench" / "burst"


def prepare_database(url: str, cache: Path) -> None:
    """Migrate, import the shipped corpus, register the base model, embed it (once per cache)."""
    from retrieval.base_model import ensure_base_model
    from retrieval.corpus import SHIPPED_CORPUS, import_prompt_file
    from storage import migrations
    from storage.database import Database

    migrations.upgrade(url)
    db = Database(url)
    try:
        if not import_prompt_file(db, SHIPPED_CORPUS).ok:
            raise SystemExit("importing the shipped corpus failed")
        ensure_base_model(db, actor="bench")
    finally:
        db.dispose()
    subprocess.run([sys.executable, "-c", WARM_UP, url, str(cache)], check=True, cwd=REPO_ROOT)


@contextmanager
def database(engine: str, workdir: Path, pg_admin: str) -> Iterator[str]:
    """A fresh database URL for one engine; a PostgreSQL one is dropped afterwards."""
    if engine == "sqlite":
        yield f"sqlite:///{workdir / 'burst.db'}"
        return
    import psycopg

    admin_url = pg_admin.replace("postgresql+psycopg://", "postgresql://")
    name = f"pb_burst_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_admin.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the bot process -----------------------------------------------------------------------


def bot_env(url: str, cache: Path, home: Path, api_url: str, gateway_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTBOT_")}
    env.update(
        DISCORD_TOKEN="bench.fake-token",
        PROMPTBOT_HOME=str(home),
        PROMPTBOT_DATABASE_URL=url,
        PROMPTBOT_CACHE_HOME=str(cache),
        PROMPTBOT_DISCORD_API_URL=api_url,
        PROMPTBOT_DISCORD_GATEWAY_URL=gateway_url,
        PROMPTBOT_COOLDOWN_REQUESTS="1000",
        PROMPTBOT_CHAMPION_POLL_SECONDS="3600",
        PYTHONUNBUFFERED="1",
    )
    return env


def bot_command(policy: str) -> list[str]:
    """`promptbot`, or for ``--policy timer`` the same CLI with the /prompt cog set back to
    deferring only after a fixed 2 s timer (the policy before the burst rules), to compare."""
    if policy == "burst":
        return promptbot_command()
    return [sys.executable, "-c", TIMER_POLICY]


def promptbot_command() -> list[str]:
    script = Path(sys.executable).with_name("promptbot")
    return (
        [str(script)]
        if script.is_file()
        else [sys.executable, "-c", "from bot.cli import app; app()"]
    )


# --- measuring -----------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def ask_and_wait(fake: Any, user: int, timeout: float = 120.0) -> tuple[Any, float]:
    """Run one /prompt; returns its record and the seconds to its first visible result
    (inf: refused as too late, or nothing within ``timeout``)."""
    record = await ask(fake, user)
    try:
        await record.wait_for(lambda r: r.messages or r.expired, timeout=timeout)
    except Exception:  # the fake's timeout: counted as never answered
        return record, float("inf")
    if record.expired:
        return record, float("inf")
    return record, asyncio.get_running_loop().time() - record.dispatched_at


class UserIds:
    """A new user for every request, so the per-user cooldown never answers instead."""

    def __init__(self) -> None:
        self.next = 10_000

    def __call__(self) -> int:
        self.next += 1
        return self.next


def ask(fake: Any, user: int) -> Any:
    keywords = KEYWORDS[user % len(KEYWORDS)]
    return fake.invoke_command(user, options={"keywords": keywords}, wait=False)


def count_log(log_path: Path, needle: str) -> int:
    return log_path.read_text(errors="replace").count(needle)


async def run_burst(fake: Any, users: UserIds, size: int, engine: str, log: Path) -> BurstResult:
    logged_before = count_log(log, "went unanswered")
    tracebacks_before = count_log(log, "Traceback")
    answered = await asyncio.gather(*(ask_and_wait(fake, users()) for _ in range(size)))
    records, results = [r for r, _ in answered], [t for _, t in answered]
    await asyncio.sleep(1.0)  # let the bot's log catch up
    latencies = [r.latency for r in records if r.latency is not None]
    return BurstResult(
        engine=engine,
        requests=size,
        answered_in_3s=sum(r.acknowledged and (r.latency or 99) <= WINDOW_S for r in records),
        too_late=sum(r.expired for r in records),
        unanswered=sum(not r.responded for r in records),
        deferred=sum(r.deferred for r in records),
        p50_s=percentile(latencies, 0.50),
        p95_s=percentile(latencies, 0.95),
        max_s=max(latencies, default=float("nan")),
        results_p95_s=percentile(results, 0.95),
        results_max_s=max(results),
        logged_unanswered=count_log(log, "went unanswered") - logged_before,
        tracebacks=count_log(log, "Traceback") - tracebacks_before,
    )


async def run_rate(fake: Any, users: UserIds, rate: float, seconds: float, engine: str) -> RampStep:
    """Open loop: one request every 1/rate seconds, whatever the bot's state."""
    started = asyncio.get_running_loop().time()
    pending = []
    for i in range(max(1, int(rate * seconds))):
        delay = started + i / rate - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(asyncio.ensure_future(ask_and_wait(fake, users(), timeout=60.0)))
    answered = await asyncio.gather(*pending)
    records, results = [r for r, _ in answered], [t for _, t in answered]
    latencies = [r.latency for r in records if r.latency is not None]
    return RampStep(
        engine=engine,
        rate=rate,
        requests=len(records),
        p50_s=percentile(latencies, 0.50),
        p95_s=percentile(latencies, 0.95) if len(latencies) == len(records) else float("inf"),
        max_s=max(latencies, default=float("nan")),
        answered_in_3s=sum(r.acknowledged and (r.latency or 99) <= WINDOW_S for r in records),
        results_p95_s=percentile(results, 0.95),
    )


async def bench_engine(
    engine: str, url: str, cache: Path, workdir: Path, args: argparse.Namespace
) -> tuple[list[BurstResult], list[RampStep]]:
    from tests.fakediscord import FakeDiscord

    log = workdir / f"bot-{engine}.log"
    async with FakeDiscord() as fake:
        fake.add_guild("Bench")
        env = bot_env(url, cache, workdir / "home", fake.api_url, fake.gateway_url)
        with log.open("wb") as out:
            bot = subprocess.Popen(
                [*bot_command(args.policy), "run", "--no-scheduler"],
                env=env,
                cwd=REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            await fake.wait_for_commands("prompt", timeout=120.0)
            await asyncio.sleep(1.0)
            users = UserIds()
            await ask_and_wait(fake, users(), timeout=30.0)  # one warm request
            bursts = []
            for size in args.bursts:
                bursts.append(await run_burst(fake, users, size, engine, log))
                await asyncio.sleep(args.pause)
            ramp = []
            for rate in args.rates:
                step = await run_rate(fake, users, rate, args.ramp_seconds, engine)
                ramp.append(step)
                await asyncio.sleep(args.pause)
                if step.p95_s >= TARGET_P95_S:
                    break
        finally:
            bot.terminate()
            try:
                bot.wait(timeout=30)
            except subprocess.TimeoutExpired:
                bot.kill()
    return bursts, ramp


def sustained_rate(ramp: list[RampStep]) -> float | None:
    below = [step.rate for step in ramp if step.p95_s < TARGET_P95_S]
    return max(below) if below else None


# --- output --------------------------------------------------------------------------------


def print_tables(
    bursts: list[BurstResult], ramps: dict[str, list[RampStep]], machine: dict[str, Any]
) -> None:
    load = " ".join(f"{x:.2f}" for x in machine["load_before"])
    print(f"machine: {machine['cores']} core(s), load average before {load}")
    print(f"policy: {machine['policy']}; latencies: dispatch to first response; res: to results")
    print()
    head = (
        f"{'engine':<11}{'burst':>6}{'<=3 s':>7}{'late':>6}{'none':>6}{'defer':>7}"
        f"{'p50 s':>8}{'p95 s':>8}{'max s':>8}{'res p95':>8}{'res max':>8}"
        f"{'logged':>8}{'tracebk':>8}"
    )
    print(head)
    for b in bursts:
        print(
            f"{b.engine:<11}{b.requests:>6}{b.answered_in_3s:>7}{b.too_late:>6}"
            f"{b.unanswered:>6}{b.deferred:>7}{b.p50_s:>8.2f}{b.p95_s:>8.2f}{b.max_s:>8.2f}"
            f"{b.results_p95_s:>8.2f}{b.results_max_s:>8.2f}"
            f"{b.logged_unanswered:>8}{b.tracebacks:>8}"
        )
    print()
    print(
        f"{'engine':<11}{'req/s':>7}{'n':>6}{'p50 s':>8}{'p95 s':>8}{'max s':>8}{'<=3 s':>7}"
        f"{'res p95':>8}"
    )
    for engine, steps in ramps.items():
        for s in steps:
            print(
                f"{engine:<11}{s.rate:>7g}{s.requests:>6}{s.p50_s:>8.2f}{s.p95_s:>8.2f}"
                f"{s.max_s:>8.2f}{s.answered_in_3s:>7}{s.results_p95_s:>8.2f}"
            )
        rate = sustained_rate(steps)
        shown = f"{rate:g} req/s" if rate is not None else "below the lowest rate tried"
        print(f"{engine}: sustained with p95 < {TARGET_P95_S:g} s: {shown}")


def pin_to_cores(count: int) -> int:
    """Pin this process (and so the bot it starts) to ``count`` CPUs; returns how many."""
    available = sorted(os.sched_getaffinity(0))
    chosen = set(available[:count])
    os.sched_setaffinity(0, chosen)
    return len(chosen)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bursts", type=int, nargs="+", default=[150, 300])
    parser.add_argument("--engines", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--rates", type=float, nargs="+", default=[10, 20, 40, 80, 160, 320])
    parser.add_argument("--ramp-seconds", type=float, default=5.0)
    parser.add_argument("--pause", type=float, default=3.0, help="seconds between steps")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--postgres-admin-url", default=DEFAULT_PG_ADMIN)
    parser.add_argument(
        "--policy",
        choices=("burst", "timer"),
        default="burst",
        help="timer: defer only after a fixed 2 s, as before the burst rules (a baseline)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cores = pin_to_cores(args.cores)
    cache = args.cache or default_cache()
    cache.mkdir(parents=True, exist_ok=True)
    machine = {"cores": cores, "load_before": os.getloadavg(), "policy": args.policy}
    bursts: list[BurstResult] = []
    ramps: dict[str, list[RampStep]] = {}
    workdir = Path(tempfile.mkdtemp(prefix="promptbot-burst-"))
    try:
        for engine in args.engines:
            engine_dir = workdir / engine
            engine_dir.mkdir()
            with database(engine, engine_dir, args.postgres_admin_url) as url:
                prepare_database(url, cache)
                found, ramp = asyncio.run(bench_engine(engine, url, cache, engine_dir, args))
            bursts.extend(found)
            ramps[engine] = ramp
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    machine["load_after"] = os.getloadavg()
    if args.json:
        payload = {
            "machine": machine,
            "bursts": [asdict(b) for b in bursts],
            "ramp": {engine: [asdict(s) for s in steps] for engine, steps in ramps.items()},
            "sustained_rate": {engine: sustained_rate(steps) for engine, steps in ramps.items()},
        }
        print(json.dumps(payload, indent=2))
    else:
        print_tables(bursts, ramps, machine)
        print("load average after: " + " ".join(f"{x:.2f}" for x in machine["load_after"]))


if __name__ == "__main__":
    main()
