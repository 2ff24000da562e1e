"""A/B split vs team-draft interleaving: how fast each decides the same candidate.

    python -m bench.experiment_modes --seeds 8 --unseen --start-model M1 --candidate M2 --out DIR
    python -m bench.experiment_modes --seeds 8 --noise 0.3 --out DIR

Every run is the simulator with retraining off and one injected candidate against the
champion (``--start-model``, default base): the model in ``--candidate`` (e.g. two
generations a simulated loop produced), or else the champion's weights plus Gaussian noise
of ``--noise`` x each matrix's std (0 is an A/A test). Both designs see the same users, query
mix, candidate share (0.5 of users in A/B; every user in interleaving, so half of each list),
hourly checks and thresholds; only how the experiment's users are served differs. Prints,
per design, the decisions and the hours and votes they took, and writes ``runs.json`` and
``hours_to_decision.png`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from bench.simulation_runs import unseen_files
from retraining.simulator import INJECTED, SimConfig, Simulation
from storage.settings import Settings

MODES = ("ab", "interleave")


def run_one(cfg: SimConfig, settings: Settings) -> dict[str, Any]:
    started = time.perf_counter()
    summary = Simulation(cfg, settings, progress=lambda _m: None).run()
    verdict = next((d for d in summary["decisions"] if d["candidate_version"] in INJECTED), None)
    rates = [d["thumbs_up_rate"] for d in summary["days"]]
    return {
        "mode": cfg.experiment_mode,
        "seed": cfg.seed,
        "decision": verdict["decision"] if verdict else None,
        "hours": verdict["hours_running"] if verdict else None,
        "votes": verdict["experiment_votes"] if verdict else None,
        "reason": verdict["reason"] if verdict else None,
        "day1_rates": rates[0],
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


def table(runs: list[dict[str, Any]]) -> str:
    lines = [
        "| design | runs | promoted | rejected | kept (no verdict) | hours to a verdict "
        "(median, max) | votes counted (median) |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode in MODES:
        rows = [r for r in runs if r["mode"] == mode]
        decided = [r for r in rows if r["decision"] in ("promoted", "rejected")]
        hours = [r["hours"] for r in decided]
        votes = [r["votes"] for r in decided]
        tally = {d: sum(r["decision"] == d for r in rows) for d in ("promoted", "rejected")}
        lines.append(
            f"| {mode} | {len(rows)} | {tally['promoted']} | {tally['rejected']} | "
            f"{len(rows) - len(decided)} | "
            + (f"{statistics.median(hours):.1f}, {max(hours):.1f}" if hours else "-")
            + f" | {statistics.median(votes) if votes else '-'} |"
        )
    return "\n".join(lines)


def plot(runs: list[dict[str, Any]], path: Path, max_hours: float) -> None:
    from retraining.plots import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for row, mode in enumerate(MODES):
        hours = [
            r["hours"] if r["hours"] is not None else max_hours for r in runs if r["mode"] == mode
        ]
        ax.scatter(hours, [row] * len(hours), alpha=0.6)
    ax.set_yticks(range(len(MODES)), MODES)
    ax.set_xlabel(f"simulated hours to a decision ({max_hours:g} = none within the run)")
    ax.set_title("A/B vs team-draft interleaving on the same candidate")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--noise", type=float, default=0.3)
    parser.add_argument("--start-model", default="base", help="the champion (any --model)")
    parser.add_argument("--candidate", type=Path, default=None, help="a model directory")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--queries-per-day", type=int, default=400)
    parser.add_argument("--unseen", action="store_true", help="held-out prompts and queries")
    parser.add_argument("--out", type=Path, default=Path("out/experiment-modes"))
    args = parser.parse_args()

    settings = Settings()
    extra: dict[str, Any] = {}
    if args.unseen:
        prompts, queries, _ = unseen_files(args.out)
        extra = {"prompts": prompts, "queries": queries}
    runs = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for mode in MODES:
            cfg = SimConfig(
                out=args.out / f"{mode}-seed{seed}",
                seed=seed,
                days=args.days,
                queries_per_day=args.queries_per_day,
                retrain=False,
                start_model=args.start_model,
                inject_bad_candidate=args.candidate is None,
                inject_candidate=args.candidate,
                bad_candidate_noise=args.noise,
                experiment_mode=mode,
                experiment_max_days=args.days,
                end_when_decided=True,
                **extra,
            )
            runs.append(run_one(cfg, settings))
            print(json.dumps(runs[-1]), flush=True)
            (args.out / "runs.json").write_text(json.dumps(runs, indent=1))
    what = args.candidate or f"the champion + noise {args.noise:g}"
    print(f"\n{args.start_model} vs {what}\n")
    print(table(runs))
    plot(runs, args.out / "hours_to_decision.png", args.days * 24.0)
    print(f"\nwrote {args.out / 'runs.json'} and {args.out / 'hours_to_decision.png'}")


if __name__ == "__main__":
    main()
