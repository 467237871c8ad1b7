"""Speed of breastlab.evaluate.stats against straightforward reference implementations (same run).

1. DeLong (Sun & Xu 2014, O(N log N)) on 1,000,000 cases: target < 1 s; ratio against the
   O(m x n) pairwise definition of DeLong (1988) at a size where that one still runs.
2. Stratified bootstrap CI of the AUC, 2,000 replicates, 10,000 cases: target < 2 s; ratio
   against a loop that resamples and calls sklearn.metrics.roc_auc_score per replicate.
3. roc_test: paired bootstrap test and paired Venkatraman permutation test, 2,000 replicates,
   10,000 cases: target < 2 s each and >= 20x a straightforward per-replicate loop (bootstrap:
   two roc_auc_score calls per replicate; Venkatraman: pROC's algorithm per permutation, which
   counts the errors at every rank cut-off directly, O(N^2) per permutation, extrapolated from
   a few permutations). For Venkatraman a second, stronger reference is printed too: a NumPy
   loop with one O(N log N) sort per ranking per permutation. Both wall-clock and process CPU
   seconds are printed: on a shared machine the wall clock includes waiting for a core.

Run: .venv/bin/python benchmarks/bench_stats.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from breastlab.evaluate.stats import bootstrap_ci, ci_auc, delong_test, roc_test


def _best_of(fn, repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def naive_delong_var(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """DeLong (1988) from its definition: the m x n kernel psi(X_i, Y_j), row and column means."""
    x, z = s[y == 1], s[y == 0]
    psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return float(psi.mean()), float(v10.var(ddof=1) / x.size + v01.var(ddof=1) / z.size)


def sklearn_bootstrap(y: np.ndarray, s: np.ndarray, n_boot: int, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    reps = np.empty(n_boot)
    for b in range(n_boot):
        idx = np.r_[rng.choice(pos, pos.size), rng.choice(neg, neg.size)]
        reps[b] = roc_auc_score(y[idx], s[idx])
    lo, hi = np.quantile(reps, [0.025, 0.975])
    return float(lo), float(hi)


def _timed(fn) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def loop_bootstrap_test(y: np.ndarray, s1: np.ndarray, s2: np.ndarray, n_boot: int, seed: int = 0) -> float:
    """Paired stratified bootstrap test of two AUCs, one pair of roc_auc_score calls per replicate."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    diffs = np.empty(n_boot)
    for b in range(n_boot):
        idx = np.r_[rng.choice(pos, pos.size), rng.choice(neg, neg.size)]
        diffs[b] = roc_auc_score(y[idx], s1[idx]) - roc_auc_score(y[idx], s2[idx])
    return (roc_auc_score(y, s1) - roc_auc_score(y, s2)) / diffs.std(ddof=1)


def loop_venkatraman(y: np.ndarray, s1: np.ndarray, s2: np.ndarray, n_perm: int, seed: int = 0) -> np.ndarray:
    """Venkatraman's paired permutations as pROC runs them, one replicate at a time (NumPy inside)."""
    rng = np.random.default_rng(seed)
    r, s = rankdata(s1, method="ordinal"), rankdata(s2, method="ordinal")
    c = np.where(y == 1, 1, -1)
    out = np.empty(n_perm)
    for k in range(n_perm):
        q = 1 - np.round(rng.random(y.size))
        r3 = (r + rng.random(y.size) - 0.5) * q + (1 - q) * s
        s3 = (s + rng.random(y.size) - 0.5) * q + (1 - q) * r
        fr = np.cumsum(c[np.argsort(r3)])
        fs = np.cumsum(c[np.argsort(s3)])
        out[k] = np.abs(fs - fr).sum()
    return out


def loop_venkatraman_proc(y: np.ndarray, s1: np.ndarray, s2: np.ndarray, n_perm: int, seed: int = 0) -> np.ndarray:
    """pROC's permutation statistic as written there: errors counted at each cut-off x = 1..N (O(N^2))."""
    rng = np.random.default_rng(seed)
    r, s = rankdata(s1, method="ordinal"), rankdata(s2, method="ordinal")
    case = y == 1
    x = np.arange(1, y.size + 1)[:, None]
    out = np.empty(n_perm)
    for k in range(n_perm):
        q = 1 - np.round(rng.random(y.size))
        r3 = rankdata((r + rng.random(y.size) - 0.5) * q + (1 - q) * s, method="ordinal")
        s3 = rankdata((s + rng.random(y.size) - 0.5) * q + (1 - q) * r, method="ordinal")
        errors_r = (r3[case][None, :] <= x).sum(axis=1) + (r3[~case][None, :] > x).sum(axis=1)
        errors_s = (s3[case][None, :] <= x).sum(axis=1) + (s3[~case][None, :] > x).sum(axis=1)
        out[k] = np.abs(errors_s - errors_r).sum()
    return out


def data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return y, y * 1.0 + rng.normal(size=n)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller reference runs")
    args = ap.parse_args()
    rows = []

    y, s = data(1_000_000)
    s2 = s + np.random.default_rng(1).normal(size=s.size)
    t_ci = _best_of(lambda: ci_auc(y, s), 3)
    t_test = _best_of(lambda: delong_test(y, s, s2), 3)
    rows.append(("DeLong CI, 1,000,000 cases", t_ci, "< 1 s", t_ci < 1.0))
    rows.append(("DeLong paired test, 2 x 1,000,000 cases", t_test, "< 1 s", t_test < 1.0))

    n_small = 4_000 if args.quick else 10_000
    ys, ss = data(n_small, 2)
    t_fast = _best_of(lambda: ci_auc(ys, ss), 5)
    t_naive = _best_of(lambda: naive_delong_var(ys, ss), 2)
    a, v = naive_delong_var(ys, ss)
    ci = ci_auc(ys, ss)
    assert abs(a - ci.auc) < 1e-12 and abs(v - ci.se**2) < 1e-12, "fast and naive DeLong disagree"
    rows.append(
        (
            f"DeLong, {n_small:,} cases: fast / O(m n) naive",
            t_fast,
            f"naive {t_naive:.3f} s",
            f"x{t_naive / t_fast:.0f} faster",
        )
    )

    yb, sb = data(10_000, 3)
    t_boot = _best_of(lambda: bootstrap_ci(yb, sb, n_boot=2000, seed=0), 3)
    n_ref = 200 if args.quick else 2000
    t_ref = _best_of(lambda: sklearn_bootstrap(yb, sb, n_ref), 1) * (2000 / n_ref)
    rows.append(("Stratified bootstrap CI, 2,000 x 10,000 cases", t_boot, "< 2 s", t_boot < 2.0))
    rows.append(
        (
            "  vs loop of roc_auc_score" + (" (extrapolated)" if n_ref < 2000 else ""),
            t_boot,
            f"loop {t_ref:.2f} s",
            f"x{t_ref / t_boot:.0f} faster",
        )
    )
    b = bootstrap_ci(yb, sb, n_boot=2000, seed=0)
    ref_lo, ref_hi = sklearn_bootstrap(yb, sb, 2000 if not args.quick else 200)
    print(f"bootstrap CI ours ({b.lower:.4f}, {b.upper:.4f}); sklearn loop ({ref_lo:.4f}, {ref_hi:.4f})")

    yt, st = data(10_000, 4)
    st2 = st + np.random.default_rng(5).normal(size=st.size)
    n_loop = 200 if args.quick else 2000
    for label, ours, loop in (
        (
            "Paired bootstrap test (roc_test)",
            lambda: roc_test(yt, st, st2, method="bootstrap", n_boot=2000, seed=0),
            lambda: loop_bootstrap_test(yt, st, st2, n_loop),
        ),
        (
            "Paired Venkatraman test (roc_test)",
            lambda: roc_test(yt, st, st2, method="venkatraman", n_boot=2000, seed=0),
            lambda: loop_venkatraman_proc(yt, st, st2, 4),
        ),
    ):
        wall, cpu = min((_timed(ours) for _ in range(3)), key=lambda t: t[1])
        n_ref = 4 if "Venkatraman" in label else n_loop
        loop_wall, loop_cpu = _timed(loop)
        loop_wall, loop_cpu = loop_wall * 2000 / n_ref, loop_cpu * 2000 / n_ref
        rows.append((f"{label}, 2,000 x 10,000 cases", wall, f"< 2 s (CPU {cpu:.2f} s)", cpu < 2.0))
        rows.append(
            (
                "  vs per-replicate loop" + (" (extrapolated)" if n_ref < 2000 else ""),
                wall,
                f"loop {loop_wall:.2f} s",
                f"x{loop_wall / wall:.0f} wall, x{loop_cpu / cpu:.0f} CPU (target >= 20)",
            )
        )
        if "Venkatraman" in label:
            nl_wall, nl_cpu = _timed(lambda: loop_venkatraman(yt, st, st2, n_loop))
            nl_wall, nl_cpu = nl_wall * 2000 / n_loop, nl_cpu * 2000 / n_loop
            rows.append(
                ("  vs NumPy loop, one sort per ranking", wall, f"loop {nl_wall:.2f} s", f"x{nl_cpu / cpu:.1f} CPU")
            )

    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  {'seconds':>8}  {'reference / target':<20}  result")
    for name, t, ref, ok in rows:
        print(f"{name:<{width}}  {t:8.3f}  {ref:<20}  {ok}")


if __name__ == "__main__":
    main()
