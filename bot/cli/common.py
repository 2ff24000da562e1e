"""Shared CLI plumbing: settings, opening the database, clean one-line failures."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console

from storage.database import Database, SchemaNotMigratedError
from storage.settings import Settings

# Logs and pipes get a wide fixed width so tables and panels are not cut at 80 columns.
_WIDTH = None if sys.stdout.isatty() else 140
console = Console(soft_wrap=True, width=_WIDTH)
err_console = Console(stderr=True, soft_wrap=True, width=_WIDTH)


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def load_settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic's message names the bad variable, never a secret
        fail(f"invalid configuration: {exc}")


def open_database(settings: Settings, require_migrated: bool = True) -> Database:
    db = Database(settings.sqlalchemy_url)
    if require_migrated:
        try:
            db.require_migrated()
        except SchemaNotMigratedError as exc:
            fail(str(exc))
    return db


def print_json(payload: object) -> None:
    import json

    sys.stdout.write(json.dumps(payload, indent=2, default=str, ensure_ascii=False) + "\n")
