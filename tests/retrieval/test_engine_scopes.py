"""Scopes and incremental updates of the search engine, on a stand-in encoder (fast): a
server sees the shared corpus and its own prompts, never another's; an update encodes only
what changed and gives the same vectors a full build would."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from retrieval.corpus_view import CorpusPrompt
from retrieval.documents import document_text
from retrieval.engine import Scope, SearchEngine
from retrieval.evaluation import new_prompts_ranker
from retrieval.model_registry import ModelRef
from tests.helpers.encoders import TextHashEncoder


def prompt(
    pid: str, text: str, guild: str | None = None, genres: list[str] | None = None
) -> CorpusPrompt:
    return CorpusPrompt(
        pid, pid.upper(), text, genres or ["Fantasy"], [], f"h-{pid}-{text}", guild_id=guild
    )


def engine_of(prompts: list[CorpusPrompt], encoder: TextHashEncoder) -> SearchEngine:
    matrix = encoder.encode([document_text(p) for p in prompts])
    return SearchEngine(ModelRef("test", Path(".")), encoder, prompts, matrix)  # type: ignore[arg-type]


CORPUS = [
    prompt("s1", "shared one"),
    prompt("s2", "shared two"),
    prompt("a1", "alpha's own", "A"),
    prompt("b1", "beta's own", "B"),
]


def test_a_server_sees_shared_and_its_own_prompts_only() -> None:
    engine = engine_of(CORPUS, TextHashEncoder())
    ids = lambda scope: {h.prompt_id for h in engine.search("anything", 10, scope=scope)}  # noqa: E731
    assert ids(Scope("A")) == {"s1", "s2", "a1"}
    assert ids(Scope("B")) == {"s1", "s2", "b1"}
    assert ids(Scope(None)) == {"s1", "s2"}  # a DM: shared only
    assert ids(Scope("A", own_only=True)) == {"a1"}
    assert ids(Scope("C", own_only=True)) == set()
    assert ids(Scope("A", excluded=frozenset({"s1"}))) == {"s2", "a1"}


def test_an_exact_copy_is_the_most_similar_in_scope_only() -> None:
    encoder = TextHashEncoder()
    engine = engine_of(CORPUS, encoder)
    beta = CORPUS[3]
    assert engine.most_similar(document_text(beta), Scope("A")).score < 0.95  # type: ignore[union-attr]
    hit = engine.most_similar(document_text(beta), Scope("B"))
    assert hit is not None and hit.prompt_id == "b1" and hit.score > 0.999


def test_with_changes_encodes_only_what_changed_and_matches_a_full_build() -> None:
    encoder = TextHashEncoder()
    engine = engine_of(CORPUS, encoder)
    encoder.encoded.clear()
    added, edited = prompt("a2", "alpha's second", "A"), prompt("s2", "shared two, edited")
    updated = engine.with_changes([added, edited], removed={"b1"})
    assert encoder.encoded == [document_text(added), document_text(edited)]
    assert {p.id for p in updated.prompts} == {"s1", "s2", "a1", "a2"}
    assert engine.has("b1") and not updated.has("b1")  # the old engine is left as it was
    full = engine_of(updated.prompts, TextHashEncoder())
    assert np.allclose(full.matrix, updated.matrix)
    assert updated.corpus_fingerprint != engine.corpus_fingerprint


def test_new_prompts_ranker_searches_them_beside_the_shared_corpus() -> None:
    encoder = TextHashEncoder()
    shared = CORPUS[:2]
    new = [prompt("n1", "brand new"), prompt("n2", "brand new too")]
    rank = new_prompts_ranker(engine_of(shared, encoder), new)
    [ranked] = rank([document_text(new[0]).lower()], 10)
    assert set(ranked) == {"s1", "s2", "n1", "n2"}
