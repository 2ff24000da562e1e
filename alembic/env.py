"""Alembic environment: the target metadata is storage.models; the URL comes from the caller
(storage.migrations) or, for the plain `alembic` command, from promptbot's settings.

An installed wheel carries this folder as storage/_shipped/alembic (see storage.settings), so
everything here is imported absolutely from the installed packages, never relative to the file.
"""

from __future__ import annotations

from alembic import context

from storage.database import make_engine
from storage.models import Base
from storage.settings import Settings

config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    return config.get_main_option("sqlalchemy.url") or Settings().resolved_database_url


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(database_url())
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
