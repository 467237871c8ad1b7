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
"""

from __future__ import annotations

from breastlab.evaluate._partial import (
    FOCUSES,
    PartialAucWarning,
    check_partial,
    curve_partial_auc,
    mcclish,
    mcclish_min,
    partial_area,
)

__all__ = [
    "FOCUSES",
    "PartialAucWarning",
    "check_partial",
    "curve_partial_auc",
    "mcclish",
    "mcclish_min",
    "partial_area",
    "partial_auc",
]


def partial_auc(
    y_true,
    y_score,
    bounds=(0.8, 1.0),
    focus: str = "specificity",
    correct: bool = False,
    direction: str = "<",
) -> float:
    """Partial AUC of the empirical ROC curve (pROC ``auc(roc, partial.auc = bounds, ...)``).

    ``bounds``: (low, high) of specificity (``focus="specificity"``, pROC's default)
    or of sensitivity. ``correct=True`` applies McClish's standardisation; NaN with
    a :class:`PartialAucWarning` where it is undefined (see the module docstring).
    """
    from breastlab.evaluate.stats.roc import roc_curve

    roc = roc_curve(y_true, y_score, direction)
    return curve_partial_auc(roc.sensitivities, roc.specificities, bounds, focus, correct)
