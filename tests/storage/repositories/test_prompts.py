"""The prompts repository: upserts by id and the corpus fingerprint serving watches."""

from __future__ import annotations

from datetime import timedelta

from storage.database import Database
from storage.prompt_file import PromptRecord
from storage.ratings import Rating
from storage.repositories import prompts
from tests.helpers.storage import T0, add_prompts


def test_prompt_upsert_round_trip_and_fingerprint(db: Database) -> None:
    add_prompts(db)
    with db.session() as s:
        before = prompts.corpus_fingerprint(s)
        assert [p.id for p in prompts.list_prompts(s)] == ["p0", "p1", "p2"]
        assert prompts.get_prompt(s, "p1").themes == ["Grief", "Hope"]
        genres, themes = prompts.tag_counts(s)
        assert genres == {"Fantasy": 3} and themes["Hope"] == 3
    with db.session() as s:
        counts = prompts.upsert_prompts(
            s,
            [
                PromptRecord(id="p1", text="changed"),
                PromptRecord(
                    id="p0", text="prompt text 0", title="T0", genres=["Fantasy"], themes=["Hope"]
                ),
                PromptRecord(id="p9", text="new"),
            ],
            source="test",
            now=T0 + timedelta(1),
        )
    assert (counts.added, counts.updated, counts.unchanged) == (1, 1, 1)
    with db.session() as s:
        assert prompts.get_prompt(s, "p1").text == "changed"
        assert prompts.corpus_fingerprint(s) != before
        assert prompts.count_prompts(s) == 4


def test_re_rating_a_prompt_updates_it_and_changes_the_fingerprint(db: Database) -> None:
    add_prompts(db)
    with db.session() as s:
        before = prompts.corpus_fingerprint(s)
        assert prompts.get_prompt(s, "p1").rating == "general"
        original = prompts.get_prompt(s, "p1")
        record = PromptRecord(
            id="p1",
            text=original.text,
            title=original.title,
            genres=list(original.genres),
            themes=list(original.themes),
            rating=Rating.MATURE,
        )
        hash_before = original.content_hash
    with db.session() as s:
        counts = prompts.upsert_prompts(s, [record], source="test", now=T0 + timedelta(1))
    assert (counts.added, counts.updated, counts.unchanged) == (0, 1, 0)
    with db.session() as s:
        row = prompts.get_prompt(s, "p1")
        assert (row.rating, row.content_hash) == ("mature", hash_before)
        assert prompts.corpus_fingerprint(s) != before
