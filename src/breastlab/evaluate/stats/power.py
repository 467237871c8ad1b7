"""Power and sample size of ROC studies (pROC's ``power.roc.test``).

Obuchowski NA. Computing sample size for receiver operating characteristic
studies. Investigative Radiology 1994;29:238-243 (one curve).
Obuchowski NA, McClish DK. Sample size determination for diagnostic accuracy
studies involving binormal ROC curve indices. Stat Med 1997;16:1529-1542 (two curves).
Robin X, et al. pROC. BMC Bioinformatics 2011;12:77.

``kappa = n_controls / n_cases``; ``alpha`` is halved for a two-sided test, and
sizes are numbers of cases (positives) in real numbers, as pROC returns them
(round up to plan a study). With ``z_a = qnorm(1 - alpha)``, ``z_b = qnorm(power)``,
difference ``delta`` and variance functions ``V0`` (under H0) and ``VA`` (under H1),
both scaled by the number of cases:

    n_cases = (z_a sqrt(V0) + z_b sqrt(VA))^2 / delta^2
    z_b     = (sqrt(n_cases delta^2) - z_a sqrt(V0)) / sqrt(VA)
    z_a     = (sqrt(n_cases delta^2) - z_b sqrt(VA)) / sqrt(V0)

The last gives the significance level ``1 - Phi(z_a)`` (doubled when two-sided) at
which a study of the given size reaches the given power: pROC's
``power.roc.test(..., sig.level = NULL)``, whose ``solve.zalpha`` is this closed form
(for one curve, two binormal curves and two pilot curves alike). A two-sided level
of 1 or more (``z_a <= 0``) is refused: no test reaches that power with that size.

* One curve, H0: AUC = 0.5 (Obuchowski 1994): ``delta = AUC - 0.5``,
  ``V0 = 0.0792 (1 + 1 / kappa)``, ``VA = 0.0099 exp(-A^2 / 2) ((5 A^2 + 8) + (A^2 + 8) / kappa)``
  with ``A = 1.414 qnorm(AUC)``. The detectable AUC solves the first equation for
  AUC in (0.5, 1) (Brent's method to 1e-12; pROC's ``uniroot`` stops at about 1e-4).
* Two curves from binormal parameters (Obuchowski & McClish 1997): ``V1``, ``V2``
  from :func:`~breastlab.evaluate.stats.obuchowski.obuchowski_v` and the covariance

      C = f1 f2 (ra + rn B1 B2 / kappa + ra^2 A1 A2 / 2) + g1 g2 B1 B2 (rn^2 + kappa ra^2) / (2 kappa)
          + f1 g2 ra^2 A1 B2 / 2 + f2 g1 ra^2 A2 B1 / 2

  (rn, ra: correlations of the two tests' ratings in negatives and positives),
  ``V0 = 2 V1 - 2 C``, ``VA = V1 + V2 - 2 C``. Two unpaired curves (different
  cases, equal sizes) are the case ``rn = ra = 0``, where ``C = 0``.
* Two curves from pilot data (paired): ``delta = AUC1 - AUC2`` and the DeLong
  variances and covariance times the pilot's number of cases; power at the
  pilot's size, or the number of cases for a given power.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import optimize
from scipy import stats as _st

from breastlab.errors import BreastlabInputError
from breastlab.evaluate.stats.obuchowski import obuchowski_fg, obuchowski_v


@dataclasses.dataclass(frozen=True)
class PowerResult:
    """A power / sample-size calculation; the computed quantity is named in ``solved_for``."""

    method: str
    solved_for: str  # "power", "ncases", "auc" or "sig_level"
    ncases: float
    ncontrols: float
    sig_level: float
    power: float
    alternative: str
    auc: float | None = None  # one curve
    auc1: float | None = None  # two curves (pilot)
    auc2: float | None = None
    delta: float | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _check_level(value, name: str) -> float | None:
    if value is None:
        return None
    value = float(value)
    if not 0.0 < value < 1.0:
        raise BreastlabInputError(f"{name} must be in (0, 1), got {value!r}")
    return value


def _half(alpha: float, alternative: str) -> float:
    if alternative not in ("two-sided", "one-sided"):
        raise BreastlabInputError(f"alternative must be 'two-sided' or 'one-sided', got {alternative!r}")
    return alpha / 2.0 if alternative == "two-sided" else alpha


def _sizes(ncases, ncontrols, kappa) -> tuple[float | None, float | None, float | None]:
    """pROC's completion of (ncases, ncontrols) from kappa = controls per case."""
    for v, name in ((ncases, "ncases"), (ncontrols, "ncontrols"), (kappa, "kappa")):
        if v is not None and not float(v) > 0:
            raise BreastlabInputError(f"{name} must be positive, got {v!r}")
    if ncontrols is None and ncases is not None and kappa is not None:
        ncontrols = kappa * ncases
    elif ncases is None and ncontrols is not None and kappa is not None:
        ncases = ncontrols / kappa
    return ncases, ncontrols, kappa


def solve_nd(za: float, zb: float, v0: float, va: float, delta: float) -> float:
    return (za * math.sqrt(v0) + zb * math.sqrt(va)) ** 2 / delta**2


def solve_zbeta(nd: float, za: float, v0: float, va: float, delta: float) -> float:
    return (math.sqrt(nd * delta**2) - za * math.sqrt(v0)) / math.sqrt(va)


def solve_zalpha(nd: float, zb: float, v0: float, va: float, delta: float) -> float:
    """pROC's ``solve.zalpha``: the normal quantile of the significance level reached at ``nd`` cases."""
    return (math.sqrt(nd * delta**2) - zb * math.sqrt(va)) / math.sqrt(v0)


def _sig_level(za: float, alternative: str, ncases: float, power: float) -> float:
    """The (two-sided: doubled) significance level ``1 - Phi(z_a)``, refused where it is not below 1."""
    level = float(_st.norm.sf(za)) * (2.0 if alternative == "two-sided" else 1.0)
    if not level < 1.0:
        raise BreastlabInputError(
            f"power {power:g} with {ncases:g} cases needs a significance level of {level:.3g} (not below 1): "
            "no test reaches it; lower the power or add cases"
        )
    return level


def var_theta_obuchowski(theta: float, kappa: float) -> float:
    """Obuchowski (1994): n_cases times the variance of an AUC ``theta`` (binormal, B = 1)."""
    a = _st.norm.ppf(theta) * 1.414
    return 0.0099 * math.exp(-(a**2) / 2.0) * ((5.0 * a**2 + 8.0) + (a**2 + 8.0) / kappa)


def power_one_curve(
    auc: float | None = None,
    ncases: float | None = None,
    ncontrols: float | None = None,
    power: float | None = None,
    kappa: float = 1.0,
    sig_level: float | None = 0.05,
    alternative: str = "two-sided",
) -> PowerResult:
    """Power, number of cases, detectable AUC or significance level of a test of one AUC against 0.5
    (pROC ``power.roc.test``).

    Give all but one of ``auc``, the sample size (``ncases`` and/or ``ncontrols``, completed
    with ``kappa = ncontrols / ncases``), ``power`` and ``sig_level``; the missing one
    (``None``) is computed.
    """
    sig_level = _check_level(sig_level, "sig_level")
    power = _check_level(power, "power")
    if auc is not None and not 0.5 < float(auc) < 1.0:
        raise BreastlabInputError(f"auc must be in (0.5, 1), got {auc!r}")
    ncases, ncontrols, kappa = _sizes(ncases, ncontrols, kappa)
    if sig_level is None:
        if auc is None or ncases is None or ncontrols is None or power is None:
            raise BreastlabInputError(
                "to compute the significance level give auc, the sample size (ncases and ncontrols, or one "
                "with kappa) and power"
            )
        _half(0.05, alternative)  # validates alternative
        k = ncontrols / ncases
        za = solve_zalpha(ncases, _st.norm.ppf(power), 0.0792 * (1 + 1 / k), var_theta_obuchowski(auc, k), auc - 0.5)
        sig_level = _sig_level(za, alternative, ncases, power)
        return PowerResult(
            "One ROC curve power calculation",
            "sig_level",
            float(ncases),
            float(ncontrols),
            sig_level,
            float(power),
            alternative,
            auc=float(auc),
        )
    alpha = _half(sig_level, alternative)
    za = _st.norm.ppf(1.0 - alpha)
    if auc is None:
        if ncases is None or ncontrols is None or power is None:
            raise BreastlabInputError("to compute the detectable AUC give the sample size and power")
        k = ncontrols / ncases
        zb = _st.norm.ppf(power)

        def gap(x: float) -> float:
            return (za * math.sqrt(0.0792 * (1 + 1 / k)) + zb * math.sqrt(var_theta_obuchowski(x, k))) ** 2 / (
                x - 0.5
            ) ** 2 - ncases

        try:
            auc = optimize.brentq(gap, 0.5 + 1e-12, 1 - 1e-12, xtol=1e-14, rtol=1e-15)
        except ValueError:
            raise BreastlabInputError(
                f"no AUC below 1 reaches power {power:g} with {ncases:g} cases and {ncontrols:g} controls"
            ) from None
        solved = "auc"
    elif ncases is None and ncontrols is None:
        if power is None:
            raise BreastlabInputError("give two of auc, the sample size (--cases/--controls) and power")
        k = kappa
        ncases = solve_nd(za, _st.norm.ppf(power), 0.0792 * (1 + 1 / k), var_theta_obuchowski(auc, k), auc - 0.5)
        ncontrols = k * ncases
        solved = "ncases"
    elif power is None:
        if ncases is None or ncontrols is None:
            raise BreastlabInputError("give both ncases and ncontrols (or one of them with kappa)")
        k = ncontrols / ncases
        zb = solve_zbeta(ncases, za, 0.0792 * (1 + 1 / k), var_theta_obuchowski(auc, k), auc - 0.5)
        power = float(_st.norm.cdf(zb))
        solved = "power"
    else:
        raise BreastlabInputError(
            "leave exactly one of auc, the sample size, power and sig_level unset: it is computed"
        )
    return PowerResult(
        "One ROC curve power calculation",
        solved,
        float(ncases),
        float(ncontrols),
        sig_level,
        float(power),
        alternative,
        auc=float(auc),
    )


def cov_params_obuchowski(a1, b1, a2, b2, rn, ra, kappa, fpr1=None, fpr2=None) -> float:
    """Obuchowski & McClish (1997): n_cases times the covariance of two binormal (partial) AUCs."""
    f1, g1 = obuchowski_fg(a1, b1, *(fpr1 or (None, None)))
    f2, g2 = obuchowski_fg(a2, b2, *(fpr2 or (None, None)))
    return (
        f1 * f2 * (ra + rn * b1 * b2 / kappa + ra**2 * a1 * a2 / 2.0)
        + g1 * g2 * (b1 * b2 * (rn**2 + kappa * ra**2) / (2.0 * kappa))
        + f1 * g2 * (ra**2 * a1 * b2 / 2.0)
        + f2 * g1 * (ra**2 * a2 * b1 / 2.0)
    )


def _two_curve(v1, v2, c12, delta, ncases, ncontrols, power, kappa, sig_level, alternative, method, **extra):
    _half(0.05, alternative)  # validates alternative
    v0, va = 2.0 * v1 - 2.0 * c12, v1 + v2 - 2.0 * c12
    if delta == 0:
        raise BreastlabInputError("the two AUCs are equal: no power or sample size for a zero difference")
    if sig_level is None:
        if power is None or ncases is None:
            raise BreastlabInputError(
                "to compute the significance level give the number of cases (or controls and kappa) and power"
            )
        sig_level = _sig_level(solve_zalpha(ncases, _st.norm.ppf(power), v0, va, delta), alternative, ncases, power)
        solved = "sig_level"
    else:
        za = _st.norm.ppf(1.0 - _half(sig_level, alternative))
        if power is None:
            if ncases is None:
                raise BreastlabInputError("give the number of cases (or controls and kappa) to compute the power")
            power = float(_st.norm.cdf(solve_zbeta(ncases, za, v0, va, delta)))
            solved = "power"
        elif ncases is None:
            ncases = solve_nd(za, _st.norm.ppf(power), v0, va, delta)
            ncontrols = kappa * ncases
            solved = "ncases"
        else:
            raise BreastlabInputError("leave one of the sample size, power and sig_level unset: it is computed")
    return PowerResult(
        method,
        solved,
        float(ncases),
        float(ncontrols if ncontrols is not None else kappa * ncases),
        sig_level,
        float(power),
        alternative,
        delta=float(delta),
        **extra,
    )


def power_two_binormal(
    a1: float,
    b1: float,
    a2: float,
    b2: float,
    rn: float,
    ra: float,
    delta: float,
    ncases: float | None = None,
    ncontrols: float | None = None,
    power: float | None = None,
    kappa: float = 1.0,
    sig_level: float | None = 0.05,
    alternative: str = "two-sided",
    fpr1=None,
    fpr2=None,
) -> PowerResult:
    """Two paired curves from binormal parameters (pROC ``power.roc.test(list(A1=, B1=, ...))``).

    Leave one of the sample size, ``power`` and ``sig_level`` as ``None``: it is computed.
    ``fpr1``/``fpr2``: optional (FPR_high, FPR_low) pairs for partial AUCs of curve 1 / 2
    (pROC's FPR11, FPR12 / FPR21, FPR22).
    """
    sig_level = _check_level(sig_level, "sig_level")
    power = _check_level(power, "power")
    ncases, ncontrols, kappa = _sizes(ncases, ncontrols, kappa)
    if ncases is not None and ncontrols is not None:
        kappa = ncontrols / ncases
    v1 = obuchowski_v(a1, b1, kappa, *(fpr1 or (None, None)))
    v2 = obuchowski_v(a2, b2, kappa, *(fpr2 or (None, None)))
    c12 = cov_params_obuchowski(a1, b1, a2, b2, rn, ra, kappa, fpr1, fpr2)
    return _two_curve(
        v1,
        v2,
        c12,
        delta,
        ncases,
        ncontrols,
        power,
        kappa,
        sig_level,
        alternative,
        "Two ROC curves power calculation (binormal parameters)",
    )


def power_two_pilot(
    y_true,
    score1,
    score2,
    power: float | None = None,
    sig_level: float | None = 0.05,
    kappa: float | None = None,
    alternative: str = "two-sided",
    direction: str = "<",
    method: str = "delong",
    n_boot: int = 2000,
    seed=0,
) -> PowerResult:
    """Two paired curves from pilot data (pROC ``power.roc.test(roc1, roc2, method = method)``).

    Variances and covariance of the pilot's AUCs by ``method`` ("delong", "obuchowski"
    or "bootstrap", see :func:`~breastlab.evaluate.stats.delong.delong_cov`). Without
    ``power``: the power at the pilot's size. With ``power``: the number of cases
    (controls = ``kappa`` x cases, ``kappa`` defaulting to the pilot's ratio), or with
    ``sig_level=None`` the significance level at which the pilot's size reaches ``power``.
    """
    from breastlab.evaluate.stats.delong import delong_cov

    sig_level = _check_level(sig_level, "sig_level")
    power = _check_level(power, "power")
    aucs, cov = delong_cov(y_true, np.column_stack([score1, score2]), direction, method, n_boot=n_boot, seed=seed)
    truth = np.asarray(y_true).astype(float) == 1
    m, n = int(truth.sum()), int((~truth).sum())
    k = n / m if kappa is None else float(kappa)
    at_pilot = power is None or sig_level is None  # power or significance level at the pilot's size
    return _two_curve(
        cov[0, 0] * m,
        cov[1, 1] * m,
        cov[0, 1] * m,
        float(aucs[0] - aucs[1]),
        m if at_pilot else None,
        n if at_pilot else None,
        power,
        k,
        sig_level,
        alternative,
        f"Two ROC curves power calculation (pilot data, {method})",
        auc1=float(aucs[0]),
        auc2=float(aucs[1]),
    )


def power_one_pilot(
    y_true,
    score,
    power: float | None = None,
    sig_level: float | None = 0.05,
    kappa: float | None = None,
    alternative: str = "two-sided",
    direction: str = "<",
) -> PowerResult:
    """One curve from pilot data (pROC ``power.roc.test(roc)``): its AUC, and its size unless both ``power``
    and ``sig_level`` are given (then the number of cases is computed); ``sig_level=None``: the significance
    level at which the pilot's size reaches ``power``."""
    from breastlab.evaluate.stats.roc import auc as _auc

    a = _auc(y_true, score, direction)
    truth = np.asarray(y_true).astype(float) == 1
    m, n = int(truth.sum()), int((~truth).sum())
    if power is None or sig_level is None:
        return power_one_curve(a, m, n, power, n / m, sig_level, alternative)
    return power_one_curve(a, None, None, power, n / m if kappa is None else kappa, sig_level, alternative)
