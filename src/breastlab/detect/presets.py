"""Detector configurations from a named preset and the options a user changed.

``mammo detect train`` and ``predict`` hand their options here: :func:`detector_config`
merges the ones given into a preset of :data:`breastlab.detect.model.PRESETS`, and
:func:`parse_classes` reads a comma-separated list of finding classes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from breastlab.data.mammo.vocabulary import FINDING_CLASSES
from breastlab.detect.model import PRESETS, DetectorConfig
from breastlab.errors import BreastlabInputError
from breastlab.presets import check_preset_options


def parse_classes(classes: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """Finding classes from ``"mass, calcification"`` (or a sequence of names); None or "" gives None.

    Each name must be one of :data:`~breastlab.data.mammo.vocabulary.FINDING_CLASSES`, once; the
    order given is kept (it fixes the detector's label codes 1, 2, ...).
    """
    if classes is None:
        return None
    names = classes.split(",") if isinstance(classes, str) else [str(c) for c in classes]
    names = [n.strip() for n in names if n.strip()]
    if not names:
        return None
    bad = [n for n in names if n not in FINDING_CLASSES]
    if bad:
        raise BreastlabInputError(f"classes {bad}: choose from {', '.join(FINDING_CLASSES)} (comma-separated)")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise BreastlabInputError(f"classes: {repeated} given more than once")
    return tuple(names)


def detector_config(
    preset: str = "cpu-small", *, classes: str | Sequence[str] | None = None, **overrides: Any
) -> DetectorConfig:
    """The preset's :class:`~breastlab.detect.model.DetectorConfig` with every override that is not ``None``.

    ``overrides`` are config fields (``iterations``, ``batch_size``, ``lr``, ``spacing_mm``,
    ``weights``, ``workers``, ``device``, ``seed``, ...); ``classes`` as :func:`parse_classes`.
    """
    check_preset_options(preset, PRESETS, DetectorConfig, overrides, "detector")
    given = {k: v for k, v in overrides.items() if v is not None}
    chosen = parse_classes(classes)
    if chosen is not None:
        given["classes"] = chosen
    return dataclasses.replace(PRESETS[preset], **given)


__all__ = ["detector_config", "parse_classes"]
