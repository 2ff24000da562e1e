"""The prompt file format used everywhere (import, evaluation, simulation).

JSON Lines, one object per line::

    {"id": "...", "title": "...", "text": "...", "genres": ["..."], "themes": ["..."],
     "rating": "general"}

``title``, ``genres``, ``themes`` and ``rating`` are optional. Reading never stops at a bad
line: each bad line becomes a :class:`LineError` with its line number, and every good line
is still returned.

What a line may hold, and why:

* The file is UTF-8; a byte-order mark at the start of a line is ignored: Windows editors write
  one before line 1, and files joined with ``cat`` carry theirs into the middle.
* No field may hold a control character other than tab, newline and carriage return (which
  are whitespace and collapse to one space like any other run of whitespace), nor a lone
  UTF-16 surrogate. NUL cannot be stored in PostgreSQL text at all; ESC and the other C0/C1
  controls would reach the terminal of whoever later lists the prompt; a lone surrogate cannot
  be encoded. Such a line is rejected with the reason rather than silently altered, so the
  person who wrote the file can see and fix it.
* ``genres`` and ``themes`` are lists of strings. A single string is read as a comma-separated
  list (``"fantasy, horror"`` is two genres), because that is what someone writing a string
  means; a comma inside a list entry is rejected, because tags are shown comma-separated and
  such an entry could never be told apart from two tags.
* Limits fit the database columns and Discord: id 64 characters, title 200 (the column), text
  4,000 (a result embed also holds the title, tags and footer within Discord's 6,000-character
  total, and its description within 4,096), at most 10 tags per list of at most 64 characters
  each (the length of a genre filter).
* ``rating`` is ``general``, ``teen`` or ``mature`` (storage.ratings); a line without one is
  ``general``, since files from before ratings were written for the same all-ages bot. The
  rating is not part of ``content_hash``: that hash keys the embedding cache, and re-rating a
  prompt changes what may be shown, not what the prompt says.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from storage.ratings import DEFAULT_RATING, Rating, parse_rating

MAX_LINE_BYTES = 64 * 1024
MAX_TEXT_CHARS = 4_000
MAX_TITLE_CHARS = 200
MAX_ID_CHARS = 64
MAX_TAGS = 10
MAX_TAG_CHARS = 64
UTF8_BOM = b"\xef\xbb\xbf"
# C0 controls except tab, newline and carriage return; DEL and the C1 block; lone surrogates.
_FORBIDDEN_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass(frozen=True)
class PromptRecord:
    id: str
    text: str
    title: str = ""
    genres: list[str] = field(default_factory=list)
    themes: list[str] = field(default_factory=list)
    rating: Rating = DEFAULT_RATING

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
            "rating": self.rating.value,
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
    line_numbers: dict[str, int] = field(default_factory=dict)  # id -> its line


class PromptFieldError(ValueError):
    pass


def _check_characters(name: str, value: str) -> None:
    """Reject control characters and lone surrogates (see the module docstring for why)."""
    found = _FORBIDDEN_CHARACTER.search(value)
    if found:
        char = found.group()
        what = "a NUL character" if char == "\0" else f"the control character U+{ord(char):04X}"
        if 0xD800 <= ord(char) <= 0xDFFF:
            what = f"a lone surrogate U+{ord(char):04X}"
        raise PromptFieldError(f"'{name}' contains {what} at position {found.start() + 1}")


def _collapse_whitespace(value: str) -> str:
    return " ".join(value.split())


def _tag_list(obj: dict[str, object], key: str) -> list[str]:
    value = obj.get(key, [])
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        if any("," in v for v in value):
            raise PromptFieldError(
                f"'{key}' entries may not contain commas; give each tag as its own string"
            )
    else:
        raise PromptFieldError(f"'{key}' must be a list of strings")
    for tag in value:
        _check_characters(key, tag)
    cleaned = [_collapse_whitespace(v) for v in value if v.strip()]
    if len(cleaned) > MAX_TAGS:
        raise PromptFieldError(f"'{key}' has {len(cleaned)} entries (at most {MAX_TAGS})")
    longest = max(cleaned, key=len, default="")
    if len(longest) > MAX_TAG_CHARS:
        raise PromptFieldError(
            f"'{key}' has an entry of {len(longest)} characters (at most {MAX_TAG_CHARS})"
        )
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
    _check_characters("id", prompt_id)
    prompt_id = prompt_id.strip()
    if len(prompt_id) > MAX_ID_CHARS:
        raise PromptFieldError(f"'id' longer than {MAX_ID_CHARS} characters")
    if not isinstance(text, str) or not text.strip():
        raise PromptFieldError("missing 'text'")
    _check_characters("text", text)
    text = _collapse_whitespace(text)
    if len(text) > MAX_TEXT_CHARS:
        raise PromptFieldError(f"'text' is {len(text):,} characters (at most {MAX_TEXT_CHARS:,})")
    if title is None:
        title = ""
    if not isinstance(title, str):
        raise PromptFieldError("'title' must be a string")
    _check_characters("title", title)
    title = _collapse_whitespace(title)
    if len(title) > MAX_TITLE_CHARS:
        raise PromptFieldError(f"'title' is {len(title)} characters (at most {MAX_TITLE_CHARS})")
    return PromptRecord(
        id=prompt_id,
        text=text,
        title=title,
        genres=_tag_list(obj, "genres"),
        themes=_tag_list(obj, "themes"),
        rating=_rating(obj),
    )


def _rating(obj: dict[str, object]) -> Rating:
    value = obj.get("rating")
    if value is None:
        return DEFAULT_RATING
    try:
        return parse_rating(value)
    except ValueError:
        raise PromptFieldError(
            f"'rating' must be one of general, teen, mature (got {str(value)[:20]!r})"
        ) from None


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
        if raw.startswith(UTF8_BOM):
            raw = raw[len(UTF8_BOM) :]
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
        except RecursionError:
            errors.append(LineError(number, "invalid JSON: nested too deeply"))
            continue
        except ValueError:  # the one other case: an integer longer than Python converts
            errors.append(LineError(number, "invalid JSON: a number with too many digits"))
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
    return ReadResult(records, errors, seen)


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
