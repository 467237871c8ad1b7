"""Core of DeLong's method with the fast algorithm of Sun and Xu (2014).

DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or more
correlated receiver operating characteristic curves: a nonparametric approach.
Biometrics 1988;44:837-845.
Sun X, Xu W. Fast implementation of DeLong's algorithm for comparing the areas
under correlated receiver operating characteristic curves. IEEE Signal
Processing Letters 2014;21(11):1389-1393.

With m positives X and n negatives Y, and midranks T_Z (pooled), T_X (within
X), T_Y (within Y), each O(N log N):

    AUC   = (sum_i T_Z(X_i) - m (m + 1) / 2) / (m n)
    V10_i = (T_Z(X_i) - T_X(X_i)) / n          structural components of positives
    V01_j = 1 - (T_Z(Y_j) - T_Y(Y_j)) / m      structural components of negatives
    S     = S10 / m + S01 / n                  S10, S01: sample covariances (ddof 1)

This equals the Mann-Whitney AUC with ties counted 1/2 and pROC's
``var(roc, method = "delong")``. Everything is vectorised over k score columns.

Shared by the ROC statistics (:mod:`breastlab.evaluate.stats`) and the MRMC analysis
(:mod:`breastlab.evaluate.mrmc`), so that neither reaches into the other.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.stats import rankdata


@dataclasses.dataclass(frozen=True)
class DeLongComponents:
    """AUCs and structural components of k score columns on the same cases."""

    auc: np.ndarray  # (k,)
    v10: np.ndarray  # (k, m) one value per positive case
    v01: np.ndarray  # (k, n) one value per negative case

    @property
    def covariance(self) -> np.ndarray:
        """(k, k) DeLong covariance matrix of the AUCs (S10/m + S01/n)."""
        m, n = self.v10.shape[1], self.v01.shape[1]
        s10 = np.atleast_2d(np.cov(self.v10, ddof=1)) if m > 1 else np.zeros((len(self.auc),) * 2)
        s01 = np.atleast_2d(np.cov(self.v01, ddof=1)) if n > 1 else np.zeros((len(self.auc),) * 2)
        return s10 / m + s01 / n


def delong_components(positives: np.ndarray, negatives: np.ndarray) -> DeLongComponents:
    """Structural components for scores ``positives`` (k, m) and ``negatives`` (k, n).

    Higher scores mean "more likely positive". 1-D inputs are one column (k = 1).
    Inputs are assumed validated (finite, m >= 1, n >= 1).
    """
    x = np.atleast_2d(np.asarray(positives, dtype=np.float64))
    y = np.atleast_2d(np.asarray(negatives, dtype=np.float64))
    m, n = x.shape[1], y.shape[1]
    tz = rankdata(np.concatenate([x, y], axis=1), axis=1)  # midranks ("average")
    tx = rankdata(x, axis=1)
    ty = rankdata(y, axis=1)
    tzx, tzy = tz[:, :m], tz[:, m:]
    auc = (tzx.sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    v10 = (tzx - tx) / n
    v01 = 1.0 - (tzy - ty) / m
    return DeLongComponents(auc=auc, v10=v10, v01=v01)
