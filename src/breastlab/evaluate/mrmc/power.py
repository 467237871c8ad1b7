r"""Power and sample size of a planned two-treatment MRMC study from pilot OR variance components.

Hillis SL, Obuchowski NA, Berbaum KS. Power estimation for multireader ROC methods: an
updated and unified approach. Acad Radiol 2011;18:129-142 (eqns 9-10 and Table 2), as
implemented by RJafroc's ``SsPowerGivenJK`` / ``SsSampleSizeKGivenJ``.

The pilot study (:math:`K^*` cases) gives :math:`\sigma^2_{TR}` (negative estimates set to 0, as
RJafroc does), the error variance and Cov1-Cov3 of its figures of merit. Case-level
(co)variances scale as :math:`K^*/K` for a planned study of J readers and K cases. With the
effect size d (difference of the two treatments' reader-averaged figures of merit) and
:math:`c = \max(\mathrm{Cov}_2 - \mathrm{Cov}_3, 0)`:

* random readers, random cases (Hillis F test):
  :math:`\mathrm{den} = \sigma^2_{TR} + \frac{K^*}{K}(\mathrm{Var} - \mathrm{Cov}_1 + (J-1)c)`,
  :math:`\lambda = \frac{J d^2/2}{\mathrm{den}}`,
  :math:`\mathrm{ddf} = \mathrm{den}^2 (J-1) / [\sigma^2_{TR} + \frac{K^*}{K}(\mathrm{Var}-\mathrm{Cov}_1-c)]^2`,
  power :math:`= P(F_{1,\mathrm{ddf},\lambda} > F_{1-\alpha;1,\mathrm{ddf}})`;
* fixed readers, random cases: :math:`\mathrm{den} = \frac{K^*}{K}(\mathrm{Var} - \mathrm{Cov}_1 + (J-1)c)`,
  power from the noncentral :math:`\chi^2_1(\lambda)`;
* random readers, fixed cases: :math:`\mathrm{den} = \sigma^2_{TR} + \frac{K^*}{K}(\mathrm{Var} - \mathrm{Cov}_1 - c)`,
  ddf = J - 1.

Everything is vectorised over readers x cases, so a grid costs one call of SciPy's noncentral F.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from breastlab.errors import BreastlabInputError

ANALYSES = ("rrrc", "frrc", "rrfc")


@dataclasses.dataclass(frozen=True)
class PilotVariance:
    """OR variance components of a pilot study and its number of cases (:math:`K^*`)."""

    var_tr: float
    var_error: float
    cov1: float
    cov2: float
    cov3: float
    n_cases: int

    @classmethod
    def from_result(cls, result) -> PilotVariance:
        """From an :class:`~breastlab.evaluate.mrmc.ORHillisResult` (``or_hillis`` or ``or_froc``)."""
        c = result.components
        return cls(c.var_tr, c.var_error, c.cov1, c.cov2, c.cov3, result.n_positive + result.n_negative)

    def __post_init__(self):
        vals = (self.var_tr, self.var_error, self.cov1, self.cov2, self.cov3)
        if not all(np.isfinite(v) for v in vals) or self.var_error <= 0 or self.n_cases < 2:
            raise BreastlabInputError(
                f"pilot variance components must be finite with error variance > 0 and >= 2 cases; got {self}"
            )


def mrmc_power(
    pilot: PilotVariance,
    effect: float,
    n_readers,
    n_cases,
    *,
    alpha: float = 0.05,
    analysis: str = "rrrc",
) -> np.ndarray:
    """Power of the two-treatment test for every (readers, cases) pair (NumPy broadcasting)."""
    if analysis not in ANALYSES:
        raise BreastlabInputError(f"analysis must be one of {ANALYSES}, got {analysis!r}")
    if not 0 < alpha < 1:
        raise BreastlabInputError(f"alpha must be in (0, 1), got {alpha}")
    j, k = np.broadcast_arrays(np.asarray(n_readers, dtype=np.float64), np.asarray(n_cases, dtype=np.float64))
    if np.any(j < 2) or np.any(k < 2):
        raise BreastlabInputError("a planned study needs at least 2 readers and 2 cases")
    var_tr = max(pilot.var_tr, 0.0)
    c = max(pilot.cov2 - pilot.cov3, 0.0)
    scale = pilot.n_cases / k
    lam_num = effect**2 * j / 2.0
    if analysis == "frrc":
        den = scale * (pilot.var_error - pilot.cov1 + (j - 1) * c)
        return stats.ncx2.sf(stats.chi2.ppf(1 - alpha, 1), 1, lam_num / den)
    ms_tr = var_tr + scale * (pilot.var_error - pilot.cov1 - c)
    if analysis == "rrfc":
        den, ddf = ms_tr, j - 1
    else:
        den = var_tr + scale * (pilot.var_error - pilot.cov1 + (j - 1) * c)
        ddf = den**2 * (j - 1) / ms_tr**2
    return stats.ncf.sf(stats.f.ppf(1 - alpha, 1, ddf), 1, ddf, lam_num / den)


def mrmc_sample_size(
    pilot: PilotVariance,
    effect: float,
    n_readers: int,
    *,
    power: float = 0.8,
    alpha: float = 0.05,
    analysis: str = "rrrc",
    max_cases: int = 100_000,
) -> tuple[int | None, float]:
    """Smallest number of cases giving at least ``power`` with ``n_readers`` readers, and its power.

    Returns ``(None, power at max_cases)`` when even ``max_cases`` cases fall short (with random
    readers the power is bounded by the reader variance however many cases are read).
    """
    if not 0 < power < 1:
        raise BreastlabInputError(f"power must be in (0, 1), got {power}")
    if effect == 0:
        raise BreastlabInputError("effect size must not be 0")

    def at(k: int) -> float:
        return float(mrmc_power(pilot, effect, n_readers, k, alpha=alpha, analysis=analysis))

    hi_power = at(max_cases)
    if hi_power < power:
        return None, hi_power
    lo, hi = 2, max_cases
    if at(lo) >= power:
        return lo, at(lo)
    while hi - lo > 1:  # power increases with the number of cases
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if at(mid) < power else (lo, mid)
    return hi, at(hi)


def power_table(
    pilot: PilotVariance,
    effect: float,
    readers: Sequence[int],
    cases: Sequence[int],
    *,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Power of the three analyses for every (readers, cases) in the grid: one row each."""
    j, k = np.meshgrid(np.asarray(readers, dtype=int), np.asarray(cases, dtype=int), indexing="ij")
    out = pd.DataFrame({"readers": j.ravel(), "cases": k.ravel()})
    for analysis in ANALYSES:
        out[f"power_{analysis}"] = mrmc_power(pilot, effect, j, k, alpha=alpha, analysis=analysis).ravel()
    return out
