"""Reading prompt files: every bad line is reported with its number; good lines survive, also
when it is the database that refuses a line."""

from __future__ import annotations

import json
from pathlib import Path

from storage.database import Database
from storage.prompt_file import MAX_LINE_BYTES, read_prompt_file
from storage.ratings import Rating


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def good(i: int, **extra: object) -> bytes:
    return json.dumps({"id": f"g{i}", "text": f"A good prompt number {i}.", **extra}).encode()


def test_valid_file_with_optional_fields(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "p.jsonl",
        [
            good(1, title="One", genres=["Fantasy"], themes=["Grief", "Hope"]),
            good(2),
            b"",
            json.dumps({"id": 3, "text": "  spaced   out\ntext ", "genres": "Horror"}).encode(),
        ],
    )
    result = read_prompt_file(path)
    assert result.errors == []
    assert [r.id for r in result.records] == ["g1", "g2", "3"]
    assert result.records[0].themes == ["Grief", "Hope"]
    assert result.records[1].title == "" and result.records[1].genres == []
    assert result.records[2].text == "spaced out text" and result.records[2].genres == ["Horror"]


def test_bad_lines_are_reported_by_number_and_skipped(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "p.jsonl",
        [
            good(1),
            b'{"id": "x", "text": "unterminated',
            json.dumps({"id": "m", "title": "no text"}).encode(),
            good(1),  # duplicate id
            b"A" * (10 * 1024 * 1024),  # a 10 MB line
            b'{"id": "bin", "text": "caf\xe9 au lait"}',  # Latin-1, not UTF-8
            json.dumps({"id": "t", "text": "ok", "themes": [1, 2]}).encode(),
            b"[1, 2]",
            good(2),
        ],
    )
    result = read_prompt_file(path)
    assert [r.id for r in result.records] == ["g1", "g2"]
    messages = {e.line: e.message for e in result.errors}
    assert set(messages) == {2, 3, 4, 5, 6, 7, 8}
    assert "invalid JSON" in messages[2]
    assert "missing 'text'" in messages[3]
    assert "duplicate id 'g1' (first on line 1)" in messages[4]
    assert "10,485,760 bytes" in messages[5] and f"{MAX_LINE_BYTES:,}" in messages[5]
    assert "UTF-8" in messages[6]
    assert "list of strings" in messages[7]
    assert "JSON object" in messages[8]
    assert str(result.errors[0]).startswith("line 2: ")


def test_a_byte_order_mark_before_line_1_is_ignored(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "p.jsonl", [b"\xef\xbb\xbf" + good(1), good(2)])
    result = read_prompt_file(path)
    assert result.errors == [] and [r.id for r in result.records] == ["g1", "g2"]


def test_a_tag_string_is_a_comma_separated_list(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "p.jsonl", [good(1, genres="fantasy, horror", themes=" grief ,, hope ")]
    )
    [record] = read_prompt_file(path).records
    assert record.genres == ["fantasy", "horror"] and record.themes == ["grief", "hope"]


def test_whitespace_controls_collapse_and_crlf_lines_read(tmp_path: Path) -> None:
    line = json.dumps({"id": "w", "title": "Two\tparts\nhere", "text": "a\r\n\tb"}).encode()
    path = write_lines(tmp_path / "p.jsonl", [line + b"\r", good(2) + b"\r"])
    result = read_prompt_file(path)
    assert result.errors == []
    assert (result.records[0].title, result.records[0].text) == ("Two parts here", "a b")


def test_limits_are_inclusive(tmp_path: Path) -> None:
    from storage.prompt_file import (
        MAX_ID_CHARS,
        MAX_TAG_CHARS,
        MAX_TAGS,
        MAX_TEXT_CHARS,
        MAX_TITLE_CHARS,
    )

    at_limit = {
        "id": "i" * MAX_ID_CHARS,
        "title": "t" * MAX_TITLE_CHARS,
        "text": "x" * MAX_TEXT_CHARS,
        "genres": [f"{i}" * MAX_TAG_CHARS for i in range(MAX_TAGS)],
    }
    path = write_lines(tmp_path / "p.jsonl", [json.dumps(at_limit).encode()])
    result = read_prompt_file(path)
    assert result.errors == [] and len(result.records) == 1


def test_records_the_database_refuses_are_reported_and_the_others_land(db: Database) -> None:
    """Records that skipped validation: on PostgreSQL a NUL and an over-long title are refused
    (SQLite stores both); either way the good records are written in the same transaction."""
    from datetime import datetime

    from storage.prompt_file import PromptRecord
    from storage.repositories.prompts import count_prompts, upsert_prompts

    records = [
        PromptRecord("a", "fine"),
        PromptRecord("nul", "bad\0text"),
        PromptRecord("long", "fine", title="T" * 300),
        PromptRecord("b", "fine"),
    ]
    with db.session() as session:
        counts = upsert_prompts(session, records, source="test", now=datetime(2026, 1, 1))
    with db.session() as session:
        stored = count_prompts(session)
    if db.engine.dialect.name == "postgresql":
        assert set(counts.rejected) == {"nul", "long"} and counts.added == 2 and stored == 2
        assert "NUL" in counts.rejected["nul"] and "varying(200)" in counts.rejected["long"]
    else:
        assert counts.rejected == {} and counts.added == 4 and stored == 4


def test_a_refused_record_is_reported_by_its_line(db: Database, tmp_path: Path) -> None:
    """Through the import: a line the database refuses is one more numbered bad line."""
    from retrieval.corpus import import_prompt_file

    with db.engine.begin() as connection:  # a rule the file reader does not know about
        if db.engine.dialect.name == "postgresql":
            connection.exec_driver_sql("ALTER TABLE prompts ADD CONSTRAINT no_x CHECK (id <> 'x')")
        else:
            connection.exec_driver_sql(
                "CREATE TRIGGER no_x BEFORE INSERT ON prompts WHEN NEW.id = 'x' "
                "BEGIN SELECT RAISE(ABORT, 'x is refused'); END"
            )
    path = write_lines(tmp_path / "p.jsonl", [good(1), b'{"id": "x", "text": "refused"}', good(3)])
    report = import_prompt_file(db, path)
    assert report.counts.added == 2
    assert [e.line for e in report.errors] == [2]
    assert "the database refused it" in report.errors[0].message


def test_rating_is_optional_general_by_default_and_checked(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "p.jsonl",
        [
            good(1),
            good(2, rating="teen"),
            good(3, rating="Mature"),
            good(4, rating="adult"),
            good(5, rating=18),
            good(6, rating=None),
        ],
    )
    read = read_prompt_file(path)
    assert {r.id: r.rating for r in read.records} == {
        "g1": Rating.GENERAL,
        "g2": Rating.TEEN,
        "g3": Rating.MATURE,
        "g6": Rating.GENERAL,
    }
    assert [(e.line, e.message) for e in read.errors] == [
        (4, "'rating' must be one of general, teen, mature (got 'adult')"),
        (5, "'rating' must be one of general, teen, mature (got '18')"),
    ]


def test_the_rating_is_not_part_of_the_content_hash(tmp_path: Path) -> None:
    """Re-rating a prompt must not re-embed it: the hash keys the embedding cache."""
    path = write_lines(tmp_path / "p.jsonl", [good(1), good(2, rating="mature")])
    first, second = read_prompt_file(path).records
    assert first.rating != second.rating
    assert first.content_hash != second.content_hash  # different ids' texts differ
    same_text = read_prompt_file(
        write_lines(tmp_path / "q.jsonl", [good(1, rating="teen")])
    ).records[0]
    assert same_text.content_hash == first.content_hash
    assert same_text.to_json()["rating"] == "teen"
