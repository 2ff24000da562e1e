"""Reading prompt files: every bad line is reported with its number; good lines survive, also
when it is the database that refuses a line."""

from __future__ import annotations

import json
import tempfile
import unicodedata
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from storage.database import Database
from storage.prompt_file import (
    MAX_LINE_BYTES,
    MAX_TAGS,
    PromptFieldError,
    PromptRecord,
    ReadResult,
    parse_lines,
    read_prompt_file,
    record_from_object,
    write_prompt_file,
)
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


# --------------------------------------------------------------------------- properties

FIELDS = ("id", "text", "title", "genres", "themes", "rating")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
# objects shaped like prompt lines: the known keys, each holding anything JSON can
prompt_like = st.dictionaries(st.sampled_from(FIELDS), json_values | st.text(), max_size=6)
any_line = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    prompt_like.map(lambda o: json.dumps(o).encode()),
    prompt_like.map(lambda o: json.dumps(o, ensure_ascii=False).encode("utf-8", "surrogatepass")),
)


def assert_one_reason_per_bad_line(result: ReadResult, lines: int) -> None:
    for error in result.errors:
        assert 1 <= error.line <= lines
        assert error.message.strip() and "\n" not in error.message and "\r" not in error.message


@given(st.lists(any_line, max_size=5))
def test_any_line_is_a_record_or_a_reason_never_an_exception(lines: list[bytes]) -> None:
    result = parse_lines(lines)
    assert_one_reason_per_bad_line(result, len(lines))
    assert len(result.records) + len(result.errors) <= len(lines)
    reported = {e.line for e in result.errors}
    assert len(reported) == len(result.errors)  # one reason per bad line
    assert set(result.line_numbers.values()).isdisjoint(reported)


@given(prompt_like | json_values)
def test_validation_raises_only_its_own_error_with_a_reason(obj: object) -> None:
    try:
        record_from_object(obj)
    except PromptFieldError as exc:
        assert str(exc).strip()


def no_control_characters(value: str) -> bool:
    return not any(unicodedata.category(c) in ("Cc", "Cs") for c in value)


@given(prompt_like)
def test_no_control_character_survives_into_a_record(obj: dict[str, object]) -> None:
    result = parse_lines([json.dumps(obj).encode()])
    for record in result.records:
        for value in (record.id, record.text, record.title, *record.genres, *record.themes):
            assert no_control_characters(value), ascii(value)


@given(st.text(min_size=1, max_size=50), st.sampled_from(["\x00", "\x1b", "\x7f", "\x9b", "\x07"]))
def test_a_control_character_anywhere_in_the_text_is_named(text: str, control: str) -> None:
    line = json.dumps({"id": "x", "text": f"{text}{control}{text}"}).encode()
    result = parse_lines([line])
    assert result.records == []
    [error] = result.errors
    assert "'text' contains" in error.message


# what a valid field holds: printable text, no forbidden character, already collapsed
printable = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=40
).map(lambda t: " ".join(t.split()))
tag = printable.filter(lambda t: t and "," not in t)
valid_records = st.builds(
    PromptRecord,
    id=printable.filter(bool),
    text=printable.filter(bool),
    title=printable,
    genres=st.lists(tag, max_size=MAX_TAGS),
    themes=st.lists(tag, max_size=MAX_TAGS),
    rating=st.sampled_from(list(Rating)),
)


@given(st.lists(valid_records, max_size=4, unique_by=lambda r: r.id))
def test_valid_records_round_trip_through_the_file_format(records: list[PromptRecord]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "prompts.jsonl"
        write_prompt_file(path, records)
        result = read_prompt_file(path)
    assert result.errors == []
    assert result.records == records
    assert [r.content_hash for r in result.records] == [r.content_hash for r in records]


def test_a_byte_order_mark_on_any_line_is_ignored(tmp_path: Path) -> None:
    """Files joined with cat carry the second file's mark into the middle."""
    path = write_lines(tmp_path / "p.jsonl", [b"\xef\xbb\xbf" + good(1), b"\xef\xbb\xbf" + good(2)])
    result = read_prompt_file(path)
    assert result.errors == [] and [r.id for r in result.records] == ["g1", "g2"]
