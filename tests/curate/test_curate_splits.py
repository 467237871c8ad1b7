"""Split builder on synthetic slice tables; expectations computed independently with pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from breastlab.curate import (
    Cohort,
    GroupSpec,
    SplitConfig,
    allocate,
    apply_transforms,
    build_split,
    build_splits,
    check_split,
    load_split,
    rebuild_split,
)
from breastlab.data.store import write_store
from breastlab.errors import BreastlabInputError

FS = GroupSpec("field_strength_t", ["1.5"], ["3"])


def spurious(rho=1.0, **kw):
    base = {"n_train": 40, "n_val": 20, "n_test": 30, "groups": FS, "rho": rho}
    return SplitConfig("fs", "spurious", **{**base, **kw})


def per_patient_counts(slices: pd.DataFrame) -> pd.DataFrame:
    c = slices.groupby("patient_id")["label"].agg(n_pos="sum", n=("size"))
    c["n_neg"] = c["n"] - c["n_pos"]
    return c


# ----------------------------------------------------------------------------- structure
def test_baseline_patient_counts_balance_and_rule(slices):
    cfg = SplitConfig("b", "baseline", n_train=50, n_val=20, n_test=30)
    m = build_split(slices, cfg).manifest
    pats = m.groupby("split")["patient_id"].nunique()
    assert pats.to_dict() == {"train": 50, "val": 20, "test": 30}
    assert m.groupby("patient_id")["split"].nunique().max() == 1
    # Rule: every patient gives k = min(n_tumour, n_non_tumour) slices of each class.
    counts = per_patient_counts(slices)
    got = m.groupby(["patient_id", "label"]).size().unstack(fill_value=0)
    k = np.minimum(counts.loc[got.index, "n_pos"], counts.loc[got.index, "n_neg"])
    np.testing.assert_array_equal(got[1].to_numpy(), k.to_numpy())
    np.testing.assert_array_equal(got[0].to_numpy(), k.to_numpy())
    # every chosen slice exists in the slice table with that label
    merged = m.merge(
        slices[["patient_id", "slice_index", "label"]], on=["patient_id", "slice_index"], suffixes=("", "_src")
    )
    assert len(merged) == len(m) and (merged["label"] == merged["label_src"]).all()
    assert (m["attribute"] == "all").all() and (m["group"] == m["label"].astype(str) + "|all").all()


def test_baseline_with_attribute_and_no_tune_split(slices):
    # An annotation column on a baseline labels groups; without a tuning split nothing is balanced.
    cfg = SplitConfig("b", "baseline", n_train=50, n_val=20, n_test=30, attribute="field_strength_t")
    m = build_split(slices, cfg).manifest
    assert set(m["split"]) == {"train", "val", "test"}
    fs = slices.groupby("patient_id")["field_strength_t"].first()
    np.testing.assert_allclose(m["attribute"].astype(float), fs.loc[m["patient_id"]].astype(float).to_numpy())
    assert m["attribute"].nunique() >= 2


def test_test_set_shared_across_configs_and_varies_with_repeat(slices):
    cohort = Cohort(slices)
    a = build_split(cohort, SplitConfig("b", "baseline", 40, 20, n_test=30))
    s = build_split(cohort, spurious())
    t = build_split(cohort, SplitConfig("v", "transform", 40, 20, n_test=30, transform="vflip", test_transform="none"))
    tests = [x.manifest[x.manifest["split"] == "test"][["image_id", "label"]].reset_index(drop=True) for x in (a, s, t)]
    pd.testing.assert_frame_equal(tests[0], tests[1])
    pd.testing.assert_frame_equal(tests[0], tests[2])
    other = build_split(cohort, SplitConfig("b", "baseline", 40, 20, n_test=30, repeat=1)).manifest
    assert set(other.loc[other["split"] == "test", "patient_id"]) != set(tests[0]["image_id"].str.split(":").str[0])


def test_baselines_share_validation_and_nest(slices):
    cohort = Cohort(slices)
    low, high = (
        build_split(cohort, SplitConfig(n, "baseline", k, 20, n_test=30)).manifest
        for n, k in (("low", 20), ("high", 60))
    )
    v = [set(x.loc[x["split"] == "val", "image_id"]) for x in (low, high)]
    assert v[0] == v[1]
    tr = [set(x.loc[x["split"] == "train", "image_id"]) for x in (low, high)]
    assert tr[0] < tr[1]


def test_spurious_rho_one_is_spurbreast(slices):
    m = build_split(slices, spurious()).manifest
    fs = slices.drop_duplicates("patient_id").set_index("patient_id")["field_strength_t"]
    tv = m[m["split"].isin(["train", "val"])]
    strength = tv["patient_id"].map(fs)
    assert (strength[tv["label"] == 1] == 1.5).all() and (strength[tv["label"] == 0] == 3.0).all()
    assert tv.groupby("patient_id")["label"].nunique().max() == 1
    for split, n in (("train", 40), ("val", 20)):
        g = m[m["split"] == split]
        assert g["patient_id"].nunique() == n
        assert (g["label"] == 1).sum() == (g["label"] == 0).sum()
        pos_pats = g.loc[g["label"] == 1, "patient_id"].unique()
        assert len(pos_pats) == n // 2
        # all tumour slices of every tumour patient
        n_pos = per_patient_counts(slices)["n_pos"]
        assert (g["label"] == 1).sum() == n_pos[pos_pats].sum()
        # non-tumour slices shared equally (+-1) between the non-tumour patients, unless a patient runs out
        neg = g[g["label"] == 0].groupby("patient_id").size()
        cap = per_patient_counts(slices)["n_neg"][neg.index]
        assert len(neg) == n // 2
        uncapped = neg[neg < cap]
        assert uncapped.max() - uncapped.min() <= 1 and (neg[neg >= cap] <= uncapped.max()).all()
    assert set(tv["attribute"]) == {"1.5", "3.0"}
    assert check_split(m, kind="spurious", rho=1.0, groups=("1.5", "3.0")).ok


@pytest.mark.parametrize("rho", [0.5, 0.7, 0.9])
def test_spurious_rho_measured(slices, rho):
    m = build_split(slices, spurious(rho=rho)).manifest
    for split in ("train", "val"):
        g = m[m["split"] == split]
        pos, neg = g[g["label"] == 1], g[g["label"] == 0]
        assert len(pos) == len(neg)
        # exact up to rounding of one image
        assert abs((pos["attribute"] == "1.5").mean() - rho) <= 1 / len(pos)
        assert abs((neg["attribute"] == "3.0").mean() - rho) <= 1 / len(neg)
        assert g.groupby("patient_id")["label"].nunique().max() == 1
        assert g["patient_id"].nunique() == {"train": 40, "val": 20}[split]


def test_tune_split_group_balanced_and_disjoint(slices):
    m = build_split(slices, spurious(rho=1.0, n_tune=12)).manifest
    tune = m[m["split"] == "tune"]
    cells = tune["group"].value_counts()
    assert set(cells.index) == {"1|1.5", "0|1.5", "1|3.0", "0|3.0"} and cells.nunique() == 1
    assert tune["patient_id"].nunique() == 12
    assert not set(tune["patient_id"]) & set(m.loc[m["split"] != "tune", "patient_id"])


def test_transform_split_and_apply(slices):
    cfg = SplitConfig("v", "transform", 40, 20, n_test=30, transform="vflip", rho=0.75)
    m = build_split(slices, cfg).manifest
    for split in ("train", "val"):
        g = m[m["split"] == split]
        pos, neg = g[g["label"] == 1], g[g["label"] == 0]
        assert abs((pos["transform"] == "vflip").mean() - 0.75) <= 1 / len(pos)
        assert abs((neg["transform"] == "").mean() - 0.75) <= 1 / len(neg)
    assert ((m["transform"] == "vflip") == (m["attribute"] == "flipped")).all()
    test = m[m["split"] == "test"]
    for lab in (0, 1):
        share = (test.loc[test["label"] == lab, "transform"] == "vflip").mean()
        assert abs(share - 0.5) <= 1 / (test["label"] == lab).sum()
    rev = SplitConfig("v", "transform", 40, 20, n_test=30, transform="vflip", reverse=True)
    tr = build_split(slices, rev).manifest.query("split == 'train'")
    assert (tr.loc[tr["label"] == 0, "transform"] == "vflip").all()
    assert (tr.loc[tr["label"] == 1, "transform"] == "").all()
    imgs = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    out = apply_transforms(imgs, ["vflip", ""])
    np.testing.assert_array_equal(out[0], np.flipud(imgs[0]))
    np.testing.assert_array_equal(out[1], imgs[1])


def test_nearest_negatives_are_closest_to_tumour(slices):
    m = build_split(slices, SplitConfig("b", "baseline", 20, 10, n_test=10, negatives="nearest")).manifest
    pid = m["patient_id"].iloc[0]
    src = slices[slices["patient_id"] == pid]
    centre = src.loc[src["label"] == 1, "slice_index"].mean()
    chosen = m.loc[(m["patient_id"] == pid) & (m["label"] == 0), "slice_index"]
    dist = (src.loc[src["label"] == 0, "slice_index"] - centre).abs().sort_values()
    assert (chosen - centre).abs().max() <= dist.iloc[len(chosen) - 1]


def test_allocate_hand_computed():
    np.testing.assert_array_equal(allocate(10, np.array([100, 100, 100, 100])), [3, 3, 2, 2])
    np.testing.assert_array_equal(allocate(10, np.array([1, 100, 100])), [1, 5, 4])
    np.testing.assert_array_equal(allocate(6, np.array([10, 10]), np.array([1.0, 2.0])), [2, 4])
    with pytest.raises(ValueError):
        allocate(5, np.array([1, 2]))


# ----------------------------------------------------------------------------- reproducibility and I/O
def test_rebuild_bit_for_bit(slices, tmp_path):
    (split,) = build_splits(slices, [spurious(rho=0.8, n_tune=8)], out=tmp_path)
    d = tmp_path / "fs" / "rep00"
    again = rebuild_split(d, slices)
    pd.testing.assert_frame_equal(load_split(d), again.manifest)
    changed = slices.copy()
    changed.loc[0, "field_strength_t"] = 3.0
    with pytest.raises(BreastlabInputError, match="checksum"):
        rebuild_split(d, changed)
    # resuming reads the finished split back instead of rebuilding it
    (back,) = build_splits(slices, [spurious(rho=0.8, n_tune=8)], out=tmp_path)
    pd.testing.assert_frame_equal(back.manifest, split.manifest)


def test_store_backed_split(slices, tmp_path):
    small = slices[slices["patient_id"].isin([f"P{i:03d}" for i in range(60)])].reset_index(drop=True)
    images = np.random.default_rng(0).integers(0, 255, (len(small), 4, 4), dtype=np.uint8)
    man = small.assign(image_id=small["patient_id"] + ":" + small["slice_index"].astype(str))
    store = write_store(tmp_path / "store", images, man)
    (split,) = build_splits(
        tmp_path / "store", [SplitConfig("b", "baseline", 20, 10, n_test=10)], out=tmp_path / "splits"
    )
    m = split.manifest
    np.testing.assert_array_equal(store.manifest["image_id"].to_numpy()[m["row"].to_numpy()], m["image_id"].to_numpy())
    report = check_split(tmp_path / "splits" / "b" / "rep00")
    assert report.ok
    assert {c.name: c.passed for c in report.checks}["store_rows"] is True


# ----------------------------------------------------------------------------- bad input
def test_bad_inputs(slices):
    with pytest.raises(BreastlabInputError, match=r"field_strength_t=2\.0 \(group A\) matches no patient; values"):
        build_split(slices, spurious(groups=GroupSpec("field_strength_t", ["2.0"], ["3"])))
    with pytest.raises(BreastlabInputError, match=r"field_strength_t=1\.5 has \d+ eligible patients .*; \d+ requested"):
        build_split(slices, spurious(n_train=200))
    with pytest.raises(BreastlabInputError, match="column 'shoe_size' is not in the slice table"):
        build_split(slices, spurious(groups=GroupSpec("shoe_size", ["1"], ["2"])))
    no_box = slices[~((slices["patient_id"] == "P007") & (slices["label"] == 1))]
    with pytest.raises(BreastlabInputError, match="P007"):
        build_split(no_box, spurious())
    with pytest.raises(BreastlabInputError, match="rho=0.3"):
        spurious(rho=0.3)
    with pytest.raises(BreastlabInputError, match="in both groups"):
        GroupSpec("field_strength_t", ["1.5", "3"], ["3.0"])
    with pytest.raises(BreastlabInputError, match="transform 'warp' is not registered"):
        SplitConfig("w", "transform", 10, 10, transform="warp")
    with pytest.raises(BreastlabInputError, match="the cohort has 90 eligible"):
        build_split(slices, SplitConfig("b", "baseline", 100, 20, n_test=30))
