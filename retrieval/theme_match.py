"""Second stage: lift the dense top hits whose theme tags the query names.

Why a second stage at all: the corpus's writers left genre and theme words out of most texts,
so a query that names a theme ("redemption", "chosen family") is matched against a prompt
whose text shows the theme without saying it. The tags say it, and the dense model reads them
in the document text, but only as a few words among a hundred. Adding a fixed bonus for each
theme the query names and the prompt carries, to the dense top ``RERANK_DEPTH``, measured
+0.051 NDCG@5 on held-out prompts for the base model with no slice below it
(docs/results.md, "Theme match"); the same bonus for *genres* lost on held-out prompts
(genres are already the first words of every document and the dense score has them), so
genres are not matched.

What counts as naming a theme: a run of up to ``MAX_PHRASE_WORDS`` whole words of the
normalized (and typo-corrected) query, longest first, equal to a theme's name or one of the
words users type for it (``data/vocabulary.json``), or to any theme a prompt in the engine
carries (a server's own tags match by their own name). A query phrase that matches nothing
as typed is tried once more with its plurals made singular (``fold_plural``: "mortalities",
"crisis of faiths", "roads trip"): plurals broke the match for a tenth of the noisy held-out
queries. Only the query is folded: folding the phrase lists too made "robots" name Artificial
Intelligence for "sad robot" and "books" name Power of Stories for "picture book grandma",
and cost multi-facet queries 0.02 NDCG@5 (docs/results.md). The bonus is the share of the
named themes the prompt carries, times the weight, so a query naming two themes lifts a
prompt with both above one with either. Queries that name no theme keep the dense order.

Cost: a dictionary lookup per query n-gram and a set intersection per candidate; no model, no
torch (serving imports this).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from retrieval.vocabulary import Vocabulary, normalize_query

RERANK_DEPTH = 30  # dense hits the bonus may reorder (the weight was fit at this depth)
MAX_PHRASE_WORDS = 4  # "losing someone you love" is the longest phrase users type for one
SIBILANT_PLURALS = ("ches", "shes", "sses", "xes", "zes")  # witches, wishes, kisses, foxes
NOT_PLURALS = ("ss", "us", "is")  # loss, virus, crisis


def fold_plural(word: str) -> str:
    """A plural's singular, or the word: a light S-stemmer (Harman 1991) with -es dropped
    after a sibilant. It is only ever a second try, so a wrong fold ("chaos" -> "chao")
    finds nothing rather than something wrong."""
    if len(word) <= 3 or not word.endswith("s") or word.endswith(NOT_PLURALS):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(SIBILANT_PLURALS):
        return word[:-2]
    return word[:-1]


@dataclass(frozen=True)
class ThemeMatcher:
    """Query phrases -> the theme names prompts carry."""

    phrases: dict[str, str]  # normalized phrase -> theme name as stored on prompts

    @classmethod
    def from_corpus(cls, themes: Iterable[Iterable[str]], vocabulary: Vocabulary) -> ThemeMatcher:
        """The vocabulary's themes and synonyms, plus each theme a prompt carries."""
        phrases: dict[str, str] = {}
        for theme, synonyms in vocabulary.themes.items():
            for name in (theme, *synonyms):
                phrases.setdefault(normalize_query(name), theme)
        for prompt_themes in themes:
            for theme in prompt_themes:
                phrases.setdefault(normalize_query(theme), theme)
        phrases.pop("", None)
        return cls(phrases)

    def named_themes(self, normalized_query: str) -> frozenset[str]:
        """Longest phrase first, left to right, each word in one phrase at most: "chosen
        family" names Found Family, not Family as well."""
        words, found, start = normalized_query.split(), set(), 0
        while start < len(words):
            for n in range(min(MAX_PHRASE_WORDS, len(words) - start), 0, -1):
                if (theme := self.theme_of(words[start : start + n])) is not None:
                    found.add(theme)
                    start += n
                    break
            else:
                start += 1
        return frozenset(found)

    def theme_of(self, words: Sequence[str]) -> str | None:
        """The theme these words name as typed, else with their plurals made singular."""
        typed = " ".join(words)
        if typed in self.phrases:
            return self.phrases[typed]
        return self.phrases.get(" ".join(fold_plural(word) for word in words))

    def rerank(
        self,
        normalized_query: str,
        ranked: Sequence[tuple[int, float]],
        themes_of_row: Sequence[frozenset[str]],
        weight: float,
    ) -> list[tuple[int, float]]:
        """``ranked`` (row, dense score), best first, with the theme bonus added and re-sorted
        (ties keep the dense order)."""
        named = self.named_themes(normalized_query)
        if not named or weight == 0:
            return list(ranked)
        lifted = [
            (row, score + weight * len(named & themes_of_row[row]) / len(named))
            for row, score in ranked
        ]
        order = sorted(range(len(lifted)), key=lambda i: (-lifted[i][1], i))
        return [lifted[i] for i in order]
