"""Corpus embeddings cached per model under ``PROMPTBOT_HOME/cache/embeddings``.

One file per model, backend and document text (see ``SearchEngine.build``), holding each
embedded document's content hash and vector. Re-embedding a corpus reuses every row whose
prompt content is unchanged and encodes only new or edited prompts.

Why chunks: after a bulk import of tens of thousands of prompts the encoding takes many
minutes on two cores, and a cache written only at the end keeps nothing when the process is
stopped half-way. So new rows are written as they are encoded, ``chunk_rows`` at a time, to
part files in ``<cache>.parts/`` beside the main file; a later run loads the main file plus
every part and encodes only what is still missing. When the corpus is complete the rows it
uses are written to the main file and the parts it read are deleted (parts another process
wrote meanwhile are left for it). Every file is written to a temporary name and renamed into
place, so a crash never leaves a half-written one; an unreadable file is ignored (re-encoded).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from itertools import count
from pathlib import Path

import numpy as np

from retrieval.corpus_view import CorpusPrompt
from retrieval.documents import DEFAULT_FORMAT, document_text
from retrieval.encoders import Encoder

#: rows encoded between two writes of a part file: about 17 s of encoding on two cores at the
#: 61 prompts/s measured for 75-word prompts, so a stop loses at most that much work
CHUNK_ROWS = 1024

#: called with (rows encoded so far, rows to encode) after every chunk
Progress = Callable[[int, int], None]

_part_numbers = count()


def corpus_fingerprint(prompts: Sequence[CorpusPrompt]) -> str:
    digest = hashlib.sha256()
    for p in prompts:
        digest.update(f"{p.id}\0{p.content_hash}\n".encode())
    return digest.hexdigest()


def parts_dir(cache_file: Path) -> Path:
    """Where the rows of an unfinished embedding run are kept."""
    return cache_file.with_name(cache_file.name + ".parts")


def _read_rows(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return dict(zip(data["hashes"].tolist(), data["vectors"], strict=True))
    except (OSError, ValueError, KeyError):
        return {}  # unreadable: its rows are encoded again


def _load(cache_file: Path) -> tuple[dict[str, np.ndarray], list[Path]]:
    """Every cached row (main file, then parts) and the part files they came from."""
    rows = _read_rows(cache_file) if cache_file.is_file() else {}
    parts = sorted(parts_dir(cache_file).glob("*.npz"))
    for part in parts:
        rows.update(_read_rows(part))
    return rows, parts


def _write_rows(path: Path, hashes: list[str], vectors: np.ndarray, fingerprint: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
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


def _write_part(cache_file: Path, hashes: list[str], vectors: np.ndarray) -> Path:
    name = f"{os.getpid()}-{next(_part_numbers):06d}.npz"  # unique across processes sharing it
    path = parts_dir(cache_file) / name
    _write_rows(path, hashes, vectors, "")
    return path


def _consolidate(
    cache_file: Path, prompts: Sequence[CorpusPrompt], matrix: np.ndarray, parts: list[Path]
) -> None:
    _write_rows(cache_file, [p.content_hash for p in prompts], matrix, corpus_fingerprint(prompts))
    for part in parts:
        part.unlink(missing_ok=True)
    with suppress(OSError):  # absent, or another process's parts are still in it
        parts_dir(cache_file).rmdir()


class EmbeddingStats:
    def __init__(self) -> None:
        self.reused = 0
        self.encoded = 0


@contextmanager
def _progress_bar(total: int, show: bool) -> Iterator[Callable[[int], None]]:
    """One bar for the whole embedding stage; rich is imported only when asked for."""
    if not show:
        yield lambda _done: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True)) as bar:  # stdout stays the command's output
        task = bar.add_task(f"embedding {total:,} prompts", total=total)
        yield lambda done: bar.update(task, completed=done)


def _unique_missing(
    prompts: Sequence[CorpusPrompt], known: Mapping[str, np.ndarray]
) -> list[CorpusPrompt]:
    seen: set[str] = set()
    missing = []
    for p in prompts:
        if p.content_hash not in known and p.content_hash not in seen:
            seen.add(p.content_hash)
            missing.append(p)
    return missing


def embed_corpus(
    encoder: Encoder,
    prompts: Sequence[CorpusPrompt],
    cache_file: Path | None,
    show_progress: bool = False,
    stats: EmbeddingStats | None = None,
    doc_format: str = DEFAULT_FORMAT,
    known: Mapping[str, np.ndarray] | None = None,
    progress: Progress | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> np.ndarray:
    """The (n, dim) normalized matrix for ``prompts``, in order, encoding only what changed.

    ``cache_file`` must be specific to the encoder and ``doc_format``: rows are keyed by
    prompt content only. ``known`` adds rows already in memory (an engine's own matrix), so
    an incremental update encodes only its new prompts even with a cold cache file.
    """
    rows, parts = _load(cache_file) if cache_file else ({}, [])
    if known:
        rows.update(known)
    missing = _unique_missing(prompts, rows)
    with _progress_bar(len(missing), show_progress) as advance:
        for start in range(0, len(missing), chunk_rows):
            chunk = missing[start : start + chunk_rows]
            vectors = np.ascontiguousarray(
                encoder.encode([document_text(p, doc_format) for p in chunk], batch_size=32),
                dtype=np.float32,
            )
            hashes = [p.content_hash for p in chunk]
            rows.update(zip(hashes, vectors, strict=True))
            if cache_file:
                parts.append(_write_part(cache_file, hashes, vectors))
            done = start + len(chunk)
            advance(done)
            if progress is not None:
                progress(done, len(missing))
    if stats is not None:
        fresh = {p.content_hash for p in missing}
        encoded = sum(1 for p in prompts if p.content_hash in fresh)
        stats.encoded += encoded
        stats.reused += len(prompts) - encoded
    matrix = (
        np.stack([rows[p.content_hash] for p in prompts])
        if prompts
        else np.empty((0, encoder.dim), dtype=np.float32)
    )
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    if cache_file and (missing or parts):
        _consolidate(cache_file, prompts, matrix, parts)
    return matrix
