"""Discord's documented limits on message and autocomplete payloads.

The real API rejects oversize content with ``400 Invalid Form Body`` (code
50035) and empty messages with code 50006; the fake does the same so that a
bot that would fail in production fails in tests too.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error response in Discord's format: ``{"message": ..., "code": ...}``."""

    def __init__(
        self, status: int, code: int, message: str, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            data["errors"] = self.errors
        return data


def unknown(kind: str, code: int) -> ApiError:
    return ApiError(404, code, f"Unknown {kind}")


UNKNOWN_CHANNEL = 10003
UNKNOWN_GUILD = 10004
UNKNOWN_MEMBER = 10007
UNKNOWN_MESSAGE = 10008
UNKNOWN_USER = 10013
UNKNOWN_EMOJI = 10014
UNKNOWN_WEBHOOK = 10015
UNKNOWN_COMMAND = 10063
UNKNOWN_INTERACTION = 10062
MAX_REACTIONS = 30010
ALREADY_ACKNOWLEDGED = 40060
MISSING_ACCESS = 50001
EMPTY_MESSAGE = 50006
MISSING_PERMISSIONS = 50013
INVALID_FORM_BODY = 50035


def _form_error(path: str, message: str) -> ApiError:
    errors: dict[str, Any] = {}
    node = errors
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": message}]}
    return ApiError(400, INVALID_FORM_BODY, "Invalid Form Body", errors)


def _check_len(value: Any, limit: int, path: str) -> int:
    if value is None:
        return 0
    text = str(value)
    if len(text) > limit:
        raise _form_error(path, f"Must be {limit} or fewer in length.")
    return len(text)


def validate_embeds(embeds: list[dict[str, Any]], prefix: str = "embeds") -> None:
    """Per-field and 6000-character total limits of embeds."""
    if len(embeds) > 10:
        raise _form_error(prefix, "Must be 10 or fewer in length.")
    total = 0
    for i, embed in enumerate(embeds):
        p = f"{prefix}.{i}"
        total += _check_len(embed.get("title"), 256, f"{p}.title")
        total += _check_len(embed.get("description"), 4096, f"{p}.description")
        total += _check_len((embed.get("footer") or {}).get("text"), 2048, f"{p}.footer.text")
        total += _check_len((embed.get("author") or {}).get("name"), 256, f"{p}.author.name")
        fields = embed.get("fields") or []
        if len(fields) > 25:
            raise _form_error(f"{p}.fields", "Must be 25 or fewer in length.")
        for j, fld in enumerate(fields):
            total += _check_len(fld.get("name"), 256, f"{p}.fields.{j}.name")
            total += _check_len(fld.get("value"), 1024, f"{p}.fields.{j}.value")
            if not fld.get("name") or not fld.get("value"):
                raise _form_error(f"{p}.fields.{j}", "This field is required")
    if total > 6000:
        raise _form_error(prefix, "Embed size exceeds maximum size of 6000")


def validate_message(payload: dict[str, Any], *, files: int = 0, editing: bool = False) -> None:
    """Limits of a message create/edit body (content, embeds, non-emptiness)."""
    _check_len(payload.get("content"), 2000, "content")
    validate_embeds(payload.get("embeds") or [])
    if editing:
        return
    has_body = any(
        payload.get(k)
        for k in ("content", "embeds", "components", "sticker_ids", "poll", "attachments")
    )
    if not has_body and not files:
        raise ApiError(400, EMPTY_MESSAGE, "Cannot send an empty message")


def validate_choices(choices: list[dict[str, Any]]) -> None:
    """Autocomplete results: at most 25 choices, names 1-100 chars, string values ≤ 100."""
    if len(choices) > 25:
        raise _form_error("data.choices", "Must be 25 or fewer in length.")
    for i, choice in enumerate(choices):
        name = choice.get("name") or ""
        if not 1 <= len(name) <= 100:
            raise _form_error(f"data.choices.{i}.name", "Must be between 1 and 100 in length.")
        if isinstance(choice.get("value"), str):
            _check_len(choice["value"], 100, f"data.choices.{i}.value")
