"""End to end on images: phantom DICOM cohort -> exported store -> splits -> check (rows address the store)."""

from __future__ import annotations

import numpy as np

from breastlab.curate import GroupSpec, SplitConfig, apply_transforms, build_splits, check_splits, load_split
from breastlab.data.export import export_slices
from breastlab.data.phantom import make_mri_cohort
from breastlab.data.store import ArrayStore


def test_phantom_store_to_checked_splits(tmp_path):
    make_mri_cohort(tmp_path / "cohort", 16, seed=1, n_slices=40, matrix=64, progress=False)
    export_slices(tmp_path / "cohort", tmp_path / "store", size=32, workers=1, progress=False)
    store = ArrayStore(tmp_path / "store")
    fs = store.manifest.drop_duplicates("patient_id")["field_strength_t"]
    n_a = int((fs == 1.5).sum())
    configs = [
        SplitConfig("fs", "spurious", 4, 2, n_test=4, groups=GroupSpec("field_strength_t", ["1.5"], ["3"])),
        SplitConfig("flip", "transform", 6, 2, n_test=4, transform="vflip"),
    ]
    assert n_a >= 3 and len(fs) - n_a >= 3
    build_splits(tmp_path / "store", configs, out=tmp_path / "splits")
    reports = check_splits(tmp_path / "splits")
    assert all(r.ok for r in reports), [r.to_frame() for r in reports if not r.ok]
    assert all({c.name: c.passed for c in r.checks}["store_rows"] for r in reports)
    m = load_split(tmp_path / "splits" / "flip" / "rep00")
    flipped = m[m["transform"] == "vflip"].iloc[0]
    img = store.batch([flipped["row"]])
    np.testing.assert_array_equal(apply_transforms(img, ["vflip"])[0], store[flipped["row"]][::-1])
    # the store itself is never modified
    np.testing.assert_array_equal(ArrayStore(tmp_path / "store").images, store.images)
