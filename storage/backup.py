"""Backups of a promptbot installation, and restoring one onto an empty home and database.

A backup is a folder:

```
manifest.json        what is here, where each model version lives, sha256 of every file
database.sqlite      SQLite: a consistent copy made with SQLite's online backup API
database.dump        PostgreSQL: ``pg_dump --format=custom`` (restored with ``pg_restore``)
models/<version>/... the model artifacts under PROMPTBOT_HOME/models
```

**Consistency.** The database is copied while the bot may be running: SQLite's backup API and
``pg_dump`` both read one consistent snapshot. Model folders are copied after it; versions never
change once trained, so every version the snapshot knows already has its files, and a folder
that appeared later is harmless (no row points at it). Folders whose name starts with a dot are
trainings still being written and are left out. The embedding and ONNX caches are not backed
up: they are derived from the models and rebuilt on first use (an int8 verdict is measured
again too, with the same result).

**Artifact paths.** ``ModelVersion.artifact_path`` is absolute. The manifest stores, per version,
the path relative to PROMPTBOT_HOME when the artifact lives under it; restore rewrites those
rows to the same relative path under the new home, so a backup moves between machines and
users. Artifacts outside the home (the packaged base model in site-packages, a path someone
registered by hand) keep their path as it is; the base model's is corrected by
``ensure_base_model``, which the CLI runs after a restore.

**Restore** first checks every file against the manifest's sha256, then refuses unless the
target is empty (no tables in the database, nothing under home/models), so it can never
overwrite data; only then does it write. A backup restores onto the engine it was taken from.

Every failure is a :class:`BackupError` with a one-line message (passwords masked).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.engine import URL

from storage.database import (
    PRIVATE_DIR_MODE,
    PRIVATE_FILE_MODE,
    SQLITE_BUSY_TIMEOUT_S,
    Database,
    DatabaseUnavailable,
    ensure_private_dir,
    mask_password,
    parse_url,
    sqlite_path,
)
from storage.migrations import current_revision
from storage.models import ModelVersion
from storage.repositories.model_versions import get_champion

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
SQLITE_FILE = "database.sqlite"
POSTGRES_FILE = "database.dump"
MODELS = "models"
_CHUNK = 1 << 20


class BackupError(RuntimeError):
    """A backup or restore that cannot go ahead; the message is one line."""


@dataclass(frozen=True)
class Manifest:
    engine: str  # sqlite or postgresql
    revision: str | None  # the Alembic revision of the database copy
    created_at: str
    champion: str | None
    database_file: str
    artifacts: dict[str, str]  # version id -> path relative to PROMPTBOT_HOME
    external_artifacts: dict[str, str]  # version id -> absolute path outside the home, as is
    files: dict[str, str]  # path relative to the backup -> sha256
    format: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True)
class RestoreReport:
    manifest: Manifest
    rewritten: dict[str, str] = field(default_factory=dict)  # version id -> new artifact path


# --------------------------------------------------------------------------- checksums


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _files_under(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path


# --------------------------------------------------------------------------- backup


def backup(database_url: str, home: Path, target: Path, now: datetime) -> Manifest:
    """Copy the database and the model artifacts into ``target`` (new or empty).

    The manifest is written last, so a folder without one was never a complete backup; a
    backup that fails empties ``target`` again.
    """
    db = Database(database_url, must_exist=True)
    _prepare_target(target)
    try:
        return _write_backup(db, home, target, now)
    except BaseException:
        for entry in target.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        raise
    finally:
        db.dispose()


def _write_backup(db: Database, home: Path, target: Path, now: datetime) -> Manifest:
    engine = db.engine.dialect.name
    database_file = SQLITE_FILE if engine == "sqlite" else POSTGRES_FILE
    if engine == "sqlite":
        _sqlite_copy(_sqlite_file(db.url), target / database_file)
    else:
        _pg_dump(db.url, target / database_file)
    revision = current_revision(db.engine)
    # read after the snapshot: a superset of its versions, each already with its files
    artifacts, external, champion = _artifact_paths(db, home)
    _copy_models(home / MODELS, target / MODELS)
    files = {
        path.relative_to(target).as_posix(): sha256_of(path)
        for path in _files_under(target)
        if path.name != MANIFEST
    }
    manifest = Manifest(
        engine=engine,
        revision=revision,
        created_at=now.isoformat(timespec="seconds"),
        champion=champion,
        database_file=database_file,
        artifacts=artifacts,
        external_artifacts=external,
        files=files,
    )
    _write_private(target / MANIFEST, manifest.to_json())
    return manifest


def _prepare_target(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(f"{target} is not an empty folder; back up into a new one")
    try:
        ensure_private_dir(target)
    except DatabaseUnavailable as exc:
        raise BackupError(str(exc)) from None


def _sqlite_file(url: str) -> Path:
    path = sqlite_path(url)
    if path is None:
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return path


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy even while the bot writes."""
    os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_EXCL, PRIVATE_FILE_MODE))
    # read-write, though it only reads: a read-only handle cannot always join a live WAL
    src = sqlite3.connect(source, timeout=SQLITE_BUSY_TIMEOUT_S)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    finally:
        dst.close()
        src.close()


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI without the password, and the environment that carries it
    (so it never shows in the process list)."""
    parsed: URL = parse_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _pg_dump(url: str, target: Path) -> None:
    uri, env = _libpq(url)
    args = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--file", str(target)]
    _run_pg_tool_with_env([*args, "--dbname", uri], env, url, "back up PostgreSQL")
    target.chmod(PRIVATE_FILE_MODE)


def _run_pg_tool_with_env(args: list[str], env: dict[str, str], url: str, what: str) -> None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, check=False, env=env)
    except FileNotFoundError:
        raise BackupError(f"{args[0]} is not installed; it is needed to {what}") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        raise BackupError(f"{args[0]} failed for {mask_password(url)}: {lines[0]}")


def _artifact_paths(db: Database, home: Path) -> tuple[dict[str, str], dict[str, str], str | None]:
    """(versions under the home -> relative path, versions elsewhere -> absolute, champion)."""
    resolved_home = home.resolve()
    inside: dict[str, str] = {}
    outside: dict[str, str] = {}
    with db.session() as session:
        for version_id, artifact in session.execute(
            select(ModelVersion.id, ModelVersion.artifact_path)
        ):
            path = Path(artifact).resolve()
            if path.is_relative_to(resolved_home):
                inside[version_id] = path.relative_to(resolved_home).as_posix()
            else:
                outside[version_id] = artifact
        champion = get_champion(session)
        return inside, outside, champion.id if champion else None


def _copy_models(source: Path, target: Path) -> None:
    if not source.is_dir():
        return
    ensure_private_dir(target.parent)
    target.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
    for entry in sorted(source.iterdir()):
        if entry.name.startswith("."):  # a training still writing its folder
            continue
        if entry.is_dir():
            shutil.copytree(entry, target / entry.name)
        elif entry.is_file():
            shutil.copy2(entry, target / entry.name)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)


# --------------------------------------------------------------------------- restore


def read_manifest(source: Path) -> Manifest:
    path = source / MANIFEST
    if not path.is_file():
        raise BackupError(f"{source} is not a promptbot backup (no {MANIFEST})")
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        manifest = Manifest(**data)
    except (ValueError, TypeError) as exc:
        raise BackupError(f"{path} is not a readable manifest: {exc}") from None
    if manifest.format != FORMAT_VERSION:
        raise BackupError(f"{path} has format {manifest.format}; this promptbot reads 1")
    return manifest


def verify_backup(source: Path) -> Manifest:
    """The manifest, once every file it lists is present with the recorded sha256."""
    manifest = read_manifest(source)
    if manifest.database_file not in manifest.files:
        raise BackupError(f"the manifest in {source} lists no database copy")
    for name, expected in sorted(manifest.files.items()):
        path = source / name
        if not path.is_file():
            raise BackupError(f"{name} is missing from the backup {source}")
        if sha256_of(path) != expected:
            raise BackupError(f"{name} in {source} does not match its checksum; it is damaged")
    return manifest


def restore(database_url: str, home: Path, source: Path) -> RestoreReport:
    """Verify ``source``, check the target is empty, then restore the database and models."""
    manifest = verify_backup(source)
    engine = parse_url(database_url).get_backend_name()
    if engine != manifest.engine:
        raise BackupError(f"the backup is of a {manifest.engine} database; the target is {engine}")
    _require_empty_home(home)
    db = Database(database_url)
    try:
        _require_empty_database(db)
        if engine == "sqlite":
            db.dispose()  # the file is written by SQLite's backup API, not through the pool
            _sqlite_restore(source / manifest.database_file, _sqlite_file(db.url))
        else:
            _pg_restore(db.url, source / manifest.database_file)
        _copy_models(source / MODELS, home / MODELS)
        rewritten = _rewrite_artifacts(db, home, manifest.artifacts)
    finally:
        db.dispose()
    return RestoreReport(manifest, rewritten)


def _require_empty_home(home: Path) -> None:
    models = home / MODELS
    if models.is_dir() and any(models.iterdir()):
        raise BackupError(f"{models} is not empty; restore only onto a new PROMPTBOT_HOME")


def _require_empty_database(db: Database) -> None:
    tables = inspect(db.engine).get_table_names()
    if tables:
        raise BackupError(
            f"the database {db.safe_url} already has {len(tables)} table(s); "
            "restore only onto an empty database"
        )


def _sqlite_restore(source: Path, target: Path) -> None:
    ensure_private_dir(target.parent)
    os.close(os.open(target, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE_MODE))
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)
        dst.execute("PRAGMA journal_mode=WAL")  # how promptbot runs its SQLite databases
    finally:
        dst.close()
        src.close()


def _pg_restore(url: str, dump: Path) -> None:
    uri, env = _libpq(url)
    args = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--dbname", uri]
    _run_pg_tool_with_env([*args, str(dump)], env, url, "restore PostgreSQL")


def _rewrite_artifacts(db: Database, home: Path, artifacts: dict[str, str]) -> dict[str, str]:
    """Point every version that lived under the old home at the same place under ``home``."""
    rewritten: dict[str, str] = {}
    with db.session() as session:
        for version_id, relative in sorted(artifacts.items()):
            new_path = str((home / relative).absolute())
            version = session.get(ModelVersion, version_id)
            if version is not None:
                version.artifact_path = new_path
                rewritten[version_id] = new_path
    return rewritten
