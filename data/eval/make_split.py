"""How data/eval/split.json was made (kept so the split can be audited or remade).

    python data/eval/make_split.py

- Prompts: 20% held out, stratified by each prompt's first genre, seed 2026. Held-out prompts
  never appear in any training pair.
- Queries: half of each slice goes to test, seed 2026; test queries are never training anchors.
  Queries whose normalized text equals a test query's are put in test too.

Re-running it on the same files reproduces the same split; adding prompts or queries later
should append to the existing lists instead (see data/eval/README.md).
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 2026


def normalize(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s'-]+", " ", text.lower()).split())


def stratified(items: dict[str, list[str]], fraction: float, rng: random.Random) -> set[str]:
    chosen: set[str] = set()
    for key in sorted(items):
        group = sorted(items[key])
        rng.shuffle(group)
        chosen.update(group[: round(len(group) * fraction)])
    return chosen


def main() -> None:
    rng = random.Random(SEED)
    by_genre: dict[str, list[str]] = defaultdict(list)
    for line in (HERE.parent / "prompts.jsonl").read_text(encoding="utf-8").splitlines():
        prompt = json.loads(line)
        by_genre[(prompt.get("genres") or ["none"])[0]].append(prompt["id"])
    heldout = stratified(by_genre, 0.2, rng)

    queries = [json.loads(x) for x in (HERE / "queries.jsonl").read_text().splitlines() if x]
    by_slice: dict[str, list[str]] = defaultdict(list)
    for q in queries:
        by_slice[q["slice"]].append(q["qid"])
    test = stratified(by_slice, 0.5, rng)
    test_texts = {normalize(q["query"]) for q in queries if q["qid"] in test}
    test |= {q["qid"] for q in queries if normalize(q["query"]) in test_texts}
    train = sorted({q["qid"] for q in queries} - test)
    split = {
        "seed": SEED,
        "method": "data/eval/make_split.py",
        "heldout_prompts": sorted(heldout),
        "train_queries": train,
        "test_queries": sorted(test),
    }
    (HERE / "split.json").write_text(json.dumps(split, indent=1) + "\n")
    print(f"{len(heldout)} held-out prompts, {len(train)} train / {len(test)} test queries")


if __name__ == "__main__":
    main()
