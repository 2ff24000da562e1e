"""A server's own prompts, as the bot's `/prompts` commands use them: validate, refuse
near-duplicates, enforce the per-server cap, write, and make the change searchable at once.

Validation is the prompt file format's (storage.prompt_file), field for field, so a prompt
typed into a modal and a line of an imported file are held to the same rules, and tags are
mapped to the controlled vocabulary where they match. A prompt whose embedding is within
``DUPLICATE_COSINE`` of a prompt the server can already see (shared or its own) is refused
with that prompt's title. After a write the model pool is updated incrementally in the
calling thread, so the writer's next `/prompt` finds the prompt; other processes pick the
change up at their next poll (``PROMPTBOT_CHAMPION_POLL_SECONDS``).

An import is two steps: :meth:`GuildPrompts.preview_import` reads and checks the whole file
without writing anything and reports every bad line; :meth:`GuildPrompts.commit_import`
writes only the good lines, once the user has seen the report and confirmed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from retrieval.corpus import canonicalize
from retrieval.corpus_view import CorpusPrompt, from_row
from retrieval.documents import document_text
from retrieval.engine import Scope, SearchEngine
from retrieval.vocabulary import Vocabulary, default_vocabulary
from serving.model_pool import ModelPool
from storage.database import Database, utcnow
from storage.models import PromptSubmission, SubmissionStatus
from storage.prompt_file import (
    LineError,
    PromptFieldError,
    PromptRecord,
    parse_lines,
    record_from_object,
)
from storage.ratings import DEFAULT_RATING, parse_rating
from storage.repositories import guild_prompts as repo
from storage.repositories.guild_prompts import CurationSettings

DUPLICATE_COSINE = 0.95
SETTINGS_MAX_AGE_S = 5.0  # a change made in another process is seen within this
MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_LINES = 5_000
LIST_PAGE = 10
ID_TAKEN = "Another prompt just took that id; please submit again."


class GuildPromptError(ValueError):
    """A request we refuse; the message is shown to the user as is."""


@dataclass(frozen=True)
class Duplicate:
    title: str
    local_id: str | None
    score: float


@dataclass
class ImportPreview:
    """What an import would do: the good records and every refused line, by number."""

    guild_id: str
    records: list[PromptRecord]
    errors: list[LineError]
    lines: int
    updates: int = 0  # good records that replace one of the server's prompts

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class Written:
    added: int
    updated: int
    unchanged: int


@dataclass(frozen=True)
class Decision:
    """How a moderator's click ended: ``done`` false when someone else decided first."""

    done: bool
    submission: PromptSubmission | None
    prompt_local_id: str | None = None
    message: str = ""


@dataclass
class _Plan:
    records: list[PromptRecord] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)


class GuildPrompts:
    def __init__(
        self,
        db: Database,
        pool: ModelPool,
        max_prompts: int = 5_000,
        open_submissions: int = 3,
        vocabulary: Vocabulary | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.pool = pool
        self.max_prompts = max_prompts
        self.open_submissions = open_submissions
        self.vocabulary = vocabulary or default_vocabulary()
        self.clock = clock
        self._curation: dict[str, tuple[float, CurationSettings]] = {}

    # ------------------------------------------------------------------ settings

    def curation(self, guild_id: str) -> CurationSettings:
        """The server's curation settings, re-read at most every ``SETTINGS_MAX_AGE_S``."""
        now = time.monotonic()
        cached = self._curation.get(guild_id)
        if cached is not None and now - cached[0] < SETTINGS_MAX_AGE_S:
            return cached[1]
        with self.db.session() as session:
            fresh = repo.curation_settings(session, guild_id)
        self._curation[guild_id] = (now, fresh)
        return fresh

    def set_curation(self, guild_id: str, settings: CurationSettings, actor: str) -> None:
        with self.db.session() as session:
            repo.set_curation_settings(session, guild_id, settings, actor, self.clock())
        self._curation[guild_id] = (time.monotonic(), settings)

    def scope_for(self, guild_id: str | None) -> Scope:
        """What `/prompt` in ``guild_id`` searches: shared + its own, or only its own."""
        if guild_id is None:
            return Scope(None)
        return Scope(guild_id, own_only=self.curation(guild_id).own_prompts_only)

    # ------------------------------------------------------------------ validation

    def record_from_fields(
        self,
        local_id: str,
        title: str,
        text: str,
        genres: str,
        themes: str,
        rating: str = "general",
    ) -> PromptRecord:
        """A modal's fields as a prompt record, by the prompt file's rules (rating too)."""
        obj = {
            "id": local_id,
            "title": title,
            "text": text,
            "genres": genres,
            "themes": themes,
            "rating": (rating or "general").strip().lower(),
        }
        try:
            record = record_from_object(obj)
        except PromptFieldError as exc:
            raise GuildPromptError(str(exc)) from None
        return canonicalize(record, self.vocabulary)

    def new_local_id(self, guild_id: str) -> str:
        """The next free numeric id in the server ("1", "2", ...)."""
        with self.db.session() as session:
            taken = repo.taken_local_ids(session, guild_id)
        number = len(taken) + 1
        while str(number) in taken:
            number += 1
        return str(number)

    # ------------------------------------------------------------------ duplicates

    def _engine(self) -> SearchEngine:
        self.pool.update_corpus()
        return self.pool.serving_engine()

    def duplicates(self, guild_id: str, records: Sequence[PromptRecord]) -> dict[int, Duplicate]:
        """Index in ``records`` -> the prompt it nearly duplicates (cosine >=
        DUPLICATE_COSINE): one the server can already see, or an earlier record in the list.
        A record that edits one of the server's prompts is not compared with that prompt."""
        if not records:
            return {}
        engine = self._engine()
        vectors = np.asarray(
            engine.encoder.encode([document_text(r) for r in records], batch_size=32),
            dtype=np.float32,
        )
        own = {repo.guild_prompt_key(guild_id, r.id) for r in records}
        mask = engine.scope_mask(Scope(guild_id, excluded=frozenset(own)))
        found: dict[int, Duplicate] = {}
        if mask is not None and mask.any():
            rows = np.flatnonzero(mask)
            scores = vectors @ engine.matrix[rows].T
            best = scores.argmax(axis=1)
            for index, column in enumerate(best):
                score = float(scores[index, column])
                if score >= DUPLICATE_COSINE:
                    prompt = engine.prompts[int(rows[column])]
                    found[index] = Duplicate(_title_of(prompt), prompt.local_id, score)
        among = vectors @ vectors.T
        for index in range(1, len(records)):
            if index in found:
                continue
            earlier = among[index, :index]
            column = int(earlier.argmax())
            if float(earlier[column]) >= DUPLICATE_COSINE:
                title = records[column].title or records[column].text[:60]
                found[index] = Duplicate(title, records[column].id, float(earlier[column]))
        return found

    # ------------------------------------------------------------------ writing

    def add(self, guild_id: str, author_id: str, record: PromptRecord) -> Written:
        """Add (or, for a known local id, edit) one prompt; GuildPromptError when refused."""
        duplicate = self.duplicates(guild_id, [record]).get(0)
        if duplicate is not None:
            raise GuildPromptError(duplicate_message(duplicate))
        return self._write(guild_id, author_id, [record], "discord", create_only=True)

    def _write(
        self,
        guild_id: str,
        author_id: str,
        records: list[PromptRecord],
        source: str,
        create_only: bool = False,
    ) -> Written:
        """Write in one transaction. Two curators writing the same new id at once: on
        PostgreSQL both see no row and the second INSERT fails on the key; it is retried once
        and then finds the row, so the last write wins as it does for an existing prompt."""
        try:
            return self._write_once(guild_id, author_id, records, source, create_only)
        except repo.GuildPromptIdTaken:
            if create_only:
                raise GuildPromptError(ID_TAKEN) from None
        return self._write_once(guild_id, author_id, records, source, create_only)

    def _write_once(
        self,
        guild_id: str,
        author_id: str,
        records: list[PromptRecord],
        source: str,
        create_only: bool,
    ) -> Written:
        with self.db.session() as session:
            existing = {
                r.id for r in records if repo.get_guild_prompt(session, guild_id, r.id) is not None
            }
            if create_only and existing:  # two admins adding at once drew the same new id
                raise GuildPromptError(ID_TAKEN)
            after = repo.count_guild_prompts(session, guild_id) + len(records) - len(existing)
            if after > self.max_prompts:
                raise GuildPromptError(cap_message(self.max_prompts, after))
            written = repo.write_guild_prompts(
                session, guild_id, records, author_id, source, self.clock()
            )
        self.pool.update_corpus()
        return Written(written.added, written.updated, written.unchanged)

    def remove(self, guild_id: str, local_id: str) -> PromptRecord:
        """Remove one of the server's prompts (its votes stay; it is never served again)."""
        with self.db.session() as session:
            row = repo.get_guild_prompt(session, guild_id, local_id)
            if row is None or not repo.remove_guild_prompt(
                session, guild_id, local_id, self.clock()
            ):
                raise GuildPromptError(f"This server has no prompt with id `{local_id}`.")
            removed = PromptRecord(local_id, row.text, row.title, row.genres, row.themes)
        self.pool.update_corpus()
        return removed

    def page(self, guild_id: str, page: int) -> tuple[list[CorpusPrompt], int]:
        """One page (from 1) of the server's prompts, and how many it has."""
        with self.db.session() as session:
            total = repo.count_guild_prompts(session, guild_id)
            rows = repo.list_guild_prompts(
                session, guild_id, offset=(max(page, 1) - 1) * LIST_PAGE, limit=LIST_PAGE
            )
            return [from_row(r) for r in rows], total

    def export(self, guild_id: str) -> bytes:
        """The server's prompts as a prompt file (JSON Lines, their own ids): importable."""
        with self.db.session() as session:
            rows = repo.list_guild_prompts(session, guild_id)
            lines = [
                json.dumps(
                    PromptRecord(
                        r.local_id or r.id,
                        r.text,
                        r.title,
                        list(r.genres),
                        list(r.themes),
                        parse_rating(r.rating),
                    ).to_json(),
                    ensure_ascii=False,
                )
                for r in rows
            ]
        return ("\n".join(lines) + "\n").encode() if lines else b""

    # ------------------------------------------------------------------ import

    def preview_import(self, guild_id: str, data: bytes) -> ImportPreview:
        """Check a whole file without writing: size and line caps, the file format per line,
        near-duplicates and the server's cap. Raises GuildPromptError for a file refused as a
        whole (too big, too many lines, not text)."""
        if len(data) > MAX_IMPORT_BYTES:
            raise GuildPromptError(
                f"That file is {len(data):,} bytes; imports take at most {MAX_IMPORT_BYTES:,}."
            )
        if b"\0" in data:
            raise GuildPromptError("That file is binary, not JSON Lines text.")
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        if len(lines) > MAX_IMPORT_LINES:
            raise GuildPromptError(
                f"That file has {len(lines):,} lines; imports take at most "
                f"{MAX_IMPORT_LINES:,}. Split it and import the parts one after another."
            )
        read = parse_lines(line.rstrip(b"\r") for line in lines)
        records = [canonicalize(r, self.vocabulary) for r in read.records]
        duplicates = self.duplicates(guild_id, records)
        plan = _Plan(errors=list(read.errors))
        for index, record in enumerate(records):
            if index in duplicates:
                line = read.line_numbers[record.id]
                plan.errors.append(LineError(line, duplicate_message(duplicates[index])))
            else:
                plan.records.append(record)
        with self.db.session() as session:
            updates = sum(
                1
                for r in plan.records
                if repo.get_guild_prompt(session, guild_id, r.id) is not None
            )
            after = repo.count_guild_prompts(session, guild_id) + len(plan.records) - updates
        if after > self.max_prompts:
            raise GuildPromptError(cap_message(self.max_prompts, after))
        plan.errors.sort(key=lambda e: e.line)
        return ImportPreview(guild_id, plan.records, plan.errors, len(lines), updates)

    def commit_import(self, preview: ImportPreview, author_id: str, source: str) -> Written:
        """Write the preview's good lines in one transaction (all or none)."""
        if not preview.records:
            raise GuildPromptError("Nothing to import: no line of that file was usable.")
        return self._write(preview.guild_id, author_id, preview.records, source)

    # ------------------------------------------------------------------ submissions

    def submit(
        self, guild_id: str, submitter_id: str, record: PromptRecord, rating: str | None = None
    ) -> PromptSubmission:
        """Queue a member's prompt for moderators (refused past the open-submission limit or
        as a near-duplicate, before a moderator ever sees it)."""
        with self.db.session() as session:
            open_now = repo.open_submission_count(session, guild_id, submitter_id)
        if open_now >= self.open_submissions:
            raise GuildPromptError(
                f"You already have {open_now} submission(s) waiting for a moderator; "
                f"the limit is {self.open_submissions}. Try again once one is decided."
            )
        duplicate = self.duplicates(guild_id, [record]).get(0)
        if duplicate is not None:
            raise GuildPromptError(duplicate_message(duplicate))
        with self.db.session() as session:
            row = repo.add_submission(
                session, guild_id, submitter_id, record, rating or record.rating.value, self.clock()
            )
            session.expunge(row)
        return row

    def submission(self, submission_id: int) -> PromptSubmission | None:
        with self.db.session() as session:
            row = repo.get_submission(session, submission_id)
            if row is not None:
                session.expunge(row)
            return row

    def set_queue_message(self, submission_id: int, channel_id: str, message_id: str) -> None:
        with self.db.session() as session:
            repo.set_queue_message(session, submission_id, channel_id, message_id)

    def approve(self, submission_id: int, guild_id: str, moderator_id: str) -> Decision:
        """Add the submitted prompt to the server and close the submission, in one
        transaction; a second approval (a double click, two moderators) changes nothing."""
        with self.db.session() as session:
            row = repo.get_submission(session, submission_id)
            if row is None or row.guild_id != guild_id:
                return Decision(False, None, message="That submission does not exist here.")
            if row.status != SubmissionStatus.OPEN:
                session.expunge(row)
                return Decision(False, row, message=already_decided(row))
            local_id = f"s{submission_id}"  # unique per submission: approvals never collide
            record = PromptRecord(
                local_id,
                row.text,
                row.title,
                list(row.genres),
                list(row.themes),
                parse_rating(row.rating or DEFAULT_RATING.value),
            )
            key = repo.guild_prompt_key(guild_id, local_id)
            if not repo.decide_submission(
                session,
                submission_id,
                SubmissionStatus.APPROVED,
                moderator_id,
                self.clock(),
                prompt_id=None,
            ):
                return Decision(False, None, message="Someone else decided it a moment ago.")
            if repo.count_guild_prompts(session, guild_id) + 1 > self.max_prompts:
                raise GuildPromptError(cap_message(self.max_prompts, self.max_prompts + 1))
            repo.write_guild_prompts(
                session, guild_id, [record], row.submitter_id, "submission", self.clock()
            )
            row.prompt_id = key
            session.flush()
            session.refresh(row)
            session.expunge(row)
        self.pool.update_corpus()
        return Decision(True, row, local_id)

    def reject(
        self, submission_id: int, guild_id: str, moderator_id: str, reason: str = ""
    ) -> Decision:
        with self.db.session() as session:
            row = repo.get_submission(session, submission_id)
            if row is None or row.guild_id != guild_id:
                return Decision(False, None, message="That submission does not exist here.")
            done = repo.decide_submission(
                session,
                submission_id,
                SubmissionStatus.REJECTED,
                moderator_id,
                self.clock(),
                reason,
            )
            session.refresh(row)
            session.expunge(row)
        return Decision(done, row, message="" if done else already_decided(row))

    def edit(
        self, submission_id: int, guild_id: str, expected_revision: int, record: PromptRecord
    ) -> Decision:
        """Replace an open submission's text; refused if another moderator edited or decided
        it since this one opened the form."""
        with self.db.session() as session:
            row = repo.get_submission(session, submission_id)
            if row is None or row.guild_id != guild_id:
                return Decision(False, None, message="That submission does not exist here.")
            done = repo.edit_submission(session, submission_id, expected_revision, record)
            session.refresh(row)
            session.expunge(row)
        if done:
            return Decision(True, row)
        if row.status != SubmissionStatus.OPEN:
            return Decision(False, row, message=already_decided(row))
        return Decision(
            False, row, message="Another moderator edited it meanwhile; open Edit again."
        )


def _title_of(prompt: CorpusPrompt) -> str:
    return prompt.title or prompt.text[:60]


def duplicate_message(duplicate: Duplicate) -> str:
    where = f" (id `{duplicate.local_id}`)" if duplicate.local_id else ""
    return (
        f"too close to an existing prompt, “{duplicate.title}”{where}: "
        f"similarity {duplicate.score:.2f} (at most {DUPLICATE_COSINE:.2f} allowed)"
    )


def cap_message(limit: int, after: int) -> str:
    return (
        f"A server may keep at most {limit:,} prompts of its own; this would make {after:,}. "
        "Remove some first."
    )


def already_decided(row: PromptSubmission) -> str:
    return f"That submission was already {row.status} (by <@{row.moderator_id}>)."
