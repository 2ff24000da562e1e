"""GuildPrompts on both engines with a stand-in encoder: validation by the file format, the
near-duplicate refusal, the per-server cap, imports previewed before anything is written,
submissions approved once, edits that lose to a newer edit, removal that keeps votes, and a
second process (its own pool) finding a new prompt at its next refresh without re-embedding
the corpus."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from retrieval.base_model import ensure_base_model
from serving.guild_prompts import (
    MAX_IMPORT_LINES,
    GuildPromptError,
    GuildPrompts,
    Written,
)
from serving.model_pool import ModelPool
from serving.prompt_service import PromptService
from storage.database import Database
from storage.models import Prompt, Vote
from storage.prompt_file import PromptRecord
from storage.repositories import guild_prompts as repo
from storage.repositories.guild_prompts import guild_prompt_key
from tests.helpers.serving import FakeEngines, import_word_corpus
from tests.helpers.storage import T0

GUILD, OTHER = "1001", "2002"


@pytest.fixture
def world(db: Database, tmp_path: Path) -> Database:
    import_word_corpus(db, tmp_path, 16)
    ensure_base_model(db)
    return db


def make(db: Database, tmp_path: Path, **options: int) -> GuildPrompts:
    pool = ModelPool(db, FakeEngines(tmp_path / "cache"))
    pool.refresh()
    return GuildPrompts(db, pool, **options)


def record(service: GuildPrompts, local_id: str, text: str, title: str = "") -> PromptRecord:
    return service.record_from_fields(local_id, title, text, "fantasy", "")


def search(service: GuildPrompts, guild: str | None, words: str) -> list[str]:
    prompts = PromptService(service.db, service.pool, scopes=service.scope_for)
    return [r.prompt.id for r in prompts.serve("u", words, count=5, guild_id=guild).results]


def test_added_prompt_is_found_in_its_server_and_refused_as_a_duplicate(
    world: Database, tmp_path: Path
) -> None:
    service = make(world, tmp_path)
    new = record(service, "1", "A lighthouse lighthouse lighthouse keeper.", "Keeper")
    service.add(GUILD, "u", new)
    key = guild_prompt_key(GUILD, "1")
    assert search(service, GUILD, "lighthouse keeper")[0] == key
    assert key not in search(service, OTHER, "lighthouse keeper")
    assert key not in search(service, None, "lighthouse keeper")
    again = record(service, "2", "A lighthouse lighthouse lighthouse keeper.")
    with pytest.raises(GuildPromptError, match="Keeper"):
        service.add(GUILD, "u", again)
    service.add(OTHER, "u", again)  # another server may hold the same prompt


def test_field_validation_is_the_file_formats(world: Database, tmp_path: Path) -> None:
    service = make(world, tmp_path)
    with pytest.raises(GuildPromptError, match="missing 'text'"):
        service.record_from_fields("1", "t", "   ", "", "")
    with pytest.raises(GuildPromptError, match="control character"):
        service.record_from_fields("1", "t", "bad \x1b[31m text", "", "")
    kept = service.record_from_fields("1", "**bold** @everyone", "<@123> hi \u200b", "sci-fi", "")
    assert kept.title == "**bold** @everyone" and "<@123>" in kept.text  # stored as written
    assert kept.genres == ["Science Fiction"]


def test_the_cap_counts_live_prompts(world: Database, tmp_path: Path) -> None:
    service = make(world, tmp_path, max_prompts=2)
    service.add(GUILD, "u", record(service, "1", "dragon dragon castle"))
    service.add(GUILD, "u", record(service, "2", "ghost ghost ship"))
    with pytest.raises(GuildPromptError, match="at most 2"):
        service.add(GUILD, "u", record(service, "3", "robot robot train"))
    service.remove(GUILD, "1")
    service.add(GUILD, "u", record(service, "3", "robot robot train"))


def test_import_preview_writes_nothing_and_reports_every_bad_line(
    world: Database, tmp_path: Path
) -> None:
    service = make(world, tmp_path)
    data = (
        b'{"id": "a", "text": "witch witch garden"}\n'
        b'{"id": "b"}\n'
        b"\xff\xfe not utf-8\n"
        b'{"id": "c", "text": "witch witch garden"}\n'
        b'{"id": "d", "text": "clock clock winter"}\n'
    )
    preview = service.preview_import(GUILD, data)
    assert [r.id for r in preview.records] == ["a", "d"]
    assert [e.line for e in preview.errors] == [2, 3, 4]
    assert "too close" in preview.errors[2].message
    with world.session() as session:
        assert session.query(Prompt).filter(Prompt.guild_id == GUILD).count() == 0
    written = service.commit_import(preview, "u", "test")
    assert (written.added, written.updated) == (2, 0)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x00\x01binary\x00", "binary"),
        (b"x" * (2 * 1024 * 1024 + 1), "at most"),
        (b'{"id": "1", "text": "t"}\n' * (MAX_IMPORT_LINES + 1), "lines"),
    ],
)
def test_files_refused_as_a_whole(world: Database, tmp_path: Path, data: bytes, why: str) -> None:
    with pytest.raises(GuildPromptError, match=why):
        make(world, tmp_path).preview_import(GUILD, data)


def test_a_submission_is_approved_once_and_edits_do_not_cross(
    world: Database, tmp_path: Path
) -> None:
    service = make(world, tmp_path, open_submissions=1)
    submitted = service.submit(GUILD, "member", record(service, "x", "mirror mirror letter"))
    with pytest.raises(GuildPromptError, match="limit is 1"):
        service.submit(GUILD, "member", record(service, "x", "desert desert ocean"))
    edit = record(service, "x", "mirror mirror letter, edited")
    assert service.edit(submitted.id, GUILD, submitted.revision, edit).done
    stale = service.edit(submitted.id, GUILD, submitted.revision, edit)
    assert not stale.done and "edited it meanwhile" in stale.message
    assert not service.approve(submitted.id, OTHER, "mod").done  # not this server's
    first = service.approve(submitted.id, GUILD, "mod")
    second = service.approve(submitted.id, GUILD, "mod2")
    assert first.done and not second.done and "already approved" in second.message
    with world.session() as session:
        [row] = session.query(Prompt).filter(Prompt.guild_id == GUILD).all()
        assert row.text == "mirror mirror letter, edited" and row.added_by == "member"
    assert not service.reject(submitted.id, GUILD, "mod").done


def test_removing_a_prompt_with_votes_keeps_them_and_never_serves_it(
    world: Database, tmp_path: Path
) -> None:
    service = make(world, tmp_path)
    service.add(GUILD, "u", record(service, "1", "storm storm forest"))
    prompts = PromptService(world, service.pool, scopes=service.scope_for)
    served = prompts.serve("u", "storm forest", count=1, guild_id=GUILD)
    key = guild_prompt_key(GUILD, "1")
    assert served.results[0].prompt.id == key
    prompts.attach_message(served.results[0].result_id, "m1", "c1")
    prompts.record_reaction("m1", "voter", "👍", True)
    service.remove(GUILD, "1")
    assert key not in search(service, GUILD, "storm forest")
    with world.session() as session:
        assert session.query(Vote).count() == 1 and session.get(Prompt, key) is not None


def test_another_process_finds_the_prompt_at_its_next_refresh_encoding_only_it(
    world: Database, tmp_path: Path
) -> None:
    writer, reader = make(world, tmp_path), make(world, tmp_path / "other")
    engine_before = reader.pool.serving_engine()
    writer.add(GUILD, "u", record(writer, "1", "train train clock"))
    assert reader.pool.update_corpus() == 1  # one prompt embedded, the corpus untouched
    engine_after = reader.pool.serving_engine()
    assert engine_after is not engine_before and len(engine_after) == len(engine_before) + 1
    assert search(reader, GUILD, "train clock")[0] == guild_prompt_key(GUILD, "1")
    assert reader.pool.update_corpus() == 0


def test_own_prompts_only(world: Database, tmp_path: Path) -> None:
    from storage.repositories.guild_prompts import CurationSettings

    service = make(world, tmp_path)
    service.add(GUILD, "u", record(service, "1", "winter winter garden"))
    service.set_curation(GUILD, CurationSettings(own_prompts_only=True), "admin")
    assert search(service, GUILD, "dragon castle") == [guild_prompt_key(GUILD, "1")]


def test_a_servers_prompt_keeps_its_rating_and_the_ceiling_applies(
    world: Database, tmp_path: Path
) -> None:
    service = make(world, tmp_path)
    mature = service.record_from_fields("1", "", "ocean ocean desert", "", "", "Mature")
    service.add(GUILD, "u", mature)
    assert guild_prompt_key(GUILD, "1") not in search(service, GUILD, "ocean desert")  # teen
    assert json.loads(service.export(GUILD))["rating"] == "mature"
    with pytest.raises(GuildPromptError, match="rating"):
        service.record_from_fields("2", "", "text", "", "", "spicy")


def test_two_curators_confirming_imports_of_one_id_the_last_commit_wins(
    world: Database, tmp_path: Path
) -> None:
    service = make(world, tmp_path)
    first = service.preview_import(GUILD, b'{"id": "p", "text": "comet comet harbor"}\n')
    second = service.preview_import(GUILD, b'{"id": "p", "text": "violin violin cellar"}\n')
    assert first.updates == second.updates == 0  # both previews saw a new id
    assert service.commit_import(first, "a", "test") == Written(1, 0, 0)
    assert service.commit_import(second, "b", "test") == Written(0, 1, 0)  # told it replaced
    with world.session() as session:
        [row] = session.query(Prompt).filter(Prompt.guild_id == GUILD).all()
        assert row.text == "violin violin cellar"
    assert search(service, GUILD, "violin cellar")[0] == guild_prompt_key(GUILD, "p")
    assert guild_prompt_key(GUILD, "p") not in search(service, GUILD, "comet harbor")


def test_a_write_that_loses_the_race_for_a_new_id_is_retried_as_an_update(
    world: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What PostgreSQL does when two curators write the same new id at once: both see no
    row, the second INSERT fails on the key. The import is retried and wins; an add (which
    never replaces) is refused with a clear message instead."""
    service = make(world, tmp_path)
    real = repo.write_guild_prompts
    raced: list[str] = []

    def first_loses(session: Session, guild_id: str, records: list[PromptRecord], *a: object):  # type: ignore[no-untyped-def]
        if not raced:
            raced.append(records[0].id)
            with world.session() as other:  # the other curator commits first
                real(other, guild_id, [replace(records[0], text="other other text")], "b", "t", T0)
            raise repo.GuildPromptIdTaken("duplicate key value violates unique constraint")
        return real(session, guild_id, records, *a)  # type: ignore[arg-type]

    monkeypatch.setattr(repo, "write_guild_prompts", first_loses)
    preview = service.preview_import(GUILD, b'{"id": "p", "text": "lantern lantern moor"}\n')
    assert service.commit_import(preview, "a", "test") == Written(0, 1, 0)
    with world.session() as session:
        assert repo.get_guild_prompt(session, GUILD, "p").text == "lantern lantern moor"  # type: ignore[union-attr]
    raced.clear()
    with pytest.raises(GuildPromptError, match="just took that id"):
        service.add(GUILD, "a", record(service, "q", "glacier glacier choir"))
