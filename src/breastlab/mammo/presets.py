"""Classifier configurations from a named preset and the options a user changed."""

from __future__ import annotations

from breastlab.mammo.classify import ClassifierConfig
from breastlab.models.registry import has_imagenet_weights
from breastlab.presets import CPU_PRESET, PAPER_PRESET, check_preset_options

PRESETS = {"paper": PAPER_PRESET, "cpu": CPU_PRESET}


def preset_config(
    preset: str = "paper",
    *,
    weights: str | None = "default",
    seed: int = 0,
    device: str = "auto",
    balanced: bool | None = None,
    **overrides,
) -> ClassifierConfig:
    """The preset's :class:`ClassifierConfig` with every override that is not ``None``.

    ``image_size=0`` means the stored size (no resize). A model other than the preset's drops the
    preset's ``model_kwargs`` (they belong to its model). ``weights``: ``"default"`` is ImageNet
    initialisation where the model has ImageNet weights (the paper preset's alexnet) and random
    initialisation where it has none (the cpu preset's ``small_cnn``); ``"imagenet"``, ``"none"`` (or
    None: random) or a PATH choose. ``balanced=False`` draws uniform batches.
    """
    fields = check_preset_options(preset, PRESETS, ClassifierConfig, overrides, "classifier")
    config = {k: v for k, v in PRESETS[preset].items() if k in fields}
    given = {k: v for k, v in overrides.items() if v is not None}
    if "image_size" in given:
        given["image_size"] = given["image_size"] or None
    if given.get("model", config.get("model")) != config.get("model"):
        config.pop("model_kwargs", None)
    if balanced is not None:
        config["balanced"] = balanced
    settings = {**config, **given}
    if weights == "default":
        weights = "imagenet" if has_imagenet_weights(settings["model"]) else None
    weights = None if isinstance(weights, str) and weights.lower() == "none" else weights
    return ClassifierConfig(**settings, weights=weights, seed=seed, device=device)


__all__ = ["PRESETS", "preset_config"]
