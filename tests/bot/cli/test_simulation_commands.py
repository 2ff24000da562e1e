"""`promptbot simulate` and `promptbot report` from the command line: options reach the
simulator, JSON comes out, and the report draws what the live database holds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from storage.database import Database
from storage.models import Arm
from storage.repositories.requests import ShownResult, attach_message, record_request
from storage.repositories.votes import record_vote
from tests.helpers.charts import ChartRecorder

runner = CliRunner()
GENRES = {"sea": "a ship lost at sea", "ghost": "a ghost in an old house"}
REPORT_T0 = datetime(2026, 3, 1, 10)
D1, D2, D3 = "2026-03-01", "2026-03-02", "2026-03-03"


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


@pytest.mark.slow
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


@pytest.fixture
def live_db(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_cache_dir: Path
) -> Iterator[Database]:
    """An initialised home with three days of traffic: one request and one vote a day."""
    monkeypatch.setenv("PROMPTBOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PROMPTBOT_CACHE_HOME", str(model_cache_dir))
    monkeypatch.setenv("PROMPTBOT_INT8", "off")  # `init` would measure int8 on the full corpus
    monkeypatch.delenv("PROMPTBOT_DATABASE_URL", raising=False)
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "p1", "text": "Prompt about the sea."}) + "\n")
    assert runner.invoke(app, ["init", "--corpus", str(corpus)]).exit_code == 0
    db = Database(f"sqlite:///{tmp_path / 'home' / 'promptbot.db'}")
    # day 1: champion arm 👎 (3 ms); day 2: champion arm 👍 (4 ms); day 3: candidate arm 👍 (5 ms)
    traffic = [(Arm.CHAMPION, -1), (Arm.CHAMPION, 1), (Arm.CANDIDATE, 1)]
    with db.session() as s:
        for day, (arm, value) in enumerate(traffic):
            at = REPORT_T0 + timedelta(days=day)
            req = record_request(
                s,
                user_id="7",
                raw_query="sea",
                normalized_query="sea",
                model_version_id="base",
                now=at,
                latency_ms=3.0 + day,
                results=[ShownResult("p1", 0.5, "base", arm=arm)],
            )
            attach_message(s, req.results[0].id, f"m{day}", "c")
            record_vote(s, f"m{day}", "7", value, at)
    yield db
    db.dispose()


def test_report_draws_the_live_loop(
    live_db: Database, tmp_path: Path, drawn_charts: ChartRecorder
) -> None:
    out = tmp_path / "report"
    result = runner.invoke(app, ["report", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = (out / "report.md").read_text()
    assert "| 2026-03-01 | 1 | 1 |" in text and "init" in text  # the champion timeline

    counts = drawn_charts["counts.png"]
    assert counts.points("requests") == [(D1, 1.0), (D2, 1.0), (D3, 1.0)]
    assert counts.points("votes") == [(D1, 1.0), (D2, 1.0), (D3, 1.0)]
    by_version = drawn_charts["thumbs_up_by_version.png"]
    assert by_version.points("thumbs-up rate: base") == [(D1, 0.0), (D2, 1.0), (D3, 1.0)]
    by_arm = drawn_charts["thumbs_up_by_arm.png"]
    assert by_arm.points("thumbs-up rate: champion") == [(D1, 0.0), (D2, 1.0)]
    assert by_arm.points("thumbs-up rate: candidate") == [(D3, 1.0)]
    latency = drawn_charts["latency.png"]
    assert latency.points("latency_p50_ms") == [(D1, 3.0), (D2, 4.0), (D3, 5.0)]
    assert latency.points("latency_p95_ms") == [(D1, 3.0), (D2, 4.0), (D3, 5.0)]
    charts = {"counts.png", "thumbs_up_by_version.png", "thumbs_up_by_arm.png", "latency.png"}
    assert set(drawn_charts.charts) == charts
    assert all(f"]({name})" in text and (out / name).is_file() for name in charts)
