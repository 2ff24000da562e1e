"""Text encoders that turn prompts and queries into unit-length float32 vectors.

Two interchangeable implementations share the small ``Encoder`` protocol:

* ``OnnxEncoder`` (here) - the serving path: onnxruntime + the Rust ``tokenizers`` + numpy
  only. It never imports torch, transformers or sentence-transformers, which keeps the bot's
  cold start and memory small (checked by a test that inspects ``sys.modules``).
* ``TorchEncoder`` (``retrieval.torch_encoder``) - the reference: sentence-transformers on
  torch, used for training and as the accuracy/speed baseline. It has its own module so that
  nothing on the serving path can reach torch, even through an import inside a function.

Because every vector is L2-normalised, a dot product is the cosine similarity, which is
what ``retrieval.vector_index`` relies on.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

ONNX_FILE = "model.onnx"  # file names of an exported dir (see retrieval.onnx_export)
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "encoder_config.json"
DEFAULT_MAX_SEQ_LENGTH = 256
CACHEABLE_TEXT_CHARS = 256  # only short texts (typical queries) are worth caching
CACHEABLE_BATCH = 8  # bulk corpus encodes bypass the cache: they would only evict queries


@runtime_checkable
class Encoder(Protocol):
    """Anything that maps texts to an (n, dim) float32 array of L2-normalised rows."""

    dim: int

    def encode(
        self, texts: list[str], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray: ...


class OnnxEncoder:
    """Serving encoder: onnxruntime + tokenizers + numpy, numerically matching TorchEncoder.

    Texts are tokenised once, sorted by length and batched so that each batch is padded only
    to its own longest row (short queries never pay for a long prompt's padding); results are
    written back in the caller's order. A small thread-safe LRU cache answers repeated short
    queries (a popular ``/prompt`` keyword) without running the model.

    ``threads`` is onnxruntime's intra-op pool size (None: one per core). ``spin`` lets pool
    threads busy-wait briefly between the many small parallel sections of one query, which
    made a single-query encode ~25% faster on 2 cores (1.8 vs 2.4 ms). The catch: a spinning
    thread holds a core that another thread pool may want right after the query - with
    OpenBLAS on two threads the encode + 10k search path went from 2.5 to 8 ms - which is
    why ``ExactIndex`` runs small products on one BLAS thread. Pass ``spin=False`` where
    CPU time matters more than latency (e.g. bulk encoding next to training).
    """

    def __init__(
        self,
        onnx_dir: Path | str,
        threads: int | None = None,
        cache_size: int = 1024,
        spin: bool = True,
    ) -> None:
        self.onnx_dir = Path(onnx_dir)
        config = _read_config(self.onnx_dir)
        self.max_seq_length = int(config.get("max_seq_length", DEFAULT_MAX_SEQ_LENGTH))
        self._tokenizer = _load_tokenizer(self.onnx_dir / TOKENIZER_FILE, self.max_seq_length)
        self._session = _load_session(self.onnx_dir / ONNX_FILE, threads, spin)
        self._input_names = [node.name for node in self._session.get_inputs()]
        self.dim = int(config.get("dim") or self._session.get_outputs()[0].shape[-1])
        self._cache = _LruCache(cache_size)

    def encode(
        self, texts: list[str], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        if not self._cache.enabled or len(texts) > CACHEABLE_BATCH:
            return self._encode_uncached(texts, batch_size, show_progress)
        return self._encode_through_cache(texts, batch_size)

    def _encode_through_cache(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Look each text up in the cache; encode only the misses, then remember them."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        misses: list[int] = []
        for row, text in enumerate(texts):
            cached = self._cache.get(text)
            if cached is None:
                misses.append(row)
            else:
                out[row] = cached
        if misses:
            fresh = self._encode_uncached([texts[row] for row in misses], batch_size, False)
            out[misses] = fresh
            for row, vector in zip(misses, fresh, strict=True):
                if len(texts[row]) <= CACHEABLE_TEXT_CHARS:
                    self._cache.put(texts[row], vector.copy())
        return out

    def _encode_uncached(
        self, texts: list[str], batch_size: int, show_progress: bool
    ) -> np.ndarray:
        token_ids = [encoding.ids for encoding in self._tokenizer.encode_batch(texts)]
        by_length = np.argsort([len(ids) for ids in token_ids], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        batch_size = max(1, batch_size)
        for rows in _progress(_chunks(by_length, batch_size), show_progress):
            input_ids, attention_mask = _pad_batch([token_ids[row] for row in rows])
            out[rows] = self._embed(input_ids, attention_mask)
        return out

    def _embed(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Run the transformer on one padded batch, then mean-pool and normalise."""
        available = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "token_type_ids": np.zeros_like(input_ids),
        }
        feeds = {name: available[name] for name in self._input_names}
        (hidden,) = self._session.run(["last_hidden_state"], feeds)
        return l2_normalize(mean_pool(hidden, attention_mask))


def mean_pool(hidden: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """Average token vectors, ignoring padding (same maths as sentence-transformers)."""
    mask = attention_mask.astype(np.float32)[:, :, None]
    summed = (hidden.astype(np.float32, copy=False) * mask).sum(axis=1)
    counts = np.clip(mask.sum(axis=1), 1e-9, None)
    return summed / counts


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Scale rows to unit length so dot products are cosines (eps as torch's normalize)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32, copy=False)


class _LruCache:
    """A tiny thread-safe LRU map from text to vector (the bot encodes from worker threads)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(0, int(capacity))
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: str, value: np.ndarray) -> None:
        value.setflags(write=False)
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)


def _read_config(onnx_dir: Path) -> dict[str, Any]:
    path = onnx_dir / CONFIG_FILE
    if not path.is_file():
        return {}
    config = json.loads(path.read_text(encoding="utf-8"))
    if config.get("pooling_mode", "mean") != "mean":
        raise ValueError(f"{path}: only mean pooling is supported, got {config['pooling_mode']}")
    return config


def _load_tokenizer(path: Path, max_seq_length: int) -> Any:
    """Load tokenizer.json, replacing its saved fixed-length padding with none at all.

    The file ships with ``padding: Fixed(128)`` and ``truncation: 128``; sentence-transformers
    truncates at max_seq_length instead and pads per batch, and so must we to match it.
    """
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_seq_length)
    return tokenizer


def quiet_onnxruntime() -> None:
    """Call before importing onnxruntime: turns its telemetry off. Since 1.2x it otherwise
    writes a device id and queued usage events under ``~/.cache/Microsoft/DeveloperTools`` and
    a session file in ``$TMPDIR``, outside PROMPTBOT_HOME (measured with 1.32: setting
    ``ORT_DISABLE_TELEMETRY`` before the import stops all three; ``disable_telemetry_events()``
    after it does not). An operator who sets the variable themselves keeps their choice."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


def _load_session(path: Path, threads: int | None, spin: bool) -> Any:
    quiet_onnxruntime()
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _pad_batch(token_ids: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad to the longest row in this batch; pad id 0 is masked out anyway."""
    longest = max(len(ids) for ids in token_ids)
    input_ids = np.zeros((len(token_ids), longest), dtype=np.int64)
    attention_mask = np.zeros((len(token_ids), longest), dtype=np.int64)
    for row, ids in enumerate(token_ids):
        input_ids[row, : len(ids)] = ids
        attention_mask[row, : len(ids)] = 1
    return input_ids, attention_mask


def _chunks(order: np.ndarray, size: int) -> list[np.ndarray]:
    return [order[start : start + size] for start in range(0, len(order), size)]


def _progress(batches: list[np.ndarray], show: bool) -> Iterator[np.ndarray]:
    """Optional progress bar; rich is imported only when asked for."""
    if not show:
        yield from batches
        return
    from rich.progress import track

    yield from track(batches, description="encoding")
