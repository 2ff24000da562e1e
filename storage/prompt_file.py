"""The prompt file format used everywhere (import, evaluation, simulation).

JSON Lines, one object per line::

    {"id": "...", "title": "...", "text": "...", "genres": ["..."], "themes": ["..."]}

``title``, ``genres`` and ``themes`` are optional. Reading never stops at a bad line: each bad
line becomes a :class:`LineError` with its line number, and every good line is still returned.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

MAX_LINE_BYTES = 64 * 1024
MAX_TEXT_CHARS = 8_000
MAX_TITLE_CHARS = 200
MAX_ID_CHARS = 64
MAX_TAGS = 10


@dataclass(frozen=True)
class PromptRecord:
    id: str
    text: str
    title: str = ""
    genres: list[str] = field(default_factory=list)
    themes: list[str] = field(default_factory=list)

    @property
    def content_hash(self) -> str:
        payload = json.dumps(
            [self.title, self.text, self.genres, self.themes], ensure_ascii=False
        ).encode()
        return hashlib.sha256(payload).hexdigest()

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.title,
            "text": self.text,
            "genres": self.genres,
            "themes": self.themes,
        }


@dataclass(frozen=True)
class LineError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class ReadResult:
    records: list[PromptRecord]
    errors: list[LineError]


class PromptFieldError(ValueError):
    pass


def _string_list(obj: dict[str, object], key: str) -> list[str]:
    value = obj.get(key, [])
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PromptFieldError(f"'{key}' must be a list of strings")
    cleaned = [v.strip() for v in value if v.strip()]
    if len(cleaned) > MAX_TAGS:
        raise PromptFieldError(f"'{key}' has {len(cleaned)} entries (at most {MAX_TAGS})")
    return cleaned


def record_from_object(obj: object) -> PromptRecord:
    """Validate one decoded JSON value; raise PromptFieldError with a readable reason."""
    if not isinstance(obj, dict):
        raise PromptFieldError("expected a JSON object")
    prompt_id, text, title = obj.get("id"), obj.get("text"), obj.get("title", "")
    if isinstance(prompt_id, int) and not isinstance(prompt_id, bool):
        prompt_id = str(prompt_id)
    if not isinstance(prompt_id, str) or not prompt_id.strip():
        raise PromptFieldError("missing 'id'")
    if len(prompt_id) > MAX_ID_CHARS:
        raise PromptFieldError(f"'id' longer than {MAX_ID_CHARS} characters")
    if not isinstance(text, str) or not text.strip():
        raise PromptFieldError("missing 'text'")
    if len(text) > MAX_TEXT_CHARS:
        raise PromptFieldError(f"'text' longer than {MAX_TEXT_CHARS} characters")
    if title is None:
        title = ""
    if not isinstance(title, str) or len(title) > MAX_TITLE_CHARS:
        raise PromptFieldError(f"'title' must be a string of at most {MAX_TITLE_CHARS} characters")
    return PromptRecord(
        id=prompt_id.strip(),
        text=" ".join(text.split()),
        title=title.strip(),
        genres=_string_list(obj, "genres"),
        themes=_string_list(obj, "themes"),
    )


@dataclass(frozen=True)
class OversizedLine:
    """Stands in for a line too long to keep in memory; only its size is known."""

    size: int


def parse_lines(lines: Iterable[bytes | OversizedLine]) -> ReadResult:
    records: list[PromptRecord] = []
    errors: list[LineError] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        size = raw.size if isinstance(raw, OversizedLine) else len(raw)
        if isinstance(raw, OversizedLine) or size > MAX_LINE_BYTES:
            errors.append(LineError(number, f"line is {size:,} bytes (at most {MAX_LINE_BYTES:,})"))
            continue
        if not raw.strip():
            continue
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            errors.append(LineError(number, f"not valid UTF-8 (byte {exc.start})"))
            continue
        try:
            obj = json.loads(decoded)
        except json.JSONDecodeError as exc:
            errors.append(LineError(number, f"invalid JSON: {exc.msg} at column {exc.colno}"))
            continue
        try:
            record = record_from_object(obj)
        except PromptFieldError as exc:
            errors.append(LineError(number, str(exc)))
            continue
        if record.id in seen:
            errors.append(
                LineError(number, f"duplicate id '{record.id}' (first on line {seen[record.id]})")
            )
            continue
        seen[record.id] = number
        records.append(record)
    return ReadResult(records, errors)


def _binary_lines(path: Path) -> Iterable[bytes | OversizedLine]:
    with path.open("rb") as handle:
        while line := handle.readline(MAX_LINE_BYTES + 1):
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                size = len(line)
                while rest := handle.readline(1 << 20):  # skip the rest, never holding it all
                    size += len(rest)
                    if rest.endswith(b"\n"):
                        size -= 1  # the newline is not part of the line
                        break
                yield OversizedLine(size)
                continue
            yield line.rstrip(b"\r\n")


def read_prompt_file(path: Path) -> ReadResult:
    return parse_lines(_binary_lines(path))


def write_prompt_file(path: Path, records: Iterable[PromptRecord]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
