"""Comparing two ROC curves: pROC's ``roc.test`` with methods delong, bootstrap, venkatraman,
sensitivity and specificity.

DeLong ER, et al. Biometrics 1988;44:837-845 (``delong``).
Hanley JA, McNeil BJ. Radiology 1983;148:839-843; Robin X, et al. pROC. BMC
Bioinformatics 2011;12:77 (``bootstrap``: ``D = (V1 - V2) / sd(V1* - V2*)``).
Venkatraman ES, Begg CB. Biometrika 1996;83:835-848; Venkatraman ES.
Biometrics 2000;56:1134-1138 (``venkatraman``).
Pepe M, Longton G, Janes H. Estimation and comparison of receiver operating
characteristic curves. Stata J 2009;9:1-16 (comparing sensitivity at a fixed
specificity).

* ``bootstrap``: ``V`` is the AUC or, with ``partial=(low, high)``, the partial
  AUC (McClish-corrected with ``correct=True``); replicates stratified by class
  (pROC's default) or simple; paired (the same resampled cases for both scores)
  or unpaired (each sample resampled on its own). ``D`` is compared with the
  standard normal.
* ``specificity`` (pROC's ``method = "specificity"``): ``V`` is the sensitivity
  at specificity ``level``; ``sensitivity``: the specificity at sensitivity
  ``level``. Both read the curve as pROC's ``coords`` does (the curve's own point,
  or linear interpolation between its neighbours) and use the bootstrap as above.
* ``venkatraman``: permutation test of the whole curves (two-sided only, full
  curves only, as in pROC); see :mod:`~breastlab.evaluate.stats.venkatraman`.
* ``smooth="binormal"|"density"``: ``V`` is the AUC of the smoothed curve
  (:func:`~breastlab.evaluate.stats.smooth.smooth_roc`), every replicate smoothed
  alike; with the bootstrap method only, as pROC's ``roc.test`` of two ``smooth.roc``
  (which refuses DeLong's and Venkatraman's tests for smoothed curves).

Monte-Carlo methods take ``seed`` and report ``n_boot`` (replicates or
permutations) and ``n_valid``; the random numbers are NumPy's, so p-values
agree with pROC's within Monte-Carlo error, not digit for digit.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import stats as _st

from breastlab.errors import BreastlabInputError
from breastlab.evaluate.stats._validate import (
    check_alternative,
    check_conf_level,
    check_direction,
    check_scores,
    check_truth,
    orient,
    warn_degenerate,
)

METHODS = ("delong", "bootstrap", "venkatraman", "sensitivity", "specificity")


@dataclasses.dataclass(frozen=True)
class RocTest:
    """Result of :func:`roc_test`; ``estimate1 - estimate2`` is the difference tested."""

    method: str
    description: str
    measure: str  # "AUC", "partial AUC ...", "sensitivity at specificity 0.9", "whole ROC curve"
    estimate1: float
    estimate2: float
    difference: float
    statistic: float  # z (delong paired), D (bootstrap, delong unpaired), E (venkatraman)
    statistic_name: str
    p_value: float
    alternative: str
    paired: bool
    df: float | None = None
    se: float | None = None
    ci_lower: float | None = None  # CI of the difference (delong; bootstrap percentile)
    ci_upper: float | None = None
    conf_level: float | None = None
    n_boot: int | None = None  # replicates or permutations
    n_valid: int | None = None
    stratified: bool | None = None
    seed: int | None = None
    level: float | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _p(stat: float, alternative: str) -> float:
    if alternative == "two-sided":
        return float(min(1.0, 2.0 * _st.norm.sf(abs(stat))))
    return float(_st.norm.sf(stat) if alternative == "greater" else _st.norm.cdf(stat))


def coord_at(se: np.ndarray, sp: np.ndarray, level: float, given: str) -> np.ndarray:
    """pROC's ``coords(roc, level, input = given)`` for curves (b, K) ordered by increasing specificity.

    ``given="specificity"`` returns the sensitivity at that specificity: the point
    with exactly that specificity and the highest sensitivity, else linear
    interpolation between the last point below and the first above.
    ``given="sensitivity"`` returns the specificity at that sensitivity likewise.
    """
    se, sp = np.atleast_2d(se), np.atleast_2d(sp)
    if given == "specificity":
        x, y = sp, se  # x non-decreasing
    else:
        x, y = se[:, ::-1], sp[:, ::-1]  # sensitivity non-decreasing after reversal
    rows = np.arange(x.shape[0])
    first_ge = np.sum(x < level, axis=1)  # first index with x >= level
    exact = x[rows, np.minimum(first_ge, x.shape[1] - 1)] == level
    hit = y[rows, np.minimum(first_ge, x.shape[1] - 1)]  # among equal x, the first has the highest y
    nxt = np.clip(np.sum(x <= level, axis=1), 1, x.shape[1] - 1)
    prev = nxt - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        prop = (level - x[rows, nxt]) / (x[rows, prev] - x[rows, nxt])
    interp = y[rows, nxt] + prop * (y[rows, prev] - y[rows, nxt])
    return np.where(exact, hit, interp)


def _measure_stat(method: str, level, partial, focus, correct):
    from breastlab.evaluate.stats.bootstrap import _full_auc, partial_auc_statistic

    if method == "bootstrap":
        if partial is None:
            return _full_auc, "AUC"
        label = f"partial AUC ({focus} {min(partial):g}-{max(partial):g}{', McClish' if correct else ''})"
        return partial_auc_statistic(partial, focus, correct), label
    if level is None or not 0.0 <= float(level) <= 1.0:
        raise BreastlabInputError(f"method {method!r} needs level= in [0, 1] (the fixed {method}), got {level!r}")
    level = float(level)
    other = "specificity" if method == "sensitivity" else "sensitivity"

    def stat(plan, w):
        se, sp = plan.curves(w)
        return coord_at(se, sp, level, method)

    return stat, f"{other} at {method} {level:g}"


def _bootstrap(
    truth1,
    s1,
    truth2,
    s2,
    paired,
    method,
    level,
    partial,
    focus,
    correct,
    n_boot,
    stratified,
    seed,
    alt,
    conf_level,
    smooth=None,
) -> RocTest:
    """The bootstrap tests; ``smooth``: (method, n, bw, direction, raw score1, raw score2) for smoothed AUCs."""
    from breastlab.evaluate.stats.bootstrap import _auc_replicates, _check_boot, _percentile, _rng

    n_boot = _check_boot(n_boot)
    if smooth is None:
        stat, label = _measure_stat(method, level, partial, focus, correct)
    else:
        from breastlab.evaluate.stats.smooth import smooth_auc_statistic

        stat, label = smooth_auc_statistic(*smooth[:4]), f"smoothed AUC ({smooth[0]})"
    rng = _rng(seed)
    if paired:
        est, reps, _ = _auc_replicates(truth1, np.column_stack([s1, s2]), n_boot, stratified, None, rng, stat)
    else:
        e1, r1, _ = _auc_replicates(truth1, s1[:, None], n_boot, stratified, None, rng, stat)
        e2, r2, _ = _auc_replicates(truth2, s2[:, None], n_boot, stratified, None, rng, stat)
        est, reps = np.r_[e1, e2], np.column_stack([r1[:, 0], r2[:, 0]])
    if smooth is not None:  # the observed values as smooth_roc gives them
        from breastlab.evaluate.stats.smooth import smooth_roc

        est = np.array([smooth_roc(t, x, *smooth[:4]).auc for t, x in ((truth1, smooth[4]), (truth2, smooth[5]))])
    if partial is not None and correct:  # the observed values keep pROC's NA rule
        from breastlab.evaluate.stats.partial import curve_partial_auc
        from breastlab.evaluate.stats.roc import roc_curve

        est = np.array(
            [
                curve_partial_auc(roc.sensitivities, roc.specificities, partial, focus, True)
                for roc in (roc_curve(truth1, s1), roc_curve(truth2, s2))
            ]
        )
    diffs = reps[:, 0] - reps[:, 1]
    diffs = diffs[np.isfinite(diffs)]
    if diffs.size < n_boot:
        warn_degenerate(f"bootstrap test: {n_boot - diffs.size} of {n_boot} replicates undefined and left out")
    d = float(est[0] - est[1])
    sd = float(diffs.std(ddof=1)) if diffs.size > 1 else math.nan
    if sd > 0:
        stat_value = d / sd
    elif d == 0 or not np.isfinite(d):
        stat_value = 0.0 if d == 0 else math.nan
        warn_degenerate("bootstrap test: the replicate differences have zero spread; the test is degenerate")
    else:
        stat_value = math.copysign(math.inf, d)
    lo, hi = _percentile(diffs, conf_level)
    kind = "correlated ROC curves" if paired else "ROC curves"
    name = {"bootstrap": "Bootstrap", "sensitivity": "Sensitivity", "specificity": "Specificity"}[method]
    return RocTest(
        method,
        f"{name} test for two {kind}",
        label,
        float(est[0]),
        float(est[1]),
        d,
        float(stat_value),
        "D",
        _p(stat_value, alt) if np.isfinite(stat_value) or math.isinf(stat_value) else math.nan,
        alt,
        paired,
        se=sd,
        ci_lower=lo,
        ci_upper=hi,
        conf_level=conf_level,
        n_boot=n_boot,
        n_valid=int(diffs.size),
        stratified=stratified,
        seed=seed if isinstance(seed, int) else None,
        level=None if level is None else float(level),
    )


def _venkatraman(truth1, x1, truth2, x2, paired, n_perm, seed) -> RocTest:
    from breastlab.evaluate.stats.bootstrap import _check_boot, _rng
    from breastlab.evaluate.stats.venkatraman import (
        _first_ranks,
        paired_permutations,
        paired_statistic,
        unpaired_permutations,
        unpaired_statistic,
    )

    n_perm = _check_boot(n_perm)
    rng = _rng(seed)
    if paired:
        r, s = _first_ranks(x1), _first_ranks(x2)
        c = np.where(truth1, 1, -1)
        e = paired_statistic(r, s, c)
        perms = paired_permutations(r, s, c, n_perm, rng)
    else:
        r, s = _first_ranks(x1), _first_ranks(x2)
        mp = (truth1.sum() + truth2.sum()) / (2.0 * truth1.size)  # pROC's normalisation
        lab1 = truth1[np.argsort(r)].astype(np.float64)
        lab2 = truth2[np.argsort(s)].astype(np.float64)
        e = unpaired_statistic(lab1, lab2, mp)
        perms = unpaired_permutations(r, truth1, s, truth2, mp, n_perm, rng)
    p = float(np.sum(perms >= e) / n_perm)
    kind = "paired" if paired else "unpaired"
    return RocTest(
        "venkatraman",
        f"Venkatraman's test for two {kind} ROC curves",
        "whole ROC curve",
        math.nan,
        math.nan,
        math.nan,
        e,
        "E",
        p,
        "two-sided",
        paired,
        n_boot=n_perm,
        n_valid=n_perm,
        seed=seed if isinstance(seed, int) else None,
    )


def roc_test(
    y_true,
    score1,
    score2,
    *,
    y_true2=None,
    method: str = "delong",
    paired: bool | None = None,
    alternative: str = "two-sided",
    level: float | None = None,
    partial=None,
    focus: str = "specificity",
    correct: bool = False,
    n_boot: int = 2000,
    stratified: bool = True,
    seed: int = 0,
    conf_level: float = 0.95,
    direction: str = "<",
    smooth: str | None = None,
    smooth_n: int = 512,
    smooth_bw="nrd0",
) -> RocTest:
    """Compare two ROC curves (pROC ``roc.test``); ``estimate1 - estimate2`` as the user lists them.

    ``score1`` and ``score2`` rate the same cases ``y_true`` (paired) unless
    ``y_true2`` gives the labels of ``score2``'s own cases (unpaired).
    ``alternative="greater"``: H1 is ``estimate1 > estimate2``.
    See the module docstring for the methods; ``level`` is the fixed
    specificity (``method="specificity"``) or sensitivity (``"sensitivity"``).
    ``smooth`` (with ``smooth_n``, ``smooth_bw``) compares the AUCs of the smoothed
    curves (``method="bootstrap"`` only).
    """
    if method not in METHODS:
        raise BreastlabInputError(f"method must be one of {list(METHODS)}, got {method!r}")
    if smooth is not None and (method != "bootstrap" or partial is not None):
        raise BreastlabInputError(
            "smoothed curves are compared by their full AUCs with method='bootstrap' (as pROC's roc.test), "
            f"got method={method!r}, partial={partial!r}"
        )
    alternative = check_alternative(alternative)
    conf_level = check_conf_level(conf_level)
    check_direction(direction)
    if paired is None:
        paired = y_true2 is None
    if paired and y_true2 is not None:
        raise BreastlabInputError("a paired test compares two scores of the same cases; do not pass y_true2")
    truth1 = check_truth(y_true)
    x1 = check_scores(score1, truth1.size, name="score1")
    truth2 = truth1 if y_true2 is None else check_truth(y_true2, name="y_true2")
    x2 = check_scores(score2, truth2.size, name="score2")
    if method == "delong":
        if partial is not None:
            raise BreastlabInputError("DeLong's test compares full AUCs; use method='bootstrap' for partial AUCs")
        from breastlab.evaluate.stats.delong import delong_test

        t = delong_test(
            truth1,
            x1,
            x2,
            y_true2=None if paired else truth2,
            paired=paired,
            alternative=alternative,
            conf_level=conf_level,
            direction=direction,
        )
        return RocTest(
            "delong",
            t.method,
            "AUC",
            t.auc1,
            t.auc2,
            t.difference,
            t.statistic,
            "Z" if paired else "D",
            t.p_value,
            alternative,
            paired,
            df=t.df,
            se=t.se,
            ci_lower=t.ci_lower,
            ci_upper=t.ci_upper,
            conf_level=conf_level,
        )
    if method == "venkatraman":
        if partial is not None:
            raise BreastlabInputError("Venkatraman's test compares whole curves; partial AUCs are not supported")
        if alternative != "two-sided":
            raise BreastlabInputError("Venkatraman's test is two-sided only (as in pROC)")
        return _venkatraman(truth1, x1, truth2, x2, paired, n_boot, seed)
    s1, s2 = orient(x1, direction), orient(x2, direction)
    return _bootstrap(
        truth1,
        s1,
        truth2,
        s2,
        paired,
        method,
        level,
        partial,
        focus,
        correct,
        n_boot,
        stratified,
        seed,
        alternative,
        conf_level,
        smooth=None if smooth is None else (smooth, smooth_n, smooth_bw, direction, x1, x2),
    )
