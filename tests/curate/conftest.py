"""Synthetic slice tables for curation tests (the real metadata is covered by test_curate_real.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def synthetic_slice_table(n_patients: int = 120, seed: int = 0, buffer: int = 5) -> pd.DataFrame:
    """Duke-like slice table: a tumour range per patient, ``buffer`` slices dropped each side."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_patients):
        n = int(rng.integers(40, 90))
        extent = int(rng.integers(2, 30))
        start = int(rng.integers(0, n - extent))
        s = np.arange(n)
        label = np.where((s >= start) & (s < start + extent), 1, 0)
        keep = (label == 1) | (s < start - buffer) | (s >= start + extent + buffer)
        frames.append(pd.DataFrame({"patient_id": f"P{i:03d}", "slice_index": s[keep], "label": label[keep]}))
    table = pd.concat(frames, ignore_index=True)
    clinical = pd.DataFrame(
        {
            "patient_id": [f"P{i:03d}" for i in range(n_patients)],
            "field_strength_t": rng.choice([1.5, 3.0], n_patients),
            "menopause": pd.array(rng.choice(["pre", "post", None], n_patients, p=[0.45, 0.5, 0.05]), dtype="string"),
            "race_ethnicity": rng.choice(["white", "black", "asian"], n_patients, p=[0.6, 0.3, 0.1]),
            "nipple_retraction": rng.choice(["no", "yes"], n_patients, p=[0.95, 0.05]),
            "age": rng.integers(30, 80, n_patients),
        }
    )
    clinical.loc[0, "field_strength_t"] = 2.8936
    return table.merge(clinical, on="patient_id")


@pytest.fixture
def slices() -> pd.DataFrame:
    return synthetic_slice_table()


def _release_pixels(p: int, s: int) -> np.ndarray:
    return np.random.default_rng(p * 1000 + s).integers(0, 256, (16, 12), dtype=np.uint8)


@pytest.fixture(scope="module")
def small_release(tmp_path_factory):
    """A one-feature release tree (baseline_low, 16x12 PNGs) and its import: (tree root, ReleaseImport)."""
    from PIL import Image

    from breastlab.curate import read_spurbreast_release

    root = tmp_path_factory.mktemp("release") / "release"
    layout = {
        "training": {1: [(1, 10), (1, 11), (2, 7)], 0: [(1, 1), (2, 2), (2, 3)]},
        "validation": {1: [(3, 10)], 0: [(3, 1)]},
        "test": {1: [(4, 10), (5, 8)], 0: [(4, 1), (5, 2)]},
    }
    for folder, by_label in layout.items():
        for label, items in by_label.items():
            d = root / "baseline_low" / folder / str(label)
            d.mkdir(parents=True, exist_ok=True)
            for p, s in items:
                Image.fromarray(_release_pixels(p, s)).save(d / f"duke-{s}-Breast_MRI_{p:03d}.png")
    return root, read_spurbreast_release(root, root.parent / "imported", progress=False)
