"""Speed of the FROC OR-Hillis analysis with jackknife covariance (wAFROC by default).

Targets: 5 treatments x 4 readers x 200 cases under 0.2 s; 10 readers x
2 treatments x 5,000 cases under 3 s (figures of merit, closed-form jackknife, OR moments,
all three analyses).

Reference measured in the same run: the straightforward recomputation RJafroc's
``UtilPseudoValues`` performs, i.e. for every left-out case the figure of merit of every
reader x treatment recomputed from scratch (all false-positive x lesion comparisons as a
NumPy outer comparison). For the large study the reference runs on ``--ref-cases`` left-out
cases only and is extrapolated linearly to all of them (stated in the output); its results
on those cases are checked against the closed form.

Usage::

    .venv/bin/python benchmarks/bench_froc.py [--fom wafroc] [--repeats 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import numpy as np

from breastlab.evaluate.froc import froc_fom, jackknife_foms, or_froc
from breastlab.evaluate.froc.simulate import simulate_froc


def naive_fom(data, fom: str) -> np.ndarray:
    """wAFROC / AFROC by brute force: every (false-positive case, lesion) pair compared."""
    t, r, n_all, _ = data.nl.shape
    fp = data.nl[:, :, : data.n_normal].max(axis=-1)  # (t, r, K1)
    mask = data.lesion_mask
    w = data.weights[mask] if fom == "wafroc" else np.ones(int(mask.sum()))
    y = data.ll[:, :, mask]  # (t, r, L)
    psi = (y[:, :, None, :] > fp[..., None]) + 0.5 * (y[:, :, None, :] == fp[..., None])
    return (psi * w).sum(axis=(-2, -1)) / (fp.shape[-1] * w.sum())


def drop_case(data, k: int):
    keep = np.delete(np.arange(data.nl.shape[2]), k)
    kd = keep[keep >= data.n_normal] - data.n_normal
    return dataclasses.replace(
        data,
        nl=data.nl[:, :, keep],
        ll=data.ll[:, :, kd],
        lesions_per_case=data.lesions_per_case[kd],
        weights=data.weights[kd],
        lesion_ids=data.lesion_ids[kd],
        cases=tuple(data.cases[i] for i in keep),
    )


def reference(data, fom: str, cases) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    out = np.stack([naive_fom(drop_case(data, k), fom).ravel() for k in cases], axis=1)
    return out, time.perf_counter() - start


def run(t: int, r: int, n_cases: int, fom: str, repeats: int, ref_cases: int | None, target: float) -> None:
    data = simulate_froc(t, r, n_cases // 2, n_cases - n_cases // 2, seed=1)
    print(f"\n{t} treatments x {r} readers x {n_cases} cases ({data.n_lesions} lesions), {fom}, jackknife")
    or_froc(data, fom=fom)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        res = or_froc(data, fom=fom)
        times.append(time.perf_counter() - start)
    ours = statistics.median(times)
    assert np.allclose(res.foms, naive_fom(data, fom))
    n_all = data.nl.shape[2]
    cases = np.arange(n_all) if ref_cases is None else np.linspace(0, n_all - 1, ref_cases).astype(int)
    ref_loo, ref_time = reference(data, fom, cases)
    _, loo = jackknife_foms(data, fom)
    assert np.allclose(ref_loo, loo[:, cases], atol=1e-12), "closed-form jackknife differs from recomputation"
    ref_total = ref_time * n_all / len(cases)
    how = "all cases" if ref_cases is None else f"{len(cases)} of {n_all} left-out cases, extrapolated"
    print(f"  breastlab or_froc (whole analysis): median {ours:.3f} s over {repeats} runs (target < {target} s)")
    print(f"  reference per-jackknife-sample recomputation of the FOMs alone: {ref_total:.2f} s ({how})")
    print(f"  ratio reference / breastlab: {ref_total / ours:.0f}x; F = {res.test.statistic:.3f}")
    print(f"  {'PASS' if ours < target else 'FAIL'}: {ours:.3f} s {'<' if ours < target else '>='} {target} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fom", default="wafroc", choices=["wafroc", "afroc"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--ref-cases", type=int, default=40, help="left-out cases timed for the large reference")
    args = ap.parse_args()
    assert np.allclose(froc_fom(simulate_froc(seed=3), args.fom), naive_fom(simulate_froc(seed=3), args.fom))
    run(5, 4, 200, args.fom, args.repeats, None, 0.2)
    run(2, 10, 5000, args.fom, args.repeats, args.ref_cases, 3.0)


if __name__ == "__main__":
    main()
