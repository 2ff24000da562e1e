"""Importing into the database: canonical tags, updates by id, all-or-nothing transactions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval import corpus
from storage.database import Database
from storage.repositories.prompts import count_prompts, get_prompt


def write(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_import_maps_synonyms_and_updates_by_id(db: Database, tmp_path: Path) -> None:
    first = write(
        tmp_path / "a.jsonl",
        [
            {"id": "a", "text": "Dragons.", "genres": ["sci-fi", "Spooky"], "themes": ["payback"]},
            {"id": "b", "text": "Ghosts.", "genres": ["Quilting"]},
            "{broken",
        ],
    )
    report = corpus.import_prompt_file(db, first)
    assert (report.counts.added, len(report.errors), report.ok) == (2, 1, False)
    with db.session() as s:
        a = get_prompt(s, "a")
        assert a.genres == ["Science Fiction", "Horror"] and a.themes == ["Revenge"]
        assert get_prompt(s, "b").genres == ["Quilting"]  # unknown tags are kept as given
    second = write(tmp_path / "b.jsonl", [{"id": "a", "text": "Dragons, revised."}])
    report = corpus.import_prompt_file(db, second)
    assert (report.counts.updated, report.counts.added, report.ok) == (1, 0, True)
    with db.session() as s:
        assert get_prompt(s, "a").text == "Dragons, revised."
        assert count_prompts(s) == 2


def test_a_failure_mid_import_writes_nothing(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "a.jsonl", [{"id": f"p{i}", "text": f"t{i}"} for i in range(5)])
    real = corpus.upsert_prompts

    def upsert_then_crash(session, records, source, now):  # type: ignore[no-untyped-def]
        real(session, records, source, now)
        raise RuntimeError("disk full")

    monkeypatch.setattr(corpus, "upsert_prompts", upsert_then_crash)
    with pytest.raises(RuntimeError):
        corpus.import_prompt_file(db, path)
    with db.session() as s:
        assert count_prompts(s) == 0
