"""Patient-level splits for every study: a stratified hold-out and grouped, stratified k-fold.

Every image of a patient goes to the same side (no patient in train and test), so an image-level
metric is never inflated by another image of the same person. (SpurBreast's correlation-controlled
splits live in :mod:`breastlab.curate.splits`; they also draw patients, never images.)

* :func:`patient_holdout` -- in each stratum ``round(fraction * n_patients)`` patients (at least one
  when the stratum has two or more) go to the test side, drawn by a generator seeded by ``seed``.
* :func:`patient_kfold` -- fold ``0..k-1`` of every image. ``method="dealt"``: the patients of each
  stratum are shuffled and dealt round-robin, each stratum continuing where the previous one stopped,
  so fold sizes differ by at most one patient and each fold holds about ``1/k`` of every stratum.
  ``method="sklearn"``: scikit-learn's ``StratifiedGroupKFold`` (shuffled by ``seed``) on the image
  labels grouped by patient -- the rule of the anomaly study, kept so its folds stay the same.

A patient's stratum is its *highest* image label in ``order`` (for mammography: negative <
recalled-benign < malignant, so a patient with one malignant image is a malignant patient); labels
outside ``order`` count as its first entry. Without ``order`` the sorted distinct labels are used.

The seeds of the two "dealt" rules are ``SeedSequence([seed, salt])`` with a fixed salt per rule
(hold-out ``0x905``, k-fold ``0xF01D``): a hold-out and a k-fold of one seed are independent draws.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from breastlab.errors import BreastlabInputError

KFOLD_METHODS = ("dealt", "sklearn")
_HOLDOUT_SALT = 0x905
_KFOLD_SALT = 0xF01D


def patient_strata(patient_ids: Sequence, labels: Sequence, order: Sequence | None = None) -> pd.Series:
    """Each patient's stratum code (index: patient id, sorted): its highest image label's position in ``order``."""
    pid = np.asarray(patient_ids).astype(str)
    lab = pd.Series(np.asarray(labels))
    if len(pid) != len(lab):
        raise BreastlabInputError(f"patient_ids has {len(pid)} entries but labels has {len(lab)}; give one per image")
    order = list(order) if order is not None else sorted(lab.unique().tolist())
    code = lab.map({c: i for i, c in enumerate(order)}).fillna(0).to_numpy()
    return pd.Series(code).groupby(pd.Series(pid)).max()


def patient_holdout(
    patient_ids: Sequence,
    labels: Sequence,
    test_fraction: float = 0.15,
    seed: int = 0,
    order: Sequence | None = None,
) -> np.ndarray:
    """Boolean test mask of a patient-level held-out split, stratified by the patient's stratum (module notes)."""
    if not 0 < test_fraction < 1:
        raise BreastlabInputError(f"test_fraction={test_fraction!r}: must be in (0, 1), e.g. 0.05, 0.10, 0.15")
    pid = np.asarray(patient_ids).astype(str)
    strata = patient_strata(pid, labels, order)
    if strata.size < 2:
        raise BreastlabInputError(f"{strata.size} patient(s): a held-out split needs at least 2")
    rng = np.random.default_rng(np.random.SeedSequence([seed, _HOLDOUT_SALT]))
    test: list[str] = []
    for _, members in strata.groupby(strata):
        ids = rng.permutation(members.index.to_numpy())
        k = int(round(test_fraction * len(ids)))
        k = max(k, 1 if len(ids) >= 2 else 0)
        test += ids[:k].tolist()
    return np.isin(pid, test)


def patient_kfold(
    patient_ids: Sequence,
    labels: Sequence,
    k: int = 5,
    seed: int = 0,
    order: Sequence | None = None,
    method: str = "dealt",
) -> np.ndarray:
    """Fold (0..k-1) of every image; all images of a patient share a fold; strata spread over the folds."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 2:
        raise BreastlabInputError(f"k={k!r}: cross-validation needs an integer number of folds >= 2")
    if method not in KFOLD_METHODS:
        raise BreastlabInputError(f"method={method!r}: valid values are {', '.join(KFOLD_METHODS)}")
    pid = np.asarray(patient_ids).astype(str)
    strata = patient_strata(pid, labels, order)
    if strata.size < k:
        raise BreastlabInputError(
            f"{strata.size} patients cannot fill {k} folds: {k} folds need at least {k} patients "
            "(no patient may be in two)"
        )
    if method == "sklearn":
        return _sklearn_folds(np.asarray(patient_ids), np.asarray(labels), k, seed)
    rng = np.random.default_rng(np.random.SeedSequence([seed, _KFOLD_SALT]))
    fold_of: dict[str, int] = {}
    start = 0
    for _, members in strata.groupby(strata):
        ids = rng.permutation(members.index.to_numpy())
        for i, p in enumerate(ids):
            fold_of[p] = (start + i) % k
        start = (start + len(ids)) % k  # the next stratum continues where this one stopped: folds stay balanced
    return np.array([fold_of[p] for p in pid], np.int64)


def _sklearn_folds(groups: np.ndarray, labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    from sklearn.model_selection import StratifiedGroupKFold

    fold = np.empty(len(groups), dtype=np.int64)
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    for i, (_, test) in enumerate(cv.split(np.zeros(len(groups)), labels, groups)):
        fold[test] = i
    return fold


__all__ = ["KFOLD_METHODS", "patient_holdout", "patient_kfold", "patient_strata"]
