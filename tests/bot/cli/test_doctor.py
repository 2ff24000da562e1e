"""`promptbot doctor`: a healthy home passes; each broken piece fails with its own line and a
fix; the Discord token never appears in the output, whole or in part."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections import namedtuple
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from retrieval.int8_verdict import verdict_path
from retrieval.model_registry import ModelRef, base_model_path
from storage import migrations
from storage.backup import sha256_of
from storage.database import Database
from storage.models import ModelStatus
from storage.repositories.model_versions import register_version, set_champion
from tests.fakediscord import FakeDiscord

runner = CliRunner()
TOKEN = "MTIz.doctor-test-token.keep-this-secret"
SECRET_PARTS = ("doctor-test-token", "keep-this-secret")
DiskUsage = namedtuple("DiskUsage", "total used free")
T0 = datetime(2026, 1, 1)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An initialised home (torch backend while initialising: no int8 measurement), whose
    base champion then has a stored int8 verdict, as `promptbot init` leaves it."""
    for name in (
        "PROMPTBOT_DATABASE_URL",
        "PROMPTBOT_CONFIG",
        "PROMPTBOT_CACHE_HOME",
        "PROMPTBOT_DISCORD_GATEWAY_URL",
        "PROMPTBOT_DISCORD_API_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PROMPTBOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PROMPTBOT_BACKEND", "torch")
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "p1", "text": "A dragon guards the last library."}))
    assert runner.invoke(app, ["init", "--corpus", str(corpus)]).exit_code == 0
    monkeypatch.setenv("PROMPTBOT_BACKEND", "onnx")
    monkeypatch.setenv("PROMPTBOT_INT8", "auto")
    verdict = verdict_path(ModelRef("base", base_model_path()), tmp_path / "home" / "cache")
    verdict.parent.mkdir(parents=True, exist_ok=True)
    verdict.write_text(
        json.dumps(
            {"serve": True, "reason": "int8 scores as well", "ndcg5": {}, "top1_agreement": 1}
        )
    )
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: DiskUsage(0, 0, 50 * 1024**3))
    return tmp_path / "home"


def doctor(*args: str) -> tuple[int, dict[str, str]]:
    """Exit code and {check name: its line}; asserts the token never shows."""
    result = runner.invoke(app, ["doctor", *args])
    for secret in (TOKEN, *SECRET_PARTS):
        assert secret not in result.output
    lines = {line.split()[1].rstrip(":"): line for line in result.output.strip().splitlines()}
    return result.exit_code, lines


def home_db(home: Path) -> Database:
    return Database(f"sqlite:///{home / 'promptbot.db'}")


def register_champion(home: Path, **recorded: object) -> Path:
    """A copy of the base model as champion "v1" under the home, with ``recorded`` metadata."""
    target = home / "models" / "v1"
    shutil.copytree(base_model_path(), target)
    db = home_db(home)
    with db.session() as session:
        register_version(
            session, "v1", str(target), ModelStatus.CANDIDATE, T0, hyperparams=dict(recorded)
        )
        set_champion(session, "v1", actor="test", action="promote", now=T0)
    db.dispose()
    return target


def test_a_healthy_home_passes(home: Path) -> None:
    code, lines = doctor()

    assert code == 0, lines
    for name in (
        "settings",
        "database",
        "migrations",
        "champion",
        "int8",
        "disk",
        "token",
        "operators",
    ):
        assert lines[name].startswith("ok "), lines[name]
    assert "PROMPTBOT_HOME" in lines["settings"]
    assert "DISCORD_TOKEN" not in lines["settings"]
    assert "serves int8" in lines["int8"]
    assert lines["checksum"].startswith("ok ")  # the base model wheel's RECORD has them


def test_a_version_without_a_recorded_checksum_warns(home: Path) -> None:
    register_champion(home)

    code, lines = doctor()

    assert code == 0
    assert lines["checksum"].startswith("warn") and "no checksum recorded" in lines["checksum"]


def test_a_recorded_checksum_is_compared(home: Path) -> None:
    target = register_champion(home, sha256=sha256_of(base_model_path() / "model.safetensors"))
    assert doctor()[1]["checksum"].startswith("ok ")

    (target / "model.safetensors").write_bytes(b"not the weights")

    code, lines = doctor()
    assert code == 1
    assert lines["checksum"].startswith("FAIL") and "does not match" in lines["checksum"]


def test_missing_champion_files_fail(home: Path) -> None:
    target = register_champion(home)
    (target / "model.safetensors").unlink()

    code, lines = doctor()

    assert code == 1
    assert lines["champion"].startswith("FAIL")
    assert "v1's files" in lines["champion"] and "fix:" in lines["champion"]


def test_a_database_behind_the_code_fails(home: Path) -> None:
    migrations.downgrade(f"sqlite:///{home / 'promptbot.db'}", "-1")

    code, lines = doctor()

    assert code == 1
    assert lines["migrations"].startswith("FAIL")
    assert "promptbot db upgrade" in lines["migrations"]
    assert lines["champion"].startswith("warn") and "skipped" in lines["champion"]


@pytest.mark.parametrize(
    "url",
    ["postgresql+psycopg://promptbot:hunter2@127.0.0.1:1/promptbot", "sqlite:////nowhere/x.db"],
    ids=["postgresql-down", "sqlite-missing"],
)
def test_an_unreachable_database_fails(
    home: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("PROMPTBOT_DATABASE_URL", url)

    code, lines = doctor()

    assert code == 1
    assert lines["database"].startswith("FAIL")
    assert "hunter2" not in lines["database"]
    assert lines["token"].startswith("ok ")  # later checks still run


def test_a_badly_shaped_token_fails_without_showing_it(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "Bot keep-this-secret")

    code, lines = doctor()

    assert code == 1
    assert lines["token"].startswith("FAIL")
    assert "three dot-separated base64url parts" in lines["token"]


def test_garbage_operator_ids_warn_and_name_what_is_ignored(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTBOT_OPERATOR_IDS", "123456789012345678, @alice,  ,0")

    code, lines = doctor()

    assert code == 0  # a warning: the good id still counts
    assert lines["operators"].startswith("warn")
    assert "2 entries are not a Discord user id" in lines["operators"]
    assert "'@alice', '0'" in lines["operators"] and "1 id(s) count" in lines["operators"]


def test_low_disk_space_warns_then_fails(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: DiskUsage(0, 0, 3 * 1024**3))
    code, lines = doctor()
    assert code == 0 and lines["disk"].startswith("warn")

    monkeypatch.setattr(shutil, "disk_usage", lambda _path: DiskUsage(0, 0, 512 * 1024**2))
    code, lines = doctor()
    assert code == 1 and lines["disk"].startswith("FAIL")


def test_invalid_settings_are_one_fail_line(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTBOT_COOLDOWN_REQUESTS", "many")

    code, lines = doctor()

    assert code == 1
    assert lines["settings"].startswith("FAIL")
    assert "PROMPTBOT_COOLDOWN_REQUESTS" in lines["settings"]


async def test_online_reaches_the_gateway_and_tries_the_token(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with FakeDiscord(token=TOKEN) as fake:
        monkeypatch.setenv("PROMPTBOT_DISCORD_GATEWAY_URL", fake.gateway_url)
        monkeypatch.setenv("PROMPTBOT_DISCORD_API_URL", fake.api_url)
        code, lines = await asyncio.to_thread(doctor, "--online")
        assert code == 0, lines
        assert lines["gateway"].startswith("ok ") and "HELLO" in lines["gateway"]
        assert lines["login"].startswith("ok ")

        monkeypatch.setenv("DISCORD_TOKEN", "MTIz.doctor-test-token.keep-this-secreT")
        code, lines = await asyncio.to_thread(doctor, "--online")
        assert code == 1
        assert lines["login"].startswith("FAIL") and "rejected" in lines["login"]
        assert fake.errors == []


def test_online_fails_when_the_gateway_is_unreachable(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTBOT_DISCORD_GATEWAY_URL", "ws://127.0.0.1:1/gateway")
    monkeypatch.setenv("PROMPTBOT_DISCORD_API_URL", "http://127.0.0.1:1/api/v10")

    code, lines = doctor("--online")

    assert code == 1
    assert lines["gateway"].startswith("FAIL") and "fix:" in lines["gateway"]
    assert lines["login"].startswith("FAIL")
