"""Partial area under the ROC curve, raw and with McClish's standardisation (pROC's ``partial.auc``).

McClish DK. Analyzing a portion of the ROC curve. Medical Decision Making 1989;9:190-195.
Robin X, et al. pROC. BMC Bioinformatics 2011;12:77 (``auc(roc, partial.auc=, partial.auc.focus=,
partial.auc.correct=)``).

With the ROC points ordered by increasing specificity, ``focus="specificity"``
integrates sensitivity over specificity in ``[low, high]``; ``focus="sensitivity"``
integrates specificity over sensitivity in ``[low, high]``. The curve is the
polygon through the points (trapezoids), cut at ``low`` and ``high`` by linear
interpolation between the neighbouring points, as pROC does:

    pAUC = integral_{low}^{high} y(x) dx        (x, y) = (sp, se) or (se, sp)

McClish's standardisation maps the area of the diagonal (``min``) to 0.5 and a
perfect curve (``max``) to 1:

    min = (high - low) (2 - low - high) / 2,   max = high - low,
    pAUC_c = (1 + (pAUC - min) / (max - min)) / 2

As in pROC, the standardisation is undefined for a curve below the diagonal
over the range (``pAUC < min``): the result is NaN with a
:class:`PartialAucWarning` (pROC: ``NA`` with a warning). Bootstrap replicates
use the formula without that check, as pROC's bootstrap does
(``allow.invalid.partial.auc.correct = TRUE``).

The functions here work on validated arrays. They are shared by the ROC statistics
(:mod:`breastlab.evaluate.stats.partial` validates and re-exports them) and the MRMC analysis
(its partial-AUC figure of merit), so that neither reaches into the other.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from breastlab.errors import BreastlabInputError

FOCUSES = ("specificity", "sensitivity")


class PartialAucWarning(UserWarning):
    """McClish's correction is undefined (the curve lies below the diagonal over the range)."""


def check_partial(bounds, focus: str = "specificity") -> tuple[float, float]:
    """``(low, high)`` from a pair in any order, both within [0, 1] and distinct."""
    if focus not in FOCUSES:
        raise BreastlabInputError(f"partial AUC focus must be 'specificity' or 'sensitivity', got {focus!r}")
    try:
        lo, hi = sorted(float(v) for v in bounds)
    except (TypeError, ValueError):
        raise BreastlabInputError(f"partial AUC range must be two numbers in [0, 1], got {bounds!r}") from None
    if not (0.0 <= lo <= 1.0 and 0.0 <= hi <= 1.0):
        raise BreastlabInputError(f"partial AUC range must lie within [0, 1] ({focus}), got {bounds!r}")
    if lo == hi:
        raise BreastlabInputError(f"partial AUC range must have two different ends, got {bounds!r}")
    return lo, hi


def partial_area(x: np.ndarray, y: np.ndarray, low: float, high: float) -> np.ndarray:
    """Area under the polygon through (x, y) between ``low`` and ``high``, per row.

    ``x``, ``y``: (b, K) or (K,), ``x`` non-decreasing along the last axis and
    covering [0, 1]. Each segment is clipped to [low, high] and its ends
    interpolated linearly (vertical segments add nothing).
    """
    x = np.atleast_2d(x)
    y = np.atleast_2d(y)
    x0, x1, y0, y1 = x[:, :-1], x[:, 1:], y[:, :-1], y[:, 1:]
    a = np.maximum(x0, low)
    c = np.minimum(x1, high)
    inside = (c > a) & (x1 > x0)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(inside, (y1 - y0) / np.where(inside, x1 - x0, 1.0), 0.0)
    ya = y0 + (a - x0) * slope
    yc = y0 + (c - x0) * slope
    return np.where(inside, (c - a) * (ya + yc) / 2.0, 0.0).sum(axis=1)


def mcclish(area, low: float, high: float):
    """McClish (1989) standardised partial AUC (no validity check)."""
    pmin = (2.0 - low - high) * (high - low) / 2.0
    pmax = high - low
    return (1.0 + (area - pmin) / (pmax - pmin)) / 2.0


def mcclish_min(low: float, high: float) -> float:
    return (2.0 - low - high) * (high - low) / 2.0


def curve_partial_auc(
    sensitivities: np.ndarray,
    specificities: np.ndarray,
    bounds,
    focus: str = "specificity",
    correct: bool = False,
    allow_invalid: bool = False,
):
    """Partial AUC of curves given by their points, ordered by increasing specificity.

    ``sensitivities``/``specificities``: (K,) for one curve or (b, K) for b curves
    (bootstrap replicates). Returns a float for one curve, else an array.
    """
    lo, hi = check_partial(bounds, focus)
    se = np.atleast_2d(np.asarray(sensitivities, dtype=np.float64))
    sp = np.atleast_2d(np.asarray(specificities, dtype=np.float64))
    x, y = (sp, se) if focus == "specificity" else (se[:, ::-1], sp[:, ::-1])
    area = partial_area(x, y, lo, hi)
    if correct:
        below = area < mcclish_min(lo, hi)
        area = mcclish(area, lo, hi)
        if not allow_invalid and below.any():
            warnings.warn(
                f"partial AUC correction (McClish) is not defined for ROC curves below the diagonal over the "
                f"{focus} range [{lo:g}, {hi:g}]; the corrected partial AUC is NaN (as pROC returns NA)",
                PartialAucWarning,
                stacklevel=3,
            )
            area = np.where(below, math.nan, area)
    return float(area[0]) if np.ndim(sensitivities) == 1 else area


def empirical_roc_points(truth: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sensitivities and specificities of the empirical ROC curve of oriented 1-D ``scores``.

    At threshold index ``i`` (0 = -Inf, L = +Inf over the L distinct scores, ascending),
    ``sensitivity = #{positives >= t_i} / m`` and ``specificity = #{negatives < t_i} / n``:
    specificity increases with ``i``, as :func:`curve_partial_auc` expects. ``truth``: booleans,
    both classes present; ``scores``: finite, higher = positive (validated by the caller).
    """
    _, level = np.unique(scores, return_inverse=True)
    n_all = np.bincount(level)
    pos_per_level = np.bincount(level, weights=truth.astype(np.float64), minlength=n_all.size).astype(np.int64)
    neg_per_level = (n_all - pos_per_level).astype(np.int64)
    tp = np.concatenate([np.cumsum(pos_per_level[::-1])[::-1], [0]])  # positives >= t_i
    tn = np.concatenate([[0], np.cumsum(neg_per_level)])  # negatives < t_i
    return tp / int(truth.sum()), tn / int((~truth).sum())


def empirical_partial_auc(truth: np.ndarray, scores: np.ndarray, bounds, focus: str = "specificity") -> float:
    """Uncorrected partial AUC of the empirical ROC curve of validated, oriented 1-D ``scores``."""
    sens, spec = empirical_roc_points(truth, scores)
    return curve_partial_auc(sens, spec, bounds, focus)
