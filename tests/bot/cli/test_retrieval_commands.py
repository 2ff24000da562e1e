"""`promptbot search`, `rank` and `evaluate` through the CLI, on any prompt file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.helpers.charts import ChartRecorder

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
    monkeypatch.setenv("PROMPTBOT_INT8", "off")  # else `init` measures int8 on the whole corpus
    prompts, queries = tmp_path / "p.jsonl", tmp_path / "q.jsonl"
    prompts.write_text("".join(json.dumps(p) + "\n" for p in PROMPTS))
    queries.write_text("".join(json.dumps(q) + "\n" for q in QUERIES))
    return prompts, queries


@pytest.mark.slow
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


@pytest.mark.slow
def test_evaluate_custom_set_writes_report(
    files: tuple[Path, Path], tmp_path: Path, drawn_charts: ChartRecorder
) -> None:
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
    report = (out / "report.md").read_text()
    assert report.startswith("# promptbot evaluation")
    # the chart shows each system's NDCG@5 per query slice, as metrics.json has them
    chart = drawn_charts["ndcg5_custom_set.png"]
    assert "](ndcg5_custom_set.png)" in report
    assert set(chart.bars) == set(metrics["custom set"])
    for system, by_slice in metrics["custom set"].items():
        ndcg = {name: values["NDCG@5"] for name, values in by_slice.items()}
        assert chart.drawn_bars(system) == pytest.approx(ndcg)


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


@pytest.mark.slow
def test_search_needs_keywords_and_a_known_model(files: tuple[Path, Path]) -> None:
    prompts, _ = files
    assert runner.invoke(app, ["init", "--corpus", str(prompts)]).exit_code == 0
    assert "give some keywords" in runner.invoke(app, ["search", "!!!"]).output
    unknown = runner.invoke(app, ["search", "dragons", "-m", "v9"])
    assert unknown.exit_code == 1 and "No model version 'v9'" in unknown.output
    found = runner.invoke(app, ["search", "dragon gold", "--json", "-k", "1"])
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout)[0]["id"] == "drake"  # stderr may carry progress bars


THEMED_PROMPTS = [
    {
        "id": "purse",
        "title": "The Returned Purse",
        "text": "A pickpocket walks back across the city to return a purse she stole ten "
        "years ago.",
        "themes": ["Atonement"],
    },
    {
        "id": "walls",
        "title": "Second Road",
        "text": "Atonement, atonement: the word is painted on every wall of the town where the "
        "clerk lives.",
        "themes": ["Travel"],
    },
    PROMPTS[0],
]


@pytest.mark.slow
@pytest.mark.parametrize(("weight", "expected"), [("0", "sea"), ("0.15", "purse")])
def test_rank_serves_with_the_theme_stage_of_the_settings(
    files: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    weight: str,
    expected: str,
) -> None:
    """A file's own theme tag lifts its prompt over a dense neighbour only with the stage on,
    for the tag as typed and in the plural, as the unseen set will be ranked."""
    monkeypatch.setenv("PROMPTBOT_THEME_WEIGHT", weight)
    prompts, queries = tmp_path / "themed.jsonl", tmp_path / "themed_q.jsonl"
    prompts.write_text("".join(json.dumps(p) + "\n" for p in THEMED_PROMPTS))
    queries.write_text(
        json.dumps({"qid": "one", "query": "atonement"})
        + "\n"
        + json.dumps({"qid": "many", "query": "atonements"})
        + "\n"
    )
    out = tmp_path / "ranked.json"
    command = ["rank", "--prompts", str(prompts), "--queries", str(queries), "--model", "base"]
    result = runner.invoke(app, [*command, "--top-k", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    ranked = json.loads(out.read_text())
    assert ranked["one"][0] == ranked["many"][0] == "walls"  # dense leader either way
    assert ranked["one"][1] == ranked["many"][1] == expected
