"""Reading prompt files: every bad line is reported with its number; good lines survive."""

from __future__ import annotations

import json
from pathlib import Path

from storage.prompt_file import MAX_LINE_BYTES, read_prompt_file


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
