"""Coordinates of an ROC curve at any threshold, sensitivity or specificity; best thresholds; PR curve.

Robin X, et al. pROC. BMC Bioinformatics 2011;12:77 (``coords``, ``best.method``, ``best.weights``).
Youden WJ. Index for rating diagnostic tests. Cancer 1950;3:32-35.
Perkins NJ, Schisterman EF. The inconsistency of "optimal" cutpoints obtained
using two criteria based on the receiver operating characteristic curve.
Am J Epidemiol 2006;163:670-675 (closest-to-top-left).

With ``best_weights = (cost, prevalence)`` (pROC's ``best.weights``; the cost
of a false negative relative to a false positive and the prevalence of the
positive class in the population), ``r = (1 - prevalence) / (cost * prevalence)``:

* ``youden``: maximise ``se + r sp`` (``r = 1`` with pROC's default ``(1, 0.5)``:
  Youden's J plus 1; the ``youden`` column holds ``se + r sp`` as pROC's does);
* ``closest.topleft``: minimise ``(1 - se)^2 + r (1 - sp)^2``.

Every threshold reaching the optimum is returned (ties), ordered by increasing
specificity. At a numeric threshold ``t`` a case is positive when
``score >= t`` (``direction="<"``) or ``score <= t`` (``">"``). At a given
sensitivity or specificity the point is the curve's own point where one has
exactly that value (the best other coordinate if several), else the linear
interpolation between its neighbours, with threshold NaN (pROC's ``coords``
with ``input = "sensitivity"`` / ``"specificity"``).

The other columns are pROC's: ``tp = se m``, ``tn = sp n``, ``fn``, ``fp``,
``ppv = precision = tp / (tp + fp)``, ``npv = tn / (tn + fn)``, ``accuracy``,
``fpr``, ``fnr``, ``fdr``, ``recall = tpr = se``, ``tnr = sp``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from breastlab.errors import BreastlabInputError
from breastlab.evaluate.stats._validate import check_direction, check_scores, check_truth
from breastlab.evaluate.stats.roc import roc_curve

BEST_METHODS = ("youden", "closest.topleft")
INPUTS = ("threshold", "sensitivity", "specificity")


def _weights_ratio(best_weights) -> float:
    try:
        cost, prevalence = (float(v) for v in best_weights)
    except (TypeError, ValueError):
        raise BreastlabInputError(
            f"best_weights must be two numbers (cost, prevalence), got {best_weights!r}"
        ) from None
    if not 0.0 < prevalence < 1.0:
        raise BreastlabInputError(f"best_weights prevalence must be in (0, 1), got {prevalence!r}")
    if not cost > 0.0:
        raise BreastlabInputError(f"best_weights cost must be positive, got {cost!r}")
    return (1.0 - prevalence) / (cost * prevalence)


def best_criterion(se, sp, best_method: str = "youden", best_weights=(1.0, 0.5)) -> np.ndarray:
    """pROC's optimisation criterion, larger is better: ``se + r sp`` or ``-((1-se)^2 + r (1-sp)^2)``."""
    r = _weights_ratio(best_weights)
    se, sp = np.asarray(se, dtype=np.float64), np.asarray(sp, dtype=np.float64)
    if best_method == "youden":
        return se + r * sp
    if best_method in ("closest.topleft", "topleft"):
        return -((1.0 - se) ** 2 + r * (1.0 - sp) ** 2)
    raise BreastlabInputError(f"best_method must be 'youden' or 'closest.topleft', got {best_method!r}")


def coords_table(thr, se, sp, m: int, n: int, best_weights=(1.0, 0.5)) -> pd.DataFrame:
    """All of pROC's coordinates from thresholds, sensitivities and specificities."""
    se = np.asarray(se, dtype=np.float64)
    sp = np.asarray(sp, dtype=np.float64)
    tp, tn = se * m, sp * n
    fn, fp = m - tp, n - tn
    with np.errstate(invalid="ignore", divide="ignore"):
        ppv = tp / (tp + fp)
        npv = tn / (tn + fn)
        fdr = fp / (tp + fp)
        fnr = fn / (tp + fn)
    r = _weights_ratio(best_weights)
    return pd.DataFrame(
        {
            "threshold": np.asarray(thr, dtype=np.float64),
            "sensitivity": se,
            "specificity": sp,
            "accuracy": (tp + tn) / (m + n),
            "tn": tn,
            "tp": tp,
            "fn": fn,
            "fp": fp,
            "npv": npv,
            "ppv": ppv,
            "tpr": se,
            "tnr": sp,
            "fpr": 1.0 - sp,
            "fnr": fnr,
            "fdr": fdr,
            "precision": ppv,
            "recall": se,
            "youden": se + r * sp,
            "closest.topleft": (1.0 - se) ** 2 + r * (1.0 - sp) ** 2,
        }
    )


def _at_thresholds(truth, s, x, direction):
    x = np.asarray(x, dtype=np.float64)
    pos, neg = np.sort(s[truth]), np.sort(s[~truth])
    m, n = pos.size, neg.size
    if direction == "<":  # positive when score >= t
        se = (m - np.searchsorted(pos, x, side="left")) / m
        sp = np.searchsorted(neg, x, side="left") / n
    else:  # positive when score <= t
        se = np.searchsorted(pos, x, side="right") / m
        sp = (n - np.searchsorted(neg, x, side="right")) / n
    return x, se, sp


def coords(
    y_true,
    y_score,
    x="all",
    input: str = "threshold",
    best_method: str = "youden",
    best_weights=(1.0, 0.5),
    direction: str = "<",
    ret=None,
) -> pd.DataFrame:
    """pROC's ``coords(roc, x, input, ret, best.method, best.weights)``; see the module docstring.

    ``x``: ``"all"`` (every point of the curve), ``"best"`` (all optimal thresholds
    by ``best_method``) or numbers interpreted as ``input``. ``ret``: columns to
    keep (default: all of pROC's; ``"best"`` adds the criterion as column
    ``best_method``).
    """
    check_direction(direction)
    truth = check_truth(y_true)
    s = check_scores(y_score, truth.size)
    m, n = int(truth.sum()), int((~truth).sum())
    if isinstance(x, str):
        if x not in ("all", "best"):
            raise BreastlabInputError(f"x must be 'all', 'best' or numbers, got {x!r}")
        roc = roc_curve(truth, s, direction)
        thr, se, sp = roc.thresholds, roc.sensitivities, roc.specificities
        if x == "best":
            crit = best_criterion(se, sp, best_method, best_weights)
            keep = crit == crit.max()
            thr, se, sp = thr[keep], se[keep], sp[keep]
        out = coords_table(thr, se, sp, m, n, best_weights)
    else:
        if input not in INPUTS:
            raise BreastlabInputError(f"input must be one of {list(INPUTS)}, got {input!r}")
        values = np.atleast_1d(np.asarray(x, dtype=np.float64))
        if input == "threshold":
            out = coords_table(*_at_thresholds(truth, s, values, direction), m, n, best_weights)
        else:
            from breastlab.evaluate.stats.operating import _at

            roc = roc_curve(truth, s, direction)
            points = [_at(roc, float(v), input, interpolate=True) for v in values]
            out = coords_table(
                [p.threshold for p in points],
                [p.sensitivity for p in points],
                [p.specificity for p in points],
                m,
                n,
                best_weights,
            )
    if ret is not None:
        ret = [ret] if isinstance(ret, str) else list(ret)
        unknown = [c for c in ret if c not in out.columns]
        if unknown:
            raise BreastlabInputError(f"ret {unknown} unknown; choose from {list(out.columns)}")
        out = out[ret]
    return out.reset_index(drop=True)


def best_threshold(
    y_true, y_score, best_method: str = "youden", best_weights=(1.0, 0.5), direction: str = "<"
) -> pd.DataFrame:
    """All optimal thresholds (pROC ``coords(roc, "best", best.method, best.weights)``) with the criterion.

    Columns threshold, specificity, sensitivity and ``best_method`` (``se + r sp`` for
    youden, the squared distance ``(1-se)^2 + r (1-sp)^2`` for closest.topleft).
    """
    out = coords(y_true, y_score, "best", best_method=best_method, best_weights=best_weights, direction=direction)
    return out[["threshold", "specificity", "sensitivity", best_method]]


def pr_curve(y_true, y_score, direction: str = "<") -> pd.DataFrame:
    """Precision-recall points at pROC's thresholds (``coords(roc, "all", ret = c("threshold", "recall",
    "precision"))``); precision is NaN where no case is called positive."""
    return coords(y_true, y_score, "all", direction=direction, ret=["threshold", "recall", "precision"])


def pr_auc(y_true, y_score, direction: str = "<") -> float:
    """Area under the precision-recall curve as average precision (step interpolation).

    ``AP = sum_k (R_k - R_{k+1}) P_k`` over the thresholds ordered from the most to
    the least sensitive, i.e. each recall step weighted by the precision reached
    there (scikit-learn's ``average_precision_score``; pROC has no PR area).
    The trapezoidal area of precision over recall is optimistic for PR curves
    (Davis & Goadrich, ICML 2006), hence the step rule.
    """
    pr = pr_curve(y_true, y_score, direction)
    recall = pr["recall"].to_numpy()
    precision = pr["precision"].to_numpy()
    steps = recall[:-1] - recall[1:]
    return float(np.sum(steps * precision[:-1]))
