"""A model version's stored int8 verdict: whether its int8 ONNX copy serves instead of fp32.

The verdict is measured once per version by ``retrieval.int8_check`` (which ranks the golden
queries, so it needs the evaluation code) and kept as JSON next to the int8 export. This
module only names, reads and describes that file. It imports no evaluation code, so anything
that only needs to know the answer can read it without pulling the measuring machinery in.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from retrieval.engine import Backend, int8_dir_for
from retrieval.model_registry import ModelRef

VERDICT_FILE = "int8-verdict.json"


@dataclass(frozen=True)
class Int8Verdict:
    serve: bool
    reason: str
    ndcg5: dict[str, dict[str, float]]  # {"fp32"|"int8": {setting: NDCG@5}}
    top1_agreement: float  # golden test queries, whole corpus

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def int8_considered(backend: Backend, int8: str) -> bool:
    """int8 is only ever weighed against fp32 ONNX, and only when asked to (``auto``)."""
    return backend == "onnx" and int8 == "auto"


def verdict_path(model: ModelRef, cache_dir: Path) -> Path:
    int8_dir = int8_dir_for(model, cache_dir)
    return int8_dir.with_name(f"{int8_dir.name}-{VERDICT_FILE}")


def read_verdict(model: ModelRef, cache_dir: Path) -> Int8Verdict | None:
    """The stored verdict for ``model``, or None when it was never measured."""
    path = verdict_path(model, cache_dir)
    if not path.is_file():
        return None
    return Int8Verdict(**json.loads(path.read_text(encoding="utf-8")))
