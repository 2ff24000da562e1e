"""The first search after a bulk import, and what an interruption half-way through keeps.

    python -m bench.bulk_import [--prompts 50000] [--json]

All steps are real `promptbot` processes on a fresh home (SQLite, shipped corpus, base model,
ONNX fp32, the default settings):

1. `promptbot init`, then `promptbot import` of ``--prompts`` new prompts in the standard file
   format (each one a shipped prompt's text joined to another's first sentence, numbered and
   tagged like the first, so every text is new to the embedding cache).
2. The first `promptbot search` after the import, with the cache as `init` left it: every
   imported prompt is embedded (the run nobody had ever seen finish: 32 minutes and counting).
3. The same cold search again, killed with SIGKILL once half of the new rows are in the
   cache's part files; what it kept is counted from those files.
4. A search after the kill: it encodes only what the killed run had not.
5. A search with the cache complete (the usual case afterwards).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.corpus import SHIPPED_CORPUS
from retrieval.embedding_cache import parts_dir

REPO_ROOT = Path(__file__).resolve().parents[1]
CLI = "from bot.cli import app; app()"
QUERY = "a dragon who guards a library"


def bulk_prompt_file(target: Path, count: int, seed: int = 0) -> Path:
    """``count`` new prompts in the standard format, deterministic for ``seed``."""
    shipped = [json.loads(line) for line in SHIPPED_CORPUS.read_text("utf-8").splitlines()]
    rng = random.Random(seed)
    with target.open("w", encoding="utf-8") as out:
        for n in range(count):
            base, other = rng.choice(shipped), rng.choice(shipped)
            first_sentence = other["text"].split(". ")[0].rstrip(".") + "."
            record = {
                "id": f"bulk{n:05d}",
                "title": f"{base['title']} ({n})",
                "text": f"{base['text']} {first_sentence}",
                "genres": base.get("genres", []),
                "themes": base.get("themes", []),
                "rating": base.get("rating", "general"),
            }
            out.write(json.dumps(record) + "\n")
    return target


def cli(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CLI, *args],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def timed(env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    proc = cli(env, *args)
    output, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"`promptbot {' '.join(args)}` failed:\n{output}")
    return time.perf_counter() - started


def rows_in_parts(cache_file: Path) -> int:
    total = 0
    for part in parts_dir(cache_file).glob("*.npz"):
        with np.load(part, allow_pickle=False) as data:
            total += len(data["hashes"])
    return total


def killed_at_half(env: dict[str, str], cache_file: Path, new_rows: int) -> dict[str, Any]:
    """Run a cold search, SIGKILL it once half the new rows are cached, report what stayed."""
    started = time.perf_counter()
    proc = cli(env, "search", QUERY, "--json")
    while rows_in_parts(cache_file) < new_rows // 2:
        if proc.poll() is not None:
            raise SystemExit("the search finished before it could be interrupted")
        time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return {
        "killed_after_s": round(time.perf_counter() - started, 1),
        "rows_kept": rows_in_parts(cache_file),
        "main_file_kept": cache_file.is_file(),
    }


def run(count: int) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="promptbot-bulk-"))
    env = {**os.environ, "PROMPTBOT_HOME": str(home)}
    try:
        result: dict[str, Any] = {"prompts_imported": count}
        result["init_s"] = round(timed(env, "init"), 1)
        embeddings = home / "cache" / "embeddings"
        caches = [c for c in embeddings.glob("*.npz") if "-onnx-int8-" not in c.name]
        if len(caches) != 1:  # `search` serves fp32 ONNX by default; init also measures int8
            raise SystemExit(f"expected one fp32 embedding cache after init, found {caches}")
        cache_file = caches[0]
        after_init = home / "cache-after-init"
        shutil.copytree(embeddings, after_init)
        prompt_file = bulk_prompt_file(home / "bulk.jsonl", count)
        result["import_s"] = round(timed(env, "import", str(prompt_file)), 1)
        result["first_search_s"] = round(timed(env, "search", QUERY, "--json"), 1)

        shutil.rmtree(embeddings)
        shutil.copytree(after_init, embeddings)
        result.update(killed_at_half(env, cache_file, count))
        result["search_after_kill_s"] = round(timed(env, "search", QUERY, "--json"), 1)
        result["parts_left_after_resume"] = len(list(parts_dir(cache_file).glob("*.npz")))
        result["warm_search_s"] = round(timed(env, "search", QUERY, "--json"), 1)
        result["load_average"] = [round(x, 1) for x in os.getloadavg()]
        return result
    finally:
        shutil.rmtree(home, ignore_errors=True)


def table(result: dict[str, Any]) -> str:
    r = result
    rows = [
        ("`promptbot import` of the new prompts", f"{r['import_s']} s"),
        ("first search after the import (cold cache)", f"{r['first_search_s']} s"),
        (
            "cold search killed at half-way",
            f"after {r['killed_after_s']} s: {r['rows_kept']:,} of "
            f"{r['prompts_imported']:,} new rows kept",
        ),
        ("search after the kill", f"{r['search_after_kill_s']} s"),
        ("search with the cache complete", f"{r['warm_search_s']} s"),
    ]
    lines = ["| step | result |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--prompts", type=int, default=50_000, help="How many to import.")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = parser.parse_args()
    result = run(args.prompts)
    print(json.dumps(result, indent=2) if args.json else table(result))


if __name__ == "__main__":
    main()
