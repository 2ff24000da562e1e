"""Run Alembic migrations from code (the `promptbot db` commands and tests use this).

The configuration is built here rather than read from alembic.ini, so an installed wheel, which
has no alembic.ini, migrates the same way as a checkout. alembic.ini stays in the repository for
the plain ``alembic`` command run from its root; it sets nothing this function needs.

Upgrades and downgrades hold the database's migration lock (storage.locks), so two processes
migrating one database at once (two `promptbot init`s on a fresh PostgreSQL) run one after
the other: the second finds the schema at head and does nothing.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine

from storage.locks import database_lock
from storage.settings import MIGRATIONS_DIR

MIGRATION_LOCK = "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


class MigrationError(ValueError):
    """Alembic refused the request (e.g. an unknown revision); the message is one line."""


def upgrade(url: str, revision: str = "head") -> None:
    try:
        with database_lock(url, MIGRATION_LOCK):
            command.upgrade(alembic_config(url), revision)
    except CommandError as exc:
        raise MigrationError(str(exc)) from None


def downgrade(url: str, revision: str = "base") -> None:
    try:
        with database_lock(url, MIGRATION_LOCK):
            command.downgrade(alembic_config(url), revision)
    except CommandError as exc:
        raise MigrationError(str(exc)) from None


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
