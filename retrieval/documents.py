"""What is embedded for a prompt, in one of a few named document formats.

The text a prompt is embedded as moves the untuned base model more than anything else we
tried: on an independent held-out set, base all-MiniLM-L6-v2 scored NDCG@5 0.59 with
``Title. Genres: a, b. Themes: x, y. text`` but about 0.70 with the tags before the title,
while a fine-tuned model scored about the same in each. So the format is a named choice,
measured on the *train* split only (``python -m bench.document_formats``, docs/results.md):
:data:`DEFAULT_FORMAT` (what is searched) is the winner there for the base model, and
:data:`TRAINING_FORMAT` (what fine-tuning embeds as positives) the winner for a fine-tune.
Tags stay in every format because users type genre and theme words that the prompt text
itself often avoids.

The format is part of the embedding cache's key (``retrieval.engine``), so switching it never
serves vectors computed for another text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol


class PromptLike(Protocol):
    """Read-only members, so frozen dataclasses such as CorpusPrompt qualify."""

    @property
    def title(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def genres(self) -> Sequence[str]: ...
    @property
    def themes(self) -> Sequence[str]: ...


def _sentence(text: str) -> str:
    return f"{text}." if text else ""


def _labelled_tags(prompt: PromptLike) -> list[str]:
    parts = []
    if prompt.genres:
        parts.append(f"Genres: {', '.join(prompt.genres)}.")
    if prompt.themes:
        parts.append(f"Themes: {', '.join(prompt.themes)}.")
    return parts


def _bare_tags(prompt: PromptLike) -> str:
    groups = [", ".join(g) for g in (prompt.genres, prompt.themes) if g]
    return _sentence("; ".join(groups))


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def title_labels(prompt: PromptLike) -> str:
    """``Title. Genres: a, b. Themes: x, y. text``: the default until formats were chosen on the
    train split, and still the text training positives use."""
    return _join(_sentence(prompt.title), *_labelled_tags(prompt), prompt.text)


def labels_title(prompt: PromptLike) -> str:
    """``Genres: a, b. Themes: x, y. Title. text``."""
    return _join(*_labelled_tags(prompt), _sentence(prompt.title), prompt.text)


def tags_title(prompt: PromptLike) -> str:
    """``a, b; x, y. Title. text``: the tags first, without labels."""
    return _join(_bare_tags(prompt), _sentence(prompt.title), prompt.text)


def tags_text(prompt: PromptLike) -> str:
    """``a, b; x, y. text``: no title (titles are often metaphors the queries never use)."""
    return _join(_bare_tags(prompt), prompt.text)


def title_text_labels(prompt: PromptLike) -> str:
    """``Title. text Genres: a, b. Themes: x, y.``: the tags last."""
    return _join(_sentence(prompt.title), prompt.text, *_labelled_tags(prompt))


FORMATS: dict[str, Callable[[PromptLike], str]] = {
    "title_labels": title_labels,
    "labels_title": labels_title,
    "tags_title": tags_title,
    "tags_text": tags_text,
    "title_text_labels": title_text_labels,
}
LEGACY_FORMAT = "title_labels"
# what is searched: the untuned base scored best with it on the train split
DEFAULT_FORMAT = "tags_title"
# what fine-tuning pairs embed as positives: a 1,000-pair fine-tune trained on title_labels
# documents beat one trained on tags_title in every setting (docs/results.md), and it then
# scores best searching tags_title documents
TRAINING_FORMAT = "title_labels"


def document_text(prompt: PromptLike, fmt: str = DEFAULT_FORMAT) -> str:
    try:
        render = FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown document format {fmt!r}; known: {', '.join(FORMATS)}") from None
    return render(prompt)
