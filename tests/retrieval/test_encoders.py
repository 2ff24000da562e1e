"""Encoders: the ONNX serving encoder must match torch and stay torch-free."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from retrieval.encoders import Encoder, OnnxEncoder
from retrieval.torch_encoder import TorchEncoder
from tests.helpers.encoders import VARIED_TEXTS, cosines

pytestmark = pytest.mark.slow  # exports the base model to ONNX and loads torch

REPO_ROOT = Path(__file__).resolve().parents[2]
HEAVY_MODULES = ("torch", "transformers", "sentence_transformers")


@pytest.fixture(scope="module")
def torch_encoder(model_dir: Path) -> TorchEncoder:
    return TorchEncoder(model_dir)


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
