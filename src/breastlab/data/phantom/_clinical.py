"""Sample a synthetic Duke clinical table (raw coded values) from ``mri_clinical_model.json``.

The model (built by ``_build_mri_model.py`` from the real table) is a tree-shaped
Bayesian network over the 98 columns plus three joint groups sampled as tuples
(scanner; receptors; laterality). Sampling one column given its parent value is
``rng.choice`` over the stored counts, vectorised per parent value.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

IMAGE_POSITION_COLUMN = 7  # "Image Position of Patient": filled in from the phantom geometry


@functools.cache
def clinical_model() -> dict[str, Any]:
    """The stored sampling model (column names, groups, conditional tables, series, codes)."""
    text = resources.files("breastlab.data.phantom").joinpath("mri_clinical_model.json").read_text()
    return json.loads(text)


def _key(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return json.dumps(value)


def _draw(rng: np.random.Generator, dist: dict[str, Any], n: int) -> list[Any]:
    """Draw ``n`` raw values from one stored distribution (categorical or histogram)."""
    if dist["kind"] == "categorical":
        values = [v for v, _ in dist["values"]]
        p = np.array([c for _, c in dist["values"]], float)
        idx = rng.choice(len(values), size=n, p=p / p.sum())
        return [values[i] for i in idx]
    # histogram: pick a bin (or one of the non-numeric codes such as "NP"), then a value in the bin
    edges = np.asarray(dist["edges"], float)
    others = dist["others"]
    weights = np.array(list(dist["counts"]) + [c for _, c in others], float)
    choice = rng.choice(len(weights), size=n, p=weights / weights.sum())
    u = rng.random(n)
    out: list[Any] = []
    n_bins = len(dist["counts"])
    for c, ui in zip(choice, u, strict=True):
        if c >= n_bins:
            out.append(others[c - n_bins][0])
            continue
        value = round(float(edges[c] + ui * (edges[c + 1] - edges[c])), dist["decimals"])
        out.append(int(value) if dist["decimals"] == 0 else value)
    return out


def sample_clinical_raw(n_patients: int, seed: int) -> pd.DataFrame:
    """``n_patients`` rows of raw coded clinical values; columns are the 98 original names.

    Patient IDs are ``Breast_MRI_001`` ... Column 7 (image position) is left empty for the
    caller. Deterministic in ``seed``.
    """
    model = clinical_model()
    names: list[str] = model["names"]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC1]))
    cols: dict[int, list[Any]] = {0: [f"Breast_MRI_{i + 1:03d}" for i in range(n_patients)]}
    cols[IMAGE_POSITION_COLUMN] = [None] * n_patients
    for group in model["groups"].values():
        tuples = [t for t, _ in group["tuples"]]
        p = np.array([c for _, c in group["tuples"]], float)
        idx = rng.choice(len(tuples), size=n_patients, p=p / p.sum())
        for k, j in enumerate(group["columns"]):
            cols[j] = [tuples[i][k] for i in idx]
    specs = {int(j): spec for j, spec in model["columns"].items()}
    # roots first, then children (the tree has depth one below the roots and groups)
    for j in sorted(specs, key=lambda j: (specs[j]["parent"] is not None, j)):
        spec = specs[j]
        if spec["parent"] is None:
            cols[j] = _draw(rng, spec["table"]["null"], n_patients)
            continue
        parent = [_key(v) for v in cols[spec["parent"]]]
        values: list[Any] = [None] * n_patients
        for key in sorted(set(parent)):
            rows = [i for i, k in enumerate(parent) if k == key]
            for i, v in zip(rows, _draw(rng, spec["table"][key], len(rows)), strict=True):
                values[i] = v
        cols[j] = values
    frame = pd.DataFrame({j: pd.Series(cols[j], dtype=object) for j in range(len(names))})
    frame.columns = names
    return frame


def decode(position: int, code: Any) -> str | None:
    """Decoded text of a coded MRI technical column value (e.g. Manufacturer 2 -> "SIEMENS"); None if blank."""
    if not isinstance(code, (int, float)) or code != code:
        return None
    return clinical_model()["codes"][str(position)][str(int(code))]
