"""Corpus embeddings cached per model under ``PROMPTBOT_HOME/cache/embeddings``.

One file per model (its :attr:`ModelRef.key`), holding each embedded document's content hash
and vector. Re-embedding a corpus reuses every row whose prompt content is unchanged and
encodes only new or edited prompts; the file records the corpus fingerprint it was last
written for. Writes go to a temporary file renamed into place, so a crash never leaves a
half-written cache.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from retrieval.corpus_view import CorpusPrompt
from retrieval.documents import DEFAULT_FORMAT, document_text
from retrieval.encoders import Encoder


def corpus_fingerprint(prompts: Sequence[CorpusPrompt]) -> str:
    digest = hashlib.sha256()
    for p in prompts:
        digest.update(f"{p.id}\0{p.content_hash}\n".encode())
    return digest.hexdigest()


def _load(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            return dict(zip(data["hashes"].tolist(), data["vectors"], strict=True))
    except (OSError, ValueError, KeyError):
        return {}  # unreadable cache: rebuild it


def _save(path: Path, hashes: list[str], vectors: np.ndarray, fingerprint: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    os.close(fd)
    try:
        with open(tmp, "wb") as handle:
            np.savez(
                handle, hashes=np.array(hashes), vectors=vectors, fingerprint=np.array(fingerprint)
            )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class EmbeddingStats:
    def __init__(self) -> None:
        self.reused = 0
        self.encoded = 0


def embed_corpus(
    encoder: Encoder,
    prompts: Sequence[CorpusPrompt],
    cache_file: Path | None,
    show_progress: bool = False,
    stats: EmbeddingStats | None = None,
    doc_format: str = DEFAULT_FORMAT,
) -> np.ndarray:
    """The (n, dim) normalized matrix for ``prompts``, in order, encoding only what changed.

    ``cache_file`` must be specific to ``doc_format``: rows are keyed by prompt content only.
    """
    known = _load(cache_file) if cache_file else {}
    missing = [p for p in prompts if p.content_hash not in known]
    if missing:
        fresh = encoder.encode(
            [document_text(p, doc_format) for p in missing],
            batch_size=32,
            show_progress=show_progress,
        )
        known.update(zip((p.content_hash for p in missing), fresh, strict=True))
    if stats is not None:
        stats.encoded += len(missing)
        stats.reused += len(prompts) - len(missing)
    matrix = (
        np.stack([known[p.content_hash] for p in prompts])
        if prompts
        else np.empty((0, encoder.dim), dtype=np.float32)
    )
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    if cache_file and missing:
        hashes = [p.content_hash for p in prompts]
        _save(cache_file, hashes, matrix, corpus_fingerprint(prompts))
    return matrix
