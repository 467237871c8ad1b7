"""Empirical ROC curve and AUC with pROC's conventions (Robin et al. 2011).

Robin X, Turck N, Hainard A, et al. pROC: an open-source package for R and S+
to analyze and compare ROC curves. BMC Bioinformatics 2011;12:77.
Hanley JA, McNeil BJ. The meaning and use of the area under a receiver
operating characteristic (ROC) curve. Radiology 1982;143:29-36.

Conventions (identical to pROC's ``roc(..., direction = "<")``):

* ``direction="<"``: higher scores mean "more likely positive"; a case is
  called positive when ``score >= threshold``. ``direction=">"``: lower scores
  mean positive; positive when ``score <= threshold``.
* Thresholds are ``-Inf``, the midpoints ``(u[i] + u[i+1]) / 2`` of
  consecutive distinct pooled scores ``u``, and ``+Inf``. Where two distinct
  scores are adjacent floats, the midpoint rounds onto one of them and pROC
  moves it onto the upper one (``"<"``; lower one for ``">"``); so do we.
  (scikit-learn's ``roc_curve`` instead returns the scores themselves as
  thresholds, and pROC's threshold t between u[i] and u[i+1] calls the same
  cases positive as sklearn's threshold u[i+1]; the (FPR, TPR) points are the
  same, listed in the opposite order.)
* Rows run, as in pROC, from (sensitivity 1, specificity 0) to (0, 1):
  thresholds ascend for ``"<"`` and descend for ``">"``.
* AUC is the Mann-Whitney statistic with ties counted 1/2:
  ``AUC = (1 / (m n)) sum_i sum_j [1(X_i > Y_j) + 1/2 1(X_i = Y_j)]``,
  computed from midranks as ``(sum_i R(X_i) - m (m + 1) / 2) / (m n)``, i.e.
  the exact rational number rounded once to double precision.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.stats import rankdata

from breastlab.errors import BreastlabInputError
from breastlab.evaluate._partial import empirical_roc_points
from breastlab.evaluate.stats._validate import check_direction, check_scores, check_truth, orient


@dataclasses.dataclass(frozen=True)
class RocCurve:
    """Empirical ROC curve, one row per threshold, in pROC's order.

    Rows run from (sensitivity 1, specificity 0) to (sensitivity 0, specificity 1):
    thresholds ascend for ``direction="<"`` and descend for ``">"``.
    """

    thresholds: np.ndarray
    sensitivities: np.ndarray
    specificities: np.ndarray
    direction: str
    n_positive: int
    n_negative: int

    @property
    def tpr(self) -> np.ndarray:
        return self.sensitivities

    @property
    def fpr(self) -> np.ndarray:
        return 1.0 - self.specificities

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(
            {"threshold": self.thresholds, "sensitivity": self.sensitivities, "specificity": self.specificities}
        )


def prepare(y_true, y_score, direction: str = "<", min_per_class: int = 2, score_name: str = "y_score"):
    """Validated ``(truth bool, oriented float scores)``; scores may be 2-D (n, k)."""
    truth = check_truth(y_true, min_per_class=min_per_class)
    scores = check_scores(y_score, truth.size, name=score_name, ndim=2)
    return truth, orient(scores, direction)


def threshold_between(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """pROC's threshold between neighbouring distinct oriented scores ``lo < hi`` (either may be infinite).

    ``(lo + hi) / 2`` or, where that overflows (|t| > 1e100), ``lo / 2 + hi / 2``.
    Adjacent floats: a midpoint equal to the lower score would call that score
    positive; it is moved onto the upper score as pROC does for direction "<".
    """
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        t1 = (lo + hi) / 2.0
        t2 = lo / 2.0 + hi / 2.0
    thr = np.where(np.abs(t1) > 1e100, t2, t1)
    return np.where((thr == lo) & np.isfinite(lo), hi, thr)


def roc_thresholds(values: np.ndarray) -> np.ndarray:
    """pROC's thresholds for oriented scores (higher = positive): -Inf, midpoints, +Inf.

    ``unique`` are the sorted distinct pooled scores; see ``threshold_between``.
    """
    unique = np.unique(values)
    return threshold_between(np.concatenate([[-np.inf], unique]), np.concatenate([unique, [np.inf]]))


def roc_curve(y_true, y_score, direction: str = "<") -> RocCurve:
    """Empirical ROC curve with pROC's thresholds (see the module docstring).

    At threshold index ``i`` (0 = -Inf, L = +Inf over L distinct scores ``u``),
    ``sensitivity = #{positives >= t_i} / m`` and ``specificity = #{negatives < t_i} / n``
    for ``direction="<"`` (mirror image for ``">"``).
    """
    check_direction(direction)
    truth, s = prepare(y_true, y_score, direction)
    if s.ndim != 1:
        raise BreastlabInputError(f"roc_curve takes one score column; y_score has shape {s.shape}")
    m, n = int(truth.sum()), int((~truth).sum())
    sens, spec = empirical_roc_points(truth, s)
    thr = roc_thresholds(s)
    if direction == ">":  # scores were negated: map the thresholds back (now descending, as pROC's)
        thr = -thr
    return RocCurve(thr, sens, spec, direction, m, n)


def auc_oriented(truth: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC of each column of oriented scores ``s`` ((n,) or (n, k))."""
    s2 = s.reshape(s.shape[0], -1)
    m, n = int(truth.sum()), int((~truth).sum())
    ranks = rankdata(s2, axis=0)  # midranks over the pooled cases
    rank_sum = ranks[truth].sum(axis=0)  # half-integers: the sum is exact below 2**52
    return (rank_sum - m * (m + 1) / 2.0) / (m * n)


def auc(y_true, y_score, direction: str = "<"):
    """Area under the empirical ROC curve (Mann-Whitney U / (m n), ties count 1/2).

    ``y_score`` may be 2-D (n_cases, k): then an array of k AUCs is returned.
    Equals pROC's ``auc(roc(y_true, y_score, direction = "<"))`` and
    ``sklearn.metrics.roc_auc_score``.
    """
    truth, s = prepare(y_true, y_score, direction)
    out = auc_oriented(truth, s)
    return float(out[0]) if s.ndim == 1 else out
