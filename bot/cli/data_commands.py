"""`promptbot init`, `import`, `db ...` and `prompts stats`: the database and the corpus."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from bot.cli.common import console, err_console, fail, load_settings, open_database
from storage.database import ensure_private_dir

db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
prompts_app = typer.Typer(help="The prompt corpus.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("import")(import_prompts)
    app.add_typer(db_app, name="db")
    app.add_typer(prompts_app, name="prompts")


def init(
    corpus: Path | None = typer.Option(
        None, "--corpus", help="Import this prompt file instead of the shipped corpus."
    ),
) -> None:
    """Migrate the database, import the corpus, register the base model as champion."""
    from retrieval.base_model import ensure_base_model
    from retrieval.corpus import SHIPPED_CORPUS
    from storage import migrations

    settings = load_settings()
    path = corpus or SHIPPED_CORPUS
    _require_file(path, "prompt file")
    ensure_private_dir(settings.home)
    _migrate(migrations.upgrade, settings.resolved_database_url, "head")
    db = open_database(settings)
    report = _import(db, path)
    ensure_base_model(db)
    console.print(f"Database ready at {db.safe_url}; champion model: base.")
    _check_int8(db, settings)
    if report.errors:
        raise typer.Exit(1)


def _check_int8(db, settings) -> None:  # type: ignore[no-untyped-def]
    """Measure once whether int8 serves the base model as well as fp32 (see int8_check)."""
    from retrieval.int8_check import int8_verdict
    from retrieval.int8_verdict import int8_considered
    from retrieval.model_registry import resolve_model

    if not int8_considered(settings.backend, settings.int8):
        return
    verdict = int8_verdict(resolve_model("base", db), settings.cache_dir)
    served = "int8" if verdict.serve else "fp32"
    console.print(f"Serving precision for base: {served} ({verdict.reason}).")


def import_prompts(
    file: Path = typer.Argument(..., help="JSON Lines prompt file.", exists=True, dir_okay=False),
) -> None:
    """Add or update prompts by id from a JSON Lines file (bad lines are reported and skipped)."""
    db = open_database(load_settings())
    if _import(db, file).errors:
        raise typer.Exit(1)


def _import(db, path: Path):  # type: ignore[no-untyped-def]
    """Import ``path`` and print the report; an unreadable file is one line, not a traceback."""
    from retrieval.corpus import import_prompt_file

    try:
        report = import_prompt_file(db, path)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")
    _print_import_report(report)
    return report


def _print_import_report(report) -> None:  # type: ignore[no-untyped-def]
    c = report.counts
    console.print(
        f"{report.path.name}: {c.added} added, {c.updated} updated, {c.unchanged} unchanged, "
        f"{len(report.errors)} bad line(s) skipped."
    )
    for error in report.errors[:50]:
        err_console.print(f"  {report.path.name}: {error}", highlight=False)
    if len(report.errors) > 50:
        err_console.print(f"  ... and {len(report.errors) - 50} more")


def _migrate(step, url: str, revision: str) -> None:  # type: ignore[no-untyped-def]
    """Run a migration step; an unknown revision is one line, not Alembic's traceback."""
    from storage.migrations import MigrationError

    try:
        step(url, revision)
    except MigrationError as exc:
        fail(f"{exc} (see `promptbot db current`)")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from storage import migrations

    settings = load_settings()
    ensure_private_dir(settings.home)
    _migrate(migrations.upgrade, settings.resolved_database_url, revision)
    console.print(f"Database at {revision}.")


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="Target revision, or 'base'.")) -> None:
    """Revert migrations down to REVISION."""
    from storage import migrations

    settings = load_settings()
    open_database(settings, require_migrated=False)  # never create a database to downgrade it
    _migrate(migrations.downgrade, settings.resolved_database_url, revision)
    console.print(f"Database at {revision}.")


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision and the code's head."""
    from storage import migrations

    db = open_database(load_settings(), require_migrated=False)
    console.print(
        f"database: {migrations.current_revision(db.engine)}  code head: "
        f"{migrations.head_revision()}"
    )


@prompts_app.command("stats")
def prompts_stats(
    queries: Path | None = typer.Option(
        None, help="Judged query file to count by slice (default: data/eval/queries.jsonl)."
    ),
) -> None:
    """Counts of prompts by genre and theme, and of evaluation queries by slice."""
    from storage.repositories.prompts import count_prompts, tag_counts
    from storage.settings import DATA_DIR

    if queries is not None:  # a bad argument fails before anything is printed
        _require_file(queries, "query file")
    db = open_database(load_settings())
    with db.session() as session:
        total = count_prompts(session)
        genres, themes = tag_counts(session)
    console.print(f"{total} prompts, {len(genres)} genres, {len(themes)} themes")
    for title, counter in (("genre", genres), ("theme", themes)):
        table = Table(title=f"prompts by {title}")
        table.add_column(title)
        table.add_column("prompts", justify="right")
        for name, n in counter.most_common():
            table.add_row(name, str(n))
        console.print(table)
    query_file = queries or DATA_DIR / "eval" / "queries.jsonl"
    if query_file.is_file():
        _print_query_slices(query_file)


def _require_file(path: Path, what: str) -> None:
    if path.is_dir():
        fail(f"{what} {path} is a folder; give the file in it.")
    if not path.is_file():
        fail(f"{what} {path} not found.")


def _print_query_slices(query_file: Path) -> None:
    from collections import Counter

    from retrieval.eval_sets import load_queries

    try:
        slices = Counter(q.slice for q in load_queries(query_file))
    except (OSError, ValueError) as exc:
        fail(str(exc))
    table = Table(title=f"queries by slice ({query_file.name})")
    table.add_column("slice")
    table.add_column("queries", justify="right")
    for name, n in sorted(slices.items()):
        table.add_row(name, str(n))
    console.print(table)
