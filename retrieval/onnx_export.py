"""Export a sentence-transformers model to ONNX so serving never needs torch.

The serving process only has to answer one short query at a time; importing torch and
sentence-transformers costs seconds of cold start and hundreds of MB of memory for no gain.
This module turns the model directory into a self-contained ONNX directory:

* ``model.onnx``          - the transformer only, output ``last_hidden_state``
* ``tokenizer.json``      - the fast tokenizer (padding/truncation are configured at load time)
* ``encoder_config.json`` - what the numpy side needs: max_seq_length, pooling, normalize, dim

Pooling and normalisation stay outside the graph (numpy, in ``retrieval.encoders``) so the
same graph serves any pooling mode and int8 quantisation only touches the heavy matmuls.

torch and sentence-transformers are imported inside the functions that need them, so
importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from retrieval.encoders import (
    CONFIG_FILE,
    DEFAULT_MAX_SEQ_LENGTH,
    ONNX_FILE,
    TOKENIZER_FILE,
    quiet_onnxruntime,
)

OPSET_VERSION = 17


def export_onnx(model_dir: Path, out_dir: Path) -> Path:
    """Export ``model_dir`` (a sentence-transformers directory) to ``out_dir``; return out_dir.

    The result is written to a sibling temp directory and renamed into place, so a reader
    sees either the old complete directory or the new complete one, never a half export.
    """
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    return _publish_atomically(out_dir, lambda tmp: _export_into(model_dir, tmp))


def quantize_int8(onnx_dir: Path, out_dir: Path) -> Path:
    """Write a dynamically int8-quantised copy of an exported ONNX directory; return out_dir.

    Dynamic quantisation needs no calibration data: weights are stored as int8 and
    activations are quantised on the fly. It is usually faster on CPU but slightly less
    accurate, which is why the benchmark reports top-1 agreement with fp32 next to speed.
    """
    onnx_dir, out_dir = Path(onnx_dir), Path(out_dir)
    return _publish_atomically(out_dir, lambda tmp: _quantize_into(onnx_dir, tmp))


def read_encoder_config(onnx_dir: Path) -> dict[str, Any]:
    """Read the pooling/normalisation settings written next to an exported model."""
    return json.loads((Path(onnx_dir) / CONFIG_FILE).read_text(encoding="utf-8"))


def _export_into(model_dir: Path, target: Path) -> None:
    """Do the actual export into an empty ``target`` directory."""
    import torch  # heavy: only the exporter needs it
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    model.eval()
    transformer = _underlying_transformer(model)
    input_names = _input_names_for(transformer)
    wrapper = _build_export_wrapper(transformer, input_names).eval()

    sample = _sample_inputs(input_names, torch)
    dynamic_axes = {name: {0: "batch", 1: "sequence"} for name in input_names}
    dynamic_axes["last_hidden_state"] = {0: "batch", 1: "sequence"}
    with torch.inference_mode(), _quiet_known_export_warnings():
        torch.onnx.export(
            wrapper,
            tuple(sample[name] for name in input_names),
            str(target / ONNX_FILE),
            input_names=input_names,
            output_names=["last_hidden_state"],
            dynamic_axes=dynamic_axes,
            opset_version=OPSET_VERSION,
            do_constant_folding=True,
            dynamo=False,
        )
    _fold_external_data(target / ONNX_FILE)

    shutil.copy2(_find_tokenizer_json(model_dir), target / TOKENIZER_FILE)
    config = {
        "max_seq_length": _max_seq_length(model, model_dir),
        "pooling_mode": _pooling_mode(model_dir),
        "normalize": _has_normalize(model_dir),
        "dim": int(transformer.config.hidden_size),
        "input_names": input_names,
        "quantization": None,
        "source": str(model_dir),
    }
    _write_config(target, config)


# Weight-only 8-bit blocks (MatMulNBits): every weight matmul keeps one scale per 32 weights,
# and its int8 kernel (accuracy level 4) quantises each activation row in blocks of 32 too.
# Measured on the base and two fine-tuned versions (docs/results.md, "int8 against fp32"):
# mean query cosine to fp32 0.9996-0.9997 and golden NDCG@5 within 0.007 of fp32, where the
# dynamic per-tensor-activation int8 used before had 0.9936 and lost up to 0.023; speed about
# the same. Activations are quantised per row, so a vector never depends on its batch.
INT8_BITS = 8
INT8_BLOCK = 32
INT8_ACCURACY_LEVEL = 4  # int8 compute; level 0 (fp32 compute on 8-bit weights) was 10x slower
INT8_QUANTIZATION = f"weight-int{INT8_BITS}-block{INT8_BLOCK}"


def _quantize_into(onnx_dir: Path, target: Path) -> None:
    """Quantise ``onnx_dir/model.onnx`` into ``target`` and copy the tokenizer and config."""
    quiet_onnxruntime()
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    # it logs two INFO lines per graph node; an operator's INFO log wants none of them
    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)
    # The quantiser works in memory and writes only the file it is given, inside this
    # process's own temp dir: nothing beside the fp32 model another process may be reading.
    quantizer = MatMulNBitsQuantizer(
        str(onnx_dir / ONNX_FILE),
        bits=INT8_BITS,
        block_size=INT8_BLOCK,
        is_symmetric=True,
        accuracy_level=INT8_ACCURACY_LEVEL,
    )
    quantizer.process()
    quantizer.model.save_model_to_file(str(target / ONNX_FILE), use_external_data_format=False)
    shutil.copy2(onnx_dir / TOKENIZER_FILE, target / TOKENIZER_FILE)
    config = read_encoder_config(onnx_dir)
    config["quantization"] = INT8_QUANTIZATION
    _write_config(target, config)


def _publish_atomically(out_dir: Path, fill: Callable[[Path], None]) -> Path:
    """Run ``fill(tmp)`` on a fresh temp dir beside ``out_dir``, then swap it into place.

    The temp dir lives in the same parent so the final ``rename`` is atomic on POSIX.
    An existing ``out_dir`` is first renamed aside (not deleted) and removed only after the
    new one is in place; on any failure the temp dir is cleaned up and out_dir is untouched.
    """
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it 0700; the published dir should be readable
        fill(tmp)
        _swap_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _swap_into_place(new_dir: Path, out_dir: Path) -> None:
    """Rename ``new_dir`` to ``out_dir``, moving any previous ``out_dir`` aside first."""
    if not out_dir.exists():
        os.rename(new_dir, out_dir)
        return
    old = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex}"
    os.rename(out_dir, old)
    try:
        os.rename(new_dir, out_dir)
    except BaseException:
        os.rename(old, out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _underlying_transformer(model: Any) -> Any:
    """Return the Hugging Face model inside the first sentence-transformers module."""
    first = model[0]
    transformer = getattr(first, "auto_model", None) or getattr(first, "model", None)
    if transformer is None:
        raise TypeError(f"cannot find the transformer inside {type(first).__name__}")
    _prefer_traceable_attention(transformer)
    return transformer


def _prefer_traceable_attention(transformer: Any) -> None:
    """Switch to eager attention: it traces into plain ONNX ops with dynamic shapes."""
    setter = getattr(transformer, "set_attn_implementation", None)
    if callable(setter):
        try:
            setter("eager")
            return
        except (ValueError, TypeError, AttributeError):
            pass
    transformer.config._attn_implementation = "eager"


def _input_names_for(transformer: Any) -> list[str]:
    """Use token_type_ids only when the architecture accepts them (BERT does, others not)."""
    import inspect

    params = inspect.signature(transformer.forward).parameters
    names = ["input_ids", "attention_mask"]
    type_vocab_size: int = getattr(transformer.config, "type_vocab_size", 0)
    if "token_type_ids" in params and type_vocab_size:
        names.append("token_type_ids")
    return names


def _sample_inputs(input_names: list[str], torch: Any) -> dict[str, Any]:
    """A small padded batch: two rows of different length so the mask path is traced."""
    input_ids = torch.tensor([[101, 7592, 2088, 2003, 102], [101, 7592, 102, 0, 0]])
    attention_mask = (input_ids != 0).long()
    samples = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "token_type_ids": torch.zeros_like(input_ids),
    }
    return {name: samples[name] for name in input_names}


def _build_export_wrapper(transformer: Any, input_names: list[str]) -> Any:
    """Wrap the transformer so the traced graph has positional inputs and one output.

    The class is defined here, not at module level, so importing this module needs no torch.
    """
    import torch

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *inputs: Any) -> Any:
            kwargs = dict(zip(input_names, inputs, strict=True))
            return self.transformer(**kwargs, return_dict=True).last_hidden_state

    return LastHiddenState()


@contextlib.contextmanager
def _quiet_known_export_warnings() -> Iterator[None]:
    """Silence three expected tracer warnings so real problems stay visible.

    * transformers' mask helper branches on ``kv_length - mask_length > 0``; in an encoder
      both come from the same input, so the traced constant (False) holds for every shape.
    * aten::index with negative indices: the mask helpers index with arange, never negative.
    * the TorchScript exporter's deprecation notice (``dynamo=False`` is requested on purpose).
    The outputs are verified against torch in tests/retrieval/test_encoders.py.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Converting a tensor to a Python boolean")
        warnings.filterwarnings("ignore", message="Exporting aten::index operator")
        warnings.filterwarnings("ignore", message="You are using the legacy TorchScript")
        warnings.filterwarnings("ignore", message="The feature will be removed")
        yield


@contextlib.contextmanager
def _without_log_message(prefix: str) -> Iterator[None]:
    """Drop one advisory root-logger line (pre-processing did not change accuracy here)."""

    def keep(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(prefix)

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


def _fold_external_data(onnx_path: Path) -> None:
    """Keep the export a single file: MiniLM is ~90 MB, far below the 2 GB protobuf limit."""
    sidecars = [p for p in onnx_path.parent.iterdir() if p.name.startswith(onnx_path.name + ".")]
    if not sidecars:
        return
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=True)
    onnx.save_model(model, str(onnx_path), save_as_external_data=False)
    for sidecar in sidecars:
        sidecar.unlink()


def _find_tokenizer_json(model_dir: Path) -> Path:
    """The fast tokenizer file sits at the model root (or in the transformer module dir)."""
    for candidate in (model_dir / TOKENIZER_FILE, model_dir / "0_Transformer" / TOKENIZER_FILE):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no {TOKENIZER_FILE} under {model_dir}")


def _max_seq_length(model: Any, model_dir: Path) -> int:
    """sentence_bert_config.json is the source of truth; the loaded model is the fallback."""
    config_path = model_dir / "sentence_bert_config.json"
    if config_path.is_file():
        value = json.loads(config_path.read_text(encoding="utf-8")).get("max_seq_length")
        if value:
            return int(value)
    return int(getattr(model, "max_seq_length", None) or DEFAULT_MAX_SEQ_LENGTH)


def _pooling_mode(model_dir: Path) -> str:
    """Only mean pooling is implemented on the numpy side; refuse anything else loudly."""
    config_path = model_dir / "1_Pooling" / "config.json"
    if not config_path.is_file():
        return "mean"
    pooling = json.loads(config_path.read_text(encoding="utf-8"))
    if pooling.get("pooling_mode_mean_tokens", True):
        return "mean"
    raise ValueError(f"unsupported pooling in {config_path}: only mean pooling is exported")


def _has_normalize(model_dir: Path) -> bool:
    """Serving always L2-normalises; record whether the original model did too."""
    modules_path = model_dir / "modules.json"
    if not modules_path.is_file():
        return True
    modules = json.loads(modules_path.read_text(encoding="utf-8"))
    return any(module.get("type", "").endswith("Normalize") for module in modules)


def _write_config(target: Path, config: dict[str, Any]) -> None:
    (target / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
