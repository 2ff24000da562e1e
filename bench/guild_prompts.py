"""How soon a server's new prompt is searchable, against rebuilding the engine.

    python -m bench.guild_prompts [--repeats 20] [--cache DIR]

On a migrated SQLite database holding the shipped corpus, with the base model's ONNX engine
loaded in two pools (two bot processes sharing the database), each repeat adds one server
prompt through ``GuildPrompts.add`` (near-duplicate check, write, incremental update of the
writer's pool) and times:

- ``add -> searchable here``: from the call until a scoped search in the writer's pool
  returns the prompt first;
- ``refresh elsewhere``: the other pool's ``update_corpus()`` (what each bot process runs at
  every poll, ``PROMPTBOT_CHAMPION_POLL_SECONDS`` = 5 s): reading the corpus versions and
  embedding the one new prompt; plus the poll interval, this bounds "every process";
- ``baseline: rebuild``: building a fresh engine over the whole corpus without the
  embedding cache (what a full re-embed costs), same run.

Prints medians and p95 in ms; the ratio column is each figure over the rebuild.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from retrieval.base_model import ensure_base_model
from retrieval.corpus import SHIPPED_CORPUS, import_prompt_file
from retrieval.corpus_view import load_corpus_from_db
from retrieval.engine import Scope
from retrieval.engine_builder import build_engine
from retrieval.engine_factory import ServingEngineFactory
from retrieval.model_registry import ModelRef, base_model_path
from serving.guild_prompts import GuildPrompts
from serving.model_pool import ModelPool
from storage import migrations
from storage.database import Database
from storage.repositories.guild_prompts import guild_prompt_key
from storage.repositories.prompts import EVERY_GUILD

GUILD = "123456789012345678"
WHO = (
    *("a retired astronaut", "a beekeeper", "twin cartographers", "a court jester"),
    *("a night-shift nurse", "a runaway robot", "a grieving chef", "a teenage witch"),
    *("a lighthouse cat", "an exiled queen", "a deep-sea welder", "a border guard"),
    *("a jazz pianist", "a dragon's accountant", "a rural vet", "a ghost in a library"),
    *("a chess prodigy", "a smuggler's parrot", "a war photographer", "a snow plough driver"),
)
WHERE = (
    *("on a generation ship", "in a flooded Venice", "at a desert truck stop", "in 1920s Cairo"),
    *("under a frozen lake", "in a haunted mall", "on a tea plantation", "in a moon colony"),
    *("at a village wedding", "inside a whale", "in a border town", "on a night train"),
    *("at a chess olympiad", "in a hospice garden", "on a pirate radio boat", "in the Andes"),
    *("in a dying casino", "at a Roman bath", "in a glass city", "on the last ferry"),
)
WHAT = (
    *("must return a stolen bell", "finds a letter from the future", "forgets one word a day"),
    *("inherits a debt to a god", "hears the walls confess", "trades shadows with a rival"),
    *("is the only one who ages", "counts ships that never arrive", "loses a bet with Death"),
    *("wakes up famous", "keeps a map that redraws itself", "is asked to judge a storm"),
    *("feeds a creature made of rumours", "hides a comet in a barn", "must teach a tree to speak"),
    *("opens a shop that sells endings", "swaps memories with a stranger", "guards a door"),
    *("receives the wrong heart", "marries a river"),
)


def new_prompt_text(i: int) -> str:
    """Twenty prompts that share no subject, place or twist, so none is a near-duplicate."""
    return f"{WHO[i % 20]} {WHERE[(i * 7) % 20]} {WHAT[(i * 11) % 20]}.".capitalize()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(repeats: int, cache: Path, workdir: Path) -> dict[str, list[float]]:
    url = f"sqlite:///{workdir / 'bench.db'}"
    migrations.upgrade(url)
    db = Database(url)
    assert import_prompt_file(db, SHIPPED_CORPUS).ok
    ensure_base_model(db)
    factory = ServingEngineFactory(cache, int8="off")
    writer_pool, other_pool = ModelPool(db, factory), ModelPool(db, factory)
    writer_pool.refresh()
    other_pool.refresh()
    writer = GuildPrompts(db, writer_pool)
    times: dict[str, list[float]] = {"add": [], "refresh": [], "rebuild": []}
    for i in range(repeats):
        record = writer.record_from_fields(f"b{i}", f"Bench {i}", new_prompt_text(i), "", "")
        started = time.perf_counter()
        writer.add(GUILD, "bench", record)
        hits = writer_pool.serving_engine().search(record.text, 1, scope=Scope(GUILD))
        times["add"].append(time.perf_counter() - started)
        assert hits[0].prompt_id == guild_prompt_key(GUILD, f"b{i}")
        started = time.perf_counter()
        assert other_pool.update_corpus() == 1
        times["refresh"].append(time.perf_counter() - started)
    prompts = load_corpus_from_db(db, EVERY_GUILD)
    ref = ModelRef("base", base_model_path())
    for _ in range(3):
        started = time.perf_counter()
        build_engine(ref, prompts, workdir / f"cold-{time.time_ns()}", backend="onnx")
        times["rebuild"].append(time.perf_counter() - started)
    db.dispose()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--cache", type=Path, default=None, help="ONNX export cache to reuse")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        times = run(args.repeats, args.cache or workdir / "cache", workdir)
    rebuild = statistics.median(times["rebuild"])
    print(f"{'step':<26}{'median ms':>12}{'p95 ms':>10}{'x rebuild':>11}{'n':>5}")
    for name, label in (
        ("add", "add -> searchable here"),
        ("refresh", "refresh elsewhere"),
        ("rebuild", "baseline: rebuild"),
    ):
        values = times[name]
        median = statistics.median(values)
        print(
            f"{label:<26}{median * 1000:>12.1f}{percentile(values, 0.95) * 1000:>10.1f}"
            f"{median / rebuild:>11.3f}{len(values):>5}"
        )


if __name__ == "__main__":
    main()
