"""Shared CLI plumbing: settings, opening the database, clean one-line failures, safe output.

Everything the CLI prints may contain stored text that someone else wrote (prompt titles and
tags from an imported file, Discord users' queries), so the consoles here never interpret it:
rich markup (``[/]`` would crash, ``[link=...]`` would hide a hyperlink) and ``:emoji:`` codes
are off for every string, and control characters (ESC sequences could rewrite the operator's
terminal) are shown as visible ``\\x1b``-style escapes. Styling is added only with
:class:`rich.text.Text` built from :func:`styled`.

A database that cannot be used, from any command, ends in one line and exit code 2
(:data:`DATABASE_UNAVAILABLE_EXIT`): :class:`PromptbotGroup` catches storage's
``DatabaseUnavailable`` once, around every command.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, NoReturn

import click
import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from storage.database import Database, DatabaseUnavailable, SchemaNotMigratedError
from storage.settings import Settings

# Exit codes: 1 for bad input (a bad line, an unknown model), 2 when promptbot cannot run at all
# (an unusable database or configuration), so scripts can tell the two apart.
DATABASE_UNAVAILABLE_EXIT = 2
# C0 controls except tab and newline, DEL, the C1 block: nothing a terminal should receive raw.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(value: object) -> str:
    """``str(value)`` with control characters replaced by visible escapes such as ``\\x1b``."""
    return _CONTROL_CHARACTER.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


def styled(value: object, style: str = "") -> Text:
    """Stored or user-given text as a rich Text: never parsed as markup, controls escaped."""
    return Text(printable(value), style=style)


class SafeConsole(Console):
    """A console that prints every string literally (see the module docstring)."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        kwargs.update(markup=False, emoji=False)
        return super().render_str(printable(text), **kwargs)


# Logs and pipes get a wide fixed width so tables and panels are not cut at 80 columns.
_WIDTH = None if sys.stdout.isatty() else 140
console = SafeConsole(soft_wrap=True, width=_WIDTH, markup=False, emoji=False)
err_console = SafeConsole(stderr=True, soft_wrap=True, width=_WIDTH, markup=False, emoji=False)


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(Text.assemble(("error:", "bold red"), " ", styled(message)), highlight=False)
    raise typer.Exit(code)


class PromptbotGroup(TyperGroup):
    """The top-level command group: turns an unusable database into one line and exit 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DatabaseUnavailable as exc:
            fail(str(exc), DATABASE_UNAVAILABLE_EXIT)


def load_settings() -> Settings:
    """Settings from the environment and config file; a bad value is one line and exit 2."""
    from pydantic import ValidationError

    try:
        settings = Settings()
    except ValidationError as exc:  # name each bad variable and why, never the value
        problems = "; ".join(
            f"PROMPTBOT_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors()
        )
        fail(f"invalid configuration: {problems}", DATABASE_UNAVAILABLE_EXIT)
    except Exception as exc:  # e.g. a config file that is not valid TOML
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fail(f"invalid configuration: {reason}", DATABASE_UNAVAILABLE_EXIT)
    keep_library_files_inside(settings)
    return settings


def keep_library_files_inside(settings: Settings) -> None:
    """Point the libraries' own caches into PROMPTBOT_HOME's cache folder, before any of them
    is imported: left alone, torch creates ``$TMPDIR/torchinductor_<user>``, matplotlib
    ``~/.cache/matplotlib`` (onnxruntime's telemetry is turned off where it is imported:
    ``retrieval.encoders.quiet_onnxruntime``). Child processes (training workers,
    shards) inherit the variables. A variable the operator set is left as it is."""
    cache = settings.cache_dir
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache / "torchinductor"))
    os.environ.setdefault("MPLCONFIGDIR", str(cache / "matplotlib"))


def open_database(settings: Settings, require_migrated: bool = True) -> Database:
    """The configured database, which must exist: a mistyped SQLite path is not created."""
    db = Database(settings.resolved_database_url, must_exist=True)
    if require_migrated:
        try:
            db.require_migrated()
        except SchemaNotMigratedError as exc:
            fail(str(exc))
    return db


def print_json(payload: object) -> None:
    import json

    sys.stdout.write(json.dumps(payload, indent=2, default=str, ensure_ascii=False) + "\n")
