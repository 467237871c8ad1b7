"""Obuchowski's variance of a binormal (partial) AUC, as pROC uses it.

Obuchowski NA, McClish DK. Sample size determination for diagnostic accuracy
studies involving binormal ROC curve indices. Stat Med 1997;16:1529-1542.
Robin X, et al. pROC. BMC Bioinformatics 2011;12:77 (``var(roc, method = "obuchowski")``,
``power.roc.test``).

For binormal parameters ``A``, ``B`` and ``kappa = n_controls / n_cases``, the
variance of the AUC times the number of cases is

    V(A, B, kappa) = f^2 (1 + B^2 / kappa + A^2 / 2) + g^2 B^2 (1 + kappa) / (2 kappa)

with, for the full AUC (``E1 = exp(-A^2 / (2 (1 + B^2)))``),

    f = E1 / sqrt(2 pi (1 + B^2)),   g = -E1 A B / sqrt(2 pi (1 + B^2)^3)

and for the partial AUC over false-positive rates ``FPR2 <= FPR <= FPR1``
(``c_i = (qnorm(FPR_i) + A B / (1 + B^2)) sqrt(1 + B^2)``)

    f = E1 / sqrt(2 pi (1 + B^2)) (pnorm(c1) - pnorm(c2))
    g = E1 / (2 pi (1 + B^2)) (exp(-c2^2 / 2) - exp(-c1^2 / 2))
        - A B E1 / sqrt(2 pi (1 + B^2)^3) (pnorm(c1) - pnorm(c2))

``var(AUC) = V / n_cases``. For the variance of an observed curve, ``A`` and ``B``
come from pROC's binormal least-squares line (:func:`~breastlab.evaluate.stats.smooth.binormal_fit`).
"""

from __future__ import annotations

import math

from scipy import stats as _st


def _e1(a: float, b: float) -> float:
    return math.exp(-(a**2) / (2.0 * (1.0 + b**2)))


def _c(a: float, b: float, fpr: float) -> float:
    return (_st.norm.ppf(fpr) + a * b / (1.0 + b**2)) * math.sqrt(1.0 + b**2)


def obuchowski_fg(a: float, b: float, fpr1: float | None = None, fpr2: float | None = None) -> tuple[float, float]:
    """The derivatives ``f`` and ``g`` of the (partial) binormal AUC (see the module docstring)."""
    e1, e2 = _e1(a, b), 1.0 + b**2
    if fpr1 is None or fpr2 is None:
        return e1 / math.sqrt(2.0 * math.pi * e2), -e1 * a * b / math.sqrt(2.0 * math.pi * e2**3)
    c1, c2 = _c(a, b, fpr1), _c(a, b, fpr2)
    e3 = _st.norm.cdf(c1) - _st.norm.cdf(c2)
    e4 = math.exp(-(c1**2) / 2.0) - math.exp(-(c2**2) / 2.0)
    f = e1 / math.sqrt(2.0 * math.pi * e2) * e3
    g = e1 / (2.0 * math.pi * e2) * (-e4) - a * b * e1 / math.sqrt(2.0 * math.pi * e2**3) * e3
    return float(f), float(g)


def obuchowski_v(a: float, b: float, kappa: float, fpr1: float | None = None, fpr2: float | None = None) -> float:
    """``V(A, B, kappa)``: n_cases times the variance of the (partial) AUC."""
    f, g = obuchowski_fg(a, b, fpr1, fpr2)
    return f**2 * (1.0 + b**2 / kappa + a**2 / 2.0) + g**2 * b**2 * (1.0 + kappa) / (2.0 * kappa)
