"""ONNX export: a complete directory published atomically, and an int8 copy close to fp32."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import pytest

from retrieval.encoders import OnnxEncoder
from retrieval.onnx_export import _publish_atomically, quantize_int8, read_encoder_config
from tests.helpers.encoders import VARIED_TEXTS, cosines


@pytest.mark.slow
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


@pytest.mark.slow
def test_int8_model_is_close_to_fp32(
    onnx_dir: Path, onnx_encoder: OnnxEncoder, tmp_path: Path
) -> None:
    int8_dir = quantize_int8(onnx_dir, tmp_path / "minilm-int8")
    assert read_encoder_config(int8_dir)["quantization"] == "weight-int8-block32"
    graph = onnx.load(str(int8_dir / "model.onnx")).graph
    weights = {init.name for init in graph.initializer}
    # every matmul with a weight is now 8-bit blocks; only activation x activation stay
    assert not [n for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights]
    assert sum(n.op_type == "MatMulNBits" for n in graph.node) == 36  # 6 layers x 6
    texts = [t for t in VARIED_TEXTS if t.strip()]
    int8 = OnnxEncoder(int8_dir, cache_size=0)
    approx = int8.encode(texts, batch_size=8)
    close = cosines(approx, onnx_encoder.encode(texts))
    assert close.mean() >= 0.999 and close.min() >= 0.998  # dynamic int8: mean 0.993
    # activations are quantised per row: a vector must not depend on its batch companions
    alone = np.vstack([int8.encode([t]) for t in texts])
    np.testing.assert_array_equal(approx, alone)


@pytest.mark.slow
def test_quantising_writes_nothing_beside_the_shared_fp32_model(
    onnx_dir: Path, tmp_path: Path
) -> None:
    """Two bot processes on a cold cache quantise the same model at once; quantize_dynamic's
    shape-inferred copy used to be written beside the fp32 model, where one process removed
    it under the other. Watched while it runs: nothing may appear there."""
    before = {p.name for p in onnx_dir.iterdir()}
    seen: set[str] = set()
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(quantize_int8, onnx_dir, tmp_path / "int8")
        while not running.done():
            seen |= {p.name for p in onnx_dir.iterdir()}
            time.sleep(0.005)
        assert {p.name for p in running.result().iterdir()} == before
    assert seen == before
