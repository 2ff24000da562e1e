"""`promptbot models ...`, `votes list`, `retrain-now` and `worker`: operating the loop.

`models` mirrors the `/model` Discord commands and calls the same functions
(retraining.model_admin), so both write the same audit log.
"""

from __future__ import annotations

import getpass
from datetime import datetime, timedelta
from pathlib import Path

import typer
from rich.table import Table

from bot.cli.common import console, fail, load_settings, open_database, print_json

models_app = typer.Typer(
    help="Model versions: list, status, promote, rollback, export.", no_args_is_help=True
)
votes_app = typer.Typer(help="Recorded votes.", no_args_is_help=True)
experiment_app = typer.Typer(
    help="The running experiment (interleaved or A/B).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
    app.add_typer(votes_app, name="votes")
    models_app.add_typer(experiment_app, name="experiment")
    app.command("retrain-now")(retrain_now)
    app.command("worker")(worker)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@models_app.command("list")
def models_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """All model versions, oldest first."""
    from bot.formatting import iso, version_json
    from retraining.model_admin import list_models

    versions = list_models(open_database(load_settings()))
    if as_json:
        print_json([version_json(v) for v in versions])
        return
    table = Table(title="model versions")
    for column in ("id", "status", "parent", "created", "test NDCG@5", "label"):
        table.add_column(column)
    for v in versions:
        ndcg = v.test_ndcg5
        table.add_row(
            v.id,
            v.status,
            v.parent or "",
            iso(v.created_at),
            f"{ndcg:.3f}" if ndcg is not None else "—",
            v.label,
        )
    console.print(table)


@models_app.command("status")
def models_status(as_json: bool = typer.Option(False, "--json")) -> None:
    """Champion, candidate, the experiment and the last training run."""
    from bot.formatting import status_json, status_lines
    from retraining.model_admin import status

    report = status(open_database(load_settings()))
    if as_json:
        print_json(status_json(report))
        return
    console.print(status_lines(report))


@models_app.command("promote")
def models_promote(version: str = typer.Argument(..., help="Version id to make champion.")) -> None:
    """Make VERSION the champion (serving picks it up without a restart)."""
    from retraining.model_admin import AdminError, promote

    try:
        console.print(promote(open_database(load_settings()), version, actor=_actor()).message)
    except AdminError as exc:
        fail(str(exc))


@models_app.command("rollback")
def models_rollback(
    version: str | None = typer.Argument(None, help="Version to return to (default: previous)."),
) -> None:
    """Return to the previous champion (or to VERSION)."""
    from retraining.model_admin import AdminError, rollback

    try:
        console.print(rollback(open_database(load_settings()), _actor(), version).message)
    except AdminError as exc:
        fail(str(exc))


@models_app.command("export")
def models_export(
    version: str = typer.Argument(..., help="Any --model value."),
    directory: Path = typer.Argument(..., help="Where to write the model."),
    push_to_hub: str | None = typer.Option(None, "--push-to-hub", help="Hub repo id to push to."),
) -> None:
    """Write a self-contained sentence-transformers directory (with ONNX and a model card)."""
    from retraining.export import ExportError, export_model

    settings = load_settings()
    try:
        written = export_model(open_database(settings), settings, version, directory, push_to_hub)
    except ExportError as exc:
        fail(str(exc))
    except OSError as exc:  # e.g. a parent folder that cannot be created
        fail(f"cannot write {exc.filename or directory}: {exc.strerror or exc}")
    console.print(f"exported {version} to {written}")


@experiment_app.command("stop")
def experiment_stop() -> None:
    """Stop the running experiment early; the champion is kept."""
    from retraining.experiment_check import stop_experiment

    console.print(stop_experiment(open_database(load_settings()), _actor()))


@votes_app.command("list")
def votes_list(
    since: str | None = typer.Option(None, help="ISO date/time, or e.g. 7d / 12h."),
    limit: int = typer.Option(50, min=1),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Recorded votes, newest first."""
    from storage.repositories.votes import list_votes

    cutoff = parse_since(since)
    with open_database(load_settings()).session() as session:
        votes = list_votes(session, since=cutoff, limit=limit)
    rows = [
        {
            "message_id": v.message_id,
            "user_id": v.user_id,
            "value": v.value,
            "prompt_id": v.prompt_id,
            "query": v.query,
            "model_version": v.model_version,
            "rank": v.rank,
            "arm": v.arm,
            "changed_at": v.changed_at.isoformat(timespec="seconds"),
        }
        for v in votes
    ]
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"{len(rows)} vote(s)")
    for column in ("when", "user", "vote", "query", "prompt", "rank", "model"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["changed_at"],
            r["user_id"],
            "👍" if r["value"] > 0 else "👎",
            r["query"],
            r["prompt_id"],
            str(r["rank"]),
            r["model_version"],
        )
    console.print(table)


def parse_since(text: str | None) -> datetime | None:
    if not text:
        return None
    from storage.database import utcnow

    units = {"d": "days", "h": "hours", "m": "minutes"}
    if text[-1:] in units and text[:-1].isdigit():
        return utcnow() - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        fail(f"--since: {text!r} is neither an ISO date nor like 7d / 12h")


def retrain_now(
    in_process: bool = typer.Option(False, help="Train in this process (default: a subprocess)."),
) -> None:
    """Run one retraining cycle now, with progress and a summary table."""
    from retraining.cycle import RetrainingCycle

    settings = load_settings()
    db = open_database(settings)
    with console.status("retraining cycle") as spinner:
        report = RetrainingCycle(
            db,
            settings,
            in_process=in_process,
            progress=lambda msg: spinner.update(f"retraining cycle: {msg}"),
        ).run(trigger="manual")
    table = Table(title=f"retraining run #{report.run_id}: {report.status}")
    table.add_column("item")
    table.add_column("value")
    table.add_row("reason", report.reason)
    if report.candidate_version:
        table.add_row("candidate", report.candidate_version)
    if report.experiment_id:
        table.add_row("experiment", str(report.experiment_id))
    for key, value in {
        **report.counts,
        **{f"{k} (s)": round(v, 1) for k, v in report.timings.items()},
    }.items():
        table.add_row(key, str(value))
    for key, value in report.gate.items():
        table.add_row(f"gate: {key}", str(value))
    console.print(table)
    if report.status == "failed":
        raise typer.Exit(1)


def worker() -> None:
    """Run the retraining schedule in this process (no Discord connection)."""
    import logging

    from retraining.scheduler_leader import run_until_stopped

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = load_settings()
    open_database(settings).dispose()
    console.print(
        f"worker: retraining schedule {settings.retrain_schedule!r} (UTC) while elected "
        "scheduler leader (one per database); Ctrl+C stops"
    )
    run_until_stopped(settings)
