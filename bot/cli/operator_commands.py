"""`promptbot doctor`, `backup`, `restore` and `users`: running promptbot as a public bot.

``users show|forget USER_ID`` does what `/privacy show|forget` does, for an operator handling
a request that came by mail (serving.privacy: the same code).

``doctor`` prints one line per check (see bot.doctor) and exits 1 when any failed. ``backup``
and ``restore`` wrap storage.backup; restore also re-registers the packaged base model's path
(it lives in this machine's site-packages, not in the backup) and says when the restored
database needs `promptbot db upgrade`.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.text import Text

from bot.cli.common import (
    DATABASE_UNAVAILABLE_EXIT,
    console,
    fail,
    load_settings,
    open_database,
    styled,
)
from storage.database import utcnow

STATUS_STYLE = {"ok": "green", "warn": "yellow", "FAIL": "bold red"}


users_app = typer.Typer(help="One user's data (requests by mail).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
    app.command("backup")(backup)
    app.command("restore")(restore)
    app.add_typer(users_app, name="users")


def _user_id(raw: str) -> str:
    """A Discord user id as stored; anything else is refused before the database is opened."""
    text = raw.strip()
    if not (text.isascii() and text.isdigit() and 0 < len(text) <= 20):
        fail(f"not a Discord user id: {raw[:40]!r} (the number from Copy User ID)")
    return str(int(text))


@users_app.command("show")
def users_show(user_id: str = typer.Argument(..., help="Discord user id")) -> None:
    """How many requests and votes the bot holds for this user, per server."""
    from serving.privacy import describe_user

    uid = _user_id(user_id)
    data = describe_user(open_database(load_settings()), uid)
    console.print(f"{data.total_requests} request(s), {data.total_votes} vote(s)")
    for guild in sorted(set(data.requests) | set(data.votes), key=lambda g: g or ""):
        where = guild or "direct messages / CLI"
        requests, votes = data.requests.get(guild, 0), data.votes.get(guild, 0)
        console.print(f"  {where}: {requests} request(s), {votes} vote(s)")


@users_app.command("forget")
def users_forget(
    user_id: str = typer.Argument(..., help="Discord user id"),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Delete the user's votes and unlink their requests (as /privacy forget does)."""
    import getpass

    from serving.privacy import forget

    uid = _user_id(user_id)
    db = open_database(load_settings())
    if not yes and not typer.confirm(f"Delete every vote of user {uid} and unlink their requests?"):
        fail("nothing deleted")
    forgotten = forget(db, uid, f"cli:{getpass.getuser()}")
    console.print(f"deleted {forgotten.votes} vote(s), unlinked {forgotten.requests} request(s)")


def doctor(
    online: bool = typer.Option(
        False, "--online", help="Also connect to the Discord gateway and try the token."
    ),
) -> None:
    """Check settings, database, champion files, int8 verdict, disk and token; exit 1 on FAIL."""
    from bot.doctor import Status, run_checks

    settings = _settings_or_fail_line()
    any_failed = False
    for check in run_checks(settings, online=online, environ=os.environ):
        any_failed |= check.status == Status.FAIL
        console.print(
            Text.assemble(
                (f"{check.status.value:<4}", STATUS_STYLE[check.status.value]),
                " ",
                styled(check.text()),
            ),
            highlight=False,
        )
    if any_failed:
        raise typer.Exit(1)


def _settings_or_fail_line():  # type: ignore[no-untyped-def]
    """Settings, or the doctor's FAIL line for them (the value is never shown)."""
    from pydantic import ValidationError

    from storage.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"PROMPTBOT_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors()
        )
    except Exception as exc:
        problems = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    console.print(
        Text.assemble(
            ("FAIL", STATUS_STYLE["FAIL"]),
            " ",
            styled(f"settings: {problems} (fix: correct the variable or PROMPTBOT_CONFIG file)"),
        ),
        highlight=False,
    )
    raise typer.Exit(1)


def backup(
    directory: Path = typer.Argument(..., help="A new (or empty) folder to write the backup to."),
) -> None:
    """Copy the database (consistently, while the bot runs) and the models, with checksums."""
    from storage.backup import BackupError
    from storage.backup import backup as make_backup

    settings = load_settings()
    try:
        manifest = make_backup(settings.resolved_database_url, settings.home, directory, utcnow())
    except BackupError as exc:
        fail(str(exc))
    console.print(
        f"Backed up the {manifest.engine} database (revision {manifest.revision}, champion "
        f"{manifest.champion}) and {len(manifest.artifacts)} model version(s) to {directory}: "
        f"{len(manifest.files)} file(s), checksums in manifest.json."
    )


def restore(
    directory: Path = typer.Argument(..., help="A folder written by `promptbot backup`."),
) -> None:
    """Restore a backup onto an EMPTY home and database, after verifying its checksums."""
    from retrieval.base_model import ensure_base_model
    from storage.backup import BackupError
    from storage.backup import restore as restore_backup
    from storage.database import Database
    from storage.migrations import current_revision, head_revision

    settings = load_settings()
    try:
        report = restore_backup(settings.resolved_database_url, settings.home, directory)
    except BackupError as exc:
        fail(str(exc))
    db = Database(settings.resolved_database_url)
    try:
        revision, head = current_revision(db.engine), head_revision()
        if revision == head:
            ensure_base_model(db, actor="promptbot restore")  # this machine's packaged copy
    finally:
        db.dispose()
    manifest = report.manifest
    console.print(
        f"Restored {directory} (taken {manifest.created_at}, champion {manifest.champion}) "
        f"into {settings.home}; {len(report.rewritten)} model path(s) moved under the new home."
    )
    for version_id, path in sorted(manifest.external_artifacts.items()):
        if version_id != "base":
            console.print(f"note: {version_id} still points outside the home, at {path}")
    if revision != head:
        fail(
            f"the restored database is at revision {revision}, the code at {head}: "
            "run `promptbot db upgrade`",
            DATABASE_UNAVAILABLE_EXIT,
        )
