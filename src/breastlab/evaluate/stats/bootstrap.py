"""Vectorised bootstrap: percentile CIs of AUC and 2x2 metrics, and a test of two AUCs.

Efron B, Tibshirani RJ. An Introduction to the Bootstrap. Chapman & Hall 1993.
Carpenter J, Bithell J. Bootstrap confidence intervals. Stat Med 2000;19:1141-1164.
Robin X, et al. pROC. BMC Bioinformatics 2011;12:77 (stratified bootstrap, roc.test bootstrap).
Field CA, Welsh AH. Bootstrapping clustered data. J R Stat Soc B 2007;69:369-390.

A replicate is a vector of case weights ``w`` (how often each case was drawn):

* stratified (pROC's default): the m positives and n negatives are resampled
  separately, so every replicate keeps m and n;
* simple (``stratified=False``): N cases drawn from all cases;
* clustered (``cluster=`` patient IDs, for slice-level data): K patients drawn
  with replacement, each carrying all its cases (replicates lacking a class
  are dropped and counted).

Weights of a chunk of replicates are drawn at once as an index matrix and
counted with ``bincount`` (no Python loop per replicate). Statistics are
weighted: with ``P_l`` and ``Q_l`` the weights of positives and negatives at
the l-th distinct score,
``AUC_w = sum_l P_l (sum_{l' < l} Q_l' + Q_l / 2) / (sum P sum Q)``,
and ``sensitivity = w . [pos & pred] / w . pos`` and so on. The percentile
interval takes the ``(1 - c)/2`` and ``(1 + c)/2`` quantiles of the valid
replicates (linear interpolation, R's type 7, as pROC's ``quantile``).
Random numbers come from NumPy (``seed``), so replicate values differ from R's.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as _st

from breastlab.errors import BreastlabInputError
from breastlab.evaluate.stats._validate import (
    as_1d,
    check_alternative,
    check_conf_level,
    check_scores,
    check_truth,
    orient,
    warn_degenerate,
)

SCORE_METRICS = ("auc",)
PREDICTION_METRICS = ("sensitivity", "specificity", "ppv", "npv", "accuracy")
METRICS = SCORE_METRICS + PREDICTION_METRICS
_CHUNK_ELEMENTS = 1 << 22  # weights held at once (32 MiB of float64)


@dataclasses.dataclass(frozen=True)
class BootstrapCI:
    """Percentile bootstrap interval of one metric."""

    metric: str
    estimate: float
    lower: float
    upper: float
    se: float  # standard deviation of the valid replicates (ddof 1)
    conf_level: float
    n_boot: int
    n_valid: int  # replicates where the metric was defined
    scheme: str  # "stratified", "simple" or "cluster"
    replicates: np.ndarray = dataclasses.field(repr=False, compare=False)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out.pop("replicates")
        return out


@dataclasses.dataclass(frozen=True)
class BootstrapTest:
    """Bootstrap test of two AUCs: D = (AUC1 - AUC2) / sd(replicate differences)."""

    auc1: float
    auc2: float
    difference: float
    se: float
    statistic: float
    p_value: float
    p_two_sided: float
    p_greater: float
    p_less: float
    alternative: str
    ci_lower: float  # percentile CI of the difference
    ci_upper: float
    conf_level: float
    n_boot: int
    n_valid: int
    paired: bool
    scheme: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- resampling
def _rng(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _draw_counts(rng: np.random.Generator, n_items: int, size: int) -> np.ndarray:
    """(size, n_items) float64: how often each item is drawn in ``n_items`` draws with replacement.

    The array is laid out item-major (a transposed view of a C-ordered (n_items, size)
    array), so that per-level sums over items read contiguous memory.
    """
    dtype = np.int32 if size * n_items < 2**31 else np.int64
    draws = rng.integers(0, n_items, size=(size, n_items), dtype=dtype)
    draws *= size
    draws += np.arange(size, dtype=dtype)[:, None]
    return np.bincount(draws.ravel(), minlength=size * n_items).reshape(n_items, size).astype(np.float64).T


def cluster_bootstrap_weights(cluster, n_boot: int, seed=0, chunk_elements: int = 1 << 22):
    """Yield case-weight matrices (chunks of shape (b, n)) of a clustered bootstrap.

    Each replicate draws the ``n_clusters`` clusters (patients) with replacement;
    a case's weight is how often its cluster was drawn, so all slices of a patient
    travel together. Weighted statistics over these matrices give any metric's
    bootstrap distribution without a Python loop per replicate.
    """
    codes, uniques = pd.factorize(pd.Series(np.asarray(cluster)))
    rng = _rng(seed)
    chunk = max(1, min(n_boot, chunk_elements // max(len(codes), 1)))
    for start in range(0, n_boot, chunk):
        yield _draw_counts(rng, len(uniques), min(chunk, n_boot - start))[:, codes]


class _Resampler:
    """Case weights of bootstrap replicates, cases ordered positives first."""

    def __init__(self, truth: np.ndarray, stratified: bool, cluster: np.ndarray | None):
        self.n = truth.size
        self.m = int(truth.sum())
        self.cluster = cluster
        if cluster is not None:
            self.scheme = "cluster"
            self.n_clusters = int(cluster.max()) + 1
        else:
            self.scheme = "stratified" if stratified else "simple"

    def weights(self, rng: np.random.Generator, size: int) -> np.ndarray:
        if self.scheme == "cluster":
            return _draw_counts(rng, self.n_clusters, size)[:, self.cluster]
        if self.scheme == "simple":
            return _draw_counts(rng, self.n, size)
        out = np.empty((self.n, size))  # case-major, returned as a (size, n) view
        out[: self.m] = _draw_counts(rng, self.m, size).T
        out[self.m :] = _draw_counts(rng, self.n - self.m, size).T
        return out.T


def _chunks(n_boot: int, n_cases: int) -> list[int]:
    size = max(1, min(n_boot, _CHUNK_ELEMENTS // max(n_cases, 1)))
    return [min(size, n_boot - i) for i in range(0, n_boot, size)]


# ----------------------------------------------------------------------------- weighted statistics
class _AucPlan:
    """Precomputed level structure of one oriented score column (cases positives first).

    Per-level weight sums are products with sparse 0/1 matrices (level x case), one
    pass over the weights in C; internally arrays are (levels, replicates).
    ``merge=False`` keeps one level per distinct score (where the replicate's own
    thresholds are read, not only its curve).
    """

    def __init__(self, scores: np.ndarray, m: int, merge: bool = True):
        self.scores = scores  # oriented, cases positives first
        level = self._merged_levels(scores, m) if merge else np.unique(scores, return_inverse=True)[1]
        self.n_levels = int(level.max()) + 1
        self.m = m
        self.pos = self._block(level[:m])
        self.neg = self._block(level[m:])

    @staticmethod
    def _merged_levels(scores: np.ndarray, m: int) -> np.ndarray:
        """Level of each case: distinct scores, with runs of consecutive one-class scores merged.

        Consecutive distinct scores held only by positives (or only by negatives)
        are points on one vertical (horizontal) segment of every replicate's ROC
        curve, so one level for the run leaves the AUC, partial areas and
        interpolated coordinates unchanged, and shortens the per-level arrays.
        """
        _, level = np.unique(scores, return_inverse=True)
        n_levels = int(level.max()) + 1
        has_pos = np.bincount(level[:m], minlength=n_levels) > 0
        has_neg = np.bincount(level[m:], minlength=n_levels) > 0
        kind = has_pos.astype(np.int8) + 2 * has_neg.astype(np.int8)  # 1 positives, 2 negatives, 3 both
        new_run = np.r_[True, (kind[1:] != kind[:-1]) | (kind[1:] == 3)]
        return (np.cumsum(new_run) - 1)[level]

    def _block(self, level: np.ndarray):
        from scipy import sparse

        ones = np.ones(level.size)
        return sparse.csr_matrix((ones, (level, np.arange(level.size))), shape=(self.n_levels, level.size))

    @staticmethod
    def _level_sums(w: np.ndarray, block) -> np.ndarray:
        """(levels, b) sums of the weights ``w`` (b, cases) per level."""
        return np.asarray(block @ w.T)

    def curves(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weighted ROC curves (se, sp), each (b, levels + 1), by increasing specificity.

        Point k calls positive the scores at level k and above; levels without weight
        repeat the neighbouring point, which leaves areas and interpolations unchanged.
        """
        p = self._level_sums(w[:, : self.m], self.pos)
        q = self._level_sums(w[:, self.m :], self.neg)
        zero = np.zeros((1, w.shape[0]))
        tp = np.concatenate([np.cumsum(p[::-1], axis=0)[::-1], zero], axis=0)
        tn = np.concatenate([zero, np.cumsum(q, axis=0)], axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (tp / tp[:1]).T, (tn / tn[-1:]).T

    def __call__(self, w: np.ndarray) -> np.ndarray:
        p = self._level_sums(w[:, : self.m], self.pos)
        q = self._level_sums(w[:, self.m :], self.neg)
        below = np.cumsum(q, axis=0) - 0.5 * q  # negatives strictly below + half the ties
        num = np.einsum("lb,lb->b", p, below)
        den = p.sum(axis=0) * q.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _prediction_metric(name: str, w: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    tp = w @ (truth & pred).astype(np.float64)
    fn = w @ (truth & ~pred).astype(np.float64)
    fp = w @ (~truth & pred).astype(np.float64)
    tn = w @ (~truth & ~pred).astype(np.float64)
    num, den = {
        "sensitivity": (tp, tp + fn),
        "specificity": (tn, tn + fp),
        "ppv": (tp, tp + fp),
        "npv": (tn, tn + fn),
        "accuracy": (tp + tn, tp + tn + fp + fn),
    }[name]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _percentile(values: np.ndarray, conf_level: float) -> tuple[float, float]:
    if values.size == 0:
        return math.nan, math.nan
    a = (1.0 - conf_level) / 2.0
    lo, hi = np.quantile(values, [a, 1.0 - a])
    return float(lo), float(hi)


# ----------------------------------------------------------------------------- inputs
def _cluster_codes(cluster, n: int) -> np.ndarray:
    arr = as_1d(cluster, "cluster")
    if arr.size != n:
        raise BreastlabInputError(f"cluster has length {arr.size} but y_true has length {n}; lengths must match")
    import pandas as pd

    codes, uniques = pd.factorize(pd.Series(arr), use_na_sentinel=True)
    if (codes < 0).any():
        raise BreastlabInputError(f"cluster holds {int((codes < 0).sum())} missing ID(s); every case needs a cluster")
    if len(uniques) < 2:
        raise BreastlabInputError("cluster has a single cluster; a clustered bootstrap needs at least 2")
    return codes.astype(np.intp)


def _check_boot(n_boot: int) -> int:
    if int(n_boot) != n_boot or n_boot < 2:
        raise BreastlabInputError(f"n_boot must be an integer >= 2, got {n_boot!r}")
    return int(n_boot)


def _predictions(y_pred, threshold, y_score, direction: str, n: int) -> np.ndarray:
    """0/1 predictions: ``y_pred`` as given, or oriented ``y_score >= threshold``."""
    if y_pred is not None:
        arr = check_scores(y_pred, n, name="y_pred")
        bad = np.setdiff1d(np.unique(arr), [0.0, 1.0])
        if bad.size:
            raise BreastlabInputError(
                f"y_pred must hold 0/1 predictions (found {bad[:5].tolist()}); pass scores with threshold= instead"
            )
        return arr == 1.0
    if y_score is None or threshold is None:
        raise BreastlabInputError("prediction metrics need y_pred (0/1) or y_score with threshold=")
    s = check_scores(y_score, n, name="y_score")
    return orient(s, direction) >= (threshold if direction == "<" else -threshold)


def bootstrap_metrics(
    y_true,
    *,
    y_score=None,
    y_pred=None,
    metrics: Sequence[str] = ("auc",),
    threshold: float | None = None,
    direction: str = "<",
    n_boot: int = 2000,
    conf_level: float = 0.95,
    stratified: bool = True,
    cluster=None,
    seed=0,
) -> dict[str, BootstrapCI]:
    """Percentile bootstrap CIs of several metrics from the same replicates.

    ``metrics`` from ``"auc"`` (needs ``y_score``) and ``"sensitivity"``,
    ``"specificity"``, ``"ppv"``, ``"npv"``, ``"accuracy"`` (need 0/1 ``y_pred``, or
    ``y_score`` with ``threshold``: positive when ``score >= threshold`` for
    ``direction="<"``, ``score <= threshold`` for ``">"``). ``cluster`` (one ID per
    case, e.g. patient_id) switches to the clustered bootstrap; ``stratified``
    is then ignored. Replicates where a metric is undefined (a clustered
    replicate without positives, PPV without positive calls) are left out;
    ``n_valid`` says how many remain, with a warning when any were dropped.
    """
    conf_level = check_conf_level(conf_level)
    n_boot = _check_boot(n_boot)
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise BreastlabInputError(f"metrics must be among {list(METRICS)}, got {metrics}")
    truth = check_truth(y_true)
    n = truth.size
    codes = None if cluster is None else _cluster_codes(cluster, n)
    m = int(truth.sum())
    s = None
    if "auc" in metrics:
        if y_score is None:
            raise BreastlabInputError("metric 'auc' needs y_score")
        s = orient(check_scores(y_score, n, name="y_score"), direction)
    # Positives first; within a class by score, so the AUC's level sums need no gather.
    order = np.argsort(~truth, kind="stable") if s is None else np.lexsort((s, ~truth))
    t = truth[order]
    plan = None
    estimates: dict[str, float] = {}
    if s is not None:
        plan = _AucPlan(s[order], m)
        estimates["auc"] = float(plan(np.ones((1, n)))[0])
    pred_metrics = [k for k in metrics if k in PREDICTION_METRICS]
    pred = None
    if pred_metrics:
        pred = _predictions(y_pred, threshold, y_score, direction, n)[order]
        for k in pred_metrics:
            estimates[k] = float(_prediction_metric(k, np.ones((1, n)), t, pred)[0])
    resampler = _Resampler(t, stratified, None if codes is None else codes[order])
    rng = _rng(seed)
    reps = {k: np.empty(n_boot) for k in metrics}
    done = 0
    for size in _chunks(n_boot, n):
        w = resampler.weights(rng, size)
        if plan is not None:
            reps["auc"][done : done + size] = plan(w)
        for k in pred_metrics:
            reps[k][done : done + size] = _prediction_metric(k, w, t, pred)
        done += size
    out = {}
    for k in metrics:
        valid = reps[k][np.isfinite(reps[k])]
        if valid.size < n_boot:
            warn_degenerate(f"bootstrap {k}: {n_boot - valid.size} of {n_boot} replicates undefined and left out")
        lo, hi = _percentile(valid, conf_level)
        se = float(valid.std(ddof=1)) if valid.size > 1 else math.nan
        if valid.size and lo == hi:
            warn_degenerate(f"bootstrap {k}: all replicates equal {lo:g}; the interval is degenerate")
        out[k] = BootstrapCI(k, estimates[k], lo, hi, se, conf_level, n_boot, int(valid.size), resampler.scheme, valid)
    return out


def bootstrap_ci(
    y_true,
    y_score,
    metric: str = "auc",
    *,
    threshold: float | None = None,
    direction: str = "<",
    n_boot: int = 2000,
    conf_level: float = 0.95,
    stratified: bool = True,
    cluster=None,
    seed=0,
) -> BootstrapCI:
    """Percentile bootstrap CI of one metric (pROC ``ci.auc(method = "bootstrap")`` for AUC).

    ``y_score`` holds scores for ``metric="auc"``; for a prediction metric
    (sensitivity, specificity, ppv, npv, accuracy) it holds 0/1 predictions, or
    scores when ``threshold`` is given. ``cluster=`` resamples clusters (patients).
    See :func:`bootstrap_metrics`.
    """
    if metric in PREDICTION_METRICS and threshold is None:
        res = bootstrap_metrics(
            y_true,
            y_pred=y_score,
            metrics=[metric],
            direction=direction,
            n_boot=n_boot,
            conf_level=conf_level,
            stratified=stratified,
            cluster=cluster,
            seed=seed,
        )
    else:
        res = bootstrap_metrics(
            y_true,
            y_score=y_score,
            metrics=[metric],
            threshold=threshold,
            direction=direction,
            n_boot=n_boot,
            conf_level=conf_level,
            stratified=stratified,
            cluster=cluster,
            seed=seed,
        )
    return res[metric]


def _full_auc(plan: _AucPlan, w: np.ndarray) -> np.ndarray:
    return plan(w)


def partial_auc_statistic(bounds, focus: str = "specificity", correct: bool = False):
    """Replicate statistic: partial AUC of each weighted curve (McClish without the validity check, as pROC)."""
    from breastlab.evaluate.stats.partial import check_partial, curve_partial_auc

    check_partial(bounds, focus)

    def stat(plan: _AucPlan, w: np.ndarray) -> np.ndarray:
        se, sp = plan.curves(w)
        return curve_partial_auc(se, sp, bounds, focus, correct, allow_invalid=True)

    return stat


def _auc_replicates(
    truth, scores: np.ndarray, n_boot, stratified, codes, rng, stat=_full_auc
) -> tuple[np.ndarray, np.ndarray, str]:
    """Point values (k,) and replicate values (n_boot, k) of ``stat`` for score columns (N, k), shared replicates.

    ``stat(plan, weights)`` maps (b, N) case weights to b values (default: the AUC); a ``stat``
    with ``merge_levels = False`` gets one level per distinct score (it reads every point of a curve).
    """
    order = np.lexsort((scores[:, 0], ~truth))  # the first column's level sums need no gather
    m = int(truth.sum())
    merge = getattr(stat, "merge_levels", True)
    plans = [_AucPlan(scores[order, j], m, merge) for j in range(scores.shape[1])]
    est = np.array([stat(p, np.ones((1, truth.size)))[0] for p in plans])
    resampler = _Resampler(truth[order], stratified, None if codes is None else codes[order])
    reps = np.empty((n_boot, len(plans)))
    done = 0
    for size in _chunks(n_boot, truth.size):
        w = resampler.weights(rng, size)
        for j, p in enumerate(plans):
            reps[done : done + size, j] = stat(p, w)
        done += size
    return est, reps, resampler.scheme


def auc_replicates(
    y_true,
    y_score,
    *,
    direction: str = "<",
    n_boot: int = 2000,
    stratified: bool = True,
    cluster=None,
    seed=0,
    partial=None,
    focus: str = "specificity",
    correct: bool = False,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Point (partial) AUCs (k,) and bootstrap replicates (n_boot, k) of score columns (N,) or (N, k).

    Replicates are shared across columns (paired). ``partial=(low, high)`` gives
    partial AUCs over the ``focus`` range (see :mod:`~breastlab.evaluate.stats.partial`).
    Returns ``(estimates, replicates, scheme)``; undefined replicates are NaN.
    """
    n_boot = _check_boot(n_boot)
    truth = check_truth(y_true)
    s = orient(check_scores(y_score, truth.size, ndim=2), direction)
    s2 = s.reshape(truth.size, -1)
    codes = None if cluster is None else _cluster_codes(cluster, truth.size)
    stat = _full_auc if partial is None else partial_auc_statistic(partial, focus, correct)
    return _auc_replicates(truth, s2, n_boot, stratified, codes, _rng(seed), stat)


def bootstrap_test(
    y_true,
    score1,
    score2,
    *,
    y_true2=None,
    alternative: str = "two-sided",
    direction: str = "<",
    n_boot: int = 2000,
    conf_level: float = 0.95,
    stratified: bool = True,
    cluster=None,
    cluster2=None,
    seed=0,
) -> BootstrapTest:
    """Bootstrap test of two AUCs (pROC ``roc.test(method = "bootstrap")``).

    ``D = (AUC1 - AUC2) / sd(AUC1* - AUC2*)`` over the replicates (sd with ddof 1),
    compared with the standard normal. Paired (same cases, one set of
    replicates) unless ``y_true2`` is given: then both samples are resampled
    independently. ``ci_lower``/``ci_upper`` are the percentile CI of the difference.
    """
    alternative = check_alternative(alternative)
    conf_level = check_conf_level(conf_level)
    n_boot = _check_boot(n_boot)
    rng = _rng(seed)
    truth = check_truth(y_true)
    s1 = orient(check_scores(score1, truth.size, name="score1"), direction)
    codes = None if cluster is None else _cluster_codes(cluster, truth.size)
    paired = y_true2 is None
    if paired:
        s2 = orient(check_scores(score2, truth.size, name="score2"), direction)
        est, reps, scheme = _auc_replicates(truth, np.column_stack([s1, s2]), n_boot, stratified, codes, rng)
        diffs = reps[:, 0] - reps[:, 1]
    else:
        truth2 = check_truth(y_true2, name="y_true2")
        s2 = orient(check_scores(score2, truth2.size, name="score2"), direction)
        codes2 = None if cluster2 is None else _cluster_codes(cluster2, truth2.size)
        e1, r1, scheme = _auc_replicates(truth, s1[:, None], n_boot, stratified, codes, rng)
        e2, r2, _ = _auc_replicates(truth2, s2[:, None], n_boot, stratified, codes2, rng)
        est = np.r_[e1, e2]
        diffs = r1[:, 0] - r2[:, 0]
    diffs = diffs[np.isfinite(diffs)]
    if diffs.size < n_boot:
        warn_degenerate(f"bootstrap test: {n_boot - diffs.size} of {n_boot} replicates undefined and left out")
    a1, a2 = float(est[0]), float(est[1])
    d = a1 - a2
    se = float(diffs.std(ddof=1)) if diffs.size > 1 else math.nan
    if se > 0:
        stat = d / se
    else:
        warn_degenerate("bootstrap test: the replicate differences have zero spread; the test is degenerate")
        stat = 0.0 if d == 0 else math.copysign(math.inf, d)
    p2 = float(min(1.0, 2.0 * _st.norm.sf(abs(stat))))
    pg, pl = float(_st.norm.sf(stat)), float(_st.norm.cdf(stat))
    p = {"two-sided": p2, "greater": pg, "less": pl}[alternative]
    lo, hi = _percentile(diffs, conf_level)
    return BootstrapTest(
        a1, a2, d, se, stat, p, p2, pg, pl, alternative, lo, hi, conf_level, n_boot, int(diffs.size), paired, scheme
    )
