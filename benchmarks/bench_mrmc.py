"""Speed of the OR-Hillis MRMC analysis: 5 readers x 2 treatments x 10,000 cases, DeLong covariance.

Target: the whole analysis from the long table (validation, pivot, AUCs,
full 10 x 10 DeLong covariance, OR moments, all three analyses) in under 1 s.
Target: power for a 10 x 10 grid of readers x cases from the result's OR
components in under 0.1 s (reference: one scalar power call per grid cell and analysis).

Reference measured in the same run: the same AUCs and covariance assembled the
way one would by hand from pairwise tools, i.e. ``sklearn.metrics.roc_auc_score``
per reader x treatment and the statistics module's paired ``delong_test`` /
``var_auc`` for each of the 45 column pairs (Cov = (V1 + V2 - SE^2) / 2).

Usage::

    .venv/bin/python benchmarks/bench_mrmc.py [--cases 10000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import numpy as np

from breastlab.evaluate.mrmc import mrmc_frame, or_hillis
from breastlab.evaluate.mrmc.power import ANALYSES, PilotVariance, mrmc_power, power_table
from breastlab.evaluate.mrmc.simulate import roe_metz


def reference(frame) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.metrics import roc_auc_score

    from breastlab.evaluate.stats.delong import delong_test, var_auc

    cols, truth = [], None
    for (_, _), g in frame.sort_values("case").groupby(["treatment", "reader"], sort=True):
        cols.append(g["rating"].to_numpy())
        truth = g["truth"].to_numpy()
    auc = np.array([roc_auc_score(truth, c) for c in cols])
    var = np.array([var_auc(truth, c) for c in cols])
    cov = np.diag(var)
    for a, b in itertools.combinations(range(len(cols)), 2):
        se = delong_test(truth, cols[a], cols[b]).se
        cov[a, b] = cov[b, a] = (var[a] + var[b] - se**2) / 2
    return auc, cov


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--readers", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    x, truth = roe_metz(args.readers, args.cases // 2, args.cases - args.cases // 2, "HL", seed=0)
    frame = mrmc_frame(x, truth, treatments=["unaided", "aided"])
    print(f"{args.readers} readers x 2 treatments x {args.cases} cases: {len(frame):,} readings")

    or_hillis(frame)  # warm-up (imports, caches)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        res = or_hillis(frame, cov="delong")
        times.append(time.perf_counter() - t0)
    ours = statistics.median(times)

    t0 = time.perf_counter()
    ref_auc, ref_cov = reference(frame)
    ref = time.perf_counter() - t0

    np.testing.assert_allclose(res.foms.ravel(), ref_auc, rtol=1e-12)
    np.testing.assert_allclose(res.covariance, ref_cov, rtol=1e-8, atol=1e-15)
    print(f"or_hillis (DeLong, full analysis from the long table): {ours * 1000:.1f} ms (median of {args.repeats})")
    print(f"reference (sklearn AUCs + 45 pairwise delong_test calls): {ref * 1000:.1f} ms")
    print(f"ratio reference / ours: {ref / ours:.1f}x")
    print(f"target < 1 s: {'PASS' if ours < 1.0 else 'FAIL'}")
    t0 = time.perf_counter()
    or_hillis(frame, cov="jackknife")
    print(f"or_hillis with jackknife covariance: {(time.perf_counter() - t0) * 1000:.1f} ms")
    print(f"F(1, {res.test.df2:.2f}) = {res.test.statistic:.3f}, p = {res.test.p_value:.3f} (null data)")
    bench_power(res, args.repeats)


def bench_power(res, repeats: int) -> None:
    """Power for a 10 x 10 readers x cases grid (target < 0.1 s) against one scalar call per grid cell."""
    pilot = PilotVariance.from_result(res)
    readers, cases = list(range(3, 13)), list(range(50, 550, 50))
    power_table(pilot, 0.05, readers, cases)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        tab = power_table(pilot, 0.05, readers, cases)
        times.append(time.perf_counter() - t0)
    ours = statistics.median(times)
    t0 = time.perf_counter()
    ref = [mrmc_power(pilot, 0.05, j, k, analysis=a) for j in readers for k in cases for a in ANALYSES]
    ref_t = time.perf_counter() - t0
    np.testing.assert_allclose(tab[[f"power_{a}" for a in ANALYSES]].to_numpy().ravel(), ref, rtol=1e-12)
    print(
        f"power table, 10 readers x 10 case counts x 3 analyses: {ours * 1000:.1f} ms (target < 100 ms: "
        f"{'PASS' if ours < 0.1 else 'FAIL'}); 300 scalar calls: {ref_t * 1000:.1f} ms, ratio {ref_t / ours:.1f}x"
    )


if __name__ == "__main__":
    main()
