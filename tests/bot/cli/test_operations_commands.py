"""`models export` (with --push-to-hub failing cleanly offline) and `report` from a live DB."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from storage.database import Database
from storage.repositories.requests import ShownResult, attach_message, record_request
from storage.repositories.votes import record_vote

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_cache_dir: Path) -> Path:
    monkeypatch.setenv("PROMPTBOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PROMPTBOT_CACHE_HOME", str(model_cache_dir))
    monkeypatch.delenv("PROMPTBOT_DATABASE_URL", raising=False)
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        "".join(
            json.dumps({"id": f"p{i}", "text": f"Prompt number {i} about the sea."}) + "\n"
            for i in range(5)
        )
    )
    assert runner.invoke(app, ["init", "--corpus", str(corpus)]).exit_code == 0
    return tmp_path / "home"


def test_export_writes_a_self_contained_model(home: Path, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    out = tmp_path / "exported"
    result = runner.invoke(app, ["models", "export", "base", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "onnx" / "model.onnx").is_file()
    assert "## promptbot" in (out / "README.md").read_text()
    vector = SentenceTransformer(str(out), device="cpu").encode(["a dragon"])
    assert vector.shape == (1, 384)


def test_push_to_hub_offline_fails_with_one_line(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = runner.invoke(
        app, ["models", "export", "base", str(tmp_path / "x"), "--push-to-hub", "someone/promptbot"]
    )
    assert result.exit_code == 1
    assert result.output.strip().startswith("error: pushing needs the network")
    assert len(result.output.strip().splitlines()) == 1


def test_report_draws_the_live_loop(home: Path, tmp_path: Path) -> None:
    db = Database(f"sqlite:///{home / 'promptbot.db'}")
    t0 = datetime(2026, 3, 1, 10)
    with db.session() as s:
        for day in range(3):
            req = record_request(
                s,
                user_id="7",
                raw_query="sea",
                normalized_query="sea",
                model_version_id="base",
                now=t0 + timedelta(days=day),
                latency_ms=3.0 + day,
                results=[ShownResult("p1", 0.5, "base")],
            )
            attach_message(s, req.results[0].id, f"m{day}", "c")
            record_vote(s, f"m{day}", "7", 1 if day else -1, t0 + timedelta(days=day))
    out = tmp_path / "report"
    result = runner.invoke(app, ["report", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = (out / "report.md").read_text()
    assert "| 2026-03-01 | 1 | 1 |" in text and "init" in text  # the champion timeline
    for name in ("counts.png", "thumbs_up_by_version.png", "thumbs_up_by_arm.png", "latency.png"):
        assert (out / name).stat().st_size > 5_000
