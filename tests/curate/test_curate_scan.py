"""Feature scan on a synthetic cohort; counts recomputed with plain pandas."""

from __future__ import annotations

import numpy as np

from breastlab.curate import SplitConfig, build_split, scan_features
from breastlab.curate.features import GroupSpec


def test_scan_counts_and_feasibility(slices):
    scan = scan_features(slices, sizes=[(40, 20), (80, 20)], n_test=30)
    pt = slices.groupby("patient_id").agg(
        fs=("field_strength_t", "first"), nipple=("nipple_retraction", "first"), n_pos=("label", "sum")
    )
    # the test set is the one the builder draws for the same seed
    test = set(build_split(slices, SplitConfig("b", "baseline", 0, 0, n_test=30)).manifest["patient_id"])
    row = scan[
        (scan["column"] == "field_strength_t")
        & (scan["group_a"].isin(["1.5", "3.0"]))
        & (scan["group_b"].isin(["1.5", "3.0"]))
    ].iloc[0]
    a = float(row["group_a"])
    elig_a = pt[(pt["fs"] == a) & ~pt.index.isin(test)]
    assert row["patients_a"] == (pt["fs"] == a).sum()
    assert row["eligible_a"] == len(elig_a)
    assert row["tumour_slices_a"] == elig_a["n_pos"].sum()
    assert row["need_a_40_20"] == 30  # 20 + 10 tumour patients
    assert row["feasible_40_20"] == (row["eligible_a"] >= 30 and row["eligible_b"] >= 30)

    rare = scan[(scan["column"] == "nipple_retraction")].iloc[0]
    assert not rare["feasible_40_20"]
    n_yes = int(((pt["nipple"] == "yes") & ~pt.index.isin(test)).sum())
    assert f"nipple_retraction=yes has {n_yes} eligible patients; 30 requested" in rare["reason"]
    # the 2.8936 T patient is no group of its own
    odd = scan[(scan["column"] == "field_strength_t") & (scan["group_b"] == "2.8936")]
    assert len(odd) and not odd["feasible_40_20"].any()
    # sorted by feasibility: every feasible row before every infeasible one
    feas = scan["n_feasible"].to_numpy()
    assert (np.diff(feas) <= 0).all()
    # age (numeric, many values) gets a median split; identifiers are not splittable
    assert (scan.loc[scan["column"] == "age", "partition"] == "median").all()


def test_scan_agrees_with_builder(slices):
    """A partition the scan calls infeasible must fail to build, a feasible one must build."""
    scan = scan_features(slices, sizes=[(40, 20)], n_test=30, columns=["race_ethnicity"])
    for _, r in scan[scan["partition"] == "pair"].iterrows():
        cfg = SplitConfig(
            "r", "spurious", 40, 20, n_test=30, groups=GroupSpec("race_ethnicity", [r["group_a"]], [r["group_b"]])
        )
        try:
            build_split(slices, cfg)
            built = True
        except Exception:
            built = False
        assert built == bool(r["feasible_40_20"]), (r["group_a"], r["group_b"])
