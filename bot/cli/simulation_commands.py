"""`promptbot simulate`, `report` and `demo`: the loop on simulated users, the live loop's
pictures, and the quick start."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from bot.cli.common import console, fail, load_settings, open_database, print_json


class ExperimentMode(StrEnum):
    ab = "ab"
    interleave = "interleave"


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
    app.command("report")(report)
    app.command("demo")(demo)


def simulate(
    prompts: Path | None = typer.Option(None, "--prompts", help="Prompt file (default: shipped)."),
    start_model: str = typer.Option("base", "--start-model", help="Any --model value."),
    queries: Path | None = typer.Option(
        None, "--queries", help="Judged queries users ask (default: shipped train split)."
    ),
    eval_queries: Path | None = typer.Option(
        None, "--eval-queries", help="Judged queries to measure the champion (default: test split)."
    ),
    days: int = typer.Option(14, min=1, max=365),
    users: int = typer.Option(200, min=1),
    queries_per_day: int = typer.Option(400, "--queries-per-day", min=1),
    results_per_request: int = typer.Option(3, "--results", min=1, max=5),
    seed: int = typer.Option(0),
    cycle_every: int = typer.Option(2, "--cycle-every", help="Days between retraining cycles."),
    retrain_from: str = typer.Option("champion", "--retrain-from", help="champion or base."),
    retrain: bool = typer.Option(True, "--retrain/--no-retrain"),
    inject_bad_candidate: bool = typer.Option(False, "--inject-bad-candidate"),
    aa: bool = typer.Option(False, "--aa", help="Run an A/A experiment (candidate = champion)."),
    experiment_mode: ExperimentMode = typer.Option(
        ExperimentMode.interleave,
        "--experiment-mode",
        help="Team-draft interleaving or an A/B split of users.",
    ),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Cap training steps per cycle."),
    as_json: bool = typer.Option(False, "--json"),
    out: Path = typer.Option(Path("out/simulation"), "--out"),
) -> None:
    """Run the whole loop on simulated users and days; write summary.json and a PNG."""
    from dataclasses import replace

    from retraining.simulator import SimConfig, Simulation, write_outputs
    from retraining.trainer import PRESETS
    from retrieval.corpus import SHIPPED_CORPUS

    config = (
        PRESETS["default"]
        if max_steps is None
        else replace(PRESETS["default"], max_steps=max_steps)
    )
    cfg = SimConfig(
        out=out,
        prompts=prompts or SHIPPED_CORPUS,
        queries=queries,
        eval_queries=eval_queries,
        start_model=start_model,
        days=days,
        users=users,
        queries_per_day=queries_per_day,
        results_per_request=results_per_request,
        seed=seed,
        retrain=retrain,
        cycle_every=cycle_every,
        retrain_from=retrain_from,
        inject_bad_candidate=inject_bad_candidate,
        aa_test=aa,
        experiment_mode=experiment_mode.value,
        train_config=config,
    )
    quiet = as_json
    try:
        sim = Simulation(
            cfg,
            load_settings(),
            progress=(lambda _m: None) if quiet else lambda m: console.print(m),
        )
        summary = sim.run()
    except (ValueError, OSError) as exc:
        fail(str(exc))
    write_outputs(summary, sim.days, out)
    if as_json:
        print_json(summary)
        return
    console.print(simulation_table(summary))
    console.print(f"wrote {out / 'summary.json'} and {out / 'thumbs_up_and_ndcg.png'}")


def simulation_table(summary: dict) -> Table:  # type: ignore[type-arg]
    table = Table(title="simulation summary")
    for column in (
        "day",
        "requests",
        "votes",
        "👍 rate per arm",
        "champion",
        "NDCG@5",
        "decisions",
    ):
        table.add_column(column)
    decisions_by_day: dict[int, list[str]] = {}
    for d in summary["decisions"]:
        decisions_by_day.setdefault(d["day"], []).append(
            f"{d['stage']}: {d['candidate_version']} {d['decision']}"
        )
    for day in summary["days"]:
        rates = ", ".join(f"{arm} {rate:.2f}" for arm, rate in day["thumbs_up_rate"].items())
        table.add_row(
            str(day["day"]),
            str(day["requests"]),
            str(day["votes"]),
            rates,
            day["champion_version"],
            f"{day['champion_ndcg5']}",
            "; ".join(decisions_by_day.get(day["day"], [])),
        )
    table.caption = (
        f"NDCG@5 {summary['start_ndcg5']} -> {summary['end_ndcg5']}; 👍 rate "
        f"{summary['start_thumbs_up_rate']} -> {summary['end_thumbs_up_rate']}"
    )
    return table


def report(
    since: str | None = typer.Option(None, help="ISO date/time, or e.g. 30d."),
    out: Path = typer.Option(Path("out/report"), "--out"),
) -> None:
    """Requests, votes, 👍 rates, latency and the model timeline from the live database."""
    from bot.cli.model_commands import parse_since
    from retraining.monitoring import write_monitoring_report

    db = open_database(load_settings())
    written = write_monitoring_report(db, out, parse_since(since))
    console.print("wrote " + ", ".join(str(p) for p in written))


def demo(
    days: int = typer.Option(5, help="Simulated days."),
    train_steps: int = typer.Option(100, "--train-steps", help="Steps of the short training run."),
    sim_train_steps: int = typer.Option(
        30, "--sim-train-steps", help="Steps of each retraining cycle in the simulation."
    ),
) -> None:
    """Quick start: init, a short training run, a few simulated days, a search; then a summary."""
    from bot.cli.demo import run_demo

    run_demo(days=days, train_steps=train_steps, sim_train_steps=sim_train_steps)
