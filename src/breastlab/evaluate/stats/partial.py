"""Partial area under the ROC curve, raw and with McClish's standardisation (pROC's ``partial.auc``).

McClish DK. Analyzing a portion of the ROC curve. Medical Decision Making 1989;9:190-195.
Robin X, et al. pROC. BMC Bioinformatics 2011;12:77.

:func:`partial_auc` validates its input and integrates the empirical curve; the
formulas (the cut polygon, McClish's min/max standardisation, NaN with
:class:`PartialAucWarning` where pROC gives NA) are written out once, in
:mod:`breastlab.evaluate._partial`, whose functions this module re-exports.
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
