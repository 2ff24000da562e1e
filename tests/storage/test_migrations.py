"""Migrations build the whole schema on both engines, go down and up again, and match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from storage import migrations
from storage.database import Database
from storage.models import Base

EXPECTED_TABLES = {
    "prompts",
    "model_versions",
    "champion_changes",
    "training_datasets",
    "training_pairs",
    "requests",
    "results",
    "votes",
    "training_runs",
    "experiments",
    "audit_log",
    "leases",
    "apscheduler_jobs",
    "gateway_presence",
    "reconcile_progress",
    "guild_settings",
    "guild_departures",
    "forgotten_reactions",
    "prompt_submissions",
    "guild_prompt_settings",
    "daily_schedules",
    "daily_posts",
    "daily_feedback",
}


def table_names(url: str) -> set[str]:
    db = Database(url)
    try:
        return set(inspect(db.engine).get_table_names()) - {"alembic_version"}
    finally:
        db.dispose()


def test_upgrade_downgrade_upgrade(empty_db_url: str) -> None:
    assert table_names(empty_db_url) == set()
    migrations.upgrade(empty_db_url)
    assert table_names(empty_db_url) == EXPECTED_TABLES
    migrations.downgrade(empty_db_url, "base")
    assert table_names(empty_db_url) == set()
    migrations.upgrade(empty_db_url)
    assert table_names(empty_db_url) == EXPECTED_TABLES


def test_models_match_migrated_schema(db_url: str) -> None:
    db = Database(db_url)
    try:
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
    finally:
        db.dispose()
    assert diff == []
