"""`promptbot backup` / `restore` on both engines: a restored home serves the same champion
with the same answers; restore verifies checksums first and only ever fills an empty target."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from retrieval.model_registry import base_model_path
from storage.backup import MANIFEST
from storage.database import Database
from storage.models import ModelStatus
from storage.repositories.model_versions import get_version, register_version, set_champion
from tests.helpers.databases import ENGINES, fresh_database_url

runner = CliRunner()
T0 = datetime(2026, 1, 1)
PROMPTS = [
    ("p1", "A dragon guards the last library in a fantasy kingdom."),
    ("p2", "Two detectives share a flat above a bakery."),
    ("p3", "The lighthouse keeper receives a letter from the sea."),
    ("p4", "A young witch opens a shop for broken spells."),
]


def use_home(monkeypatch: pytest.MonkeyPatch, home: Path, url: str) -> None:
    monkeypatch.setenv("PROMPTBOT_HOME", str(home))
    monkeypatch.setenv("PROMPTBOT_DATABASE_URL", url)


def search() -> list[dict[str, object]]:
    result = runner.invoke(app, ["search", "fantasy dragons", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def source(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Path, str]:
    """A home whose champion "v1" lives under PROMPTBOT_HOME/models, on the given engine."""
    for name in ("PROMPTBOT_CONFIG", "PROMPTBOT_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PROMPTBOT_BACKEND", "torch")  # no ONNX export: the test is about data
    engine = request.param
    home, url = tmp_path / "old-home", fresh_database_url(engine, request, tmp_path, False)
    use_home(monkeypatch, home, url)
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in PROMPTS))
    assert runner.invoke(app, ["init", "--corpus", str(corpus)]).exit_code == 0
    target = home / "models" / "v1"
    shutil.copytree(base_model_path(), target)
    db = Database(url)
    with db.session() as session:
        register_version(session, "v1", str(target), ModelStatus.CANDIDATE, T0, parent_id="base")
        set_champion(session, "v1", actor="test", action="promote", now=T0)
    db.dispose()
    return home, url


@pytest.mark.parametrize("source", ENGINES, indirect=True)
@pytest.mark.slow
def test_restore_serves_the_same_champion_the_same_way(
    source: tuple[Path, str],
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old_home, old_url = source
    before = search()
    backup_dir = tmp_path / "backup"

    made = runner.invoke(app, ["backup", str(backup_dir)])

    assert made.exit_code == 0, made.output
    manifest = json.loads((backup_dir / MANIFEST).read_text())
    assert manifest["champion"] == "v1"
    assert manifest["artifacts"] == {"v1": "models/v1"}
    assert "models/v1/model.safetensors" in manifest["files"]

    engine = "sqlite" if old_url.startswith("sqlite") else "postgresql"
    new_home, new_url = tmp_path / "new-home", fresh_database_url(engine, request, tmp_path, False)
    use_home(monkeypatch, new_home, new_url)
    restored = runner.invoke(app, ["restore", str(backup_dir)])

    assert restored.exit_code == 0, restored.output
    db = Database(new_url)
    with db.session() as session:
        v1 = get_version(session, "v1")
        assert v1 is not None and v1.artifact_path == str(new_home / "models" / "v1")
    db.dispose()
    shutil.rmtree(old_home)  # nothing may still point at the old home
    after = search()
    assert after == before
    assert after[0]["model_version"] == "v1"

    again = runner.invoke(app, ["restore", str(backup_dir)])
    assert again.exit_code == 1
    assert "is not empty; restore only onto a new PROMPTBOT_HOME" in again.output


@pytest.mark.parametrize("source", ["sqlite"], indirect=True)
def test_a_damaged_backup_is_refused_before_anything_is_written(
    source: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backup_dir = tmp_path / "backup"
    assert runner.invoke(app, ["backup", str(backup_dir)]).exit_code == 0
    weights = backup_dir / "models" / "v1" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    new_home = tmp_path / "new-home"
    use_home(monkeypatch, new_home, f"sqlite:///{new_home / 'promptbot.db'}")

    result = runner.invoke(app, ["restore", str(backup_dir)])

    assert result.exit_code == 1
    assert "models/v1/model.safetensors" in result.output
    assert "checksum" in result.output
    assert not new_home.exists()


@pytest.mark.parametrize("source", ["sqlite"], indirect=True)
def test_backup_only_into_an_empty_folder(source: tuple[Path, str], tmp_path: Path) -> None:
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")

    result = runner.invoke(app, ["backup", str(occupied)])

    assert result.exit_code == 1
    assert "not an empty folder" in result.output
    assert [p.name for p in occupied.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("source", ["sqlite"], indirect=True)
def test_restore_refuses_a_home_that_has_models(
    source: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backup_dir = tmp_path / "backup"
    assert runner.invoke(app, ["backup", str(backup_dir)]).exit_code == 0
    new_home = tmp_path / "new-home"
    (new_home / "models" / "v9").mkdir(parents=True)
    use_home(monkeypatch, new_home, f"sqlite:///{tmp_path / 'fresh.db'}")

    result = runner.invoke(app, ["restore", str(backup_dir)])

    assert result.exit_code == 1
    assert "restore only onto a new PROMPTBOT_HOME" in result.output
