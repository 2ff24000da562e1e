"""`promptbot search`, `rank` and `evaluate` through the CLI, on any prompt file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app

runner = CliRunner()
PROMPTS = [
    {
        "id": "sea",
        "title": "Tide",
        "text": "A sailor returns after forty years at sea.",
        "genres": ["Adventure"],
    },
    {"id": "drake", "title": "Hoard", "text": "An old dragon counts the gold in its cave."},
    {"id": "loop", "title": "Again", "text": "She relives the same Tuesday until she forgives."},
]
QUERIES = [
    {"qid": "a", "query": "dragon gold", "relevant": {"drake": 2}},
    {"qid": "b", "query": "groundhog day", "slice": "synonym", "relevant": {"loop": 2}},
    {"qid": "c", "query": "ocean voyage", "extra": "ignored"},
]


@pytest.fixture
def files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_cache_dir: Path
) -> tuple[Path, Path]:
    monkeypatch.setenv("PROMPTBOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PROMPTBOT_CACHE_HOME", str(model_cache_dir))
    prompts, queries = tmp_path / "p.jsonl", tmp_path / "q.jsonl"
    prompts.write_text("".join(json.dumps(p) + "\n" for p in PROMPTS))
    queries.write_text("".join(json.dumps(q) + "\n" for q in QUERIES))
    return prompts, queries


def test_rank_round_trips_for_an_external_file(files: tuple[Path, Path], tmp_path: Path) -> None:
    prompts, queries = files
    out = tmp_path / "ranked.json"
    result = runner.invoke(
        app,
        [
            "rank",
            "--prompts",
            str(prompts),
            "--queries",
            str(queries),
            "--model",
            "base",
            "--top-k",
            "2",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    ranked = json.loads(out.read_text())
    assert set(ranked) == {"a", "b", "c"}
    assert all(len(ids) == 2 and set(ids) <= {"sea", "drake", "loop"} for ids in ranked.values())
    assert ranked["a"][0] == "drake" and ranked["c"][0] == "sea"


def test_evaluate_custom_set_writes_report(files: tuple[Path, Path], tmp_path: Path) -> None:
    prompts, queries = files
    out = tmp_path / "eval"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "-m",
            "base",
            "--prompts",
            str(prompts),
            "--queries",
            str(queries),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["custom set"]["base"]["all"]["n"] == 2  # query c has no judgments
    assert {"bm25 (text)", "bm25 (text+tags)", "hybrid (base)"} <= set(metrics["custom set"])
    assert (out / "report.md").read_text().startswith("# promptbot evaluation")
    assert list(out.glob("*.png"))


def test_rank_rejects_a_broken_prompt_file(files: tuple[Path, Path], tmp_path: Path) -> None:
    _, queries = files
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "x"}\n')
    result = runner.invoke(
        app,
        [
            "rank",
            "--prompts",
            str(broken),
            "--queries",
            str(queries),
            "--model",
            "base",
            "--out",
            str(tmp_path / "r.json"),
        ],
    )
    assert result.exit_code == 1 and "missing 'text'" in result.output


def test_search_needs_keywords_and_a_known_model(files: tuple[Path, Path]) -> None:
    prompts, _ = files
    assert runner.invoke(app, ["init", "--corpus", str(prompts)]).exit_code == 0
    assert "give some keywords" in runner.invoke(app, ["search", "!!!"]).output
    unknown = runner.invoke(app, ["search", "dragons", "-m", "v9"])
    assert unknown.exit_code == 1 and "No model version 'v9'" in unknown.output
    found = runner.invoke(app, ["search", "dragon gold", "--json", "-k", "1"])
    assert found.exit_code == 0, found.output
    assert json.loads(found.output)[0]["id"] == "drake"
