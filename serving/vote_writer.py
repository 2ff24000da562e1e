"""Vote writes that survive a database hiccup: retried at once, then kept until they land.

A reaction is a vote only once it is in the database, and Discord does not send it again. So a
write that fails for a transient reason (``storage.database.is_transient``: the server
restarted, a commit failed, SQLite stayed locked) is tried again a few times with a short
backoff; if it still fails, the reaction is kept in an in-memory queue that ``catch_up``
writes later (the bot calls it periodically), oldest first. Nothing else can be lost: a
non-transient error is raised to the caller as before.

Order matters (👍 then 👎 must end as 👎), so while a voter has a reaction queued on a message,
that voter's newer reactions on it queue behind it instead of overtaking it; each reaction
keeps the time it arrived, so a late write stores when the vote was really cast. A process
that dies with a queue loses only what the start-up reconciliation (bot.reconcile) reads back
from Discord's reaction lists.

The writer is shared by threads (the bot writes from worker threads); one lock guards the
queue and the writes, which also keeps writes in arrival order.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from storage.database import is_transient
from storage.repositories.votes import VoteOutcome

log = logging.getLogger(__name__)

DEFAULT_ATTEMPTS = 3
DEFAULT_BACKOFF_S = 0.05


@dataclass(frozen=True)
class Reaction:
    """One 👍/👎 added or removed, as it arrived."""

    message_id: str
    user_id: str
    value: int
    added: bool
    at: datetime
    #: False: read back from Discord after a restart (see PromptService.record_reaction)
    live: bool = True

    @property
    def key(self) -> tuple[str, str]:
        return self.message_id, self.user_id


WriteReaction = Callable[[Reaction], VoteOutcome]


class VoteWriter:
    def __init__(
        self,
        write: WriteReaction,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff_s: float = DEFAULT_BACKOFF_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self._write = write
        self.attempts = attempts
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._queue: deque[Reaction] = deque()
        self._lock = threading.Lock()
        #: writes that failed and were tried again (every attempt after the first)
        self.retries = 0

    @property
    def pending(self) -> int:
        return len(self._queue)

    def write(self, reaction: Reaction) -> VoteOutcome:
        """Store the reaction now, or queue it (``VoteOutcome.QUEUED``) for ``catch_up``."""
        with self._lock:
            if any(queued.key == reaction.key for queued in self._queue):
                self._queue.append(reaction)  # behind the voter's older reaction
                return VoteOutcome.QUEUED
            outcome = self._write_with_retries(reaction)
            if outcome is None:
                self._queue.append(reaction)
                log.warning(
                    "vote by %s on %s not stored yet; %d queued for the catch-up",
                    reaction.user_id,
                    reaction.message_id,
                    len(self._queue),
                )
                return VoteOutcome.QUEUED
            return outcome

    def catch_up(self) -> int:
        """Write queued reactions oldest first; stops at the first that still fails. Returns
        how many were stored."""
        stored = 0
        with self._lock:
            while self._queue:
                if self._write_with_retries(self._queue[0]) is None:
                    break
                self._queue.popleft()
                stored += 1
        if stored:
            log.info("caught up on %d queued votes, %d still queued", stored, len(self._queue))
        return stored

    def _write_with_retries(self, reaction: Reaction) -> VoteOutcome | None:
        """The outcome, or None when every attempt failed for a transient reason."""
        for attempt in range(self.attempts):
            if attempt:
                self.retries += 1
                self._sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                return self._write(reaction)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.debug("vote write failed (attempt %d): %s", attempt + 1, exc)
        return None
