"""Judged query files and the fixed train/test split stored in ``data/eval``.

Query file: JSON Lines of ``{"qid", "query", "slice", "relevant": {"<prompt id>": grade}}``
(grade 2 = matches every facet of the query, 1 = matches its main facet). For ranking only
``qid`` and ``query`` are needed; other fields are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from retrieval.vocabulary import normalize_query
from storage.settings import DATA_DIR

EVAL_DIR = DATA_DIR / "eval"
QUERIES_PATH = EVAL_DIR / "queries.jsonl"
SPLIT_PATH = EVAL_DIR / "split.json"


@dataclass(frozen=True)
class JudgedQuery:
    qid: str
    query: str
    slice: str = "unknown"
    relevant: dict[str, int] = field(default_factory=dict)

    @property
    def normalized(self) -> str:
        return normalize_query(self.query)


def load_queries(path: Path = QUERIES_PATH) -> list[JudgedQuery]:
    queries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            queries.append(
                JudgedQuery(
                    qid=str(row["qid"]),
                    query=str(row["query"]),
                    slice=row.get("slice", "unknown"),
                    relevant={str(k): int(v) for k, v in (row.get("relevant") or {}).items()},
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{path}: line {number}: not a query object ({exc})") from exc
    return queries


@dataclass(frozen=True)
class Split:
    heldout_prompts: frozenset[str]
    train_qids: frozenset[str]
    test_qids: frozenset[str]

    @classmethod
    def load(cls, path: Path = SPLIT_PATH) -> Split:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            frozenset(raw["heldout_prompts"]),
            frozenset(raw["train_queries"]),
            frozenset(raw["test_queries"]),
        )

    def train_queries(self, queries: Iterable[JudgedQuery]) -> list[JudgedQuery]:
        return [q for q in queries if q.qid in self.train_qids]

    def test_queries(self, queries: Iterable[JudgedQuery]) -> list[JudgedQuery]:
        return [q for q in queries if q.qid in self.test_qids]

    def test_anchors(self, queries: Iterable[JudgedQuery]) -> frozenset[str]:
        """Normalized test queries: never to be used as training anchors."""
        return frozenset(q.normalized for q in self.test_queries(queries))


def restrict_to(
    queries: Iterable[JudgedQuery], prompt_ids: frozenset[str] | set[str]
) -> list[JudgedQuery]:
    """Judgments limited to ``prompt_ids``; queries left with no relevant prompt are dropped."""
    restricted = []
    for q in queries:
        relevant = {pid: g for pid, g in q.relevant.items() if pid in prompt_ids and g > 0}
        if relevant:
            restricted.append(replace(q, relevant=relevant))
    return restricted
