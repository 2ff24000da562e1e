"""Nearest-neighbour search over L2-normalised float32 rows (dot product = cosine).

* ``ExactIndex`` - one matrix-vector product plus ``argpartition``: exact, no build step, and
  fast enough for the prompt corpus (in float32, 10k rows 0.3-1.3 ms and 100k rows 3.6-8.4 ms
  on 2 cores, depending on how much of the shared L3 cache the host leaves it). A
  single query above ``INT8_FIRST_PASS_MIN_ROWS`` rows first scores every row on an int8
  copy (``Int8FirstPass``, a quarter of the bytes), then recomputes in float32 only the rows
  that an error bound says could still be in the top k: the answer is the float32 one, at
  0.18-0.23 of the float32 time at 10k rows and about half at 100k (whose int8 copy, 38 MB,
  no longer fits the cache either).
* ``HnswIndex``  - an hnswlib graph for corpora where brute force gets too slow (1M rows).
* ``build_index`` picks one by corpus size.

Both return ``(scores, ids)`` arrays of shape ``(q, k')`` with ``k' = min(k, eligible rows)``,
rows ordered by descending score with ties broken by the lower id, so results are
reproducible run to run. ``allowed`` restricts the search to some rows: a boolean mask of
length n or an array of row ids.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

HNSW_SPACE = "ip"  # inner product on unit vectors = cosine; hnswlib reports 1 - dot
SUBSET_MATMUL_FRACTION = 0.5  # below this share of allowed rows, gather them before the matmul
FILTERED_HNSW_MIN_ROWS = 2048  # fewer allowed rows: brute force them, the graph would stall
SINGLE_THREAD_BLAS_BELOW = 20_000_000  # matrix cells (~50k x 384, where HNSW takes over)
INT8_FIRST_PASS_MIN_ROWS = 2048  # below this the float32 product alone is already ~0.05 ms
INT8_LEVELS = 127  # symmetric int8: -127..127, so no value is clipped
FLOAT32_DOT_SLACK = 1e-4  # float32 rounding of a 384-term unit-vector dot is ~1e-5


class ExactIndex:
    """Brute-force cosine search: always exact, deterministic, no build time."""

    def __init__(self, matrix: np.ndarray, int8_first_pass: bool = True) -> None:
        self.matrix = _as_float32_rows(matrix)
        self.first_pass = (
            Int8FirstPass.for_matrix(self.matrix)
            if int8_first_pass and self.size >= INT8_FIRST_PASS_MIN_ROWS
            else None
        )

    @property
    def size(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def __len__(self) -> int:
        return self.size

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows by dot product for each query; see the module docstring for shapes."""
        queries = _as_query_rows(queries, self.dim)
        allowed_ids = allowed_row_ids(allowed, self.size)
        if len(queries) == 1 and self.first_pass is not None:
            candidates = self.first_pass.candidates(queries[0], k, allowed_ids)
            if candidates is not None:  # the true top k lies among them: search only those
                allowed_ids = candidates
        if allowed_ids is None:
            return top_k(_dot_rows(queries, self.matrix), k)
        if len(allowed_ids) < SUBSET_MATMUL_FRACTION * self.size:
            scores = _dot_rows(queries, self.matrix[allowed_ids])
        else:
            scores = _dot_rows(queries, self.matrix)[:, allowed_ids]
        local_scores, local_ids = top_k(scores, k)
        return local_scores, allowed_ids[local_ids]


class Int8FirstPass:
    """Which rows could be in a query's float32 top k, from int8 products and an error bound.

    Matrix and query are each rounded to int8 with one symmetric scale (``s_m``, ``s_q``), so
    every element is off by at most half its scale. For a query q and a row m the estimate
    ``s_q s_m (q8 . m8)`` then differs from ``q . m`` by at most
    ``eps = |q|_1 s_m / 2 + max|m|_1 s_q / 2 + dim s_q s_m / 4`` (plus float32 rounding). The k
    rows with the best estimates all score at least ``kth - eps``, so any row of the true top
    k, ties included, has an estimate of at least ``kth - 2 eps``: those rows are the
    candidates, and recomputing them in float32 gives exactly the full float32 answer. The
    bound is loose (the actual error is ~8x smaller), yet at 10k MiniLM-like rows it leaves
    ~100 candidates for k = 30. numkong's packed int8 kernels (AVX-512 VNNI where present) do
    the 10k products in ~0.08 ms on one core, against ~0.5-0.9 ms for float32 BLAS; one
    core matters because onnxruntime's pool holds the other (see ``_dot_rows``).
    """

    def __init__(self, packed: Any, scale: float, max_row_l1: float, dim: int) -> None:
        self.packed = packed
        self.scale = scale
        self.max_row_l1 = max_row_l1
        self.dim = dim

    @classmethod
    def for_matrix(cls, matrix: np.ndarray) -> Int8FirstPass | None:
        """The int8 copy of ``matrix``, or None where it has no finite non-zero scale."""
        import numkong

        quantized = _symmetric_int8(matrix)
        if quantized is None:
            return None
        rows, scale = quantized
        max_row_l1 = float(np.abs(matrix).sum(axis=1).max())
        return cls(numkong.dots_pack(rows), scale, max_row_l1, int(matrix.shape[1]))

    def candidates(
        self, query: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> np.ndarray | None:
        """Sorted row ids that hold the float32 top k, or None where there is nothing to cut."""
        import numkong

        quantized = _symmetric_int8(query)
        if quantized is None:
            return None
        query8, query_scale = quantized
        estimates = np.asarray(numkong.dots_packed(query8[None, :], self.packed))[0]
        if allowed_ids is not None:
            estimates = estimates[allowed_ids]
        if k <= 0 or k >= len(estimates):
            return None
        kth = np.partition(estimates, len(estimates) - k)[len(estimates) - k]
        slack = 2 * self.error_bound(query, query_scale) / (query_scale * self.scale)
        rows = np.flatnonzero(estimates >= kth - slack)
        return rows if allowed_ids is None else allowed_ids[rows]

    def error_bound(self, query: np.ndarray, query_scale: float) -> float:
        """Largest possible |estimate - q . m| over all rows, in cosine units."""
        return (
            float(np.abs(query).sum()) * self.scale / 2
            + self.max_row_l1 * query_scale / 2
            + self.dim * query_scale * self.scale / 4
            + FLOAT32_DOT_SLACK
        )


def _symmetric_int8(values: np.ndarray) -> tuple[np.ndarray, float] | None:
    """``values`` rounded to int8 with one scale (largest |value| -> 127), or None where that
    scale is zero or not finite (an all-zero or broken array has nothing to bound)."""
    largest = float(np.abs(values).max()) if values.size else 0.0
    if not np.isfinite(largest) or largest == 0.0:
        return None
    scale = largest / INT8_LEVELS
    return np.rint(values / scale).astype(np.int8), scale


class HnswIndex:
    """Approximate search with an hnswlib HNSW graph.

    ``threads`` is used for searching batches of queries. ``build_threads`` defaults to 1
    because hnswlib draws each node's level from one RNG in insertion order: with several
    threads the graph (and hence, rarely, a result) differs from run to run. Pass
    ``build_threads=None`` to use every core when build speed matters more (1M rows: 4-7 min
    on 2 cores), e.g. for an index that is built once and saved.
    """

    def __init__(
        self,
        matrix: np.ndarray,
        M: int = 16,  # capitalised as in the HNSW paper and hnswlib
        ef_construction: int = 128,
        ef_search: int = 64,
        threads: int | None = None,
        build_threads: int | None = 1,
        seed: int = 100,
    ) -> None:
        import hnswlib

        matrix = _as_float32_rows(matrix)
        size, dim = matrix.shape
        graph = hnswlib.Index(space=HNSW_SPACE, dim=dim)
        graph.init_index(
            max_elements=max(1, size), M=M, ef_construction=ef_construction, random_seed=seed
        )
        if size:
            graph.add_items(matrix, np.arange(size), num_threads=_thread_count(build_threads))
        self._attach(graph, dim, ef_search, threads, {"M": M, "ef_construction": ef_construction})

    def _attach(
        self,
        graph: Any,
        dim: int,
        ef_search: int,
        threads: int | None,
        params: dict[str, int],
    ) -> None:
        self._graph = graph
        self.dim = dim
        self.ef_search = ef_search
        self.threads = _thread_count(threads)
        self.params = {**params, "ef_search": ef_search}
        graph.set_ef(ef_search)

    def set_ef_search(self, ef_search: int) -> None:
        """Trade speed for recall at query time (hnswlib's ``ef``; at least k is used)."""
        self.ef_search = int(ef_search)
        self.params["ef_search"] = self.ef_search
        self._graph.set_ef(self.ef_search)

    @property
    def size(self) -> int:
        return int(self._graph.get_current_count())

    def __len__(self) -> int:
        return self.size

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Approximate top-k by cosine; same shapes, ordering and mask forms as ExactIndex."""
        queries = _as_query_rows(queries, self.dim)
        allowed_ids = allowed_row_ids(allowed, self.size)
        eligible = self.size if allowed_ids is None else len(allowed_ids)
        k = min(int(k), eligible)
        if k <= 0 or len(queries) == 0:
            return _empty_results(len(queries), max(k, 0))
        if allowed_ids is None:
            return self._graph_search(queries, k, None)
        if eligible < FILTERED_HNSW_MIN_ROWS:
            return self._exact_among(queries, k, allowed_ids)
        try:
            return self._graph_search(queries, k, _membership_filter(allowed_ids, self.size))
        except RuntimeError:  # hnswlib found fewer than k matches: fall back to exact
            return self._exact_among(queries, k, allowed_ids)

    def _graph_search(
        self, queries: np.ndarray, k: int, keep: Any | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Query the graph; ef is raised to k for this call: hnswlib returns at most ef hits."""
        self._graph.set_ef(max(self.ef_search, k))
        # A Python filter callback holds the GIL, so extra threads would only contend.
        threads = 1 if keep is not None else self.threads
        labels, distances = self._graph.knn_query(queries, k=k, num_threads=threads, filter=keep)
        return _order_results(1.0 - distances.astype(np.float32), labels.astype(np.int64))

    def _exact_among(
        self, queries: np.ndarray, k: int, allowed_ids: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Brute force over a small allowed subset, using the vectors stored in the graph."""
        vectors = np.asarray(self._graph.get_items(allowed_ids, return_type="numpy"))
        scores, local_ids = top_k(_dot_rows(queries, vectors.astype(np.float32)), k)
        return scores, allowed_ids[local_ids]

    def save(self, path: Path | str) -> None:
        """Write the graph (and its parameters beside it) via temp files + atomic rename."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            self._graph.save_index(str(tmp))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        meta = {**self.params, "dim": self.dim, "size": self.size, "space": HNSW_SPACE}
        _write_json_atomically(_meta_path(path), meta)

    @classmethod
    def load(
        cls,
        path: Path | str,
        dim: int,
        ef_search: int | None = None,
        threads: int | None = None,
    ) -> HnswIndex:
        """Load a saved graph; ef_search defaults to the value it was saved with."""
        import hnswlib

        path = Path(path)
        meta = _read_json(_meta_path(path))
        graph = hnswlib.Index(space=HNSW_SPACE, dim=dim)
        graph.load_index(str(path))
        ef = int(ef_search or meta.get("ef_search", 64))
        params = {"M": int(graph.M), "ef_construction": int(graph.ef_construction)}
        index = cls.__new__(cls)
        index._attach(graph, dim, ef, threads, params)
        return index


def build_index(
    matrix: np.ndarray, approximate_above: int, **hnsw_options: Any
) -> ExactIndex | HnswIndex:
    """Exact search up to ``approximate_above`` rows (it is fast and perfect), HNSW beyond."""
    if len(matrix) > approximate_above:
        return HnswIndex(matrix, **hnsw_options)
    return ExactIndex(matrix)


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the k largest scores and their column ids, ties going to the lower id.

    ``argpartition`` finds the k best in O(n) but picks arbitrarily among scores equal to
    the k-th; such rows (rare with real embeddings) are redone by scanning for the tied ids.
    """
    scores = np.asarray(scores, dtype=np.float32)
    rows, columns = scores.shape
    k = min(int(k), columns)
    if k <= 0:
        return _empty_results(rows, 0)
    if k == columns:
        ids = np.broadcast_to(np.arange(columns, dtype=np.int64), scores.shape)
        return _order_results(scores, ids)
    ids = np.argpartition(scores, columns - k, axis=1)[:, columns - k :].astype(np.int64)
    kth = np.take_along_axis(scores, ids, axis=1).min(axis=1)
    at_least_kth = scores >= kth[:, None]
    for row in np.flatnonzero(at_least_kth.sum(axis=1) > k):
        ids[row] = _lowest_ids_among_ties(scores[row], kth[row], k)
    return _order_results(np.take_along_axis(scores, ids, axis=1), ids)


def allowed_row_ids(allowed: np.ndarray | None, size: int) -> np.ndarray | None:
    """Normalise a boolean mask or an id list to sorted unique int64 ids (None = all rows)."""
    if allowed is None:
        return None
    allowed = np.asarray(allowed)
    if allowed.dtype == np.bool_:
        if allowed.shape != (size,):
            raise ValueError(f"mask has shape {allowed.shape}, expected ({size},)")
        return np.flatnonzero(allowed).astype(np.int64)
    if allowed.size and not np.issubdtype(allowed.dtype, np.integer):
        raise TypeError(f"allowed must be a bool mask or integer row ids, got {allowed.dtype}")
    ids = np.unique(allowed.astype(np.int64).ravel())
    if ids.size and (ids[0] < 0 or ids[-1] >= size):
        raise IndexError(f"allowed row ids must lie in [0, {size})")
    return ids


def _dot_rows(queries: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(q, n) dot products; one query uses matrix @ vector, ~10% faster than 1-row GEMM."""
    with _single_threaded_blas_if_small(matrix.size):
        if len(queries) == 1:
            return (matrix @ queries[0])[None, :]
        return queries @ matrix.T


@contextlib.contextmanager
def _single_threaded_blas_if_small(cells: int) -> Iterator[None]:
    """Run small products on one BLAS thread.

    Serving alternates an onnxruntime encode and this product on 2 cores. OpenBLAS splits
    the product in two and waits for its second thread, which has no core while
    onnxruntime's pool is still spinning: measured, encode + 10k search took 5-8 ms with
    two BLAS threads and 2.5 ms with one (the search alone: 0.1 vs 0.2 ms). Larger
    corpora are served by HNSW; big batch products keep every thread. threadpoolctl
    (installed with scikit-learn) is optional: without it nothing is limited.
    """
    controller = _blas_controller() if cells < SINGLE_THREAD_BLAS_BELOW else None
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield


@functools.cache
def _blas_controller() -> Any | None:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    controller = ThreadpoolController().select(user_api="blas")
    return controller if controller.lib_controllers else None


def _lowest_ids_among_ties(row: np.ndarray, kth: float, k: int) -> np.ndarray:
    """All ids beating the k-th score, then the lowest-id ties to fill up to k."""
    better = np.flatnonzero(row > kth)
    tied = np.flatnonzero(row == kth)[: k - len(better)]
    return np.concatenate([better, tied])


def _order_results(scores: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row by score descending, then id ascending: a total, reproducible order."""
    order = np.lexsort((ids, -scores), axis=-1)
    return (
        np.ascontiguousarray(np.take_along_axis(scores, order, axis=1), dtype=np.float32),
        np.ascontiguousarray(np.take_along_axis(ids, order, axis=1), dtype=np.int64),
    )


def _empty_results(rows: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.empty((rows, k), dtype=np.float32), np.empty((rows, k), dtype=np.int64)


def _membership_filter(allowed_ids: np.ndarray, size: int) -> Any:
    """hnswlib calls this per candidate label; byte lookup is the cheapest Python test."""
    mask = np.zeros(size, dtype=np.uint8)
    mask[allowed_ids] = 1
    flags = mask.tobytes()
    return lambda label: flags[label] == 1


def _as_float32_rows(matrix: np.ndarray) -> np.ndarray:
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"expected a 2-D (n, dim) matrix, got shape {matrix.shape}")
    return matrix


def _as_query_rows(queries: np.ndarray, dim: int) -> np.ndarray:
    """Accept one query (dim,) or a batch (q, dim); always compute on a 2-D float32 array."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if queries.ndim == 1:
        queries = queries[None, :]
    if queries.ndim != 2 or queries.shape[1] != dim:
        raise ValueError(f"queries must have shape (q, {dim}), got {queries.shape}")
    return queries


def _thread_count(threads: int | None) -> int:
    return int(threads) if threads else (os.cpu_count() or 1)


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
