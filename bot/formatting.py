"""What the bot's messages look like: result embeds, admin texts and short notices.

Kept apart from the cogs so the wording lives in one place and can be tested without
Discord. Nothing here pings anyone: callers send with ``NO_PINGS``.
"""

from __future__ import annotations

from typing import Any

import discord

from serving.prompt_service import ServedResult

NO_PINGS = discord.AllowedMentions.none()
RESULT_COLOUR = discord.Colour.from_rgb(88, 101, 242)
MESSAGE_LIMIT = 2000
FIELD_LIMIT = 1024

NO_CORPUS = (
    "No prompts are imported yet, so there is nothing to search. An admin can run "
    "`promptbot init` (or `promptbot import FILE`)."
)
MODEL_UNAVAILABLE = (
    "The prompt model could not be loaded just now, so nothing was recorded. "
    "Please try again later; admins can check `/model status`."
)
NOT_ADMIN = (
    "Only server managers (Manage Server) or members with the bot's admin role can manage models."
)
UNEXPECTED = "Something went wrong on my side and nothing was recorded. Please try again."
NO_RESULTS = "No prompts match those keywords{genre}. Try other words{hint}."


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def result_embed(result: ServedResult, total: int) -> discord.Embed:
    """One result as an embed; the footer names the model version that ranked it."""
    prompt = result.prompt
    embed = discord.Embed(
        title=_clip(prompt.title, 256), description=_clip(prompt.text, 4096), colour=RESULT_COLOUR
    )
    if prompt.genres:
        embed.add_field(name="Genres", value=_clip(", ".join(prompt.genres), FIELD_LIMIT))
    if prompt.themes:
        embed.add_field(name="Themes", value=_clip(", ".join(prompt.themes), FIELD_LIMIT))
    embed.set_footer(
        text=f"model {result.model_version} · {result.rank} of {total} · react 👍 or 👎 to teach me"
    )
    return embed


def no_results(genre: str | None) -> str:
    return NO_RESULTS.format(
        genre=f" in {genre}" if genre else "", hint=" or no genre" if genre else ""
    )


def unknown_genre(genre: str) -> str:
    return f"I don't know the genre “{_clip(genre, 50)}”; pick one from the list."


def cooldown_notice(retry_after: float, rate: int, per: float) -> str:
    return (
        f"You're asking faster than I can keep up ({rate} prompts per {per:g} s). "
        f"Please try again in {max(1, round(retry_after))} s."
    )


def status_text(info: dict[str, Any]) -> str:
    """``/model status``: the CLI's wording, in a code block so columns stay readable."""
    from bot.cli.model_commands import format_status

    return _clip(f"```\n{format_status(info)}\n```", MESSAGE_LIMIT)


def models_text(rows: list[dict[str, Any]]) -> str:
    """``/model list``: newest last; older versions are cut if the list is long."""
    lines = []
    for row in rows:
        ndcg = row["metrics"].get("test", {}).get("all", {}).get("NDCG@5")
        score = f" · NDCG@5 {ndcg:.3f}" if ndcg is not None else ""
        label = f" · {row['label']}" if row["label"] else ""
        lines.append(f"`{row['id']}` {row['status']}{score}{label} · {row['created_at']}")
    if not lines:
        return "No model versions are registered yet."
    text = "\n".join(lines)
    while len(text) > MESSAGE_LIMIT - 40 and len(lines) > 1:
        lines.pop(0)
        text = f"… (older versions omitted)\n{chr(10).join(lines)}"
    return _clip(text, MESSAGE_LIMIT)


def serving_line(serving_id: str, fallback_reason: str | None, backend: str = "onnx") -> str:
    served = f"{serving_id} [{PRECISION_NAMES.get(backend, backend)}]"
    return f"{served} ({fallback_reason})" if fallback_reason else served


PRECISION_NAMES = {"onnx": "ONNX fp32", "onnx-int8": "ONNX int8", "torch": "torch"}
