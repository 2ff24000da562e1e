"""`promptbot models export` (retraining/export.py): a self-contained model, and --push-to-hub
failing cleanly offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_cache_dir: Path) -> Path:
    monkeypatch.setenv("PROMPTBOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PROMPTBOT_CACHE_HOME", str(model_cache_dir))
    monkeypatch.setenv("PROMPTBOT_INT8", "off")  # else `init` measures int8 on the whole corpus
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


@pytest.mark.slow
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
