"""Draw the README's picture of a `/prompt` reply (docs/img/prompt_reply.png).

A real screenshot would need a Discord account and a running bot, and would go stale the
moment the embed changes. This drawing is made from the same ingredients as the bot's
reply instead: the prompts come from the shipped corpus (``data/prompts.jsonl``) and the
footer is the text ``bot/formatting.result_embed`` writes, with the champion of a fresh
install (``base``). The colours are Discord's dark theme. Run it with
``.venv/bin/python docs/make_figures.py``; it needs only matplotlib.

The font has no emoji, so 👍 and 👎 are drawn as small shapes where Discord would show them.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import Circle, FancyBboxPatch, Rectangle

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "img" / "prompt_reply.png"
PROMPT_IDS = ("p0018", "p0109")  # two fantasy dragon prompts, as `count:2` would show
KEYWORDS = "fantasy dragons"
MODEL_VERSION = "base"  # the champion right after `promptbot init`

WIDTH = 860
BACKGROUND = "#313338"
EMBED_BACKGROUND = "#2b2d31"
EMBED_BAR = "#5865f2"  # bot/formatting.RESULT_COLOUR, rgb(88, 101, 242)
WHITE = "#f2f3f5"
GREY = "#b5bac1"
DIM = "#949ba4"
THUMB = "#ffcc4d"
FONT = "DejaVu Sans"

EMBED_LEFT = 84
EMBED_WIDTH = 680
TEXT_LEFT = EMBED_LEFT + 16
WRAP_CHARS = 82  # keeps description lines inside the embed at 10 pt
LINE = 17  # description line height, pixels
MESSAGE_GAP = 26


@dataclass(frozen=True)
class Prompt:
    title: str
    text: str
    genres: list[str]
    themes: list[str]


def load_prompts(ids: tuple[str, ...]) -> list[Prompt]:
    """The prompts to show, in the given order, from the shipped corpus."""
    by_id: dict[str, Prompt] = {}
    with (ROOT / "data" / "prompts.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            if row["id"] in ids:
                by_id[row["id"]] = Prompt(
                    row["title"], row["text"], row.get("genres", []), row.get("themes", [])
                )
    return [by_id[prompt_id] for prompt_id in ids]


def embed_height(prompt: Prompt) -> int:
    lines = len(textwrap.wrap(prompt.text, WRAP_CHARS))
    return 12 + 24 + lines * LINE + 10 + 36 + 26 + 10


def message_height(prompt: Prompt) -> int:
    return embed_height(prompt) + 8 + 26  # embed, gap, reaction pills


def text(ax: Axes, x: float, y: float, value: str, **style: object) -> float:
    """Draw one line of text with its top-left at (x, y); return its width in pixels."""
    style = {"color": WHITE, "fontsize": 10, "family": FONT, "va": "top", **style}
    artist = ax.text(x, y, value, **style)  # type: ignore[arg-type]
    return artist.get_window_extent(ax.figure.canvas.get_renderer()).width  # type: ignore[union-attr]


def thumb(ax: Axes, x: float, y: float, size: float, down: bool = False) -> None:
    """A thumbs-up (or down) shape in a size x size box with its top-left at (x, y)."""
    s = size / 14

    def box(left: float, top: float, width: float, height: float) -> None:
        # The y axis points down, so a thumbs-down mirrors the shape inside its box.
        top = (14 - top - height) if down else top
        ax.add_patch(
            FancyBboxPatch(
                (x + left * s, y + top * s),
                width * s,
                height * s,
                boxstyle=f"round,pad=0,rounding_size={1.2 * s}",
                facecolor=THUMB,
                edgecolor="none",
            )
        )

    box(0.5, 6.5, 3, 7)  # cuff
    box(4.5, 6, 9, 7.5)  # fist
    box(5, 0.5, 3.5, 7)  # thumb


def reaction_pill(ax: Axes, x: float, y: float, down: bool) -> float:
    """One reaction (the bot's own invite vote, count 1); return its width."""
    width = 46
    ax.add_patch(
        FancyBboxPatch(
            (x, y),
            width,
            22,
            boxstyle="round,pad=0,rounding_size=7",
            facecolor=EMBED_BACKGROUND,
            edgecolor="#3f4147",
            linewidth=1,
        )
    )
    thumb(ax, x + 8, y + 4, 14, down=down)
    text(ax, x + 28, y + 4, "1", color=GREY, fontsize=9)
    return width


def footer(ax: Axes, x: float, y: float, rank: int, total: int) -> None:
    """The footer result_embed writes, with drawn thumbs where the emoji go."""
    style = {"color": DIM, "fontsize": 8}
    x += text(ax, x, y, f"model {MODEL_VERSION} · {rank} of {total} · react ", **style) + 2
    thumb(ax, x, y, 11)
    x += 13
    x += text(ax, x, y, " or ", **style) + 2
    thumb(ax, x, y, 11, down=True)
    x += 13
    text(ax, x, y, " to teach me", **style)


def draw_embed(ax: Axes, top: float, prompt: Prompt, rank: int, total: int) -> None:
    height = embed_height(prompt)
    ax.add_patch(
        FancyBboxPatch(
            (EMBED_LEFT, top),
            EMBED_WIDTH,
            height,
            boxstyle="round,pad=0,rounding_size=4",
            facecolor=EMBED_BACKGROUND,
            edgecolor="none",
        )
    )
    ax.add_patch(Rectangle((EMBED_LEFT, top), 4, height, facecolor=EMBED_BAR, edgecolor="none"))
    y = top + 12
    text(ax, TEXT_LEFT, y, prompt.title, fontsize=11, weight="bold")
    y += 24
    for line in textwrap.wrap(prompt.text, WRAP_CHARS):
        text(ax, TEXT_LEFT, y, line, color="#dbdee1")
        y += LINE
    y += 10
    fields = (("Genres", prompt.genres), ("Themes", prompt.themes))
    for column, (name, values) in enumerate(fields):
        left = TEXT_LEFT + column * 220
        text(ax, left, y, name, fontsize=9, weight="bold")
        text(ax, left, y + 17, ", ".join(values), color="#dbdee1", fontsize=9)
    y += 36 + 10
    footer(ax, TEXT_LEFT, y, rank, total)


def draw_message(ax: Axes, top: float, prompt: Prompt, rank: int, total: int) -> None:
    draw_embed(ax, top, prompt, rank, total)
    pills_top = top + embed_height(prompt) + 8
    x = EMBED_LEFT + reaction_pill(ax, EMBED_LEFT, pills_top, down=False) + 6
    reaction_pill(ax, x, pills_top, down=True)


def draw_header(ax: Axes) -> float:
    """The interaction line and the bot's name; return where the first embed starts."""
    text(ax, 84, 14, f"writer used /prompt  keywords: {KEYWORDS}  count: 2", color=DIM, fontsize=9)
    ax.add_patch(Circle((52, 56), 18, facecolor=EMBED_BAR, edgecolor="none"))
    text(ax, 52, 56, "pb", fontsize=10, weight="bold", ha="center", va="center")
    x = 84 + text(ax, 84, 38, "promptbot", fontsize=11, weight="bold") + 6
    ax.add_patch(
        FancyBboxPatch(
            (x, 40),
            30,
            15,
            boxstyle="round,pad=0,rounding_size=3",
            facecolor=EMBED_BAR,
            edgecolor="none",
        )
    )
    text(ax, x + 15, 42, "APP", fontsize=7, weight="bold", ha="center")
    text(ax, x + 40, 41, "Today at 21:04", color=DIM, fontsize=8)
    return 66


def draw_reply(prompts: list[Prompt], out: Path) -> None:
    header = 66
    height = header + sum(message_height(p) + MESSAGE_GAP for p in prompts) + 4
    figure = plt.figure(figsize=(WIDTH / 100, height / 100), dpi=100, facecolor=BACKGROUND)
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, WIDTH)
    ax.set_ylim(height, 0)  # pixels, top to bottom, like the page
    ax.axis("off")
    top = draw_header(ax)
    for rank, prompt in enumerate(prompts, start=1):
        draw_message(ax, top, prompt, rank, len(prompts))
        top += message_height(prompt) + MESSAGE_GAP
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=150, facecolor=BACKGROUND)  # sharper on high-density screens
    plt.close(figure)


def main() -> None:
    draw_reply(load_prompts(PROMPT_IDS), OUT)
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
