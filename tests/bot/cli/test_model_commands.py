"""`promptbot models ...` and `votes list`: promote/rollback round trip with the audit log."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from retrieval.model_registry import base_model_path
from storage.database import Database
from storage.models import ModelStatus
from storage.repositories.audit import recent_audit
from storage.repositories.model_versions import get_champion, register_version
from storage.repositories.requests import ShownResult, attach_message, record_request
from storage.repositories.votes import record_vote

runner = CliRunner()
T0 = datetime(2026, 1, 1)


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_corpus: Path) -> Database:
    monkeypatch.setenv("PROMPTBOT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PROMPTBOT_DATABASE_URL", raising=False)
    assert runner.invoke(app, ["init", "--corpus", str(small_corpus)]).exit_code == 0
    db = Database(f"sqlite:///{tmp_path / 'home' / 'promptbot.db'}")
    v1 = tmp_path / "v1"
    shutil.copytree(base_model_path(), v1)
    with db.session() as s:
        register_version(s, "v1", str(v1), ModelStatus.CANDIDATE, T0, parent_id="base")
    return db


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    path = tmp_path / "small.jsonl"
    path.write_text(json.dumps({"id": "d1", "text": "A dragon counts its gold."}) + "\n")
    return path


def test_promote_and_rollback_round_trip(cli_db: Database) -> None:
    result = runner.invoke(app, ["models", "promote", "v1"])
    assert result.exit_code == 0, result.output
    assert "v1 is now the champion" in result.output
    listed = json.loads(runner.invoke(app, ["models", "list", "--json"]).output)
    assert {r["id"]: r["status"] for r in listed} == {"base": "base", "v1": "champion"}
    assert {"id", "label", "status", "parent", "created_at", "metrics"} <= set(listed[0])
    result = runner.invoke(app, ["models", "rollback"])
    assert result.exit_code == 0 and "base is now the champion" in result.output
    with cli_db.session() as s:
        assert get_champion(s).id == "base"
        actions = [e.action for e in recent_audit(s)]
    assert actions[:2] == ["rollback", "promote"]
    status = runner.invoke(app, ["models", "status", "--json"])
    assert json.loads(status.output)["champion"]["id"] == "base"


def test_unknown_version_gets_a_clear_message(cli_db: Database) -> None:
    result = runner.invoke(app, ["models", "promote", "v42"])
    assert result.exit_code == 1
    assert "No model version 'v42' (known: " in result.output and "base" in result.output
    assert "Traceback" not in result.output


def test_votes_list_json(cli_db: Database) -> None:
    with cli_db.session() as s:
        req = record_request(
            s,
            user_id="42",
            raw_query="Dragons!",
            normalized_query="dragons",
            model_version_id="base",
            now=T0,
            results=[ShownResult("d1", 0.8, "base")],
        )
        attach_message(s, req.results[0].id, "555", "7")
        record_vote(s, "555", "42", 1, T0)
    rows = json.loads(runner.invoke(app, ["votes", "list", "--json"]).output)
    assert rows == [
        {
            "message_id": "555",
            "user_id": "42",
            "value": 1,
            "prompt_id": "d1",
            "query": "dragons",
            "model_version": "base",
            "rank": 1,
            "arm": None,
            "changed_at": "2026-01-01T00:00:00",
        }
    ]
