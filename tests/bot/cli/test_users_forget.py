"""`promptbot users show|forget USER_ID`: an operator handling a deletion request by mail does
what `/privacy forget` does; a malformed id is refused before anything is opened."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from storage import migrations
from storage.database import Database
from tests.helpers.storage import add_prompts, add_versions, request_with_messages, vote

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Database:
    monkeypatch.setenv("PROMPTBOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PROMPTBOT_DATABASE_URL", db_url)
    migrations.upgrade(db_url)
    db = Database(db_url)
    add_prompts(db)
    add_versions(db)
    request_with_messages(db, "123456789012345678", "g1", ["m1"])
    vote(db, "m1", "123456789012345678")
    vote(db, "m1", "999")
    return db


def test_show_then_forget(home: Database) -> None:
    shown = runner.invoke(app, ["users", "show", "123456789012345678"])
    assert shown.exit_code == 0, shown.output
    assert "1 request(s), 1 vote(s)" in shown.output and "g1: 1 request(s)" in shown.output
    refused = runner.invoke(app, ["users", "forget", "123456789012345678"], input="n\n")
    assert refused.exit_code == 1 and "nothing deleted" in refused.output
    done = runner.invoke(app, ["users", "forget", "123456789012345678", "--yes"])
    assert done.exit_code == 0, done.output
    assert "deleted 1 vote(s), unlinked 1 request(s)" in done.output
    after = runner.invoke(app, ["users", "show", "123456789012345678"])
    assert "0 request(s), 0 vote(s)" in after.output
    assert "1 vote(s)" in runner.invoke(app, ["users", "show", "999"]).output


@pytest.mark.parametrize("bad", ["alice", "12ab", "12 34", "1" * 21, "１２３"])
def test_a_malformed_id_is_refused(home: Database, bad: str) -> None:
    result = runner.invoke(app, ["users", "forget", bad, "--yes"])
    assert result.exit_code == 1
    assert "not a Discord user id" in result.output
