"""The scheduler's job store: APScheduler keeps its jobs in the app database.

The ``apscheduler_jobs`` table belongs to the migrations (storage.models mirrors it), and the
store is built on the same engine setup as every other connection (SQLite pragmas, pool
checks), so the scheduler needs nothing from SQLAlchemy itself.
"""

from __future__ import annotations

from typing import Any

from storage.database import make_engine


def scheduler_job_store(url: str) -> Any:
    """An APScheduler 3.x job store on the database at ``url``."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    return SQLAlchemyJobStore(engine=make_engine(url))
