"""The shipped corpus, vocabulary, judged queries and split meet their documented minimums."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from retrieval.corpus import SHIPPED_CORPUS
from retrieval.eval_sets import QUERIES_PATH, Split, load_queries
from retrieval.vocabulary import default_vocabulary, normalize_query
from storage.prompt_file import read_prompt_file
from storage.settings import DATA_DIR

SLICES = {"genre_topic", "theme", "synonym", "multi_facet", "nonfiction"}


@pytest.fixture(scope="module")
def records():  # type: ignore[no-untyped-def]
    read = read_prompt_file(SHIPPED_CORPUS)
    assert read.errors == []
    return read.records


def test_counts_and_coverage(records) -> None:  # type: ignore[no-untyped-def]
    assert len(records) >= 1200
    genres = Counter(g for r in records for g in r.genres)
    themes = Counter(t for r in records for t in r.themes)
    assert len(genres) >= 22
    assert min(genres.values()) >= 25, genres.most_common()[-3:]
    assert len(themes) >= 60
    required = {
        "Fantasy",
        "Science Fiction",
        "Horror",
        "Mystery",
        "Thriller",
        "Romance",
        "Historical Fiction",
        "Literary Fiction",
        "Humor",
        "Adventure",
        "Fairy Tale Retelling",
        "Dystopian",
        "Cyberpunk",
        "Western",
        "Children's",
        "Poetry",
        "Mythology",
        "Flash Fiction",
        "Memoir",
        "Personal Essay",
        "Nature Writing",
        "Travel Writing",
    }
    assert required <= set(genres)


def test_each_prompt_is_well_formed_and_uses_the_vocabulary(records) -> None:  # type: ignore[no-untyped-def]
    vocabulary = default_vocabulary()
    for r in records:
        assert r.title, r.id
        assert 20 <= len(r.text.split()) <= 90, r.id
        assert 1 <= len(r.genres) <= 2 and set(r.genres) <= set(vocabulary.genres), r.id
        assert 1 <= len(r.themes) <= 3 and set(r.themes) <= set(vocabulary.themes), r.id


def test_titles_unique(records) -> None:  # type: ignore[no-untyped-def]
    titles = Counter(r.title.lower() for r in records)
    assert [t for t, n in titles.items() if n > 1] == []


def test_many_prompts_do_not_name_their_genre_or_theme(records) -> None:  # type: ignore[no-untyped-def]
    vocabulary = default_vocabulary()

    def names_a_tag(r) -> bool:  # type: ignore[no-untyped-def]
        text = f" {normalize_query(r.text)} "
        names = [n for g in r.genres for n in [g, *vocabulary.genres[g]]]
        names += [n for t in r.themes for n in [t, *vocabulary.themes[t]]]
        return any(f" {normalize_query(n)} " in text for n in names)

    silent = sum(not names_a_tag(r) for r in records)
    assert silent / len(records) >= 0.5


def test_recurring_topics_span_genres(records) -> None:  # type: ignore[no-untyped-def]
    def genres_with(word: str) -> set[str]:
        return {g for r in records if word in r.text.lower() for g in r.genres}

    assert {"Fantasy", "Science Fiction", "Children's", "Memoir"} <= genres_with("dragon")
    assert {"Horror", "Humor", "Romance"} <= genres_with("ghost")
    assert len(genres_with("loop")) >= 3


def test_vocabulary_maps_what_users_type() -> None:
    v = default_vocabulary()
    assert v.canonical_genre("sci-fi") == v.canonical_genre("SciFi") == "Science Fiction"
    assert v.canonical_genre("spooky") == "Horror"
    assert v.canonical_genre("whodunit") == "Mystery"
    synonyms = Counter(
        name
        for table in (v.genres, v.themes)
        for canon, syns in table.items()
        for name in {normalize_query(s) for s in [canon, *syns]}
    )
    assert [s for s, n in synonyms.items() if n > 1] == []


@pytest.mark.slow
def test_no_near_duplicates_under_the_base_model(records, model_cache_dir: Path) -> None:  # type: ignore[no-untyped-def]
    from retrieval.engine_builder import load_encoder
    from retrieval.model_registry import resolve_model

    encoder = load_encoder(resolve_model("base", None), "onnx", model_cache_dir)
    vectors = encoder.encode([r.text for r in records], batch_size=64)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, 0)
    i, j = np.unravel_index(int(similarity.argmax()), similarity.shape)
    assert similarity[i, j] <= 0.95, (records[i].id, records[j].id)


def test_judged_queries(records) -> None:  # type: ignore[no-untyped-def]
    queries = load_queries(QUERIES_PATH)
    ids = {r.id for r in records}
    assert len(queries) >= 200
    assert len({q.qid for q in queries}) == len(queries)
    assert len({q.normalized for q in queries}) == len(queries)
    slices = Counter(q.slice for q in queries)
    assert set(slices) == SLICES and min(slices.values()) >= 40
    for q in queries:
        assert 1 <= len(q.query.split()) <= 6 and q.query == q.query.lower(), q.qid
        assert q.relevant and set(q.relevant) <= ids, q.qid
        assert set(q.relevant.values()) <= {1, 2}, q.qid


def test_split_is_fixed_and_leak_free(records) -> None:  # type: ignore[no-untyped-def]
    queries = load_queries(QUERIES_PATH)
    split = Split.load()
    raw = json.loads((DATA_DIR / "eval" / "split.json").read_text())
    assert raw["seed"] == 2026
    assert split.train_qids.isdisjoint(split.test_qids)
    assert split.train_qids | split.test_qids == {q.qid for q in queries}
    train_texts = {q.normalized for q in split.train_queries(queries)}
    assert train_texts.isdisjoint(split.test_anchors(queries))
    share = len(split.heldout_prompts) / len(records)
    assert 0.18 <= share <= 0.22
    judged_on_heldout = [
        q
        for q in split.test_queries(queries)
        if any(p in split.heldout_prompts for p in q.relevant)
    ]
    assert len(judged_on_heldout) >= 60


def test_every_shipped_prompt_is_rated_by_the_documented_rubric(records) -> None:  # type: ignore[no-untyped-def]
    """Each line of data/prompts.jsonl carries a rating, and it is the one
    data/rate_prompts.py's rubric gives (so the rubric in its docstring is what shipped)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("rate_prompts", DATA_DIR / "rate_prompts.py")
    assert spec is not None and spec.loader is not None
    rubric = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rubric)
    raw = [json.loads(line) for line in SHIPPED_CORPUS.read_text(encoding="utf-8").splitlines()]
    assert all("rating" in line for line in raw)
    assert [line["rating"] for line in raw] == [rubric.rating_of(line) for line in raw]
    ratings = Counter(r.rating.value for r in records)
    assert ratings["teen"] > 0 and ratings["general"] > ratings["teen"]
    assert ratings["mature"] == 0  # none of the shipped prompts qualifies (see the rubric)
