"""DeLong variance, confidence interval and tests of AUCs (pROC-compatible).

DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or more
correlated receiver operating characteristic curves: a nonparametric approach.
Biometrics 1988;44:837-845.
Sun X, Xu W. Fast implementation of DeLong's algorithm for comparing the areas
under correlated receiver operating characteristic curves. IEEE Signal
Processing Letters 2014;21(11):1389-1393.
Hanley JA, McNeil BJ. The meaning and use of the area under a receiver
operating characteristic (ROC) curve. Radiology 1982;143:29-36.
Robin X, et al. pROC. BMC Bioinformatics 2011;12:77.

With m positives and n negatives, structural components V10 (one per positive)
and V01 (one per negative) from ``_delong.delong_components`` give

    S = S10 / m + S01 / n        (S10, S01 sample covariance matrices, ddof 1)

for k score columns on the same cases (O(k N log N), Sun & Xu 2014).

* ``ci_auc``: ``AUC -/+ z_{1-a/2} sqrt(S)``, clipped to [0, 1] (pROC ``ci.auc``).
* paired test (pROC ``roc.test(paired = TRUE, method = "delong")``):
  ``z = (A1 - A2) / sqrt(S11 + S22 - 2 S12)``, CI of the difference
  ``(A1 - A2) -/+ z_{1-a/2} sqrt(...)``; ``z = 0`` when both difference and
  variance are 0.
* unpaired test (pROC ``roc.test(paired = FALSE, method = "delong")``):
  ``D = (A1 - A2) / sqrt(S1 + S2)`` compared with Student's t on
  ``df = (S1 + S2)^2 / (S1^2 / (N1 - 1) + S2^2 / (N2 - 1))``, N = cases + controls
  (pROC's choice of df).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import stats as _st

from breastlab.errors import BreastlabInputError
from breastlab.evaluate._delong import DeLongComponents, delong_components
from breastlab.evaluate.stats._validate import (
    check_alternative,
    check_conf_level,
    check_scores,
    check_truth,
    orient,
    warn_degenerate,
)
from breastlab.evaluate.stats.roc import prepare


@dataclasses.dataclass(frozen=True)
class AucCI:
    """AUC with its standard error, confidence interval and test against AUC = 0.5."""

    auc: float
    lower: float
    upper: float
    se: float
    conf_level: float
    method: str
    z: float  # (AUC - 0.5) / se
    p_value: float  # two-sided, against AUC = 0.5
    n_positive: int
    n_negative: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class DeLongTest:
    """DeLong comparison of two AUCs (AUC1 - AUC2)."""

    auc1: float
    auc2: float
    difference: float
    se: float
    statistic: float  # z (paired) or D (unpaired, t-distributed)
    df: float | None  # degrees of freedom (unpaired only)
    p_value: float  # for ``alternative``
    p_two_sided: float
    p_greater: float  # H1: AUC1 > AUC2
    p_less: float  # H1: AUC1 < AUC2
    alternative: str
    ci_lower: float  # CI of the difference
    ci_upper: float
    conf_level: float
    paired: bool
    method: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _components(truth: np.ndarray, s: np.ndarray) -> DeLongComponents:
    s2 = s.reshape(s.shape[0], -1).T  # (k, N)
    return delong_components(s2[:, truth], s2[:, ~truth])


def _covariance(comp: DeLongComponents) -> np.ndarray:
    """pROC's S = S10/m + S01/n; deviations taken from theta (= the component means)."""
    m, n = comp.v10.shape[1], comp.v01.shape[1]
    d10 = comp.v10 - comp.auc[:, None]
    d01 = comp.v01 - comp.auc[:, None]
    return (d10 @ d10.T) / ((m - 1) * m) + (d01 @ d01.T) / ((n - 1) * n)


def delong_cov(
    y_true,
    y_score,
    direction: str = "<",
    method: str = "delong",
    *,
    n_boot: int = 2000,
    stratified: bool = True,
    seed=0,
) -> tuple[np.ndarray, np.ndarray]:
    """AUCs (k,) and their covariance matrix (k, k) for score columns (n_cases, k) (pROC ``cov(roc1, roc2)``).

    * ``"delong"``: DeLong (1988) structural components;
    * ``"obuchowski"``: Obuchowski & McClish (1997) from pROC's binormal lines of
      each column, ``kappa = n / m`` and the Pearson correlations of the two columns'
      scores among positives (``ra``) and negatives (``rn``), divided by ``m``
      (pROC's ``cov(method = "obuchowski")``; diagonal: :func:`var_auc` ``"obuchowski"``);
    * ``"bootstrap"``: covariance (ddof 1) of ``n_boot`` paired bootstrap replicates.
    """
    truth, s = prepare(y_true, y_score, direction)
    if method == "delong":
        comp = _components(truth, s)
        return comp.auc, _covariance(comp)
    from breastlab.evaluate.stats.roc import auc_oriented

    s2 = s.reshape(truth.size, -1)
    aucs = auc_oriented(truth, s2)
    if method == "bootstrap":
        from breastlab.evaluate.stats.bootstrap import auc_replicates

        _, reps, _ = auc_replicates(truth, s2, n_boot=n_boot, stratified=stratified, seed=seed)
        reps = reps[np.all(np.isfinite(reps), axis=1)]
        return aucs, np.atleast_2d(np.cov(reps, rowvar=False, ddof=1))
    if method == "obuchowski":
        return aucs, _obuchowski_cov(truth, s2)
    raise BreastlabInputError(f"method must be 'delong', 'obuchowski' or 'bootstrap', got {method!r}")


def _obuchowski_cov(truth: np.ndarray, s2: np.ndarray) -> np.ndarray:
    from breastlab.evaluate.stats.obuchowski import obuchowski_v
    from breastlab.evaluate.stats.power import cov_params_obuchowski
    from breastlab.evaluate.stats.roc import roc_curve
    from breastlab.evaluate.stats.smooth import binormal_fit

    m, n = int(truth.sum()), int((~truth).sum())
    kappa = n / m
    fits = []
    for col in s2.T:
        roc = roc_curve(truth, col)
        fits.append(binormal_fit(roc.sensitivities, roc.specificities))
    k = s2.shape[1]
    out = np.empty((k, k))
    for i in range(k):
        out[i, i] = obuchowski_v(fits[i].intercept, fits[i].slope, kappa) / m
        for j in range(i + 1, k):
            ra = float(np.corrcoef(s2[truth, i], s2[truth, j])[0, 1])
            rn = float(np.corrcoef(s2[~truth, i], s2[~truth, j])[0, 1])
            c = cov_params_obuchowski(fits[i].intercept, fits[i].slope, fits[j].intercept, fits[j].slope, rn, ra, kappa)
            out[i, j] = out[j, i] = c / m
    return out


def _hanley_mcneil_var(a: np.ndarray, m: int, n: int) -> np.ndarray:
    """Hanley & McNeil (1982): (A(1-A) + (m-1)(Q1-A^2) + (n-1)(Q2-A^2)) / (m n), Q1 = A/(2-A), Q2 = 2A^2/(1+A)."""
    q1 = a / (2.0 - a)
    q2 = 2.0 * a * a / (1.0 + a)
    return (a * (1.0 - a) + (m - 1) * (q1 - a * a) + (n - 1) * (q2 - a * a)) / (m * n)


def var_auc(
    y_true,
    y_score,
    direction: str = "<",
    method: str = "delong",
    *,
    partial=None,
    focus: str = "specificity",
    correct: bool = False,
    n_boot: int = 2000,
    stratified: bool = True,
    seed=0,
):
    """Variance of the AUC (pROC ``var(roc, method = ...)``).

    * ``"delong"``: DeLong (1988) ``S10/m + S01/n`` (full AUC only, as in pROC);
    * ``"hanley-mcneil"``: Hanley & McNeil (1982);
    * ``"obuchowski"``: ``V(A, B, kappa) / m`` with pROC's binormal line ``A``, ``B``
      and ``kappa = n / m`` (Obuchowski & McClish 1997; see
      :mod:`~breastlab.evaluate.stats.obuchowski`); with ``partial=(low, high)``
      the partial AUC over that specificity range (``focus="sensitivity"`` is not
      supported, as in pROC);
    * ``"bootstrap"``: variance (ddof 1) of ``n_boot`` stratified (or simple)
      bootstrap replicates of the (partial, optionally McClish-corrected) AUC.

    2-D ``y_score`` gives one variance per column.
    """
    truth, s = prepare(y_true, y_score, direction)
    if partial is not None and method in ("delong", "hanley-mcneil", "hanley_mcneil"):
        raise BreastlabInputError(
            f"method {method!r} does not give the variance of a partial AUC; use 'bootstrap' or 'obuchowski'"
        )
    if method == "delong":
        out = np.diag(_covariance(_components(truth, s))).copy()
    elif method in ("hanley-mcneil", "hanley_mcneil"):
        from breastlab.evaluate.stats.roc import auc_oriented

        out = _hanley_mcneil_var(auc_oriented(truth, s), int(truth.sum()), int((~truth).sum()))
    elif method == "obuchowski":
        out = np.array([_obuchowski_var(truth, col, partial, focus) for col in s.reshape(truth.size, -1).T])
    elif method == "bootstrap":
        from breastlab.evaluate.stats.bootstrap import auc_replicates

        _, reps, _ = auc_replicates(
            truth,
            s,
            n_boot=n_boot,
            stratified=stratified,
            seed=seed,
            partial=partial,
            focus=focus,
            correct=correct,
        )
        out = np.array([np.var(col[np.isfinite(col)], ddof=1) for col in reps.T])
    else:
        raise BreastlabInputError(
            f"method must be 'delong', 'hanley-mcneil', 'obuchowski' or 'bootstrap', got {method!r}"
        )
    out = np.maximum(out, 0.0)
    return float(out[0]) if s.ndim == 1 else out


def _obuchowski_var(truth: np.ndarray, s: np.ndarray, partial, focus: str) -> float:
    from breastlab.evaluate.stats.obuchowski import obuchowski_v
    from breastlab.evaluate.stats.partial import check_partial
    from breastlab.evaluate.stats.roc import roc_curve
    from breastlab.evaluate.stats.smooth import binormal_fit

    roc = roc_curve(truth, s)  # s is oriented already
    fit = binormal_fit(roc.sensitivities, roc.specificities)
    m, n = int(truth.sum()), int((~truth).sum())
    if partial is None:
        return obuchowski_v(fit.intercept, fit.slope, n / m) / m
    if focus != "specificity":
        raise BreastlabInputError("Obuchowski's variance of a partial AUC needs focus='specificity' (as in pROC)")
    lo, hi = check_partial(partial, focus)
    return obuchowski_v(fit.intercept, fit.slope, n / m, 1.0 - lo, 1.0 - hi) / m


def _normal_ci(estimate: float, se: float, conf_level: float) -> tuple[float, float]:
    z = _st.norm.ppf(1.0 - (1.0 - conf_level) / 2.0)
    return estimate - z * se, estimate + z * se


def _p_vs_half(a: float, se: float) -> tuple[float, float]:
    z = _ratio(a - 0.5, se)
    return z, float(2.0 * _st.norm.sf(abs(z)))


def ci_auc(
    y_true,
    y_score,
    conf_level: float = 0.95,
    method: str = "delong",
    direction: str = "<",
    *,
    n_boot: int = 2000,
    stratified: bool = True,
    cluster=None,
    seed=0,
    partial=None,
    focus: str = "specificity",
    correct: bool = False,
    smooth: str | None = None,
    smooth_n: int = 512,
    smooth_bw="nrd0",
) -> AucCI:
    """AUC with a confidence interval (pROC ``ci.auc``).

    ``method="delong"``: ``AUC -/+ z_{1-a/2} sqrt(S10/m + S01/n)`` clipped to [0, 1]
    (DeLong 1988; identical to pROC). ``method="bootstrap"``: percentile interval of
    ``n_boot`` stratified (or ``cluster``-level) replicates, see :func:`bootstrap_ci`;
    ``se`` is then the standard deviation of the replicates.
    ``z`` and ``p_value`` test AUC = 0.5 with ``z = (AUC - 0.5) / se`` (two-sided).
    A zero variance (perfect separation, all scores tied) gives a degenerate
    interval ``[AUC, AUC]`` and a :class:`DegenerateCIWarning`.

    ``partial=(low, high)`` (with ``focus``, ``correct``; see
    :func:`~breastlab.evaluate.stats.partial.partial_auc`) gives the percentile
    bootstrap CI of the partial AUC (pROC: only the bootstrap supports partial
    AUCs); ``z`` and ``p_value`` then test the value of the diagonal (``min`` of
    McClish, or 0.5 when corrected).

    ``smooth="binormal"|"density"`` (with ``smooth_n``, ``smooth_bw``; see
    :func:`~breastlab.evaluate.stats.smooth.smooth_roc`): the AUC of the smoothed curve
    with the percentile bootstrap CI of replicates smoothed alike (pROC's ``ci.auc`` of a
    ``smooth.roc``, which is bootstrap only; ``method`` must be ``"bootstrap"``).
    """
    conf_level = check_conf_level(conf_level)
    truth, s = prepare(y_true, y_score, direction)
    if s.ndim != 1:
        raise BreastlabInputError(f"ci_auc takes one score column; y_score has shape {s.shape}")
    m, n = int(truth.sum()), int((~truth).sum())
    if smooth is not None:
        if method != "bootstrap" or partial is not None:
            raise BreastlabInputError(
                "a smoothed AUC's CI is a bootstrap one over the full curve (as pROC's ci.auc of a smooth.roc): "
                f"pass method='bootstrap' and no partial range, got method={method!r}, partial={partial!r}"
            )
        return _ci_smooth(
            y_true,
            y_score,
            truth,
            s,
            conf_level,
            n_boot,
            stratified,
            cluster,
            seed,
            smooth,
            smooth_n,
            smooth_bw,
            direction,
        )
    if partial is not None:
        if method != "bootstrap":
            raise BreastlabInputError("a partial AUC's CI needs method='bootstrap' (as in pROC)")
        return _ci_partial(truth, s, conf_level, n_boot, stratified, cluster, seed, partial, focus, correct)
    if method == "delong":
        comp = _components(truth, s)
        a = float(comp.auc[0])
        se = math.sqrt(max(float(_covariance(comp)[0, 0]), 0.0))
        lo, hi = _normal_ci(a, se, conf_level)
        lo, hi = max(lo, 0.0), min(hi, 1.0)
    elif method == "bootstrap":
        from breastlab.evaluate.stats.bootstrap import bootstrap_ci

        res = bootstrap_ci(
            y_true,
            y_score,
            "auc",
            direction=direction,
            n_boot=n_boot,
            conf_level=conf_level,
            stratified=stratified,
            cluster=cluster,
            seed=seed,
        )
        a, lo, hi, se = res.estimate, res.lower, res.upper, res.se
    else:
        raise BreastlabInputError(f"method must be 'delong' or 'bootstrap', got {method!r}")
    if se == 0.0:
        warn_degenerate(
            f"AUC = {a:g} has zero variance (perfect separation or all scores tied); "
            "the confidence interval is degenerate"
        )
    z, p = _p_vs_half(a, se)
    return AucCI(a, float(lo), float(hi), se, conf_level, method, z, p, m, n)


def _ci_partial(truth, s, conf_level, n_boot, stratified, cluster, seed, partial, focus, correct) -> AucCI:
    from breastlab.evaluate.stats.bootstrap import _percentile, auc_replicates
    from breastlab.evaluate.stats.partial import check_partial, curve_partial_auc, mcclish_min
    from breastlab.evaluate.stats.roc import roc_curve

    lo_r, hi_r = check_partial(partial, focus)
    roc = roc_curve(truth, s)
    estimate = curve_partial_auc(roc.sensitivities, roc.specificities, partial, focus, correct)
    _, reps, _ = auc_replicates(
        truth,
        s,
        n_boot=n_boot,
        stratified=stratified,
        cluster=cluster,
        seed=seed,
        partial=partial,
        focus=focus,
        correct=correct,
    )
    valid = reps[:, 0][np.isfinite(reps[:, 0])]
    if valid.size < reps.shape[0]:
        warn_degenerate(f"bootstrap partial AUC: {reps.shape[0] - valid.size} replicates undefined and left out")
    lo, hi = _percentile(valid, conf_level)
    se = float(valid.std(ddof=1)) if valid.size > 1 else math.nan
    null = 0.5 if correct else mcclish_min(lo_r, hi_r)
    z, p = (_ratio(estimate - null, se), math.nan) if not np.isfinite(estimate) else _p_vs(estimate, null, se)
    m, n = int(truth.sum()), int((~truth).sum())
    return AucCI(estimate, lo, hi, se, conf_level, "bootstrap", z, p, m, n)


def _ci_smooth(
    y_true, y_score, truth, s, conf_level, n_boot, stratified, cluster, seed, smooth, smooth_n, smooth_bw, direction
) -> AucCI:
    from breastlab.evaluate.stats.bootstrap import _auc_replicates, _check_boot, _cluster_codes, _percentile, _rng
    from breastlab.evaluate.stats.smooth import smooth_auc_statistic, smooth_roc

    stat = smooth_auc_statistic(smooth, smooth_n, smooth_bw, direction)
    estimate = smooth_roc(y_true, y_score, smooth, smooth_n, smooth_bw, direction).auc
    codes = None if cluster is None else _cluster_codes(cluster, truth.size)
    _, reps, _ = _auc_replicates(truth, s[:, None], _check_boot(n_boot), stratified, codes, _rng(seed), stat)
    valid = reps[:, 0][np.isfinite(reps[:, 0])]
    if valid.size < reps.shape[0]:
        warn_degenerate(f"bootstrap {smooth} AUC: {reps.shape[0] - valid.size} replicates not smoothable, left out")
    lo, hi = _percentile(valid, conf_level)
    se = float(valid.std(ddof=1)) if valid.size > 1 else math.nan
    z, p = _p_vs(estimate, 0.5, se)
    return AucCI(estimate, lo, hi, se, conf_level, "bootstrap", z, p, int(truth.sum()), int((~truth).sum()))


def _p_vs(a: float, null: float, se: float) -> tuple[float, float]:
    z = _ratio(a - null, se)
    return z, float(2.0 * _st.norm.sf(abs(z)))


def _p_values(stat: float, sf) -> tuple[float, float, float]:
    """(two-sided, greater, less) p-values for a symmetric null distribution with survival function ``sf``."""
    return float(min(1.0, 2.0 * sf(abs(stat)))), float(sf(stat)), float(sf(-stat))


def delong_test(
    y_true,
    score1,
    score2,
    *,
    y_true2=None,
    paired: bool | None = None,
    alternative: str = "two-sided",
    conf_level: float = 0.95,
    direction: str = "<",
) -> DeLongTest:
    """DeLong test of two AUCs (pROC ``roc.test(method = "delong")``).

    Paired (default; ``score1`` and ``score2`` rate the same cases ``y_true``):
    ``z = (A1 - A2) / sqrt(var1 + var2 - 2 cov12)``, normal p-values and CI of the
    difference. Unpaired (``y_true2`` given: ``score2`` rates other cases, or
    ``paired=False``): ``D = (A1 - A2) / sqrt(var1 + var2)`` with Student's t on pROC's df.
    ``alternative="greater"`` means H1: AUC1 > AUC2.
    """
    alternative = check_alternative(alternative)
    conf_level = check_conf_level(conf_level)
    if paired is None:
        paired = y_true2 is None
    if paired and y_true2 is not None:
        raise BreastlabInputError("paired=True compares two scores of the same cases; do not pass y_true2")
    if paired:
        truth, s = prepare(y_true, score1, direction, score_name="score1")
        s2 = orient(check_scores(score2, truth.size, name="score2"), direction)
        if s.ndim != 1:
            raise BreastlabInputError(f"score1 must be 1-D, got shape {s.shape}")
        comp = _components(truth, np.column_stack([s, s2]))
        cov = _covariance(comp)
        a1, a2 = (float(v) for v in comp.auc)
        d = a1 - a2
        var = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
        se = math.sqrt(max(var, 0.0))
        stat = _ratio(d, se)
        p2, pg, pl = _p_values(stat, _st.norm.sf)
        lo, hi = _normal_ci(d, se, conf_level)
        df = None
        method = "DeLong's test for two correlated ROC curves"
    else:
        truth1, s1 = prepare(y_true, score1, direction, score_name="score1")
        truth2 = truth1 if y_true2 is None else check_truth(y_true2, name="y_true2")
        s2 = orient(check_scores(score2, truth2.size, name="score2"), direction)
        c1, c2 = _components(truth1, s1), _components(truth2, s2)
        var1, var2 = float(_covariance(c1)[0, 0]), float(_covariance(c2)[0, 0])
        a1, a2 = float(c1.auc[0]), float(c2.auc[0])
        d = a1 - a2
        se = math.sqrt(max(var1 + var2, 0.0))
        stat = _ratio(d, se)
        n1, n2 = truth1.size, truth2.size
        df = (var1 + var2) ** 2 / (var1**2 / (n1 - 1) + var2**2 / (n2 - 1)) if var1 + var2 > 0 else math.nan
        dist = _st.t(df) if np.isfinite(df) else _st.norm
        p2, pg, pl = _p_values(stat, dist.sf)
        q = dist.ppf(1.0 - (1.0 - conf_level) / 2.0)
        lo, hi = d - q * se, d + q * se
        method = "DeLong's test for two ROC curves"
    if se == 0.0:
        warn_degenerate(f"DeLong test: the AUC difference {d:g} has zero variance; the test is degenerate")
    p = {"two-sided": p2, "greater": pg, "less": pl}[alternative]
    return DeLongTest(
        a1, a2, d, se, stat, df, p, p2, pg, pl, alternative, float(lo), float(hi), conf_level, paired, method
    )


def _ratio(d: float, se: float) -> float:
    if se > 0:
        return d / se
    return 0.0 if d == 0 else math.copysign(math.inf, d)
