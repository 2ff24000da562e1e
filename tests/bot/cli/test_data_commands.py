"""`promptbot init`, `import`, `db` and `prompts stats` through the real CLI entry point."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import MetaData, select
from typer.testing import CliRunner

from bot.cli import app
from storage.database import Database
from storage.migrations import head_revision

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PROMPTBOT_HOME", str(tmp_path / "home"))
    # `init` would measure int8 against fp32 on the whole shipped corpus (minutes): that
    # measurement has its own tests in tests/retrieval/test_int8_check.py
    monkeypatch.setenv("PROMPTBOT_INT8", "off")
    monkeypatch.delenv("PROMPTBOT_DATABASE_URL", raising=False)
    return tmp_path / "home"


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    path = tmp_path / "small.jsonl"
    rows = [
        {
            "id": "d1",
            "title": "Hoard",
            "text": "A dragon counts its gold.",
            "genres": ["fantasy"],
            "themes": ["greed"],
        },
        {"id": "g1", "title": "Knock", "text": "The ghost keeps knocking.", "genres": ["horror"]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def dump(url: str) -> dict[str, list[tuple]]:
    db = Database(url)
    meta = MetaData()
    meta.reflect(db.engine)
    with db.engine.connect() as connection:
        rows = {
            t.name: sorted(map(tuple, connection.execute(select(t)))) for t in meta.sorted_tables
        }
    db.dispose()
    return rows


def test_init_twice_leaves_the_same_database(home: Path, small_corpus: Path) -> None:
    first = runner.invoke(app, ["init", "--corpus", str(small_corpus)])
    assert first.exit_code == 0, first.output
    url = f"sqlite:///{home / 'promptbot.db'}"
    before = dump(url)
    assert len(before["prompts"]) == 2
    assert [(r[0], r[4]) for r in before["model_versions"]] == [("base", "champion")]
    second = runner.invoke(app, ["init", "--corpus", str(small_corpus)])
    assert second.exit_code == 0, second.output
    assert "0 added, 0 updated, 2 unchanged" in second.output
    assert dump(url) == before


def test_commands_refuse_an_unmigrated_database(home: Path, small_corpus: Path) -> None:
    missing = runner.invoke(app, ["import", str(small_corpus)])
    assert missing.exit_code == 2 and "no database at" in missing.output
    assert not (home / "promptbot.db").exists()  # a mistyped path is never created
    home.mkdir()
    sqlite3.connect(home / "promptbot.db").close()  # an empty database file
    result = runner.invoke(app, ["import", str(small_corpus)])
    assert result.exit_code == 1
    assert "promptbot db upgrade" in result.output
    assert "Traceback" not in result.output


def test_import_reports_bad_lines_and_exits_non_zero(
    home: Path, small_corpus: Path, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["init", "--corpus", str(small_corpus)]).exit_code == 0
    extra = tmp_path / "extra.jsonl"
    extra.write_text('{"id": "n1", "text": "A new one."}\n{"id": "n2"}\n')
    result = runner.invoke(app, ["import", str(extra)])
    assert result.exit_code == 1
    assert "1 added" in result.output and "line 2: missing 'text'" in result.output
    stats = runner.invoke(app, ["prompts", "stats"])
    assert stats.exit_code == 0
    assert "3 prompts" in stats.output and "Fantasy" in stats.output and "Greed" in stats.output


def test_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("init", "import", "db", "prompts"):
        assert command in result.output


def test_db_upgrade_and_current(home: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    current = runner.invoke(app, ["db", "current"])
    assert f"database: {head_revision()}  code head" in current.output
