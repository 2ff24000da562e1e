"""The import contracts in pyproject.toml hold, and the check that enforces them can fail.

``lint-imports`` (import-linter) builds the import graph of bot, serving, retraining,
retrieval and storage — imports inside functions included — and checks three contracts:
dependencies point one way (bot -> serving | retraining -> retrieval -> storage), serving
reaches neither torch nor evaluation code, and only storage imports sqlalchemy. Running it
as a test makes a broken layer fail the suite like any other regression.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
SERVING_MUST_NOT_REACH = {
    "torch",
    "sentence_transformers",
    "transformers",
    "retrieval.evaluation",
    "retrieval.golden_set",
    "retrieval.int8_check",
}


def lint_imports(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the venv's lint-imports in ``cwd`` (no cache file is left behind)."""
    assert LINT_IMPORTS.is_file(), (
        f"{LINT_IMPORTS} missing: install the dev extras (pip install -c constraints.txt -e .[dev])"
    )
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}


def test_the_import_contracts_hold() -> None:
    done = lint_imports(REPO_ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_the_contracts_state_the_layers_and_what_serving_may_not_reach() -> None:
    by_id = contracts()
    assert by_id["layers"]["layers"] == ["bot", "serving | retraining", "retrieval", "storage"]
    assert set(by_id["serving-light"]["forbidden_modules"]) >= SERVING_MUST_NOT_REACH
    assert by_id["serving-light"]["source_modules"] == ["serving"]
    assert not by_id["serving-light"].get("allow_indirect_imports", False)
    sql = by_id["sql-in-storage"]
    assert sql["forbidden_modules"] == ["sqlalchemy"]
    assert set(sql["source_modules"]) == {"bot", "serving", "retraining", "retrieval"}


def test_an_upward_or_a_hidden_forbidden_import_fails_the_check(tmp_path: Path) -> None:
    """A lower layer importing a higher one, and a light package reaching a heavy one only
    through an import inside a function of a module it imports, are both reported."""
    files = {
        "high/__init__.py": "",
        "low/__init__.py": "import high\n",
        "heavy/__init__.py": "",
        "light/__init__.py": "from light import helper\n",
        "light/helper.py": "def load() -> None:\n    import heavy\n",
        "setup.cfg": textwrap.dedent(
            """
            [importlinter]
            root_packages =
                high
                low
                heavy
                light

            [importlinter:contract:layers]
            name = high above low
            type = layers
            layers =
                high
                low

            [importlinter:contract:light]
            name = light never reaches heavy
            type = forbidden
            source_modules = light
            forbidden_modules = heavy
            """
        ),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    done = lint_imports(tmp_path, "--config", "setup.cfg")
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "high above low BROKEN" in output
    assert "light never reaches heavy BROKEN" in output
    assert "light.helper -> heavy" in output
