"""Operating points on the empirical ROC curve: Youden, sensitivity at specificity.

Youden WJ. Index for rating diagnostic tests. Cancer 1950;3:32-35.
Robin X, et al. pROC. BMC Bioinformatics 2011;12:77 (``coords``).

Thresholds follow :func:`roc_curve` (pROC's midpoints; positive when
``score >= threshold`` for ``direction="<"``). The Youden index is
``J = sensitivity + specificity - 1``; the optimum maximises
``sensitivity + specificity`` computed in double precision exactly as pROC's
``coords(roc, "best", best.method = "youden")`` does (``se = tp / m``,
``sp = (n - fp) / n``), so the set of tied optima is the same as pROC's.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from breastlab.errors import BreastlabInputError
from breastlab.evaluate.stats.roc import RocCurve, roc_curve


@dataclasses.dataclass(frozen=True)
class OperatingPoint:
    """One point of the ROC curve (threshold NaN when interpolated between points)."""

    threshold: float
    sensitivity: float
    specificity: float
    youden_index: float  # sensitivity + specificity - 1
    n_tied: int = 1  # thresholds sharing the optimum (Youden only)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def coords_best(y_true, y_score, direction: str = "<") -> pd.DataFrame:
    """All Youden-optimal thresholds, as pROC's ``coords(roc, "best")``, in the curve's order.

    Columns: threshold, specificity, sensitivity, youden (= sensitivity + specificity,
    pROC's criterion with ``best.weights = c(1, 0.5)``).
    """
    roc = roc_curve(y_true, y_score, direction)
    crit = roc.sensitivities + roc.specificities
    best = crit == crit.max()
    return pd.DataFrame(
        {
            "threshold": roc.thresholds[best],
            "specificity": roc.specificities[best],
            "sensitivity": roc.sensitivities[best],
            "youden": crit[best],
        }
    )


def youden(y_true, y_score, direction: str = "<") -> OperatingPoint:
    """Youden-optimal operating point (Youden 1950), ``argmax_t se(t) + sp(t)``.

    Where several thresholds tie (see :func:`coords_best`), the most sensitive
    one is returned (the lowest threshold for ``direction="<"``, highest for ``">"``)
    and ``n_tied`` says how many tie.
    """
    best = coords_best(y_true, y_score, direction)
    row = best.loc[best["sensitivity"].idxmax()]
    se, sp = float(row["sensitivity"]), float(row["specificity"])
    return OperatingPoint(float(row["threshold"]), se, sp, se + sp - 1.0, len(best))


def _at(roc: RocCurve, target: float, given: str, interpolate: bool) -> OperatingPoint:
    """Best ``other`` coordinate where ``given`` (sensitivity/specificity) reaches ``target``."""
    if not 0.0 <= target <= 1.0:
        raise BreastlabInputError(f"{given} must be within [0, 1], got {target!r}")
    x = roc.specificities if given == "specificity" else roc.sensitivities
    y = roc.sensitivities if given == "specificity" else roc.specificities
    if interpolate:
        exact = np.flatnonzero(x == target)
        if exact.size == 0:
            # pROC: linear interpolation between the two ROC points around the target,
            # written as pROC writes it so the doubles agree.
            increasing = x[-1] >= x[0]
            nxt = int(np.argmax(x > target)) if increasing else int(np.argmax(x < target))
            prop = (target - x[nxt]) / (x[nxt - 1] - x[nxt])
            yv = y[nxt] + prop * (y[nxt - 1] - y[nxt])
            se, sp = (yv, target) if given == "specificity" else (target, yv)
            return OperatingPoint(math.nan, float(se), float(sp), float(se + sp - 1.0))
        ok = exact
    else:
        ok = np.flatnonzero(x >= target)
    # Highest ``other`` coordinate; among ties the one with the highest ``given`` value.
    i = ok[np.lexsort((x[ok], y[ok]))[-1]]
    se, sp = float(roc.sensitivities[i]), float(roc.specificities[i])
    return OperatingPoint(float(roc.thresholds[i]), se, sp, se + sp - 1.0)


def sensitivity_at_specificity(
    y_true, y_score, specificity: float, direction: str = "<", interpolate: bool = False
) -> OperatingPoint:
    """Sensitivity of the operating point that keeps specificity >= ``specificity``.

    ``interpolate=False``: the empirical point with the highest sensitivity among
    thresholds with specificity at least the target. ``interpolate=True``: pROC's
    ``coords(roc, x = specificity, input = "specificity")``: the exact point if
    the target is a specificity of the curve, else the linear interpolation
    between the neighbouring points (threshold NaN).
    """
    return _at(roc_curve(y_true, y_score, direction), float(specificity), "specificity", interpolate)


def specificity_at_sensitivity(
    y_true, y_score, sensitivity: float, direction: str = "<", interpolate: bool = False
) -> OperatingPoint:
    """Specificity of the operating point that keeps sensitivity >= ``sensitivity`` (mirror of the above)."""
    return _at(roc_curve(y_true, y_score, direction), float(sensitivity), "sensitivity", interpolate)
