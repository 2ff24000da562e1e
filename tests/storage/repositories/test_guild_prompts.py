"""The guild prompts repository on both engines: keys per server, writes by local id,
removal that keeps the row, listings that skip it, curation settings, and moderation rows
decided once and edited only at the revision the moderator saw."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage.database import Database
from storage.models import Prompt, SubmissionStatus
from storage.prompt_file import PromptRecord
from storage.ratings import Rating
from storage.repositories import guild_prompts as repo
from tests.helpers.storage import T0

GUILD, OTHER = "1001", "2002"


def write(db: Database, guild: str, *records: PromptRecord, minutes: int = 0) -> repo.GuildWrite:
    with db.session() as s:
        return repo.write_guild_prompts(
            s, guild, list(records), "author", "test", T0 + timedelta(minutes=minutes)
        )


def test_keys_are_per_server_stable_and_fit_the_column() -> None:
    key = repo.guild_prompt_key(GUILD, "1")
    assert key == repo.guild_prompt_key(GUILD, "1") and key.startswith(f"g{GUILD}-")
    assert key != repo.guild_prompt_key(OTHER, "1") != repo.guild_prompt_key(GUILD, "2")
    assert repo.guild_prompt_key(GUILD, "1\0x") != repo.guild_prompt_key(GUILD + "\0" + "1", "x")
    assert len(repo.guild_prompt_key("9" * 20, "é" * 64)) <= 64  # the prompts.id column


def test_writes_add_update_and_leave_unchanged_by_local_id_per_server(db: Database) -> None:
    first = PromptRecord("1", "a dragon under the castle", "Dragon", ["Fantasy"], ["Hope"])
    assert write(db, GUILD, first, PromptRecord("2", "a ghost ship")) == repo.GuildWrite(2, 0, 0)
    assert write(db, OTHER, first) == repo.GuildWrite(1, 0, 0)  # the same id elsewhere
    edited = PromptRecord("1", "a dragon under the castle, awake", "Dragon")
    rated = PromptRecord("2", "a ghost ship", rating=Rating.MATURE)
    assert write(db, GUILD, edited, rated, minutes=5) == repo.GuildWrite(0, 2, 0)
    assert write(db, GUILD, edited, rated, minutes=6) == repo.GuildWrite(0, 0, 2)
    with db.session() as s:
        row = repo.get_guild_prompt(s, GUILD, "1")
        assert row is not None and row.text == "a dragon under the castle, awake"
        assert (row.guild_id, row.local_id, row.added_by, row.genres) == (GUILD, "1", "author", [])
        assert row.created_at == T0 and row.updated_at == T0 + timedelta(minutes=5)
        assert repo.get_guild_prompt(s, GUILD, "2").rating == "mature"  # type: ignore[union-attr]
        untouched = repo.get_guild_prompt(s, OTHER, "1")
        assert untouched is not None and untouched.text == "a dragon under the castle"
        assert repo.get_guild_prompt(s, GUILD, "3") is None
        assert repo.count_guild_prompts(s, GUILD) == 2 and repo.count_guild_prompts(s, OTHER) == 1
        assert s.query(Prompt).filter(Prompt.guild_id.is_(None)).count() == 0  # never shared


def test_removal_keeps_the_row_hides_it_once_and_a_rewrite_brings_it_back(db: Database) -> None:
    write(db, GUILD, PromptRecord("1", "storm forest"), PromptRecord("2", "winter garden"))
    with db.session() as s:
        assert not repo.remove_guild_prompt(s, OTHER, "1", T0)  # not that server's
        assert repo.remove_guild_prompt(s, GUILD, "1", T0 + timedelta(hours=1))
        assert not repo.remove_guild_prompt(s, GUILD, "1", T0 + timedelta(hours=2))  # once
    with db.session() as s:
        assert repo.get_guild_prompt(s, GUILD, "1") is None
        kept = repo.get_guild_prompt(s, GUILD, "1", include_removed=True)
        assert kept is not None and kept.removed_at == T0 + timedelta(hours=1)
        assert [p.local_id for p in repo.list_guild_prompts(s, GUILD)] == ["2"]
        assert repo.count_guild_prompts(s, GUILD) == 1
        assert repo.taken_local_ids(s, GUILD) == {"1", "2"}  # a new prompt never reuses "1"
        assert repo.taken_local_ids(s, OTHER) == set()
    assert write(db, GUILD, PromptRecord("1", "storm forest"), minutes=90).updated == 1
    with db.session() as s:
        back = repo.get_guild_prompt(s, GUILD, "1")
        assert back is not None and back.removed_at is None


def test_listing_pages_in_the_order_prompts_were_added(db: Database) -> None:
    write(db, GUILD, PromptRecord("b", "second"), minutes=1)
    write(db, GUILD, PromptRecord("a", "first"), PromptRecord("c", "also first"), minutes=0)
    write(db, OTHER, PromptRecord("z", "elsewhere"))
    with db.session() as s:
        assert [p.local_id for p in repo.list_guild_prompts(s, GUILD)] == ["a", "c", "b"]
        page = repo.list_guild_prompts(s, GUILD, offset=1, limit=1)
        assert [p.local_id for p in page] == ["c"]
        assert repo.list_guild_prompts(s, GUILD, offset=3, limit=10) == []


def test_curation_settings_default_then_change_per_server(db: Database) -> None:
    with db.session() as s:
        assert repo.curation_settings(s, GUILD) == repo.CurationSettings()
        wanted = repo.CurationSettings("55", "66", own_prompts_only=True)
        repo.set_curation_settings(s, GUILD, wanted, "admin", T0)
    with db.session() as s:
        assert repo.curation_settings(s, GUILD) == wanted
        assert repo.curation_settings(s, OTHER) == repo.CurationSettings()
        repo.set_curation_settings(s, GUILD, repo.CurationSettings("77"), "admin", T0)
    with db.session() as s:
        assert repo.curation_settings(s, GUILD) == repo.CurationSettings("77")


def test_a_submission_is_decided_once_and_edited_only_at_its_revision(db: Database) -> None:
    text = PromptRecord("x", "mirror letter", "Mirror", ["Horror"], [])
    with db.session() as s:
        first = repo.add_submission(s, GUILD, "member", text, "teen", T0)
        repo.add_submission(s, GUILD, "member", text, None, T0)
        repo.add_submission(s, OTHER, "member", text, None, T0)
        first_id = first.id
    with db.session() as s:
        assert repo.open_submission_count(s, GUILD, "member") == 2
        assert repo.open_submission_count(s, GUILD, "someone else") == 0
        repo.set_queue_message(s, first_id, "c1", "m1")
        edited = PromptRecord("x", "mirror letter, edited", "Mirror")
        assert repo.edit_submission(s, first_id, 1, edited)
        assert not repo.edit_submission(s, first_id, 1, edited)  # someone saved in between
    with db.session() as s:
        row = repo.get_submission(s, first_id)
        assert row is not None and (row.revision, row.text) == (2, "mirror letter, edited")
        assert (row.queue_channel_id, row.queue_message_id, row.rating) == ("c1", "m1", "general")
        decided = T0 + timedelta(minutes=3)
        approved = SubmissionStatus.APPROVED
        assert repo.decide_submission(s, first_id, approved, "mod", decided, prompt_id=None)
        rejected = SubmissionStatus.REJECTED
        assert not repo.decide_submission(s, first_id, rejected, "mod2", decided, "late")
        assert not repo.edit_submission(s, first_id, 2, edited)  # decided: no more edits
    with db.session() as s:
        row = repo.get_submission(s, first_id)
        assert row is not None and (row.status, row.moderator_id) == ("approved", "mod")
        assert row.decided_at == T0 + timedelta(minutes=3) and row.reason == ""
        assert repo.open_submission_count(s, GUILD, "member") == 1
        assert repo.get_submission(s, 10_000) is None


def test_a_write_that_collides_with_a_row_written_meanwhile_raises_id_taken(
    db: Database,
) -> None:
    """The row another transaction committed after this one looked: stood in for by a row
    holding the same (server, local id) under another key, so the INSERT hits the constraint
    on both engines, as a concurrent writer's would."""
    with db.session() as s:
        s.add(
            Prompt(
                id="written-meanwhile",
                text="t",
                source="test",
                content_hash="h",
                created_at=T0,
                updated_at=T0,
                guild_id=GUILD,
                local_id="1",
            )
        )
    with pytest.raises(repo.GuildPromptIdTaken):
        write(db, GUILD, PromptRecord("1", "a new prompt"))
    with db.session() as s:  # the failed transaction left nothing behind
        assert repo.get_guild_prompt(s, GUILD, "1") is None
        assert s.query(Prompt).count() == 1
