"""Bootstrap confidence intervals of operating points (pROC's ``ci.se``, ``ci.sp``, ``ci.thresholds``, ``ci.coords``).

Robin X, et al. pROC. BMC Bioinformatics 2011;12:77.
Fawcett T. An introduction to ROC analysis. Pattern Recognition Letters 2006;27:861-874.

Each replicate resamples positives and negatives separately (stratified, pROC's
default) or all cases together; intervals are the ``(1 - c)/2`` and ``(1 + c)/2``
quantiles of the replicates (R's type 7) and the median is reported beside them,
as pROC reports it. The point estimate is the original curve's value.

* ``ci_se``: sensitivity at given specificities; ``ci_sp``: specificity at given
  sensitivities, both read as pROC's ``coords`` (the curve's own point, else linear
  interpolation) on every replicate curve;
* ``ci_thresholds``: sensitivity and specificity at fixed thresholds (positive
  when ``score >= t`` for ``direction="<"``), thresholds chosen on the original data
  (``"best"``: Youden's, as pROC's ``ci.thresholds(roc, thresholds = "best")``);
* ``ci_coords``: any of pROC's coordinates (ppv, npv, accuracy, ...) at a threshold,
  sensitivity or specificity, computed from each replicate's sensitivity and
  specificity with the replicate's class sizes (the sample's in the stratified bootstrap);
  or at ``x="best"``, each replicate's own best point (Youden or closest-to-top-left,
  pROC's ``best.method``, ``best.weights``, ``best.policy``), where the threshold and
  the coordinates are read on the replicate's curve with its class sizes.

Replicates are vectorised: case weights of a chunk of replicates at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from breastlab.errors import BreastlabInputError
from breastlab.evaluate.stats._validate import check_conf_level, check_scores, check_truth, orient, warn_degenerate
from breastlab.evaluate.stats.bootstrap import _AucPlan, _check_boot, _chunks, _Resampler, _rng
from breastlab.evaluate.stats.roc import threshold_between


def _quantiles(reps: np.ndarray, conf_level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lower, median, upper) per column, NaN replicates left out."""
    a = (1.0 - conf_level) / 2.0
    q = np.nanquantile(reps, [a, 0.5, 1.0 - a], axis=0)
    return q[0], q[1], q[2]


def _setup(y_true, y_score, direction):
    truth = check_truth(y_true)
    s = orient(check_scores(y_score, truth.size), direction)
    order = np.lexsort((s, ~truth))
    return truth[order], s[order], int(truth.sum())


def _curve_replicates(y_true, y_score, levels, given, n_boot, stratified, seed, direction, sizes=False):
    """Replicates (n_boot, k) of the other coordinate at ``levels`` of ``given``, and the point values (k,);
    with ``sizes``, also each replicate's numbers of positives and negatives (n_boot,)."""
    from breastlab.evaluate.stats.roc_test import coord_at

    n_boot = _check_boot(n_boot)
    levels = np.atleast_1d(np.asarray(levels, dtype=np.float64))
    if levels.size == 0 or np.any((levels < 0) | (levels > 1)):
        raise BreastlabInputError(f"{given} values must lie within [0, 1], got {levels.tolist()}")
    t, s, m = _setup(y_true, y_score, direction)
    plan = _AucPlan(s, m)
    se0, sp0 = plan.curves(np.ones((1, t.size)))
    point = np.array([coord_at(se0, sp0, v, given)[0] for v in levels])
    resampler = _Resampler(t, stratified, None)
    rng = _rng(seed)
    reps = np.empty((n_boot, levels.size))
    m_r, n_r = np.empty(n_boot), np.empty(n_boot)
    done = 0
    for size in _chunks(n_boot, t.size):
        w = resampler.weights(rng, size)
        se, sp = plan.curves(w)
        for j, v in enumerate(levels):
            reps[done : done + size, j] = coord_at(se, sp, v, given)
        m_r[done : done + size], n_r[done : done + size] = w[:, :m].sum(axis=1), w[:, m:].sum(axis=1)
        done += size
    return (levels, point, reps, m_r, n_r) if sizes else (levels, point, reps)


def _ci_at_levels(y_true, y_score, levels, given, conf_level, n_boot, stratified, seed, direction) -> pd.DataFrame:
    """Bootstrap CI of the other coordinate at each level of ``given`` (the body of ``ci_se`` and ``ci_sp``)."""
    conf_level = check_conf_level(conf_level)
    lv, point, reps = _curve_replicates(y_true, y_score, levels, given, n_boot, stratified, seed, direction)
    lo, med, hi = _quantiles(reps, conf_level)
    other = "sensitivity" if given == "specificity" else "specificity"
    return pd.DataFrame({given: lv, other: point, "lower": lo, "median": med, "upper": hi, "n_boot": reps.shape[0]})


def ci_se(
    y_true,
    y_score,
    specificities=(0.8, 0.9, 0.95),
    conf_level=0.95,
    n_boot=2000,
    stratified=True,
    seed=0,
    direction="<",
) -> pd.DataFrame:
    """Bootstrap CI of the sensitivity at each given specificity (pROC ``ci.se``)."""
    return _ci_at_levels(y_true, y_score, specificities, "specificity", conf_level, n_boot, stratified, seed, direction)


def ci_sp(
    y_true,
    y_score,
    sensitivities=(0.8, 0.9, 0.95),
    conf_level=0.95,
    n_boot=2000,
    stratified=True,
    seed=0,
    direction="<",
) -> pd.DataFrame:
    """Bootstrap CI of the specificity at each given sensitivity (pROC ``ci.sp``)."""
    return _ci_at_levels(y_true, y_score, sensitivities, "sensitivity", conf_level, n_boot, stratified, seed, direction)


def _threshold_replicates(y_true, y_score, thresholds, n_boot, stratified, seed, direction):
    n_boot = _check_boot(n_boot)
    t, s, m = _setup(y_true, y_score, direction)
    thr = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    oriented_thr = thr if direction == "<" else -thr
    called = (s[:, None] >= oriented_thr[None, :]).astype(np.float64)  # (N, k) positive calls
    pos_called, neg_kept = called[:m], 1.0 - called[m:]
    resampler = _Resampler(t, stratified, None)
    rng = _rng(seed)
    se_r, sp_r = np.empty((n_boot, thr.size)), np.empty((n_boot, thr.size))
    m_r, n_r = np.empty(n_boot), np.empty(n_boot)
    done = 0
    for size in _chunks(n_boot, t.size):
        w = resampler.weights(rng, size)
        wp, wn = w[:, :m], w[:, m:]
        m_r[done : done + size], n_r[done : done + size] = wp.sum(axis=1), wn.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            se_r[done : done + size] = (wp @ pos_called) / m_r[done : done + size, None]
            sp_r[done : done + size] = (wn @ neg_kept) / n_r[done : done + size, None]
        done += size
    return thr, pos_called.mean(axis=0), neg_kept.mean(axis=0), se_r, sp_r, m_r, n_r


def ci_thresholds(
    y_true, y_score, thresholds="best", conf_level=0.95, n_boot=2000, stratified=True, seed=0, direction="<"
) -> pd.DataFrame:
    """Bootstrap CIs of sensitivity and specificity at fixed thresholds (pROC ``ci.thresholds``)."""
    conf_level = check_conf_level(conf_level)
    if isinstance(thresholds, str):
        if thresholds != "best":
            raise BreastlabInputError(f"thresholds must be 'best' or numbers, got {thresholds!r}")
        from breastlab.evaluate.stats.coords import best_threshold

        thresholds = best_threshold(y_true, y_score, direction=direction)["threshold"].to_numpy()
    thr, se0, sp0, se_r, sp_r, _, _ = _threshold_replicates(
        y_true, y_score, thresholds, n_boot, stratified, seed, direction
    )
    se_lo, se_med, se_hi = _quantiles(se_r, conf_level)
    sp_lo, sp_med, sp_hi = _quantiles(sp_r, conf_level)
    return pd.DataFrame(
        {
            "threshold": thr,
            "specificity": sp0,
            "sp_lower": sp_lo,
            "sp_median": sp_med,
            "sp_upper": sp_hi,
            "sensitivity": se0,
            "se_lower": se_lo,
            "se_median": se_med,
            "se_upper": se_hi,
            "n_boot": se_r.shape[0],
        }
    )


BEST_POLICIES = ("stop", "omit", "random")


def _best_points(plan: _AucPlan, unique: np.ndarray, w: np.ndarray, best_method, best_weights, best_policy, rng):
    """The best point of each weighted curve: (threshold, se, sp, m, n, ties), each (b,), oriented threshold.

    A replicate's curve has a point per distinct score it holds (positive from that score up;
    threshold midway from the next lower score it holds, ``-Inf`` if none) and the point at
    ``+Inf``; the optimum of ``best_criterion`` over these points is the replicate's best.
    ``ties`` counts the optimal points; with several, ``"random"`` draws one uniformly from
    ``rng`` and ``"omit"`` (and ``"stop"``, whose caller refuses) leaves NaN.
    """
    from breastlab.evaluate.stats.coords import best_criterion

    p = plan._level_sums(w[:, : plan.m], plan.pos)  # (L, b)
    q = plan._level_sums(w[:, plan.m :], plan.neg)
    n_levels, b = p.shape
    zero = np.zeros((1, b))
    tp = np.concatenate([np.cumsum(p[::-1], axis=0)[::-1], zero], axis=0)  # point k: levels >= k positive
    tn = np.concatenate([zero, np.cumsum(q, axis=0)], axis=0)
    m_rep, n_rep = tp[0], tn[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        se, sp = tp / m_rep, tn / n_rep
    present = (p + q) > 0
    valid = np.concatenate([present, np.ones((1, b), dtype=bool)], axis=0)
    crit = np.where(valid, best_criterion(se, sp, best_method, best_weights), -np.inf)
    with np.errstate(invalid="ignore"):
        is_best = valid & (crit == np.max(crit, axis=0))
    ties = is_best.sum(axis=0)
    pick = np.zeros(b, dtype=np.int64)
    if best_policy == "random":
        pick = np.floor(rng.random(b) * np.maximum(ties, 1)).astype(np.int64)
    k = np.argmax(np.cumsum(is_best, axis=0) > pick, axis=0)  # the (pick+1)-th optimal point
    cols = np.arange(b)
    below = np.where(present, np.arange(n_levels)[:, None], -1)
    last_below = np.concatenate([np.full((1, b), -1), np.maximum.accumulate(below, axis=0)], axis=0)[k, cols]
    lo = np.where(last_below >= 0, unique[np.maximum(last_below, 0)], -np.inf)
    hi = np.where(k < n_levels, unique[np.minimum(k, n_levels - 1)], np.inf)
    thr = threshold_between(lo, hi)
    keep = (ties == 1) | ((ties > 1) & (best_policy == "random"))
    out = [np.where(keep, v, np.nan) for v in (thr, se[k, cols], sp[k, cols])]
    return (*out, m_rep, n_rep, ties)


def _best_replicates(
    y_true, y_score, best_method, best_weights, best_policy, n_boot, stratified, seed, direction
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The original curve's best point and each replicate's, as (point, replicates) dicts of
    threshold, sensitivity, specificity, m, n, ties (arrays of length 1 and ``n_boot``)."""
    from breastlab.evaluate.stats.coords import best_criterion

    n_boot = _check_boot(n_boot)
    if best_policy not in BEST_POLICIES:
        raise BreastlabInputError(f"best_policy must be one of {list(BEST_POLICIES)}, got {best_policy!r}")
    best_criterion(0.5, 0.5, best_method, best_weights)  # validates best_method and best_weights
    t, s, m = _setup(y_true, y_score, direction)
    plan = _AucPlan(s, m, merge=False)
    unique = np.unique(s)
    rng = _rng(seed)
    pick_rng = rng.spawn(1)[0]  # ties drawn apart from the resampling: every best_policy sees the same replicates
    keys = ("threshold", "sensitivity", "specificity", "m", "n", "ties")
    point = dict(
        zip(
            keys,
            _best_points(plan, unique, np.ones((1, t.size)), best_method, best_weights, best_policy, pick_rng),
            strict=True,
        )
    )
    if point["ties"][0] > 1 and best_policy == "stop":
        raise BreastlabInputError(
            f"the curve has {int(point['ties'][0])} best thresholds by {best_method}; pass best_policy='random' "
            "(one at random) or 'omit' (NaN), as pROC's best.policy"
        )
    resampler = _Resampler(t, stratified, None)
    parts = []
    for size in _chunks(n_boot, 4 * t.size):  # a quarter of the usual chunk: some 15 (levels, b) arrays per chunk
        parts.append(
            _best_points(plan, unique, resampler.weights(rng, size), best_method, best_weights, best_policy, pick_rng)
        )
    reps = {key: np.concatenate([part[i] for part in parts]) for i, key in enumerate(keys)}
    tied = int(np.sum(reps["ties"] > 1))
    if tied and best_policy == "stop":
        raise BreastlabInputError(
            f"{tied} of {n_boot} bootstrap replicates have several best thresholds by {best_method}; pass "
            "best_policy='random' (one of them at random, as pROC) or 'omit' (leave those replicates out)"
        )
    if direction == ">":  # scores were negated: map the thresholds back
        point["threshold"], reps["threshold"] = -point["threshold"], -reps["threshold"]
    return point, reps


def ci_coords(
    y_true,
    y_score,
    x,
    input: str = "threshold",
    ret=("specificity", "sensitivity", "ppv", "npv"),
    conf_level=0.95,
    n_boot=2000,
    stratified=True,
    seed=0,
    direction="<",
    best_weights=(1.0, 0.5),
    best_method: str = "youden",
    best_policy: str = "stop",
) -> pd.DataFrame:
    """Bootstrap CIs of pROC's coordinates ``ret`` at ``x`` given as ``input`` (pROC ``ci.coords``).

    One row per (x, coordinate): the value on the original curve, lower, median, upper.

    ``x="best"`` (pROC's ``ci.coords(roc, x = "best", best.method, best.weights,
    best.policy)``): every replicate finds its own best point by ``best_method``
    (``"youden"``: maximal ``se + r sp``; ``"closest.topleft"``: minimal
    ``(1 - se)^2 + r (1 - sp)^2``; ``r`` from ``best_weights = (cost, prevalence)``, see
    ``coords``) and the coordinates are read there, ``"threshold"`` included (the
    replicate's own threshold, midway between the distinct scores it holds, as pROC's
    replicate curves). Coordinates use each replicate's class sizes. Where several
    points are optimal, ``best_policy`` decides: ``"stop"`` refuses, ``"random"`` takes
    one uniformly at random, ``"omit"`` leaves the replicate out (pROC 1.18 documents it
    but fails with an error). The same rule applies to the original curve's ``value``.
    The rows then have ``x = "best"`` and ``n_valid``, the replicates kept.
    """
    from breastlab.evaluate.stats.coords import coords, coords_table

    conf_level = check_conf_level(conf_level)
    ret = [ret] if isinstance(ret, str) else list(ret)
    if isinstance(x, str):
        if x != "best":
            raise BreastlabInputError(f"x must be 'best' or numbers, got {x!r}")
        return _ci_coords_best(
            y_true,
            y_score,
            ret,
            conf_level,
            n_boot,
            stratified,
            seed,
            direction,
            best_weights,
            best_method,
            best_policy,
        )
    xs = np.atleast_1d(np.asarray(x, dtype=np.float64))
    if input == "threshold":
        _, _, _, se_r, sp_r, m_r, n_r = _threshold_replicates(y_true, y_score, xs, n_boot, stratified, seed, direction)
    elif input in ("specificity", "sensitivity"):
        _, _, other, m_r, n_r = _curve_replicates(
            y_true, y_score, xs, input, n_boot, stratified, seed, direction, sizes=True
        )
        given = np.broadcast_to(xs, other.shape)
        se_r, sp_r = (other, given) if input == "specificity" else (given, other)
    else:
        raise BreastlabInputError(f"input must be 'threshold', 'sensitivity' or 'specificity', got {input!r}")
    point = coords(y_true, y_score, xs, input=input, direction=direction, best_weights=best_weights)
    unknown = [c for c in ret if c not in point.columns or c == "threshold"]
    if unknown:
        raise BreastlabInputError(f"ret {unknown} unknown; choose from {list(point.columns[1:])}")
    rows = []
    for j, v in enumerate(xs):
        table = coords_table(np.full(se_r.shape[0], np.nan), se_r[:, j], sp_r[:, j], m_r, n_r, best_weights)
        for c in ret:
            lo, med, hi = _quantiles(table[c].to_numpy()[:, None], conf_level)
            rows.append(
                {
                    input: v,
                    "coordinate": c,
                    "value": float(point[c].iloc[j]),
                    "lower": float(lo[0]),
                    "median": float(med[0]),
                    "upper": float(hi[0]),
                    "n_boot": se_r.shape[0],
                }
            )
    return pd.DataFrame(rows)


def _ci_coords_best(
    y_true, y_score, ret, conf_level, n_boot, stratified, seed, direction, best_weights, best_method, best_policy
) -> pd.DataFrame:
    """``ci_coords`` at each replicate's best point (see ``ci_coords``)."""
    from breastlab.evaluate.stats.coords import coords_table

    point, reps = _best_replicates(
        y_true, y_score, best_method, best_weights, best_policy, n_boot, stratified, seed, direction
    )
    tables = [
        coords_table(d["threshold"], d["sensitivity"], d["specificity"], d["m"], d["n"], best_weights)
        for d in (point, reps)
    ]
    unknown = [c for c in ret if c not in tables[0].columns]
    if unknown or not ret:
        raise BreastlabInputError(f"ret {unknown or ret} unknown; choose from {list(tables[0].columns)}")
    kept = ~np.isnan(reps["sensitivity"])
    n_valid = int(kept.sum())
    if n_valid == 0:
        raise BreastlabInputError(
            f"none of the {kept.size} bootstrap replicates has a single best point (best_policy={best_policy!r})"
        )
    if n_valid < kept.size:
        warn_degenerate(f"ci_coords: {kept.size - n_valid} of {kept.size} replicates without a best point left out")
    rows = []
    for c in ret:
        lo, med, hi = _quantiles(tables[1][c].to_numpy()[kept, None], conf_level)
        rows.append(
            {
                "x": "best",
                "coordinate": c,
                "value": float(tables[0][c].iloc[0]),
                "lower": float(lo[0]),
                "median": float(med[0]),
                "upper": float(hi[0]),
                "n_boot": kept.size,
                "n_valid": n_valid,
            }
        )
    return pd.DataFrame(rows)
