"""One hostile user against the loop, under each influence rule and none.

    python -m bench.hostile_user --seeds 5 --out out/hostile            # the docs/results.md table
    python -m bench.hostile_user --seeds 1 --shares 0.2 --rule cap --out out/h1    # one run
    python -m bench.hostile_user --datasets-from out/hostile/*/cap    # what each rule keeps

For each share of votes the hostile user casts (1%, 5%, 20% by default) and each seed, the
14-day simulation runs three times on the same seed: with retraining.vote_pairs' rule 10
(``cap``: one voice per user per (query, prompt), no user over 5% of a dataset's voices or of
an experiment's voted requests), with the rule it replaced (``agree``: judgments need two
agreeing users, no cap) and with none (``off``). The hostile
user 👍 the worst result and 👎 the best for every query they ask (retraining.simulator).
Reported per run: which versions the loop promoted, and the champion's NDCG@5 on the judged
evaluation queries after day 14 (the day-0 champion for reference).

Runs are kept small enough for a 2-core machine (``SMALL``, about 5-6 minutes a run): the
unseen setting of bench.simulation_runs (260 held-out prompts, their 114 judged test
queries), 40 users, 200 requests a day, a retraining cycle on days 5 and 10, experiments of at
most 4.5 days (so each candidate is tested live before the next cycle), and trainings capped
at 40 steps of 16 pairs. Smaller settings (50 requests a day, 8 steps) promote nothing once the
base ranks with the tags-first document text: too few votes for the experiment to reach a
verdict, too few steps for a candidate to differ from the base.
Writes ``runs.json`` in ``--out`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.simulation_runs import unseen_files
from retraining.simulator import HOSTILE_USER, SIM_START, SimConfig, Simulation
from retraining.trainer import TrainConfig
from retraining.vote_pairs import (
    TWO_AGREEING_USERS,
    InfluenceRule,
    VoteJudgment,
    apply_daily_cap,
    majority,
    user_majority,
    within_user_share,
)
from storage.database import Database
from storage.repositories.votes import list_votes
from storage.settings import Settings

RULES = ("cap", "agree", "off")  # retraining.simulator.INFLUENCE_RULES
SMALL: dict[str, Any] = {
    "days": 14,
    "users": 40,
    "queries_per_day": 200,
    "cycle_every": 5,
    "min_votes": 40,
    "experiment_min_votes": 30,
    "experiment_max_days": 4.5,
    "replay_min_pairs": 300,
    "train_config": TrainConfig(max_steps=40, batch_size=16, threads=1),
    "experiment_checks_per_day": 6,
}


def run_pair(
    base: SimConfig, settings: Settings, rules: tuple[str, ...] = RULES
) -> list[dict[str, Any]]:
    rows = []
    for rule in rules:
        cfg = replace(base, influence_rule=rule, out=base.out / rule)
        started = time.perf_counter()
        summary = Simulation(cfg, settings, progress=lambda _m: None).run()
        (cfg.out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
        rows.append(
            {
                "share": cfg.hostile_share,
                "seed": cfg.seed,
                "train_seed": cfg.train_config.seed,
                "rule": rule,
                "start_ndcg5": summary["start_ndcg5"],
                "end_ndcg5": summary["end_ndcg5"],
                "promoted": summary["promoted"],
                "hostile_votes": summary["hostile_votes"],
                "votes": summary["votes"],
                "gate_rejections": sum(1 for d in summary["decisions"] if d["stage"] == "gate"),
                "wall_seconds": round(time.perf_counter() - started, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| hostile share of votes (measured) | rule | seeds | promoted per run | "
        "champion NDCG@5, day 14: mean (min-max) | change from day 0 |",
        "|---|---|---|---|---|---|",
    ]
    for share in sorted({r["share"] for r in rows}):
        for rule in RULES:
            group = [r for r in rows if r["share"] == share and _rule_name(r["rule"]) == rule]
            if not group:
                continue
            ends = [r["end_ndcg5"] for r in group]
            start = group[0]["start_ndcg5"]
            measured = statistics.mean(r["hostile_votes"] / max(1, r["votes"]) for r in group)
            promoted = ", ".join(str(len(r["promoted"])) for r in group)
            lines.append(
                f"| {share:.0%} ({measured:.1%}) | {rule} | {len(group)} | "
                f"{promoted} | {statistics.mean(ends):.3f} ({min(ends):.3f}-{max(ends):.3f}) | "
                f"{statistics.mean(ends) - start:+.3f} |"
            )
    return "\n".join(lines)


def paired_table(rows: list[dict[str, Any]]) -> str:
    """Cap against no rule on the same (share, seed, training seed): every pair of runs that
    both exist, their mean difference and how often each side came out ahead."""
    # runs from before the option trained with TrainConfig's seed
    seed_then = SMALL["train_config"].seed
    ends = {
        (r["share"], r["seed"], r.get("train_seed", seed_then), _rule_name(r["rule"])): r
        for r in rows
    }
    lines = [
        "| hostile share | training seed | seeds | cap | off | promotions cap / off | "
        "cap ahead / level / behind | mean paired difference, cap - off |",
        "|---|---|---|---|---|---|---|---|",
    ]
    groups = sorted({(share, train) for share, _, train, _ in ends})
    for share, train in groups:
        seeds = sorted(
            seed
            for s, seed, t, rule in ends
            if (s, t, rule) == (share, train, "cap") and (share, seed, train, "off") in ends
        )
        if not seeds:
            continue
        cap = [ends[(share, seed, train, "cap")] for seed in seeds]
        off = [ends[(share, seed, train, "off")] for seed in seeds]
        diffs = [c["end_ndcg5"] - o["end_ndcg5"] for c, o in zip(cap, off, strict=True)]
        ahead = sum(d > 0.0005 for d in diffs)
        behind = sum(d < -0.0005 for d in diffs)
        lines.append(
            f"| {share:.0%} | {train} | {', '.join(map(str, seeds))} | "
            f"{_ends(cap)} | {_ends(off)} | "
            f"{sum(len(r['promoted']) for r in cap)} / {sum(len(r['promoted']) for r in off)} | "
            f"{ahead} / {len(diffs) - ahead - behind} / {behind} | {statistics.mean(diffs):+.3f} |"
        )
    return "\n".join(lines)


def _ends(runs: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['end_ndcg5']:.3f}" for r in runs)


def dataset_table(run_dirs: list[Path], through_day: int) -> str:
    """What each rule keeps of one run's votes up to ``through_day`` (the first cycle's, day
    5 by default: before it every rule's run serves the same base): the judgments (query,
    prompt) and how many of them take the hostile account's side."""
    by_share: dict[float, list[dict[str, tuple[int, int]]]] = {}
    for run_dir in run_dirs:
        summary = json.loads((run_dir / "summary.json").read_text())
        db = Database(f"sqlite:///{run_dir / 'home' / 'sim.db'}")
        with db.session() as session:
            votes = [v for v in list_votes(session) if not v.removed]
        db.dispose()
        last = SIM_START + timedelta(days=through_day)
        votes = apply_daily_cap([v for v in votes if v.cast_at < last], Settings().votes_daily_cap)
        hostile = {(v.query, v.prompt_id): v.value for v in votes if v.user_id == HOSTILE_USER}

        def kept(
            judgments: list[VoteJudgment], hostile: dict[tuple[str, str], int] = hostile
        ) -> tuple[int, int]:
            sided = sum(hostile.get((j.query, j.prompt_id)) == j.value for j in judgments)
            return len(judgments), sided

        capped = within_user_share(votes, InfluenceRule().max_user_share, Counter())
        by_share.setdefault(summary["config"]["hostile_share"], []).append(
            {
                "off": kept(majority(votes)),
                "agree": kept(user_majority(votes, TWO_AGREEING_USERS.min_agreeing_users)[0]),
                "cap": kept(user_majority(capped, 1)[0]),
            }
        )
    lines = [
        f"| hostile share | runs | judgments kept, votes of days 1-{through_day}: "
        "off / agree / cap (mean) | of them on the hostile account's side: off / agree / cap |",
        "|---|---|---|---|",
    ]
    for share, runs in sorted(by_share.items()):

        def mean(rule: str, i: int, runs: list[dict[str, tuple[int, int]]] = runs) -> str:
            return f"{statistics.mean(r[rule][i] for r in runs):.0f}"

        lines.append(
            f"| {share:.0%} | {len(runs)} | {' / '.join(mean(r, 0) for r in RULES[::-1])} | "
            f"{' / '.join(mean(r, 1) for r in RULES[::-1])} |"
        )
    return "\n".join(lines)


def _rule_name(stored: str | bool) -> str:
    """Runs stored before the cap existed say True for the two-agreeing-users rule."""
    if isinstance(stored, bool):
        return "agree" if stored else "off"
    return stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--shares", type=float, nargs="+", default=[0.2, 0.05, 0.01])
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--per-day", type=int, default=SMALL["queries_per_day"], help="requests")
    parser.add_argument("--users", type=int, default=SMALL["users"])
    parser.add_argument("--cycle-every", type=int, default=SMALL["cycle_every"], help="days")
    parser.add_argument(
        "--steps", type=int, default=SMALL["train_config"].max_steps, help="per training"
    )
    parser.add_argument(
        "--max-days", type=float, default=SMALL["experiment_max_days"], help="per experiment"
    )
    parser.add_argument(
        "--rule",
        choices=["all", *RULES],
        default="all",
        help="cap: the default rule 10; agree: two agreeing users (the rule before); off: none",
    )
    parser.add_argument("--out", type=Path, default=Path("out/hostile"))
    parser.add_argument(
        "--table-from",
        type=Path,
        nargs="+",
        help="only print the table of these runs.json files (runs split over processes)",
    )
    parser.add_argument(
        "--datasets-from",
        type=Path,
        nargs="+",
        help="only print what each rule keeps of these runs' votes (run folders, e.g. out/h/*/cap)",
    )
    parser.add_argument(
        "--paired-from",
        type=Path,
        nargs="+",
        help="only print cap against off, paired by share, seed and training seed (runs.json)",
    )
    parser.add_argument("--through-day", type=int, default=SMALL["cycle_every"])
    parser.add_argument(
        "--train-seed",
        type=int,
        default=SMALL["train_config"].seed,
        help="the trainings' seed: another one tells training noise from a rule's effect",
    )
    args = parser.parse_args()
    if args.datasets_from:
        print(dataset_table(args.datasets_from, args.through_day))
        return
    if args.paired_from:
        print(paired_table([r for path in args.paired_from for r in json.loads(path.read_text())]))
        return
    if args.table_from:
        print(table([row for path in args.table_from for row in json.loads(path.read_text())]))
        return
    settings = Settings()
    prompts, queries, eval_queries = unseen_files(args.out)
    knobs = {
        **SMALL,
        "days": args.days,
        "queries_per_day": args.per_day,
        "users": args.users,
        "cycle_every": args.cycle_every,
        "experiment_max_days": args.max_days,
        "train_config": replace(SMALL["train_config"], max_steps=args.steps, seed=args.train_seed),
    }
    rules = RULES if args.rule == "all" else (args.rule,)
    rows: list[dict[str, Any]] = []
    for share in args.shares:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            base = SimConfig(
                out=args.out / f"share{share:g}-seed{seed}",
                prompts=prompts,
                queries=queries,
                eval_queries=eval_queries,
                seed=seed,
                hostile_share=share,
                **knobs,
            )
            rows += run_pair(base, settings, rules)
            (args.out / "runs.json").write_text(json.dumps(rows, indent=1))
    print(table(rows))


if __name__ == "__main__":
    main()
