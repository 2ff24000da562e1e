"""Exact and HNSW vector search: correctness, ties, masks, recall and persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval.vector_index import (
    INT8_FIRST_PASS_MIN_ROWS,
    ExactIndex,
    HnswIndex,
    Int8FirstPass,
    build_index,
    top_k,
)


def unit_rows(rows: list[list[float]]) -> np.ndarray:
    matrix = np.asarray(rows, dtype=np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def clustered_unit_vectors(
    n: int, dim: int = 48, clusters: int = 40, rank: int = 6, seed: int = 0
) -> np.ndarray:
    """Topic-like clusters: unit centres, variation mostly inside a few per-cluster directions.

    Real sentence embeddings have a low intrinsic dimension; isotropic noise in every
    direction would make a far harder (and unrealistic) nearest-neighbour problem.
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    bases = rng.standard_normal((clusters, rank, dim)) / np.sqrt(dim)
    labels = rng.integers(0, clusters, n)
    within = np.einsum("nr,nrd->nd", rng.standard_normal((n, rank)) * 0.5, bases[labels])
    jitter = rng.standard_normal((n, dim)) * 0.05 / np.sqrt(dim)
    points = centres[labels] + within + jitter
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(set(f) & set(t)) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


@pytest.fixture(scope="module")
def clustered() -> np.ndarray:
    return clustered_unit_vectors(4200)


@pytest.fixture(scope="module")
def corpus(clustered: np.ndarray) -> np.ndarray:
    return clustered[:4000]


@pytest.fixture(scope="module")
def queries(clustered: np.ndarray) -> np.ndarray:
    """Held-out points from the same clusters, as real queries come from the same topics."""
    return clustered[4000:]


@pytest.fixture(scope="module")
def hnsw(corpus: np.ndarray) -> HnswIndex:
    return HnswIndex(corpus, M=16, ef_construction=128, ef_search=64)


# --- ExactIndex ---------------------------------------------------------------------------


def test_exact_ranks_hand_made_vectors() -> None:
    index = ExactIndex(unit_rows([[1, 0], [0, 1], [1, 1], [-1, 0]]))
    scores, ids = index.search(unit_rows([[1, 0.1]]), k=3)
    assert ids.tolist() == [[0, 2, 1]]
    assert scores.dtype == np.float32 and ids.dtype == np.int64
    assert np.all(np.diff(scores[0]) <= 0)
    np.testing.assert_allclose(scores[0, 0], 1 / np.sqrt(1.01), rtol=1e-6)


def test_exact_accepts_a_single_1d_query() -> None:
    index = ExactIndex(unit_rows([[1, 0], [0, 1]]))
    scores, ids = index.search(np.array([0.0, 1.0], dtype=np.float32), k=1)
    assert ids.tolist() == [[1]]
    assert scores.shape == (1, 1)


def test_k_larger_than_corpus_returns_every_row_sorted() -> None:
    index = ExactIndex(unit_rows([[1, 0], [0, 1], [1, 1]]))
    scores, ids = index.search(unit_rows([[0, 1], [1, 0]]), k=10)
    assert ids.tolist() == [[1, 2, 0], [0, 2, 1]]
    assert scores.shape == (2, 3)


def test_ties_go_to_the_lower_id_even_at_the_partition_boundary() -> None:
    rows = [[1, 0]] * 12 + [[1, 1]] * 2 + [[0, 1]]
    index = ExactIndex(unit_rows(rows))
    _, ids = index.search(unit_rows([[1, 0]]), k=3)
    assert ids.tolist() == [[0, 1, 2]]
    _, ids = index.search(unit_rows([[1, 0.9]]), k=4)
    assert ids.tolist() == [[12, 13, 0, 1]]


def test_top_k_breaks_ties_by_id_for_every_row_of_a_batch() -> None:
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 3, size=(50, 40)).astype(np.float32)  # heavy ties
    top_scores, ids = top_k(scores, 7)
    for row in range(len(scores)):
        expected = sorted(range(40), key=lambda col, r=row: (-scores[r, col], col))[:7]
        assert ids[row].tolist() == expected
        assert top_scores[row].tolist() == scores[row, expected].tolist()


def test_results_are_identical_across_repeated_searches(
    corpus: np.ndarray, queries: np.ndarray
) -> None:
    index = ExactIndex(corpus)
    first = index.search(queries, k=10)
    second = index.search(queries, k=10)
    np.testing.assert_array_equal(first[1], second[1])
    np.testing.assert_array_equal(first[0], second[0])


@pytest.mark.parametrize("share", [0.1, 0.9])  # both the gather-first and mask-after paths
def test_exact_mask_only_returns_allowed_rows_in_exact_order(
    corpus: np.ndarray, queries: np.ndarray, share: float
) -> None:
    allowed = np.random.default_rng(5).random(len(corpus)) < share
    index = ExactIndex(corpus)
    scores, ids = index.search(queries, k=10, allowed=allowed)
    assert allowed[ids].all()
    allowed_ids = np.flatnonzero(allowed)
    expected_scores, expected_local = ExactIndex(corpus[allowed_ids]).search(queries, k=10)
    np.testing.assert_array_equal(ids, allowed_ids[expected_local])
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-6)


def test_mask_as_row_ids_equals_mask_as_booleans(corpus: np.ndarray) -> None:
    index = ExactIndex(corpus)
    wanted = np.array([17, 3, 3999, 250])
    mask = np.zeros(len(corpus), dtype=bool)
    mask[wanted] = True
    by_ids = index.search(corpus[:5], k=10, allowed=wanted)
    by_mask = index.search(corpus[:5], k=10, allowed=mask)
    assert by_ids[1].shape == (5, 4)  # k is capped at the number of allowed rows
    np.testing.assert_array_equal(by_ids[1], by_mask[1])


def test_mask_errors_are_reported() -> None:
    index = ExactIndex(unit_rows([[1, 0], [0, 1]]))
    with pytest.raises(ValueError):
        index.search(unit_rows([[1, 0]]), k=1, allowed=np.array([True]))
    with pytest.raises(IndexError):
        index.search(unit_rows([[1, 0]]), k=1, allowed=np.array([2]))
    with pytest.raises(ValueError):
        index.search(np.ones((1, 3), dtype=np.float32), k=1)


def test_empty_mask_and_empty_corpus_give_empty_results() -> None:
    index = ExactIndex(unit_rows([[1, 0], [0, 1]]))
    scores, ids = index.search(unit_rows([[1, 0]]), k=3, allowed=np.zeros(2, dtype=bool))
    assert scores.shape == ids.shape == (1, 0)
    scores, ids = ExactIndex(np.empty((0, 2), dtype=np.float32)).search(unit_rows([[1, 0]]), 3)
    assert ids.shape == (1, 0)


def test_small_searches_restore_the_blas_thread_count() -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads() -> list[int]:
        return [
            i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"
        ]

    before = blas_threads()
    ExactIndex(unit_rows([[1, 0], [0, 1]])).search(unit_rows([[1, 0]]), k=1)
    assert blas_threads() == before


# --- ExactIndex's int8 first pass ---------------------------------------------------------


@pytest.mark.parametrize("k", [1, 10, 30])
def test_int8_first_pass_gives_the_float32_answer_one_query_at_a_time(
    corpus: np.ndarray, queries: np.ndarray, k: int
) -> None:
    with_pass, without = ExactIndex(corpus), ExactIndex(corpus, int8_first_pass=False)
    assert with_pass.first_pass is not None and without.first_pass is None
    for query in queries:
        scores, ids = with_pass.search(query, k)
        expected_scores, expected_ids = without.search(query, k)
        np.testing.assert_array_equal(ids, expected_ids)
        np.testing.assert_allclose(scores, expected_scores, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("share", [0.1, 0.9])
def test_int8_first_pass_keeps_masks_exact(
    corpus: np.ndarray, queries: np.ndarray, share: float
) -> None:
    allowed = np.random.default_rng(8).random(len(corpus)) < share
    with_pass, without = ExactIndex(corpus), ExactIndex(corpus, int8_first_pass=False)
    for query in queries[:50]:
        _, ids = with_pass.search(query, 10, allowed=allowed)
        _, expected = without.search(query, 10, allowed=allowed)
        np.testing.assert_array_equal(ids, expected)


def test_int8_first_pass_cuts_the_rows_recomputed_and_keeps_the_true_top_k(
    corpus: np.ndarray, queries: np.ndarray
) -> None:
    first_pass = Int8FirstPass.for_matrix(corpus)
    assert first_pass is not None
    counts = []
    for query in queries:
        rows = first_pass.candidates(query, 10)
        assert rows is not None
        true_top = np.argsort(-(corpus @ query), kind="stable")[:10]
        assert set(true_top) <= set(rows.tolist())
        counts.append(len(rows))
    assert np.median(counts) < len(corpus) / 10


def test_int8_error_bound_holds_for_every_row(corpus: np.ndarray, queries: np.ndarray) -> None:
    import numkong

    first_pass = Int8FirstPass.for_matrix(corpus)
    assert first_pass is not None
    rng = np.random.default_rng(2)
    signs = np.sign(corpus[int(np.argmax(np.abs(corpus).max(axis=1)))])
    adversarial = (signs / np.linalg.norm(signs)).astype(np.float32)
    for query in [*queries[:20], adversarial, -corpus[rng.integers(len(corpus))]]:
        query_scale = float(np.abs(query).max()) / 127
        query8 = np.rint(query / query_scale).astype(np.int8)[None, :]
        estimate = np.asarray(numkong.dots_packed(query8, first_pass.packed))[0]
        error = np.abs(estimate * query_scale * first_pass.scale - corpus @ query).max()
        assert error <= first_pass.error_bound(query, query_scale)


def test_int8_first_pass_breaks_ties_by_the_lower_id() -> None:
    rng = np.random.default_rng(4)
    spread = rng.standard_normal((INT8_FIRST_PASS_MIN_ROWS, 8)).astype(np.float32)
    spread[:, 0] = -np.abs(spread[:, 0])  # every spread row points away from the query
    rows = np.vstack([spread, np.tile([[1, 0.5, 0, 0, 0, 0, 0, 0]], (6, 1))])
    index = ExactIndex(unit_rows(rows.tolist()))
    assert index.first_pass is not None
    _, ids = index.search(unit_rows([[1, 0.5, 0, 0, 0, 0, 0, 0]])[0], k=4)
    first_copy = INT8_FIRST_PASS_MIN_ROWS
    assert ids.tolist() == [[first_copy, first_copy + 1, first_copy + 2, first_copy + 3]]


def test_int8_first_pass_is_skipped_where_it_cannot_help() -> None:
    assert ExactIndex(unit_rows([[1, 0], [0, 1]])).first_pass is None  # small corpus
    assert Int8FirstPass.for_matrix(np.zeros((3000, 4), dtype=np.float32)) is None
    broken = np.ones((3000, 4), dtype=np.float32)
    broken[5, 1] = np.nan
    assert Int8FirstPass.for_matrix(broken) is None
    index = ExactIndex(unit_rows(np.random.default_rng(1).random((3000, 4)).tolist()))
    assert index.first_pass is not None
    assert index.first_pass.candidates(np.zeros(4, dtype=np.float32), 3) is None
    scores, ids = index.search(np.zeros(4, dtype=np.float32), k=3)
    assert ids.tolist() == [[0, 1, 2]] and not scores.any()  # all tie at 0: lowest ids


# --- HnswIndex ----------------------------------------------------------------------------


def test_hnsw_recall_on_clustered_data(
    hnsw: HnswIndex, corpus: np.ndarray, queries: np.ndarray
) -> None:
    _, truth = ExactIndex(corpus).search(queries, k=10)
    scores, found = hnsw.search(queries, k=10)
    assert found.shape == (len(queries), 10)
    assert recall_at_k(found, truth) >= 0.95
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_hnsw_build_is_reproducible_with_one_build_thread(
    corpus: np.ndarray, queries: np.ndarray
) -> None:
    first = HnswIndex(corpus[:1500], build_threads=1).search(queries, k=10)
    second = HnswIndex(corpus[:1500], build_threads=1).search(queries, k=10)
    np.testing.assert_array_equal(first[1], second[1])


def test_hnsw_mask_keeps_only_allowed_rows(
    hnsw: HnswIndex, corpus: np.ndarray, queries: np.ndarray
) -> None:
    allowed = np.random.default_rng(7).random(len(corpus)) < 0.6
    _, ids = hnsw.search(queries, k=10, allowed=allowed)
    assert allowed[ids].all()
    _, truth = ExactIndex(corpus).search(queries, k=10, allowed=allowed)
    assert recall_at_k(ids, truth) >= 0.95


def test_hnsw_small_mask_is_answered_exactly(
    hnsw: HnswIndex, corpus: np.ndarray, queries: np.ndarray
) -> None:
    allowed = np.arange(0, len(corpus), 97)  # 42 rows: too few for the graph to find
    scores, ids = hnsw.search(queries, k=10, allowed=allowed)
    expected_scores, expected_ids = ExactIndex(corpus).search(queries, k=10, allowed=allowed)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-5)


def test_hnsw_k_larger_than_corpus(queries: np.ndarray) -> None:
    small = HnswIndex(clustered_unit_vectors(5))
    _, ids = small.search(queries[:3], k=10)
    assert ids.shape == (3, 5)
    assert sorted(ids[0].tolist()) == [0, 1, 2, 3, 4]


def test_hnsw_save_load_round_trip(hnsw: HnswIndex, queries: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "nested" / "index.hnsw"
    hnsw.save(path)
    loaded = HnswIndex.load(path, dim=hnsw.dim)
    assert loaded.size == hnsw.size
    assert loaded.ef_search == hnsw.ef_search
    assert loaded.params == hnsw.params
    original = hnsw.search(queries, k=10)
    restored = loaded.search(queries, k=10)
    np.testing.assert_array_equal(original[1], restored[1])
    np.testing.assert_allclose(original[0], restored[0], atol=1e-6)
    assert sorted(p.name for p in path.parent.iterdir()) == ["index.hnsw", "index.hnsw.json"]


def test_build_index_chooses_by_size(corpus: np.ndarray) -> None:
    assert isinstance(build_index(corpus, approximate_above=len(corpus)), ExactIndex)
    assert isinstance(build_index(corpus[:600], approximate_above=500), HnswIndex)
