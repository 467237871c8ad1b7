"""Speed of breastlab.evaluate.stats against straightforward reference implementations (same run).

1. DeLong (Sun & Xu 2014, O(N log N)) on 1,000,000 cases: target < 1 s; ratio against the
   O(m x n) pairwise definition of DeLong (1988) at a size where that one still runs.
2. Stratified bootstrap CI of the AUC, 2,000 replicates, 10,000 cases: target < 2 s; ratio
   against a loop that resamples and calls sklearn.metrics.roc_auc_score per replicate.

Run: .venv/bin/python benchmarks/bench_stats.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import roc_auc_score

from breastlab.evaluate.stats import bootstrap_ci, ci_auc, delong_test


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

    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  {'seconds':>8}  {'reference / target':<20}  result")
    for name, t, ref, ok in rows:
        print(f"{name:<{width}}  {t:8.3f}  {ref:<20}  {ok}")


if __name__ == "__main__":
    main()
