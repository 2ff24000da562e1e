"""The reference encoder: sentence-transformers on torch.

Training, the ONNX export's numerical check and the speed baseline use it; serving never
does. It lives apart from ``retrieval.encoders`` so that the serving encoder's module has no
path to torch at all, which the import contract in ``tests/test_architecture.py`` checks.
torch and sentence-transformers are still imported only when an encoder is made: importing
this module alone stays cheap, so the cold-start benchmark times the same work as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class TorchEncoder:
    """sentence-transformers on CPU: the reference implementation and speed baseline."""

    def __init__(self, model_dir: Path | str, threads: int | None = None) -> None:
        if threads:
            import torch

            torch.set_num_threads(threads)
        from sentence_transformers import SentenceTransformer  # heavy: import on demand

        self.model_dir = Path(model_dir)
        self._model = SentenceTransformer(str(self.model_dir), device="cpu")
        self._model.eval()
        self.dim = _sentence_transformer_dim(self._model)

    def encode(
        self, texts: list[str], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _sentence_transformer_dim(model: Any) -> int:
    """sentence-transformers 6 renamed the dimension getter; accept either spelling."""
    if hasattr(model, "get_embedding_dimension"):
        return int(model.get_embedding_dimension())
    return int(model.get_sentence_embedding_dimension())
