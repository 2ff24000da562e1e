"""Concurrent set-up: migrations, the first import and the base model from several writers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from retrieval.base_model import ensure_base_model
from retrieval.corpus import import_prompt_file
from storage import migrations
from storage.database import Database
from storage.locks import database_lock, lock_file_for
from storage.models import ModelVersion, Prompt


def run_at_once(work: Callable[[], None], count: int) -> list[BaseException]:
    start, errors = threading.Barrier(count), []

    def run() -> None:
        start.wait()
        try:
            work()
        except BaseException as exc:  # the test reports every failure
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def corpus(tmp_path: Path, n: int = 30) -> Path:
    path = tmp_path / "corpus.jsonl"
    path.write_text(
        "".join(f'{{"id": "c{i}", "text": "A lighthouse keeper number {i}."}}\n' for i in range(n)),
        encoding="utf-8",
    )
    return path


def test_concurrent_inits_on_an_empty_database_all_succeed(
    empty_db_url: str, tmp_path: Path
) -> None:
    path = corpus(tmp_path)

    def init() -> None:
        migrations.upgrade(empty_db_url)
        db = Database(empty_db_url)
        try:
            assert import_prompt_file(db, path).ok
            ensure_base_model(db)
        finally:
            db.dispose()

    assert run_at_once(init, 4) == []
    db = Database(empty_db_url)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Prompt)) == 30
        champions = select(ModelVersion.id).where(ModelVersion.status == "champion")
        assert list(s.scalars(champions)) == ["base"]
    db.dispose()


def test_concurrent_imports_of_one_file_report_no_bad_line(db: Database, tmp_path: Path) -> None:
    path = corpus(tmp_path, 200)
    reports = []

    def load() -> None:
        other = Database(db.url)
        try:
            reports.append(import_prompt_file(other, path))
        finally:
            other.dispose()

    assert run_at_once(load, 3) == []
    assert all(r.ok for r in reports)
    assert sum(r.counts.added for r in reports) == 200  # each id added exactly once


def test_the_lock_is_exclusive_and_sqlite_keeps_its_file_private(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db' / 'x.db'}"
    inside, overlaps = [0], [0]

    def hold() -> None:
        with database_lock(url, "setup"):
            inside[0] += 1
            overlaps[0] = max(overlaps[0], inside[0])
            threading.Event().wait(0.05)
            inside[0] -= 1

    assert run_at_once(hold, 3) == []
    assert overlaps[0] == 1
    assert lock_file_for(tmp_path / "db" / "x.db", "setup").stat().st_mode & 0o777 == 0o600
