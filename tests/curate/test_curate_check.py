"""check_split must catch each kind of corruption of a split directory."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from breastlab.curate import GroupSpec, SplitConfig, build_splits, check_split, check_splits

CFG = SplitConfig("fs", "spurious", 40, 20, n_test=30, groups=GroupSpec("field_strength_t", ["1.5"], ["3"]))


def _status(report):
    return {c.name: c.passed for c in report.checks}


def _write(tmp_path, slices):
    build_splits(slices, [CFG, SplitConfig("b", "baseline", 40, 20, n_test=30)], out=tmp_path)
    return tmp_path / "fs" / "rep00"


def test_clean_splits_pass(slices, tmp_path):
    _write(tmp_path, slices)
    reports = check_splits(tmp_path)
    assert len(reports) == 2 and all(r.ok for r in reports)
    st = _status(reports[1])  # fs (sorted after b)
    assert st["one_class_per_patient"] and st["rho"] and st["test_uncorrelated"] and st["summary_counts"]


def test_corruptions_are_caught(slices, tmp_path):
    d = _write(tmp_path, slices)
    m = pd.read_parquet(d / "manifest.parquet")
    train_pat = m.loc[(m["split"] == "train") & (m["label"] == 1), "patient_id"].iloc[0]

    moved = m.copy()  # one train patient's image moved to val
    i = moved.index[moved["patient_id"] == train_pat][0]
    moved.loc[i, "split"] = "val"
    assert _status(check_split(moved, kind="spurious", rho=1.0, groups=("1.5", "3.0")))["patients_disjoint"] is False

    both = m.copy()  # a tumour patient also gives a non-tumour image
    j = both.index[(both["split"] == "train") & (both["label"] == 0)][0]
    both.loc[j, "patient_id"] = train_pat
    assert _status(check_split(both, kind="spurious"))["one_class_per_patient"] is False

    unbalanced = m.drop(index=m.index[(m["split"] == "train") & (m["label"] == 0)][:3])
    assert _status(check_split(unbalanced))["class_balance"] is False

    wrong_rho = check_split(d, rho=0.8)
    assert _status(wrong_rho)["rho"] is False and "claimed 0.8" in wrong_rho.checks[5].detail

    bad_group = m.copy()
    bad_group.loc[0, "group"] = "9|x"
    assert _status(check_split(bad_group))["columns"] is False

    summary = json.loads((d / "summary.json").read_text())
    summary["splits"]["train"]["images"] += 2
    assert _status(check_split(m, summary=summary))["summary_counts"] is False

    correlated_test = m[~((m["split"] == "test") & (m["label"] == 1) & (m["attribute"] == "3.0"))]
    assert _status(check_split(correlated_test, kind="spurious", groups=("1.5", "3.0")))["test_uncorrelated"] is False


def test_store_check_names_the_store_folder_not_its_local_path(tmp_path):
    """The check table is shared: it names the store's folder, never the absolute path it was read from."""
    from breastlab.curate.check import _store_check
    from breastlab.data.store import write_store

    images = np.zeros((3, 4, 4), np.uint8)
    manifest = pd.DataFrame({"image_id": ["a", "b", "c"], "patient_id": ["p", "p", "q"], "label": [0, 1, 0]})
    store = write_store(tmp_path / "my_store", images, manifest)
    split = pd.DataFrame({"row": [0, 2], "image_id": ["a", "c"]})
    check = _store_check(split, store.path)
    assert check.passed is True
    assert "my_store" in check.detail and str(tmp_path) not in check.detail
