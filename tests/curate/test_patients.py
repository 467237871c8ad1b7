"""The patient splitter: patients never split, strata spread, the same folds as the studies drew before."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedGroupKFold

from breastlab.curate.patients import patient_holdout, patient_kfold, patient_strata
from breastlab.errors import BreastlabInputError

ORDER = ("negative", "recalled-benign", "malignant")


def _cohort(n_images=400, n_patients=90, seed=7):
    rng = np.random.default_rng(seed)
    pid = np.array([f"P{i:03d}" for i in rng.integers(0, n_patients, n_images)])
    lab = np.array(ORDER)[rng.choice(3, n_images, p=[0.6, 0.25, 0.15])]
    return pid, lab


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


def test_same_splits_as_the_studies_drew_before_the_splitter():
    # digests of the masks / folds that mammo.classify and anomaly.train computed with their own code
    # (breastlab before the shared splitter) for this cohort and these seeds
    pid, lab = _cohort()
    binary = (lab == "malignant").astype(int)
    expected = {
        0: ("9bc6dbbd75b11893", "a070778039b43b93", "99ffc7802ade1638"),
        3: ("f4ccf6e181bc596b", "ab2a2efb3c7097f5", "1d789fb4264da050"),
    }
    for seed, (holdout, kfold, folds) in expected.items():
        assert _digest(patient_holdout(pid, lab, 0.15, seed, order=ORDER)) == holdout
        assert _digest(patient_kfold(pid, lab, 6, seed, order=ORDER)) == kfold
        assert _digest(patient_kfold(pid, binary, 5, seed, method="sklearn")) == folds


def test_sklearn_method_is_stratified_group_kfold():
    pid, lab = _cohort(seed=2)
    y = (lab != "negative").astype(int)
    ref = np.empty(len(pid), np.int64)
    for i, (_, te) in enumerate(StratifiedGroupKFold(4, shuffle=True, random_state=11).split(pid, y, pid)):
        ref[te] = i
    np.testing.assert_array_equal(patient_kfold(pid, y, 4, 11, method="sklearn"), ref)


@pytest.mark.parametrize("k", [2, 5, 6])
def test_dealt_kfold_keeps_patients_whole_and_spreads_every_stratum(k):
    pid, lab = _cohort(seed=k)
    fold = patient_kfold(pid, lab, k, seed=1, order=ORDER)
    frame = pd.DataFrame({"pid": pid, "fold": fold})
    assert (frame.groupby("pid")["fold"].nunique() == 1).all()
    per_fold = frame.groupby("fold")["pid"].nunique()
    assert sorted(per_fold.index) == list(range(k)) and per_fold.max() - per_fold.min() <= 1
    worst = frame.assign(lab=lab).groupby("pid")["lab"].agg(lambda s: max(s, key=ORDER.index))
    pfold = frame.groupby("pid")["fold"].first()
    for cls in ORDER:  # each stratum's patients: at most one more in one fold than in another
        counts = np.bincount(pfold[worst == cls], minlength=k)
        assert counts.max() - counts.min() <= 1, cls


def test_holdout_takes_the_fraction_of_each_stratum():
    pid, lab = _cohort()
    test = patient_holdout(pid, lab, 0.2, seed=5, order=ORDER)
    strata = patient_strata(pid, lab, ORDER)
    in_test = pd.Series(test).groupby(pd.Series(pid)).first()
    for code in range(3):
        n = int((strata == code).sum())
        assert int(in_test[strata == code].sum()) == max(round(0.2 * n), 1)


def test_bad_arguments_name_what_is_valid():
    pid, lab = _cohort()
    with pytest.raises(BreastlabInputError, match="test_fraction"):
        patient_holdout(pid, lab, 1.0)
    with pytest.raises(BreastlabInputError, match="integer number of folds"):
        patient_kfold(pid, lab, 1)
    with pytest.raises(BreastlabInputError, match="at least 40 patients"):
        patient_kfold(pid[:30], lab[:30], 40)
    with pytest.raises(BreastlabInputError, match="valid values are dealt, sklearn"):
        patient_kfold(pid, lab, 3, method="random")
    with pytest.raises(BreastlabInputError, match="one per image"):
        patient_kfold(pid, lab[:-1], 3)
