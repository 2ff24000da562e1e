"""Training pairs built from the tagged corpus: keyword queries -> the prompt they describe.

Queries are made the way users type them (short, lowercase), from each training prompt's tags
and words:

- ``genre``: a genre's name or a synonym users type ("sci-fi", "spooky").
- ``theme``: a theme's name or synonym ("payback" for Revenge).
- ``genre_theme``: the two together ("horror grief", "sci-fi loneliness").
- ``keyword``: content words of the text, alone or after a genre ("fantasy dragon").
- ``topic_synonym``: a topic word in the text replaced by a synonym users type ("wyrm" for a
  dragon prompt), from ``data/vocabulary.json``.
- ``phrasing``: the same facets inside a phrase ("a story about grief", "write about trains").
- ``judged``: training-split queries from ``data/eval/queries.jsonl`` with their grade-2 prompts.
- ``typo``: an anchor above with one letter dropped, doubled or swapped
  (:func:`with_typo_copies`, added on request).

Held-out prompts never appear (as positive or negative), and no anchor equals a test query
after normalization: :func:`assert_no_leak` checks both and the tests call it.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from retrieval.corpus_view import CorpusPrompt
from retrieval.eval_sets import JudgedQuery
from retrieval.query_noise import misspelled
from retrieval.vocabulary import Vocabulary, normalize_query

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "every",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "let",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "write",
        "story",
        "begin",
        "tell",
        "someone",
        "something",
        "one",
        "two",
        "three",
        "day",
        "days",
        "time",
        "year",
        "years",
        "way",
        "ever",
        "never",
        "still",
        "always",
        "thing",
        "things",
        "first",
        "last",
        "new",
        "old",
        "another",
        "makes",
        "make",
        "made",
        "find",
        "finds",
        "found",
        "knows",
        "know",
        "every",
        "each",
        "describe",
        "piece",
        "scene",
        "prompt",
        "word",
        "words",
        "without",
        "only",
        "whose",
        "into",
        "onto",
        "upon",
        "toward",
        "towards",
        "instead",
        "years",
        "later",
        "yet",
        "even",
        "though",
        "across",
        "around",
        "back",
        "away",
    ]
)
WORD = re.compile(r"[a-z][a-z-]{3,}")


@dataclass(frozen=True)
class Pair:
    anchor: str
    positive_id: str
    source: str
    negative_id: str | None = None


def with_typo_copies(
    pairs: Sequence[Pair], share: float, seed: int, forbidden: frozenset[str] = frozenset()
) -> list[Pair]:
    """``pairs`` plus a misspelled copy of the anchor of about ``share`` of them (source
    ``typo``). Copies are added, not swapped in: the clean anchor keeps its pair; judged
    queries get none. A copy that happens to spell a judged noisy query (``forbidden``,
    normalized) is dropped, so no evaluated text is trained on. Measured: it does not teach
    the model typos (the query-side layer does that); see docs/results.md."""
    rng = random.Random(seed)
    copies = []
    for pair in pairs:
        # judged queries are real ones, and benchmarks that hold them out filter by source
        if pair.source == "judged" or rng.random() >= share:
            continue
        anchor = misspelled(pair.anchor, rng)
        if anchor and normalize_query(anchor) not in forbidden:
            copies.append(Pair(anchor, pair.positive_id, "typo", pair.negative_id))
    return [*pairs, *copies]


def content_words(text: str) -> list[str]:
    words = WORD.findall(re.sub(r"\w+'\w+", " ", text.lower()))  # drop contractions
    return [
        w.strip("-")
        for w in words
        if w not in STOPWORDS and len(w.strip("-")) >= 4 and not _adverb(w)
    ]


def _adverb(word: str) -> bool:
    """slowly, quietly — but not family, silly, early."""
    return word.endswith("ly") and not word.endswith("ily") and len(word) >= 6


def document_frequencies(prompts: Sequence[CorpusPrompt]) -> dict[str, int]:
    df: dict[str, int] = defaultdict(int)
    for prompt in prompts:
        for word in set(content_words(f"{prompt.title} {prompt.text}")):
            df[word] += 1
    return df


def _names(canonical: str, synonyms: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([normalize_query(canonical), *map(normalize_query, synonyms)]))


class CorpusPairBuilder:
    def __init__(self, vocabulary: Vocabulary, seed: int = 13, per_prompt: int = 8) -> None:
        self.vocabulary = vocabulary
        self.rng = random.Random(seed)
        self.per_prompt = per_prompt
        self.df: dict[str, int] = {}
        self._topic_patterns = {
            topic: re.compile(r"\b" + re.escape(topic) + r"s?\b") for topic in vocabulary.topics
        }

    def genre_names(self, genre: str) -> list[str]:
        return _names(genre, self.vocabulary.genres.get(genre, []))

    def theme_names(self, theme: str) -> list[str]:
        return _names(theme, self.vocabulary.themes.get(theme, []))

    def keywords(self, prompt: CorpusPrompt) -> list[str]:
        """Words a user might search this prompt by: title words first, then words of the text
        that a few other prompts share (not one-offs, not near-stopwords)."""
        title = content_words(prompt.title)
        text = content_words(prompt.text)
        if self.df:
            ceiling = max(3, len(self.df) // 200)
            text = [w for w in text if 2 <= self.df.get(w, 0) <= ceiling]
        return list(dict.fromkeys(title + text))

    def queries_for(self, prompt: CorpusPrompt) -> list[tuple[str, str]]:
        """(query, kind) candidates for one prompt, sampled down to ``per_prompt``."""
        rng = self.rng
        genres = [rng.choice(self.genre_names(g)) for g in prompt.genres]
        themes = [rng.choice(self.theme_names(t)) for t in prompt.themes]
        keywords = self.keywords(prompt)
        out: list[tuple[str, str]] = []
        out += [(g, "genre") for g in genres]
        out += [(t, "theme") for t in themes]
        if genres and themes:
            out.append((f"{rng.choice(genres)} {rng.choice(themes)}", "genre_theme"))
        if keywords:
            picks = rng.sample(keywords, k=min(3, len(keywords)))
            out.append((picks[0], "keyword"))
            if genres:
                out.append((f"{rng.choice(genres)} {picks[-1]}", "keyword"))
            if len(picks) > 1:
                out.append((f"{picks[0]} {picks[1]}", "keyword"))
        lowered = prompt.text.lower()
        for topic, pattern in self._topic_patterns.items():
            if pattern.search(lowered) and self.vocabulary.topics[topic]:
                synonym = rng.choice(self.vocabulary.topics[topic])
                out.append((synonym, "topic_synonym"))
                if genres:
                    out.append((f"{rng.choice(genres)} {synonym}", "topic_synonym"))
        if self.vocabulary.phrasings and (themes or keywords):
            facet = rng.choice(themes or keywords)
            out.append((rng.choice(self.vocabulary.phrasings).format(x=facet), "phrasing"))
        unique = list({normalize_query(q): (normalize_query(q), k) for q, k in out if q}.values())
        rng.shuffle(unique)
        return unique[: self.per_prompt]

    def build(
        self,
        prompts: Sequence[CorpusPrompt],
        heldout: frozenset[str],
        forbidden_anchors: frozenset[str],
        judged_train: Iterable[JudgedQuery] = (),
    ) -> list[Pair]:
        pairs: list[Pair] = []
        training = [p for p in prompts if p.id not in heldout]
        self.df = document_frequencies(training)
        for prompt in training:
            for query, kind in self.queries_for(prompt):
                if query not in forbidden_anchors:
                    pairs.append(Pair(query, prompt.id, kind))
        known = {p.id for p in training}
        for judged in judged_train:
            anchor = judged.normalized
            if anchor in forbidden_anchors:
                continue
            for prompt_id, grade in judged.relevant.items():
                if grade >= 2 and prompt_id in known:
                    pairs.append(Pair(anchor, prompt_id, "judged"))
        return pairs


def tag_relevant(query: str, prompt: CorpusPrompt, builder: CorpusPairBuilder) -> bool:
    """Could ``prompt`` plausibly answer ``query``? Used to keep mined negatives honest."""
    words = set(query.split())
    names = [n for g in prompt.genres for n in builder.genre_names(g)]
    names += [n for t in prompt.themes for n in builder.theme_names(t)]
    if any(n in query for n in names if " " in n) or words & set(names):
        return True
    return bool(words & set(content_words(f"{prompt.title} {prompt.text}")))


def mine_hard_negatives(
    pairs: Sequence[Pair],
    prompts: Sequence[CorpusPrompt],
    scores_for: dict[str, list[str]],
    builder: CorpusPairBuilder,
    range_min: int = 10,
    range_max: int = 50,
    seed: int = 13,
) -> list[Pair]:
    """Give each pair a negative from ranks ``range_min``..``range_max`` of the base model.

    The top ranks are skipped (likely unlabeled positives), and every candidate is checked not
    to be relevant by tags or shared words: a false negative teaches the model the wrong thing.
    ``scores_for`` maps an anchor to the base model's ranked prompt ids (training prompts only).
    """
    rng = random.Random(seed)
    by_id = {p.id: p for p in prompts}
    positives: dict[str, set[str]] = defaultdict(set)
    for pair in pairs:
        positives[pair.anchor].add(pair.positive_id)
    out = []
    for pair in pairs:
        ranked = scores_for.get(pair.anchor, [])[range_min:range_max]
        candidates = [
            pid
            for pid in ranked
            if pid not in positives[pair.anchor]
            and not tag_relevant(pair.anchor, by_id[pid], builder)
        ]
        negative = rng.choice(candidates) if candidates else None
        out.append(Pair(pair.anchor, pair.positive_id, pair.source, negative))
    return out


def assert_no_leak(
    pairs: Iterable[Pair], heldout: frozenset[str], forbidden_anchors: frozenset[str]
) -> None:
    for pair in pairs:
        if pair.positive_id in heldout or (pair.negative_id and pair.negative_id in heldout):
            raise AssertionError(f"held-out prompt in training pair: {pair}")
        if pair.anchor in forbidden_anchors:
            raise AssertionError(f"test query used as anchor: {pair.anchor!r}")
