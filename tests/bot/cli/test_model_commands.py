"""`promptbot models ...` and `votes list`: promote/rollback round trip with the audit log."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.formatting import status_lines, status_text
from retraining.model_admin import (
    ExperimentSummary,
    LoopStatus,
    ServingSummary,
    TrainingRunSummary,
    VersionSummary,
)
from retrieval.model_registry import base_model_path
from storage.database import Database
from storage.models import ExperimentDecision, ExperimentMode, ExperimentStatus, ModelStatus
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
    monkeypatch.setenv("PROMPTBOT_INT8", "off")  # init would measure int8 on the whole corpus
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
    info = json.loads(status.output)
    assert info["champion"]["id"] == "base" and info["experiment"] is None
    assert info["champion"]["created_at"].startswith("20")  # ISO time, not a datetime repr
    text = runner.invoke(app, ["models", "status"]).output
    assert text.splitlines()[0] == "champion: base (all-MiniLM-L6-v2 (packaged))"
    assert "experiment: none" in text and "last training run: none" in text


def test_status_wording_of_an_interleaved_experiment() -> None:
    """The same lines for `promptbot models status` and (in a code block) `/model status`."""
    version = VersionSummary(
        "v1", "", ModelStatus.CHAMPION, "base", T0, T0, {}, "promote by cli:ann", "/m/v1"
    )
    experiment = ExperimentSummary(
        id=3,
        champion="v1",
        candidate="v2",
        status=ExperimentStatus.FINISHED,
        mode=ExperimentMode.INTERLEAVE,
        traffic_share=0.5,
        decision=ExperimentDecision.PROMOTED,
        reason="candidate better",
        stats={
            "champion": {"up": 3, "down": 1},
            "candidate": {"up": 5, "down": 0},
            "agreed": {"up": 2, "down": 1},
            "wins": 4,
            "losses": 1,
            "ties": 2,
            "p_value": 0.01234,
        },
        started_at=T0,
        decided_at=T0,
    )
    run = TrainingRunSummary(7, "succeeded", "enough new votes", "v2", {}, T0, T0, "")
    serving = ServingSummary("v1", None, "onnx-int8")
    status = LoopStatus(version, None, experiment, run, serving)
    assert status_lines(status).splitlines() == [
        "champion: v1 ()",
        "candidate: none",
        "experiment 3 (finished, interleaved): v1 vs v2 at 50% — champion 👍3 👎1 vs candidate "
        "👍5 👎0; candidate won 4, lost 1, tied 2 interleaved requests; results both rank alike "
        "👍2 👎1 (credited to neither); p=0.0123; decision: promoted (candidate better)",
        "last training run: #7 succeeded at 2026-01-01T00:00:00 — enough new votes",
        "serving: v1 [ONNX int8]",
    ]
    assert status_text(status) == f"```\n{status_lines(status)}\n```"


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
