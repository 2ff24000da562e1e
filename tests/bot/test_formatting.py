"""Every embed the bot builds fits all of Discord's limits, also for worst-case prompts, checked
with the fake Discord's own validation of a message body."""

from __future__ import annotations

import discord
import pytest

from bot.formatting import EMBED_TOTAL_LIMIT, fit_embed, result_embed, unknown_genre
from retrieval.corpus_view import CorpusPrompt
from serving.prompt_service import ServedResult
from tests.fakediscord.validation import validate_embeds


def served(title: str, text: str, genres: list[str], themes: list[str]) -> ServedResult:
    prompt = CorpusPrompt("p", title, text, genres, themes, "hash")
    return ServedResult(
        result_id=1, rank=5, prompt=prompt, score=0.5, model_version="v" * 64, arm=None
    )


WORST_CASES = {
    "8,000-character text": served("T" * 200, "x" * 8000, ["g" * 64] * 10, ["t" * 64] * 10),
    "longest importable prompt": served("T" * 200, "x " * 2000, ["g" * 64] * 10, ["t" * 64] * 10),
    "oversized title and tags": served("T" * 5000, "short", ["g" * 900] * 40, ["t" * 900] * 40),
    "astral characters": served("🐉" * 300, "🐉" * 5000, ["🐉" * 64] * 10, []),
}


@pytest.mark.parametrize("case", list(WORST_CASES))
def test_result_embeds_fit_discord(case: str) -> None:
    embed = result_embed(WORST_CASES[case], total=5)
    validate_embeds([embed.to_dict()])  # type: ignore[list-item]
    assert len(embed) <= EMBED_TOTAL_LIMIT
    assert embed.footer.text and embed.footer.text.startswith("model " + "v" * 64 + " · 5 of 5")


def test_any_embed_is_cut_to_every_limit() -> None:
    embed = discord.Embed(title="T" * 999, description="D" * 9999)
    for i in range(40):
        embed.add_field(name=f"{i}" * 300, value="V" * 2000)
    embed.set_footer(text="F" * 3000)
    embed.set_author(name="A" * 999)
    fit_embed(embed)
    validate_embeds([embed.to_dict()])  # type: ignore[list-item]
    assert len(embed.fields) == 25


def test_an_embed_within_the_limits_is_unchanged() -> None:
    embed = result_embed(served("Hoard", "A dragon counts gold.", ["Fantasy"], ["Greed"]), 3)
    assert (embed.title, embed.description) == ("Hoard", "A dragon counts gold.")
    assert [(f.name, f.value) for f in embed.fields] == [("Genres", "Fantasy"), ("Themes", "Greed")]


def test_an_unknown_genre_is_quoted_literally_and_visibly() -> None:
    assert (
        unknown_genre("\x1b[2J") == "I don't know the genre “\\\\x1b[2J”; pick one from the list."
    )
    assert unknown_genre("**x** @here") == (
        "I don't know the genre “\\*\\*x\\*\\* @\u200bhere”; pick one from the list."
    )
    assert "“" + "g" * 49 + "…”" in unknown_genre("g" * 6000)
