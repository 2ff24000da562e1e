"""The theme-match second stage: which query phrases name a theme, and how hits are lifted."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from retrieval.corpus import SHIPPED_CORPUS
from retrieval.corpus_view import CorpusPrompt, load_corpus_from_file
from retrieval.engine import SearchEngine
from retrieval.model_registry import ModelRef
from retrieval.theme_match import RERANK_DEPTH, ThemeMatcher, fold_plural
from retrieval.vocabulary import default_vocabulary
from tests.helpers.encoders import TextHashEncoder


@pytest.fixture(scope="module")
def matcher() -> ThemeMatcher:
    return ThemeMatcher.from_corpus([["Heist Crews"]], default_vocabulary())


def test_theme_names_and_the_words_users_type_for_them_are_found(matcher: ThemeMatcher) -> None:
    assert matcher.named_themes("redemption") == {"Redemption"}
    assert matcher.named_themes("a story about chosen family") == {"Found Family"}
    assert matcher.named_themes("grief and making amends") == {"Grief", "Redemption"}


def test_only_whole_words_match(matcher: ThemeMatcher) -> None:
    assert matcher.named_themes("griefstricken dragons") == frozenset()
    assert matcher.named_themes("fantasy dragons") == frozenset()


def test_plurals_name_the_same_theme_as_their_singular(matcher: ThemeMatcher) -> None:
    assert matcher.named_themes("mortalities") == matcher.named_themes("mortality") != set()
    assert matcher.named_themes("crisis of faiths") == {"Faith"}
    assert matcher.named_themes("heist crews in space") == {"Heist Crews"}


def test_only_the_query_is_folded_so_curated_plural_phrases_stay_plural(
    matcher: ThemeMatcher,
) -> None:
    assert matcher.named_themes("heist crew in space") == frozenset()


@pytest.mark.parametrize(
    ("word", "folded"),
    [
        ("dragons", "dragon"),
        ("mysteries", "mystery"),
        ("witches", "witch"),
        ("foxes", "fox"),
        ("kisses", "kiss"),
        ("loss", "loss"),
        ("virus", "virus"),
        ("crisis", "crisis"),
        ("gas", "gas"),
        ("ties", "tie"),
    ],
)
def test_fold_plural(word: str, folded: str) -> None:
    assert fold_plural(word) == folded


def test_a_servers_own_theme_tag_matches_by_its_name(matcher: ThemeMatcher) -> None:
    assert matcher.named_themes("heist crews in space") == {"Heist Crews"}


def test_the_bonus_is_the_share_of_named_themes_a_prompt_carries(matcher: ThemeMatcher) -> None:
    themes = [frozenset(), frozenset({"Grief"}), frozenset({"Grief", "Redemption"})]
    ranked = [(0, 0.9), (1, 0.8), (2, 0.7)]
    lifted = matcher.rerank("grief and redemption", ranked, themes, weight=0.3)
    assert [row for row, _ in lifted] == [2, 1, 0]
    assert [score for _, score in lifted] == pytest.approx([1.0, 0.95, 0.9])


def test_a_query_naming_no_theme_keeps_the_dense_order(matcher: ThemeMatcher) -> None:
    themes = [frozenset({"Grief"}), frozenset()]
    ranked = [(1, 0.9), (0, 0.5)]
    assert matcher.rerank("haunted lighthouse", ranked, themes, weight=0.3) == ranked
    assert matcher.rerank("grief", ranked, themes, weight=0.0) == ranked


def test_equal_scores_keep_the_dense_order(matcher: ThemeMatcher) -> None:
    themes = [frozenset({"Grief"})] * 3
    ranked = [(2, 0.5), (0, 0.5), (1, 0.5)]
    assert [row for row, _ in matcher.rerank("grief", ranked, themes, 0.2)] == [2, 0, 1]


def test_the_engine_lifts_theme_prompts_from_its_dense_top_30(tmp_path: Path) -> None:
    prompts: list[CorpusPrompt] = load_corpus_from_file(SHIPPED_CORPUS)[:200]
    model = ModelRef("m", tmp_path / "no-model")
    encoder = TextHashEncoder()  # dense order unrelated to themes, so any lift is the stage's
    dense = SearchEngine.build(model, prompts, tmp_path, encoder)
    lifted = SearchEngine.build(model, prompts, tmp_path, encoder, theme_weight=1.0)

    dense_top = dense.search("Redemption!", RERANK_DEPTH)
    with_theme = [h.prompt_id for h in dense_top if "Redemption" in h.prompt.themes]
    assert 0 < len(with_theme) < 5
    assert dense_top[0].prompt_id not in with_theme  # so the stage has something to move
    hits = lifted.search("Redemption!", 5)
    assert [h.prompt_id for h in hits[: len(with_theme)]] == with_theme
    assert hits[0].score == pytest.approx(
        next(h.score for h in dense_top if h.prompt_id == with_theme[0]) + 1.0
    )


def test_changed_engines_keep_the_stage_and_learn_new_theme_tags(tmp_path: Path) -> None:
    prompts = load_corpus_from_file(SHIPPED_CORPUS)[:20]
    model = ModelRef("m", tmp_path / "no-model")
    engine = SearchEngine.build(model, prompts, tmp_path, TextHashEncoder(), theme_weight=0.5)
    own = replace(prompts[0], id="own-1", themes=["Lighthouse Vigils"], guild_id="g1")
    changed = engine.with_changes([own], set())
    assert changed.theme_weight == 0.5
    assert changed.search("lighthouse vigils", 1)[0].prompt_id == "own-1"
