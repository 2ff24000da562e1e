"""The simulator's targets, measured: the 14-day loop, and bad / A/A candidates over many seeds.

    python -m bench.simulation_runs loop  --out out/sim-loop          # shipped corpus, 14 days
    python -m bench.simulation_runs bad   --seeds 20 --out out/sim-bad
    python -m bench.simulation_runs aa    --seeds 20 --out out/sim-aa
    python -m bench.simulation_runs loop  --unseen --out out/sim-unseen

``--unseen`` runs on prompts and judged queries no training ever used: the held-out prompts
(20% of the corpus, never in a training pair) with the test queries judged on them; users
ask those queries and the champion is measured on them. ``--split-queries`` splits them
in two by a hash of the query id: users ask one half, the other half only measures the
champion (queries no vote ever came from). Prints a table and writes ``runs.json`` in
``--out``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path
from typing import Any

from retraining.simulator import SimConfig, Simulation, write_outputs
from storage.settings import Settings


def unseen_files(out: Path, split_queries: bool = False) -> tuple[Path, Path, Path | None]:
    from retrieval.corpus import SHIPPED_CORPUS
    from retrieval.eval_sets import QUERIES_PATH, Split, load_queries, restrict_to

    split = Split.load()
    out.mkdir(parents=True, exist_ok=True)
    prompts = out / "unseen_prompts.jsonl"
    lines = SHIPPED_CORPUS.read_text(encoding="utf-8").splitlines()
    prompts.write_text(
        "\n".join(x for x in lines if json.loads(x)["id"] in split.heldout_prompts) + "\n"
    )
    queries = restrict_to(split.test_queries(load_queries(QUERIES_PATH)), split.heldout_prompts)
    if not split_queries:
        return prompts, _write_queries(out / "unseen_queries.jsonl", queries), None
    # half the queries are what users ask, the other half only measures the champion
    halves: tuple[list[Any], list[Any]] = ([], [])
    for q in queries:
        halves[hashlib.sha256(q.qid.encode()).digest()[0] % 2].append(q)
    users = _write_queries(out / "unseen_user_queries.jsonl", halves[0])
    return prompts, users, _write_queries(out / "unseen_eval_queries.jsonl", halves[1])


def _write_queries(path: Path, queries: list[Any]) -> Path:
    path.write_text(
        "".join(
            json.dumps({"qid": q.qid, "query": q.query, "slice": q.slice, "relevant": q.relevant})
            + "\n"
            for q in queries
        )
    )
    return path


def run_one(cfg: SimConfig, settings: Settings) -> dict[str, Any]:
    started = time.perf_counter()
    sim = Simulation(cfg, settings, progress=lambda m: print(f"  [{cfg.seed}] {m}", flush=True))
    summary = sim.run()
    write_outputs(summary, sim.days, cfg.out)
    summary["wall_seconds"] = round(time.perf_counter() - started, 1)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("scenario", choices=["loop", "bad", "aa"])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--days", type=int, default=None)
    parser.add_argument("--queries-per-day", type=int, default=400)
    parser.add_argument("--unseen", action="store_true")
    parser.add_argument(
        "--split-queries",
        action="store_true",
        help="with --unseen: users ask half the queries, the other half measures the champion",
    )
    parser.add_argument("--experiment-mode", choices=["ab", "interleave"], default=None)
    parser.add_argument("--out", type=Path, default=Path("out/simulation-runs"))
    args = parser.parse_args()

    settings = Settings()
    extra: dict[str, Any] = {}
    if args.unseen:
        prompts, queries, eval_queries = unseen_files(args.out, args.split_queries)
        extra = {"prompts": prompts, "queries": queries, "eval_queries": eval_queries}
    if args.experiment_mode:
        extra["experiment_mode"] = args.experiment_mode
    runs = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        out = args.out / f"{args.scenario}-seed{seed}"
        if args.scenario == "loop":
            cfg = SimConfig(
                out=out,
                seed=seed,
                days=args.days or 14,
                queries_per_day=args.queries_per_day,
                **extra,
            )
        else:
            cfg = SimConfig(
                out=out,
                seed=seed,
                days=args.days or 7,
                retrain=False,
                queries_per_day=args.queries_per_day,
                inject_bad_candidate=args.scenario == "bad",
                aa_test=args.scenario == "aa",
                end_when_decided=True,  # what happens after the verdict tells nothing more
                **extra,
            )
        summary = run_one(cfg, settings)
        runs.append(
            {
                "seed": seed,
                **{
                    k: summary.get(k)
                    for k in (
                        "start_ndcg5",
                        "end_ndcg5",
                        "start_thumbs_up_rate",
                        "end_thumbs_up_rate",
                        "bad_candidate_promoted",
                        "aa_candidate_promoted",
                        "wall_seconds",
                    )
                },
                "decisions": summary["decisions"],
            }
        )
        (args.out / "runs.json").write_text(json.dumps(runs, indent=1))
        print(json.dumps(runs[-1]), flush=True)
    if args.scenario == "bad":
        print(
            f"bad candidate promoted in {sum(bool(r['bad_candidate_promoted']) for r in runs)}"
            f" of {len(runs)} seeds"
        )
    if args.scenario == "aa":
        print(
            f"A/A candidate promoted in {sum(bool(r['aa_candidate_promoted']) for r in runs)}"
            f" of {len(runs)} seeds"
        )


if __name__ == "__main__":
    main()
