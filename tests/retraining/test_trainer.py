"""Trainer configuration: presets, command-line overrides and the precision choice."""

from __future__ import annotations

import pytest

from retraining.trainer import PRESETS, TrainConfig, config_with_overrides, uses_bf16


def test_explicit_precision_is_obeyed() -> None:
    assert uses_bf16(TrainConfig(precision="bf16"))
    assert not uses_bf16(TrainConfig(precision="fp32"))


@pytest.mark.parametrize(("native_bf16", "chosen"), [(True, True), (False, False)])
def test_auto_precision_uses_bf16_exactly_where_the_cpu_has_it(
    monkeypatch: pytest.MonkeyPatch, native_bf16: bool, chosen: bool
) -> None:
    import torch

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native_bf16)
    assert uses_bf16(TrainConfig(precision="auto")) is chosen


def test_auto_precision_is_fp32_where_torch_has_no_bf16_probe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    assert uses_bf16(TrainConfig(precision="auto")) is False


def test_the_default_preset_is_the_measured_recipe() -> None:
    default = PRESETS["default"]
    assert (default.epochs, default.batch_size, default.learning_rate) == (1.0, 32, 2e-5)
    assert (default.loss, default.hard_negatives, default.average_with_start) == (
        "mnrl",
        False,
        0.3,
    )
    assert (default.warmup_ratio, default.seed, default.precision) == (0.1, 13, "auto")


def test_the_corpus_preset_is_the_held_out_winner() -> None:
    corpus = PRESETS["corpus"]
    assert (corpus.loss, corpus.typo_share, corpus.average_with_start) == ("gist", 0.3, 0.0)
    assert (corpus.epochs, corpus.batch_size, corpus.learning_rate) == (1.0, 32, 2e-5)
    assert PRESETS["default"].typo_share == 0.0  # the loop's vote datasets get no typo copies


def test_overrides_apply_on_top_of_a_preset() -> None:
    config = config_with_overrides("strategy", batch_size=8, precision="fp32", lr=None)
    assert (config.batch_size, config.precision) == (8, "fp32")
    assert config.epochs == PRESETS["strategy"].epochs


@pytest.mark.parametrize(
    ("preset", "overrides", "message"),
    [
        ("nope", {}, "unknown preset"),
        ("default", {"precision": "fp16"}, "unknown precision"),
        ("corpus", {"typo_share": 1.5}, "typo share must be between 0 and 1"),
        ("corpus", {"typo_share": -0.1}, "typo share must be between 0 and 1"),
    ],
)
def test_bad_names_are_refused_clearly(preset: str, overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config_with_overrides(preset, **overrides)
