"""Named settings of the studies, in a module without heavy imports (the command line's help reads them).

Mammogram classifier: :data:`PAPER_PRESET` is the study's (Aboutalib et al. 2018, GPU);
:data:`CPU_PRESET` is breastlab's CPU substitute, with the store it expects (``store``: the
arguments of ``build_mammo_store``); :mod:`breastlab.mammo.classify` says why it differs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from breastlab.errors import BreastlabInputError

PAPER_PRESET: dict[str, Any] = {
    "model": "alexnet",
    "batch_size": 50,
    "lr": 1e-3,
    "momentum": 0.9,
    "wd": 1e-3,
    "iterations": 7500,
    "lr_step": 2500,
    "lr_gamma": 0.1,
    "image_size": 227,
}
CPU_PRESET: dict[str, Any] = {
    "model": "small_cnn",
    "model_kwargs": {"width": 8, "pool": "max"},
    "batch_size": 32,
    "lr": 0.005,
    "momentum": 0.9,
    "wd": 1e-3,
    "iterations": 600,
    "lr_step": 420,
    "lr_gamma": 0.1,
    "image_size": None,
    "balanced": "labels",
    "store": {"method": "standard", "layout": "fixed", "spacing": 1.6, "size": (128, 96)},
}


def describe_preset(preset: dict[str, Any]) -> str:
    """One line naming a preset's settings, e.g. for ``--help``: built from the dict so it cannot drift."""
    kwargs = preset.get("model_kwargs") or {}
    model = preset["model"] + (f" ({', '.join(f'{k} {v}' for k, v in kwargs.items())})" if kwargs else "")
    size = preset.get("image_size")
    parts = [
        model,
        f"batch {preset['batch_size']}",
        f"lr {preset['lr']:g} (x{preset['lr_gamma']:g} every {preset['lr_step']:,} iterations)",
        f"{preset['iterations']:,} iterations",
        f"momentum {preset['momentum']:g}",
        f"weight decay {preset['wd']:g}",
        f"{size} px" if size else "the stored size",
    ]
    if preset.get("balanced") == "labels":
        parts.append("label-balanced batches")
    store = preset.get("store")
    if store:
        h, w = store["size"]
        parts.append(f"for a {store['method']}-path {store['layout']} store at {store['spacing']:g} mm, {h}x{w}")
    return ", ".join(parts)


def check_preset_options(
    preset: str, presets: Iterable[str], config_type: type, options: Mapping[str, Any], what: str
) -> set[str]:
    """The field names of the dataclass ``config_type``, after checking a preset name and the options given.

    ``preset`` must be one of ``presets`` and every key of ``options`` a field of ``config_type``;
    otherwise a :class:`~breastlab.errors.BreastlabInputError` lists the valid ones (``what``
    names the settings in it: "classifier", "detector").
    """
    names = list(presets)
    if preset not in names:
        raise BreastlabInputError(f"preset {preset!r}: valid presets are {', '.join(names)}")
    fields = {f.name for f in dataclasses.fields(config_type)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise BreastlabInputError(f"unknown {what} settings {unknown}; valid: {', '.join(sorted(fields))}")
    return fields
