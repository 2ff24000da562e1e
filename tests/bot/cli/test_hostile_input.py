"""A catalogue of bad input through the real CLI: each case ends in one clear line, a known exit
code and no traceback, and good data is never lost.

Three groups: lines of a prompt file (each between two good lines, which must still land, on
SQLite and PostgreSQL), command-line arguments, and settings (database URLs, configuration).
Exit codes: 1 for bad input, 2 when promptbot cannot run at all (database or configuration).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from bot.cli import app
from storage.database import Database
from storage.migrations import head_revision
from storage.prompt_file import MAX_LINE_BYTES
from storage.repositories.prompts import count_prompts, get_prompt
from tests.helpers.databases import PG_ADMIN_URL, fresh_database_url

runner = CliRunner()
SECRET = "hunter2secret"
GOOD_BEFORE = json.dumps({"id": "good-1", "text": "A lighthouse keeper finds a letter."})
GOOD_AFTER = json.dumps({"id": "good-2", "text": "Two rival bakers share one oven."})


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def assert_one_clear_line(result: Result, expected: str, exit_code: int) -> None:
    """The message is on one line that contains ``expected``; no traceback, no secret."""
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    assert SECRET not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if expected in line]
    assert lines, f"{expected!r} not in:\n{result.output}"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_cache_dir: Path) -> Path:
    monkeypatch.setenv("PROMPTBOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PROMPTBOT_CACHE_HOME", str(model_cache_dir))
    monkeypatch.setenv("PROMPTBOT_INT8", "off")  # init's int8 measurement is not tested here
    for name in ("PROMPTBOT_DATABASE_URL", "PROMPTBOT_CONFIG", "PROMPTBOT_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


def point_cli_at(url: str, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("PROMPTBOT_DATABASE_URL", url)
    return Database(url)


@pytest.fixture
def migrated_sqlite(
    home: Path, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Database]:
    """The CLI pointed at a migrated, empty SQLite database."""
    db = point_cli_at(fresh_database_url("sqlite", request, tmp_path), monkeypatch)
    yield db
    db.dispose()


@pytest.fixture
def migrated(home: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """The CLI pointed at a migrated, empty database (SQLite, then PostgreSQL)."""
    db = point_cli_at(db_url, monkeypatch)
    yield db
    db.dispose()


def obj(**fields: object) -> str:
    return json.dumps({"id": "bad", "text": "Some text.", **fields})


# ---------------------------------------------------------------------------------------------
# 1. Prompt-file lines: line 2 is bad, lines 1 and 3 must still land.

BAD_LINES: dict[str, tuple[bytes | str, str]] = {
    "nul in text": (obj(text="a\u0000b").encode(), "'text' contains a NUL character"),
    "escape in title": (obj(title="\u001b[2J"), "'title' contains the control character U+001B"),
    "c1 control in text": (obj(text="x\u009by"), "control character U+009B"),
    "delete in id": (obj(id="a\u007fb"), "'id' contains the control character U+007F"),
    "bell in a genre": (obj(genres=["ok", "b\u0007"]), "'genres' contains the control character"),
    "form feed in a theme": (obj(themes=["a\u000cb"]), "'themes' contains the control character"),
    "lone surrogate": (b'{"id": "bad", "text": "x\\ud800y"}', "lone surrogate U+D800"),
    "comma inside a list entry": (obj(genres=["fantasy, horror"]), "may not contain commas"),
    "genres a number": (obj(genres=3), "'genres' must be a list of strings"),
    "themes of numbers": (obj(themes=[1, 2]), "'themes' must be a list of strings"),
    "too many tags": (obj(genres=[f"g{i}" for i in range(11)]), "11 entries (at most 10)"),
    "tag too long": (obj(themes=["t" * 65]), "65 characters (at most 64)"),
    "text too long": (obj(text="w " * 2001), "4,001 characters (at most 4,000)"),
    "title too long": (obj(title="T" * 201), "201 characters (at most 200)"),
    "id too long": (obj(id="i" * 65), "'id' longer than 64 characters"),
    "title a number": (obj(title=7), "'title' must be a string"),
    "id a boolean": (obj(id=True), "missing 'id'"),
    "blank id": (obj(id="   "), "missing 'id'"),
    "text null": (obj(text=None), "missing 'text'"),
    "text missing": (b'{"id": "bad"}', "missing 'text'"),
    "invalid json": (b'{"id": "bad", "text": ', "invalid JSON"),
    "nested too deeply": (b"[" * 50_000, "nested too deeply"),
    "number with too many digits": (b'{"id": ' + b"9" * 5000 + b"}", "too many digits"),
    "not an object": (b"[1, 2]", "expected a JSON object"),
    "latin-1 bytes": (b'{"id": "bad", "text": "caf\xe9"}', "not valid UTF-8"),
    "oversized line": (b"x" * (MAX_LINE_BYTES + 10), f"(at most {MAX_LINE_BYTES:,})"),
    "duplicate id": (json.dumps({"id": "good-1", "text": "Again."}), "duplicate id 'good-1'"),
    "duplicate id padded with spaces": (
        json.dumps({"id": "  good-1 ", "text": "Again."}),
        "duplicate id 'good-1' (first on line",
    ),
    "unknown rating": (
        obj(rating="adult"),
        "'rating' must be one of general, teen, mature (got 'adult')",
    ),
    "rating a number": (obj(rating=18), "'rating' must be one of general, teen, mature (got '18')"),
    "text only whitespace": (obj(text=" \t\n "), "missing 'text'"),
    "text NaN": (b'{"id": "bad", "text": NaN}', "missing 'text'"),
    "title an object": (obj(title={"en": "Hi"}), "'title' must be a string"),
    "genres an object": (obj(genres={"a": 1}), "'genres' must be a list of strings"),
    "lone surrogate in a theme": (
        b'{"id": "bad", "text": "x", "themes": ["\\udfff"]}',
        "'themes' contains a lone surrogate U+DFFF",
    ),
    "trailing garbage": (b'{"id": "bad", "text": "x"} and more', "invalid JSON: Extra data"),
    "a bare string": (b'"just a prompt"', "expected a JSON object"),
}


def as_bytes(line: bytes | str) -> bytes:
    return line if isinstance(line, bytes) else line.encode()


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_a_bad_line_is_reported_and_the_good_lines_land(
    case: str, migrated_sqlite: Database, tmp_path: Path
) -> None:
    line, expected = BAD_LINES[case]
    path = tmp_path / "prompts.jsonl"
    path.write_bytes(b"\n".join([GOOD_BEFORE.encode(), as_bytes(line), GOOD_AFTER.encode(), b""]))
    result = invoke("import", str(path))
    assert_one_clear_line(result, expected, 1)
    assert any("line 2: " in out and expected in out for out in result.output.splitlines())
    assert "2 added" in result.output
    with migrated_sqlite.session() as session:
        assert count_prompts(session) == 2
        assert get_prompt(session, "good-2") is not None


def test_every_bad_line_at_once_leaves_every_good_line(migrated: Database, tmp_path: Path) -> None:
    """One file with all the bad lines between good ones: on PostgreSQL, too, where a single
    refused statement would abort the whole transaction, every good line lands."""
    lines, expected_by_line = [], {}
    for i, (line, expected) in enumerate(BAD_LINES.values()):
        lines.append(json.dumps({"id": f"good-{i}", "text": f"Good prompt {i}."}).encode())
        lines.append(as_bytes(line))
        expected_by_line[len(lines)] = expected
    path = tmp_path / "prompts.jsonl"
    path.write_bytes(b"\n".join([*lines, b""]))
    result = invoke("import", str(path))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{len(BAD_LINES)} added" in result.output
    for number, expected in expected_by_line.items():
        assert any(
            f"line {number}: " in out and expected in out for out in result.output.splitlines()
        )
    with migrated.session() as session:
        assert count_prompts(session) == len(BAD_LINES)


# ---------------------------------------------------------------------------------------------
# 2. Command-line arguments.


@pytest.fixture
def initialised(home: Path, tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus.jsonl"
    rows = [
        {
            "id": "drake",
            "title": "Hoard",
            "text": "A dragon counts its gold.",
            "genres": ["fantasy"],
        },
        {
            "id": "ghost",
            "title": "Knock",
            "text": "The ghost keeps knocking.",
            "genres": ["horror"],
        },
    ]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = invoke("init", "--corpus", str(corpus))
    assert result.exit_code == 0, result.output
    return corpus


def _a_file(tmp_path: Path) -> Path:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return blocker


ARGUMENT_CASES: dict[str, tuple[list[str], str, int]] = {
    "unknown genre": (["search", "dragons", "--genre", "nope"], "unknown genre 'nope'; known", 1),
    "punctuation only": (["search", "!!!"], "give some keywords", 1),
    "unknown model version": (["search", "dragons", "-m", "v9"], "No model version 'v9'", 1),
    "a path that is no model": (
        ["search", "dragons", "-m", "./champion"],
        "./champion is not a sentence-transformers model directory",
        1,
    ),
    "export under a file": (
        ["models", "export", "base", "{blocker}/sub/model"],
        "cannot write",
        1,
    ),
    "since is gibberish": (["votes", "list", "--since", "yesterday-ish"], "--since", 1),
    "unknown revision up": (["db", "upgrade", "nonsense"], "Can't locate revision", 1),
    "unknown revision down": (["db", "downgrade", "zzz"], "Can't locate revision", 1),
    "missing query file": (["prompts", "stats", "--queries", "nope.jsonl"], "not found", 1),
    "query file of lists": (
        ["prompts", "stats", "--queries", "{queries}"],
        "line 1: not a query object",
        1,
    ),
    "rank output under a file": (
        [
            "rank",
            "--prompts",
            "{corpus}",
            "--queries",
            "{good_queries}",
            "-m",
            "base",
            "--out",
            "{blocker}/ranked.json",
        ],
        "cannot write",
        1,
    ),
    "rank queries of lists": (
        [
            "rank",
            "--prompts",
            "{corpus}",
            "--queries",
            "{queries}",
            "-m",
            "base",
            "--out",
            "r.json",
        ],
        "not a query object",
        1,
    ),
    "import a missing file": (["import", "nope.jsonl"], "does not exist", 2),
    "import a folder": (["import", "{folder}"], "is a directory", 2),
    "init from a folder": (["init", "--corpus", "{folder}"], "is a folder; give the file in it", 1),
    "query file a folder": (
        ["prompts", "stats", "--queries", "{folder}"],
        "query file {folder} is a folder; give the file in it.",
        1,
    ),
    "zero results asked": (["search", "dragons", "-k", "0"], "greater than or equal to 1", 2),
    "too many results asked": (["search", "dragons", "-k", "100000"], "less than or equal", 2),
    "since a month 13": (
        ["votes", "list", "--since", "2026-13-01"],
        "--since: '2026-13-01' is neither an ISO date nor like 7d / 12h",
        1,
    ),
    "negative limit": (["votes", "list", "--limit", "-1"], "greater than or equal to 1", 2),
    "promote an unknown version": (["models", "promote", "v999"], "No model version 'v999'", 1),
    "roll back with no earlier champion": (
        ["models", "rollback"],
        "There is no earlier champion to roll back to.",
        1,
    ),
    "keywords missing": (["search"], "Missing argument", 2),
    "unknown subcommand": (["models", "show"], "No such command 'show'", 2),
}


SLOW_ARGUMENT_CASES = {"rank output under a file"}  # encodes the whole corpus first


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, marks=pytest.mark.slow) if case in SLOW_ARGUMENT_CASES else case
        for case in ARGUMENT_CASES
    ],
)
def test_a_bad_argument_is_one_clear_line(case: str, initialised: Path, tmp_path: Path) -> None:
    args, expected, code = ARGUMENT_CASES[case]
    (tmp_path / "champion").mkdir()  # a folder named like a registry name, not a model
    queries = tmp_path / "queries.jsonl"
    queries.write_text("[1, 2]\n")
    good_queries = tmp_path / "good-queries.jsonl"
    good_queries.write_text(json.dumps({"qid": "q", "query": "dragon"}) + "\n")
    names = {
        "blocker": str(_a_file(tmp_path)),
        "queries": str(queries),
        "good_queries": str(good_queries),
        "corpus": str(initialised),
        "folder": "a-folder",  # relative: Click's usage box would wrap a long path
    }
    (tmp_path / "a-folder").mkdir()
    result = invoke(*(a.format(**names) for a in args))
    assert_one_clear_line(result, expected.format(**names), code)


def test_init_with_a_missing_corpus_creates_no_database(home: Path) -> None:
    result = invoke("init", "--corpus", "nope.jsonl")
    assert_one_clear_line(result, "prompt file nope.jsonl not found", 1)
    assert not (home / "promptbot.db").exists()


@pytest.mark.slow
def test_champion_means_the_registered_champion_even_beside_a_folder_of_that_name(
    initialised: Path, tmp_path: Path
) -> None:
    (tmp_path / "champion").mkdir()
    result = invoke("search", "dragon gold", "-m", "champion", "--json", "-k", "1")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["model_version"] == "base"


def test_a_bare_folder_name_is_pointed_to_its_path(initialised: Path, tmp_path: Path) -> None:
    (tmp_path / "mymodel").mkdir()
    result = invoke("search", "dragons", "-m", "mymodel")
    assert_one_clear_line(result, "for the folder mymodel, write ./mymodel", 1)


# ---------------------------------------------------------------------------------------------
# 3. Settings: the database URL and the configuration.


def _missing_pg_database() -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0].replace("@", f":{SECRET}@", 1) + "/pb_no_such_db"


SETTINGS_CASES: dict[str, tuple[dict[str, str], str]] = {
    "malformed url": ({"PROMPTBOT_DATABASE_URL": "not a url"}, "invalid database URL"),
    "unsupported engine": (
        {"PROMPTBOT_DATABASE_URL": f"mysql://u:{SECRET}@localhost/x"},
        "mysql is not supported",
    ),
    "port not a number": (
        {"PROMPTBOT_DATABASE_URL": f"postgresql://u:{SECRET}@localhost:five/x"},
        "invalid database URL 'postgresql://u:***@localhost:five/x'",
    ),
    "driver not installed": (
        {"PROMPTBOT_DATABASE_URL": f"postgresql+asyncpg://u:{SECRET}@localhost/x"},
        "driver not installed: asyncpg",
    ),
    "closed port": (
        {"PROMPTBOT_DATABASE_URL": f"postgresql://u:{SECRET}@127.0.0.1:1/x"},
        "cannot use the database postgresql://u:***@127.0.0.1:1/x",
    ),
    "sqlite folder under a file": (
        {"PROMPTBOT_DATABASE_URL": "sqlite:///{blocker}/sub/promptbot.db"},
        "no database at",
    ),
    "sqlite url to a text file": (
        {"PROMPTBOT_DATABASE_URL": "sqlite:///{blocker}"},
        "file is not a database",
    ),
    "bad backend": ({"PROMPTBOT_BACKEND": "gpu"}, "invalid configuration: PROMPTBOT_BACKEND"),
    "bad number": (
        {"PROMPTBOT_COOLDOWN_REQUESTS": "many"},
        "invalid configuration: PROMPTBOT_COOLDOWN_REQUESTS",
    ),
    "config file not toml": ({"PROMPTBOT_CONFIG": "{bad_toml}"}, "invalid configuration"),
}
READ_ONLY_COMMANDS = [
    ["search", "dragons"],
    ["prompts", "stats"],
    ["votes", "list"],
    ["models", "list"],
    ["models", "status"],
    ["db", "current"],
]


@pytest.mark.parametrize("case", list(SETTINGS_CASES))
@pytest.mark.parametrize("command", [["models", "list"], ["import", "{corpus}"]])
def test_bad_settings_are_one_line_and_exit_2(
    case: str, command: list[str], home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env, expected = SETTINGS_CASES[case]
    bad_toml = tmp_path / "promptbot.toml"
    bad_toml.write_text("backend = [unclosed\n")
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(GOOD_BEFORE + "\n")
    names = {"blocker": _a_file(tmp_path), "bad_toml": bad_toml, "corpus": corpus}
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(**names))
    result = invoke(*(a.format(**names) for a in command))
    assert_one_clear_line(result, expected, 2)


def test_a_missing_postgres_database_is_one_line(
    home: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    request.getfixturevalue("postgres_template")  # skips when PostgreSQL is not running
    monkeypatch.setenv("PROMPTBOT_DATABASE_URL", _missing_pg_database())
    result = invoke("models", "status")
    assert_one_clear_line(result, 'database "pb_no_such_db" does not exist', 2)


def test_the_postgres_scheme_is_accepted(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    url = fresh_database_url("postgresql", request, tmp_path)
    monkeypatch.setenv(
        "PROMPTBOT_DATABASE_URL", url.replace("postgresql+psycopg://", "postgres://")
    )
    result = invoke("db", "current")
    assert result.exit_code == 0, result.output
    assert f"database: {head_revision()}  code head" in result.output


@pytest.mark.parametrize("command", READ_ONLY_COMMANDS, ids=" ".join)
def test_read_only_commands_never_create_a_database(command: list[str], home: Path) -> None:
    result = invoke(*command)
    assert_one_clear_line(result, f"no database at {home / 'promptbot.db'}: run `promptbot", 2)
    assert not (home / "promptbot.db").exists()


def test_a_locked_sqlite_database_is_one_line(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import storage.database

    assert invoke("db", "upgrade").exit_code == 0
    monkeypatch.setattr(storage.database, "SQLITE_BUSY_TIMEOUT_S", 0.2)
    holder = sqlite3.connect(home / "promptbot.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        corpus = tmp_path / "c.jsonl"
        corpus.write_text(GOOD_BEFORE + "\n")
        result = invoke("import", str(corpus))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert_one_clear_line(result, "is locked by another process (waited 0.2 s)", 2)


# ---------------------------------------------------------------------------------------------
# 4. Stored text is printed as text: never as markup, never as terminal control sequences.

HOSTILE_TITLE = "[/] [bold]loud"
HOSTILE_TEXT = "A dragon [link=https://evil.example]click[/link] :smile: \x1b[2J erased [/]"


def store_hostile_prompt(db: Database) -> None:
    """Rows as an older version or a direct database edit could have left them (no validation)."""
    from datetime import datetime

    from storage.prompt_file import PromptRecord
    from storage.repositories.prompts import upsert_prompts

    record = PromptRecord("evil", HOSTILE_TEXT, HOSTILE_TITLE, ["[/]", "Fantasy"], ["\x1b[31mred"])
    with db.session() as session:
        upsert_prompts(session, [record], source="test", now=datetime(2026, 1, 1))


def test_search_prints_stored_markup_and_escapes_literally(initialised: Path, home: Path) -> None:
    db = Database(f"sqlite:///{home / 'promptbot.db'}")
    store_hostile_prompt(db)
    db.dispose()
    result = invoke("search", "dragon", "-k", "3")
    assert result.exit_code == 0, result.output
    assert (
        HOSTILE_TITLE in result.output
        and "[link=https://evil.example]click[/link]" in result.output
    )
    assert ":smile:" in result.output and "\\x1b[2J erased" in result.output
    assert "\x1b" not in result.output


def test_prompts_stats_prints_a_genre_named_like_markup(initialised: Path, home: Path) -> None:
    db = Database(f"sqlite:///{home / 'promptbot.db'}")
    store_hostile_prompt(db)
    db.dispose()
    result = invoke("prompts", "stats")
    assert result.exit_code == 0, result.output
    assert "│ [/]" in result.output and "\\x1b[31mred" in result.output
    assert "\x1b" not in result.output


def test_an_error_message_quoting_user_input_is_literal(initialised: Path) -> None:
    result = invoke("search", "dragons", "--genre", "[/][link=x]\x1b[2J")
    assert_one_clear_line(result, "unknown genre '[/][link=x]\\x1b[2J'", 1)
    assert "\x1b" not in result.output


# ---------------------------------------------------------------------------------------------
# 5. Files: the database and its folder are private; a bad folder is one line.


def test_the_home_folder_and_database_files_are_private(home: Path) -> None:
    assert invoke("db", "upgrade").exit_code == 0
    db = Database(f"sqlite:///{home / 'promptbot.db'}")
    with db.session() as session:  # an open connection keeps the -wal and -shm files around
        count_prompts(session)
        files = sorted(home.glob("promptbot.db*"))
        modes = {f.name: f.stat().st_mode & 0o777 for f in files}
    db.dispose()
    assert home.stat().st_mode & 0o777 == 0o700
    assert {"promptbot.db", "promptbot.db-wal", "promptbot.db-shm"} <= set(modes)
    assert set(modes.values()) == {0o600}


def test_an_existing_world_readable_database_is_made_private(home: Path) -> None:
    assert invoke("db", "upgrade").exit_code == 0
    (home / "promptbot.db").chmod(0o644)
    assert invoke("db", "current").exit_code == 0
    assert (home / "promptbot.db").stat().st_mode & 0o777 == 0o600


def test_a_database_folder_that_cannot_be_created_is_one_line(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTBOT_DATABASE_URL", f"sqlite:///{_a_file(tmp_path)}/sub/x.db")
    assert_one_clear_line(invoke("db", "upgrade"), "cannot create", 2)


@pytest.mark.slow  # exports the base model in a fresh home, as a first `init` does
def test_init_and_search_write_nothing_outside_promptbot_home(tmp_path: Path) -> None:
    user_home, tmpdir, home = tmp_path / "user", tmp_path / "tmp", tmp_path / "promptbot"
    user_home.mkdir()
    tmpdir.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PROMPTBOT_")
        and key not in ("TORCHINDUCTOR_CACHE_DIR", "MPLCONFIGDIR", "ORT_DISABLE_TELEMETRY")
    }
    env |= {"HOME": str(user_home), "TMPDIR": str(tmpdir), "PROMPTBOT_HOME": str(home)}
    for args in (["init"], ["search", "dragon library", "--json"]):
        done = subprocess.run(
            [sys.executable, "-c", "from bot.cli import app; app()", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
    assert (home / "promptbot.db").is_file()
    assert sorted(p.relative_to(tmp_path) for p in user_home.rglob("*")) == []
    assert sorted(p.relative_to(tmp_path) for p in tmpdir.rglob("*")) == []
