"""Trainer configuration: presets, command-line overrides and the precision choice."""

from __future__ import annotations

import pytest

from retraining.trainer import PRESETS, TrainConfig, config_with_overrides, uses_bf16


def test_explicit_precision_is_obeyed() -> None:
    assert uses_bf16(TrainConfig(precision="bf16"))
    assert not uses_bf16(TrainConfig(precision="fp32"))


def test_auto_precision_follows_native_bf16_support() -> None:
    import torch

    assert uses_bf16(TrainConfig()) == torch.cpu._is_avx512_bf16_supported()


def test_overrides_apply_on_top_of_a_preset() -> None:
    config = config_with_overrides("strategy", batch_size=8, precision="fp32", lr=None)
    assert (config.batch_size, config.precision) == (8, "fp32")
    assert config.epochs == PRESETS["strategy"].epochs


@pytest.mark.parametrize(
    ("preset", "overrides", "message"),
    [("nope", {}, "unknown preset"), ("default", {"precision": "fp16"}, "unknown precision")],
)
def test_bad_names_are_refused_clearly(preset: str, overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config_with_overrides(preset, **overrides)
