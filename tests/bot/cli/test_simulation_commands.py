"""`promptbot simulate` from the command line: options reach the simulator, JSON comes out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app

runner = CliRunner()
GENRES = {"sea": "a ship lost at sea", "ghost": "a ghost in an old house"}


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_cache_dir: Path) -> Path:
    monkeypatch.setenv("PROMPTBOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PROMPTBOT_CACHE_HOME", str(model_cache_dir))
    monkeypatch.setenv("PROMPTBOT_INT8", "off")
    monkeypatch.delenv("PROMPTBOT_DATABASE_URL", raising=False)
    (tmp_path / "prompts.jsonl").write_text(
        "".join(
            json.dumps({"id": f"{g}{i}", "text": f"Write about {text}, part {i}."}) + "\n"
            for g, text in GENRES.items()
            for i in range(4)
        )
    )
    (tmp_path / "queries.jsonl").write_text(
        "".join(
            json.dumps({"qid": g, "query": g, "relevant": {f"{g}{i}": 2 for i in range(4)}}) + "\n"
            for g in GENRES
        )
    )
    return tmp_path


def test_simulate_runs_an_interleaved_aa_experiment_and_prints_json(files: Path) -> None:
    out = files / "sim"
    args = ["simulate", "--prompts", str(files / "prompts.jsonl")]
    args += ["--queries", str(files / "queries.jsonl"), "--days", "2", "--users", "10"]
    args += ["--queries-per-day", "40", "--no-retrain", "--aa"]
    args += ["--experiment-mode", "interleave", "--json", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["config"]["experiment_mode"] == "interleave"
    assert summary["aa_candidate_promoted"] is False
    assert [d["requests"] for d in summary["days"]] == [40, 40]
    # identical models rank alike: every interleaved result is agreed, credited to neither
    assert set(summary["days"][0]["thumbs_up_rate"]) == {"agreed"}
    assert json.loads((out / "summary.json").read_text())["days"] == summary["days"]


def test_simulate_refuses_an_unknown_experiment_mode(files: Path) -> None:
    result = runner.invoke(app, ["simulate", "--experiment-mode", "coin-toss"])
    assert result.exit_code == 2
    assert "coin-toss" in result.output
