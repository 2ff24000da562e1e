"""Things a test inspects after the fact: logged requests, injected failures and
interaction transcripts, plus the wake-up mechanism used by every ``wait_*``."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .models import Message

T = TypeVar("T")


class FakeTimeout(TimeoutError):
    """A ``wait_*`` helper of the fake gave up; the message says what it waited for."""


class Notifier:
    """Wakes waiters whenever the fake's state changes (request, event, callback).

    Waiters re-check a predicate on every change, so any condition over the
    fake's state can be awaited without polling.
    """

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def notify(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait_for(
        self, predicate: Callable[[], T | None], timeout: float, what: str = "condition"
    ) -> T:
        """Return ``predicate()`` once truthy; raise :class:`FakeTimeout` after ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise FakeTimeout(f"timed out after {timeout:.1f}s waiting for {what}")
            if self._event is None:
                self._event = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), remaining)


@dataclass(eq=False)
class RequestRecord:
    """One REST request the bot made. Unpacks as ``(method, path, json)``.

    ``path`` is relative to ``/api/v10`` and percent-decoded (``.../reactions/👍/@me``).
    ``json`` is the JSON body (or ``payload_json`` of a multipart body), else None.
    """

    method: str
    path: str
    json: Any
    query: dict[str, str] = field(default_factory=dict)
    status: int | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    at: float = 0.0

    def __iter__(self) -> Iterator[Any]:
        return iter((self.method, self.path, self.json))

    def __repr__(self) -> str:
        return f"<{self.method} {self.path} -> {self.status}>"


@dataclass(eq=False)
class FailureRule:
    """An injected error: the next ``times`` requests matching ``method`` and
    ``path_regex`` (``re.search`` on the decoded path) get ``status`` instead."""

    method: str
    path_regex: re.Pattern[str]
    status: int = 429
    retry_after: float = 0.2
    times: int = 1
    is_global: bool = False
    code: int | None = None
    message: str | None = None
    hits: list[RequestRecord] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        return self.times - len(self.hits)

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and self.method in ("*", method.upper())
            and self.path_regex.search(path) is not None
        )


@dataclass
class CallbackAttempt:
    """One ``POST /interactions/{id}/{token}/callback`` and how the fake answered it."""

    at: float
    type: int | None
    data: dict[str, Any] | None
    status: int = 0
    error: str | None = None
    expired: bool = False

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(eq=False)
class InteractionRecord:
    """Transcript of one interaction the fake dispatched and what the bot did with it.

    ``original`` and ``followups`` are live :class:`~.state.Message` objects, so
    later edits by the bot are visible through them.
    """

    id: int
    token: str
    type: int  # 2 = application command, 4 = autocomplete
    name: str
    user_id: int
    guild_id: int | None
    channel_id: int
    payload: dict[str, Any] = field(repr=False)
    dispatched_at: float = 0.0
    notifier: Notifier = field(repr=False, default_factory=Notifier)
    #: The gateway shard the INTERACTION_CREATE went to (only that shard's bot can answer).
    shard_id: int = 0
    #: Every callback POST in order, including rejected ones (late, repeated, invalid).
    callbacks: list[CallbackAttempt] = field(default_factory=list)
    original: Message | None = None
    followups: list[Message] = field(default_factory=list)
    #: Payloads of PATCHes to the bot's interaction messages, in order.
    edits: list[dict[str, Any]] = field(default_factory=list)
    #: Autocomplete choices (callback type 8) and modal data (type 9).
    choices: list[dict[str, Any]] | None = None
    modal: dict[str, Any] | None = None
    #: The message whose button was clicked (or whose button opened the submitted modal).
    source_message: Message | None = None

    # ---------------------------------------------------------------- derived

    @property
    def responded(self) -> bool:
        """The bot POSTed at least one callback (accepted or not)."""
        return bool(self.callbacks)

    @property
    def accepted(self) -> CallbackAttempt | None:
        """The callback that acknowledged the interaction, if any."""
        return next((c for c in self.callbacks if c.ok), None)

    @property
    def acknowledged(self) -> bool:
        return self.accepted is not None

    @property
    def expired(self) -> bool:
        """The first callback came after the deadline (Discord: 3 s) and was rejected."""
        return bool(self.callbacks) and self.callbacks[0].expired

    @property
    def _main(self) -> CallbackAttempt | None:
        return self.accepted or (self.callbacks[0] if self.callbacks else None)

    @property
    def callback_at(self) -> float | None:
        """Loop time of the first callback POST."""
        return self.callbacks[0].at if self.callbacks else None

    @property
    def latency(self) -> float | None:
        """Seconds from dispatching INTERACTION_CREATE to the first callback POST."""
        return None if self.callback_at is None else self.callback_at - self.dispatched_at

    @property
    def callback_type(self) -> int | None:
        """Accepted callback type (else first attempt's): 4 message, 5 deferred, 8 choices."""
        return self._main.type if self._main else None

    @property
    def callback_data(self) -> dict[str, Any] | None:
        return self._main.data if self._main else None

    @property
    def callback_status(self) -> int | None:
        """HTTP status the fake answered the first callback with."""
        return self.callbacks[0].status if self.callbacks else None

    @property
    def response(self) -> Message | None:
        """Alias of :attr:`original`: the initial response message (``@original``)."""
        return self.original

    @property
    def deferred(self) -> bool:
        return self.callback_type in (5, 6)

    @property
    def ephemeral(self) -> bool:
        return self.original is not None and self.original.ephemeral

    @property
    def messages(self) -> list[Message]:
        """Visible bot messages: the original response (once not "thinking") then follow-ups."""
        out = []
        if self.original is not None and not self.original.loading and not self.original.deleted:
            out.append(self.original)
        out.extend(m for m in self.followups if not m.deleted)
        return out

    @property
    def message_ids(self) -> list[int]:
        return [m.id for m in self.messages]

    # ---------------------------------------------------------------- waiting

    async def wait_response(self, timeout: float = 5.0) -> InteractionRecord:
        """Wait for the first callback (any type)."""
        await self.notifier.wait_for(lambda: self.responded, timeout, f"a response to /{self.name}")
        return self

    async def wait_messages(self, n: int = 1, timeout: float = 5.0) -> list[Message]:
        """Wait until at least ``n`` visible messages exist (see :attr:`messages`)."""
        return await self.notifier.wait_for(
            lambda: self.messages if len(self.messages) >= n else None,
            timeout,
            f"{n} message(s) from /{self.name} (have {len(self.messages)})",
        )

    async def wait_for(
        self, predicate: Callable[[InteractionRecord], T | None], timeout: float = 5.0
    ) -> T:
        """Wait until ``predicate(record)`` is truthy."""
        return await self.notifier.wait_for(
            lambda: predicate(self), timeout, f"/{self.name} predicate"
        )
