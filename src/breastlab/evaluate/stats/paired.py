"""Paired comparisons of a continuous measure (e.g. reading time): Wilcoxon signed-rank, Shapiro-Wilk.

Wilcoxon F. Individual comparisons by ranking methods. Biometrics Bulletin 1945;1:80-83.
Shapiro SS, Wilk MB. An analysis of variance test for normality (complete
samples). Biometrika 1965;52:591-611.

Both wrap SciPy (``scipy.stats.wilcoxon``, ``scipy.stats.shapiro``) and add
the summary a paper reports: median (min-max) of each arm and of the differences.
Wilcoxon: zero differences are dropped (Wilcoxon's convention); ``method="auto"``
uses the exact null distribution when n <= 50 and there are no ties or zeros
among the differences, and otherwise the normal approximation with SciPy's
tie correction (``method="asymptotic"``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import stats as _st

from breastlab.errors import BreastlabInputError
from breastlab.evaluate.stats._validate import check_alternative, check_scores


def median_range(values) -> str:
    """``"median (min–max)"`` with 3 significant digits, as reported in papers."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return "-"
    return f"{np.median(v):.3g} ({v.min():.3g}–{v.max():.3g})"


@dataclasses.dataclass(frozen=True)
class WilcoxonResult:
    statistic: float  # W = the smaller of the signed-rank sums (two-sided) as SciPy reports it
    p_value: float
    n: int  # pairs
    n_nonzero: int  # pairs with a non-zero difference
    method: str  # "exact" or "approx"
    alternative: str
    median_x: float
    min_x: float
    max_x: float
    median_y: float
    min_y: float
    max_y: float
    median_difference: float  # median of x - y
    summary_x: str
    summary_y: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ShapiroResult:
    statistic: float  # W
    p_value: float
    n: int
    normal: bool  # p >= alpha
    alpha: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def wilcoxon_signed_rank(x, y=None, alternative: str = "two-sided", method: str = "auto") -> WilcoxonResult:
    """Wilcoxon signed-rank test of paired ``x`` and ``y`` (or of ``x`` alone against 0).

    H0: the differences ``d = x - y`` are symmetric about 0. ``alternative="greater"``:
    x tends to exceed y. Summaries give median (min–max) of x and y.
    """
    alternative = check_alternative(alternative)
    if method not in ("auto", "exact", "approx"):
        raise BreastlabInputError(f"method must be 'auto', 'exact' or 'approx', got {method!r}")
    xa = check_scores(x, None, name="x")
    ya = np.zeros_like(xa) if y is None else check_scores(y, xa.size, name="y")
    d = xa - ya
    nz = int(np.count_nonzero(d))
    if nz < 1:
        raise BreastlabInputError(
            "x and y are identical in every pair; the signed-rank test needs a non-zero difference"
        )
    if method == "auto":  # the exact null distribution holds only without ties and zeros
        has_ties = np.unique(np.abs(d[d != 0])).size < nz
        used = "exact" if nz <= 50 and not has_ties and nz == d.size else "approx"
    else:
        used = method
    res = _st.wilcoxon(
        xa, ya, alternative=alternative, zero_method="wilcox", method="exact" if used == "exact" else "asymptotic"
    )
    return WilcoxonResult(
        float(res.statistic),
        float(res.pvalue),
        int(d.size),
        nz,
        used,
        alternative,
        float(np.median(xa)),
        float(xa.min()),
        float(xa.max()),
        float(np.median(ya)),
        float(ya.min()),
        float(ya.max()),
        float(np.median(d)),
        median_range(xa),
        median_range(ya),
    )


def shapiro_wilk(x, alpha: float = 0.05) -> ShapiroResult:
    """Shapiro-Wilk test of normality (Shapiro & Wilk 1965) via ``scipy.stats.shapiro`` (n >= 3)."""
    xa = check_scores(x, None, name="x")
    if xa.size < 3:
        raise BreastlabInputError(f"x has {xa.size} values; Shapiro-Wilk needs at least 3")
    res = _st.shapiro(xa)
    return ShapiroResult(float(res.statistic), float(res.pvalue), int(xa.size), bool(res.pvalue >= alpha), alpha)
