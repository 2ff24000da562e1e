"""What is embedded for a prompt.

``Title. Genres: a, b. Themes: x, y. Text`` — the tags go next to the text because on held-out
queries the base model's NDCG@5 rose from about 0.50 (title+text) to about 0.71 with them: users
type genre and theme words that the prompt text itself often avoids.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def document_text(prompt: PromptLike) -> str:
    parts = []
    if prompt.title:
        parts.append(f"{prompt.title}.")
    if prompt.genres:
        parts.append(f"Genres: {', '.join(prompt.genres)}.")
    if prompt.themes:
        parts.append(f"Themes: {', '.join(prompt.themes)}.")
    parts.append(prompt.text)
    return " ".join(parts)
