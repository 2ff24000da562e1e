"""The wheel is a complete promptbot: it carries the corpus, the evaluation set and the migrations,
and a copy installed outside the source tree can initialise a database and search.

An editable install and the test suite both read data/ and alembic/ straight from the checkout,
so only building and installing a real wheel shows whether those files ship.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TOP_LEVEL_PACKAGES = ("bot", "serving", "retrieval", "retraining", "storage")
SHIPPED = "storage/_shipped"
PIP = [sys.executable, "-m", "pip", "-q"]


def copy_source(target: Path) -> None:
    """Copy the files git would commit (tracked, or new and not ignored), and nothing else."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        if (REPO_ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, target / name)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the tree, so a stale build/ folder cannot leak into it."""
    source = tmp_path_factory.mktemp("source")
    copy_source(source)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("promptbot-*.whl")
    return built


def wheel_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def repo_packages() -> list[str]:
    """Every code package in the checkout, as the path of its __init__.py."""
    return sorted(
        init.relative_to(REPO_ROOT).as_posix()
        for top in (*TOP_LEVEL_PACKAGES, "bench")
        for init in (REPO_ROOT / top).rglob("__init__.py")
    )


def test_wheel_ships_corpus_and_evaluation_set(wheel: Path) -> None:
    files = wheel_files(wheel)
    for name in (
        "prompts.jsonl",
        "LICENSE",
        "vocabulary.json",
        "eval/queries.jsonl",
        "eval/split.json",
    ):
        assert f"{SHIPPED}/data/{name}" in files


def test_wheel_ships_every_migration(wheel: Path) -> None:
    files = wheel_files(wheel)
    assert f"{SHIPPED}/alembic/env.py" in files
    assert f"{SHIPPED}/alembic/script.py.mako" in files
    migrations = sorted((REPO_ROOT / "alembic" / "versions").glob("*.py"))
    assert migrations
    for migration in migrations:
        assert f"{SHIPPED}/alembic/versions/{migration.name}" in files


def test_wheel_holds_every_package_and_no_tests(wheel: Path) -> None:
    files = wheel_files(wheel)
    for package in TOP_LEVEL_PACKAGES:
        assert f"{package}/__init__.py" in files
    for init in repo_packages():
        assert init in files
    assert not [name for name in files if name.startswith("tests/")]


def run_installed(
    args: list[str], site: Path, home: Path, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run Python with only the installed copy of promptbot importable, away from the checkout."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PROMPTBOT_")}
    env |= {"PYTHONPATH": str(site), "PROMPTBOT_HOME": str(home), "PROMPTBOT_INT8": "off"}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


CLI = "import sys; from bot.cli import app; sys.argv[0] = 'promptbot'; app()"
WHERE_FROM = (
    "import bot, retrieval, serving, storage, storage.settings as s; "
    "print(bot.__file__, retrieval.__file__, serving.__file__, storage.__file__, "
    "s.DATA_DIR, s.MIGRATIONS_DIR, sep='\\n')"
)


@pytest.mark.slow
def test_installed_wheel_initialises_and_searches(wheel: Path, tmp_path: Path) -> None:
    site, home, elsewhere = tmp_path / "site", tmp_path / "home", tmp_path / "elsewhere"
    elsewhere.mkdir()
    subprocess.run(
        [*PIP, "install", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )

    where = run_installed(["-c", WHERE_FROM], site, home, elsewhere)
    assert where.returncode == 0, where.stderr
    for path in where.stdout.split():
        assert Path(path).is_relative_to(site), where.stdout

    init = run_installed(["-c", CLI, "init"], site, home, elsewhere)
    assert init.returncode == 0, init.stdout + init.stderr
    assert (home / "promptbot.db").is_file()

    search = run_installed(
        ["-c", CLI, "search", "fantasy dragons", "--json"], site, home, elsewhere
    )
    assert search.returncode == 0, search.stdout + search.stderr
    hits = json.loads(search.stdout)
    assert hits
    assert hits[0]["text"]
