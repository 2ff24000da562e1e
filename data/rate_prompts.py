"""How the shipped prompts got their content rating (kept so the rating can be audited or redone).

    python data/rate_prompts.py          # rewrites data/prompts.jsonl with a "rating" per line

The rubric (storage/ratings.py defines the three ratings):

- ``teen``: the prompt is horror (the genre), or about war, revenge or madness (the themes),
  or its text names a killing, a murder, an execution, blood, a gunshot, a corpse or a
  suicide. That selects 139 of 1,290: 111 by genre or theme (rated by the rule, not read
  one by one) and 28 by a word, each of which was read: three of those use the word in jest
  or as a figure of speech (a murdered marrow, beheaded tulips, a flight the town "calls
  suicide") and stay ``general`` (``READ_AS_GENERAL``), so 136 are ``teen``.
- ``mature``: explicit sex, graphic gore, self-harm or drug use. The shipped prompts were
  written for an all-ages bot and none qualifies, so none is rated ``mature``; a server that
  wants such prompts imports them with ``"rating": "mature"``.
- ``general``: everything else, including mysteries whose crime stays off the page only when
  the text names none of the words above.

The rubric errs towards ``teen``: a prompt rated too high is only held back from the few
servers that chose ``general``, while one rated too low reaches them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEEN_GENRES = {"Horror"}
TEEN_THEMES = {"War", "Revenge", "Madness"}
TEEN_WORDS = re.compile(
    r"\b(murder\w*|kill(s|ed|er|ers|ing)?|execution\w*|executioner\w*|behead\w*|blood\w*|"
    r"gunshot\w*|corpse\w*|slaughter\w*|suicide)\b",
    re.IGNORECASE,
)


READ_AS_GENERAL = {"p0383", "p0774", "p1187"}


def rating_of(prompt: dict[str, object]) -> str:
    if prompt.get("id") in READ_AS_GENERAL:
        return "general"
    genres = set(prompt.get("genres") or [])  # type: ignore[call-overload]
    themes = set(prompt.get("themes") or [])  # type: ignore[call-overload]
    text = f"{prompt.get('title', '')} {prompt.get('text', '')}"
    if genres & TEEN_GENRES or themes & TEEN_THEMES or TEEN_WORDS.search(text):
        return "teen"
    return "general"


def main() -> None:
    path = HERE / "prompts.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    rated = []
    for line in lines:
        prompt = json.loads(line)
        prompt["rating"] = rating_of(prompt)
        rated.append(json.dumps(prompt, ensure_ascii=False))
    path.write_text("\n".join(rated) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
