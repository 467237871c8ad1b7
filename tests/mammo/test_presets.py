"""preset_config: a preset's classifier settings with the options a user changed."""

from __future__ import annotations

import pytest

from breastlab.errors import BreastlabInputError
from breastlab.mammo.presets import preset_config
from breastlab.presets import CPU_PRESET, PAPER_PRESET


def test_a_preset_unchanged():
    cfg = preset_config("cpu")
    for key in ("model", "model_kwargs", "batch_size", "lr", "iterations", "image_size", "balanced"):
        assert getattr(cfg, key) == CPU_PRESET[key], key
    assert preset_config("paper").model == PAPER_PRESET["model"]


def test_overrides_that_are_given_win():
    cfg = preset_config("cpu", lr=0.1, iterations=None, image_size=0, balanced=False, weights="none", seed=3)
    assert (cfg.lr, cfg.iterations, cfg.image_size, cfg.balanced) == (0.1, CPU_PRESET["iterations"], None, False)
    assert cfg.weights is None and cfg.seed == 3
    assert preset_config("cpu", image_size=64).image_size == 64


def test_another_model_drops_the_presets_model_kwargs():
    assert preset_config("cpu", model="resnet18").model_kwargs == {}
    assert preset_config("cpu", model="small_cnn").model_kwargs == CPU_PRESET["model_kwargs"]


def test_bad_names_are_clear_errors():
    with pytest.raises(BreastlabInputError, match="valid presets are paper, cpu"):
        preset_config("gpu")
    with pytest.raises(BreastlabInputError, match="unknown classifier settings \\['learning_rate'\\]"):
        preset_config("cpu", learning_rate=0.1)


def test_default_weights_follow_the_model():
    """ImageNet initialisation where the model has ImageNet weights, random where it has none: the cpu
    preset's small_cnn trains as the README's `mammo classify STORE --preset cpu` says, without --weights."""
    assert preset_config("cpu").weights is None
    assert preset_config("paper").weights == "imagenet"
    assert preset_config("cpu", model="resnet18").weights == "imagenet"
    assert preset_config("paper", weights="none").weights is None
    assert preset_config("cpu", weights="imagenet").weights == "imagenet"  # asked for: refused when built
