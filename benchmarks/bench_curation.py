"""Speed of the split builder on the real 922-patient Duke metadata.

Target: all eight SpurBreast configurations x 10 repetitions in < 10 s.
Reference, measured in the same run: a straightforward implementation of the
same rules with a Python loop over patients (per-patient lists, ``random.sample``
for the non-tumour slices, one dict per manifest row); it is run on fewer
repetitions and compared per split.

Usage: ``.venv/bin/python benchmarks/bench_curation.py [--reference-repeats 2]``
(needs the real pack, ``$BREASTLAB_DATA``).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time

import pandas as pd

from breastlab.curate import Cohort, build_splits, build_spurbreast_configs, duke_slice_table
from breastlab.curate.features import canonical
from breastlab.paths import duke_dir


def _both(slices, rows: list[dict], rng: random.Random, pid: str, split: str) -> None:
    """k = min(#tumour, #non-tumour) of each class: most central tumour slices, random non-tumour ones."""
    pos, neg = slices[pid][1], slices[pid][0]
    k = min(len(pos), len(neg))
    centre = sum(pos) / len(pos)
    keep = sorted(pos, key=lambda s: (abs(s - centre), s))[:k]
    for s in sorted(keep):
        rows.append({"patient_id": pid, "slice_index": s, "label": 1, "split": split, "attribute": "all"})
    for s in sorted(rng.sample(neg, k)):
        rows.append({"patient_id": pid, "slice_index": s, "label": 0, "split": split, "attribute": "all"})


def reference_build(table: pd.DataFrame, configs, repeats: int) -> list[pd.DataFrame]:
    """Per-patient Python loops: the obvious implementation of splits.py's rules (rho = 1)."""
    slices: dict[str, dict[int, list[int]]] = {}
    for pid, s, lab in zip(table["patient_id"], table["slice_index"], table["label"], strict=True):
        slices.setdefault(pid, {0: [], 1: []})[int(lab)].append(int(s))
    first = table.drop_duplicates("patient_id").set_index("patient_id")
    patients = sorted(slices)
    out = []
    for r in range(repeats):
        for cfg in configs:
            rng = random.Random(f"{cfg.seed}-{r}")
            test = set(random.Random(f"test-{cfg.seed}-{r}").sample(patients, cfg.n_test))
            rows: list[dict] = []

            for pid in sorted(test):
                _both(slices, rows, rng, pid, "test")
            rest = [p for p in patients if p not in test]
            rng.shuffle(rest)
            if cfg.kind in ("baseline", "transform"):
                for split, pats in (("val", rest[: cfg.n_val]), ("train", rest[cfg.n_val : cfg.n_val + cfg.n_train])):
                    for pid in pats:
                        _both(slices, rows, rng, pid, split)
            else:
                col, g = cfg.groups.column, cfg.groups
                a = [p for p in rest if canonical(first.at[p, col]) in {canonical(v) for v in g.a}]
                b = [p for p in rest if canonical(first.at[p, col]) in {canonical(v) for v in g.b}]
                for split, n in (("val", cfg.n_val), ("train", cfg.n_train)):
                    pa, a = a[: n - n // 2], a[n - n // 2 :]
                    pb, b = b[: n // 2], b[n // 2 :]
                    total = 0
                    for pid in pa:
                        for s in slices[pid][1]:
                            rows.append(
                                {"patient_id": pid, "slice_index": s, "label": 1, "split": split, "attribute": "A"}
                            )
                            total += 1
                    share, extra = divmod(total, len(pb))
                    for i, pid in enumerate(pb):
                        for s in sorted(rng.sample(slices[pid][0], share + (i < extra))):
                            rows.append(
                                {"patient_id": pid, "slice_index": s, "label": 0, "split": split, "attribute": "B"}
                            )
            out.append(pd.DataFrame(rows))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--reference-repeats", type=int, default=2)
    args = ap.parse_args()
    t0 = time.perf_counter()
    table = duke_slice_table(duke_dir(), buffer=5)
    t_load = time.perf_counter() - t0
    configs = build_spurbreast_configs()
    n_splits = len(configs) * args.repeats

    t0 = time.perf_counter()
    cohort = Cohort(table)
    splits = build_splits(cohort, configs, repeats=args.repeats)
    t_ours = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        build_splits(Cohort(table), configs, repeats=args.repeats, out=tmp)
        t_write = time.perf_counter() - t0

    t0 = time.perf_counter()
    ref = reference_build(table, configs, args.reference_repeats)
    t_ref = time.perf_counter() - t0
    n_ref = len(ref)
    # sanity: the reference does the same amount of work (same patients per split, similar images)
    ours_images = sum(s.summary["images"] for s in splits[:n_ref]) / n_ref
    ref_images = sum(len(r) for r in ref) / n_ref

    print(
        f"real Duke metadata: {cohort.table['patient_id'].nunique()} countable patients, {len(table):,} "
        f"candidate slices (read + label: {t_load:.2f} s, not part of the target)"
    )
    print(
        f"breastlab.curate: {len(configs)} configurations x {args.repeats} repetitions = {n_splits} splits "
        f"in {t_ours:.2f} s (index + build; target < 10 s) = {1000 * t_ours / n_splits:.1f} ms per split; "
        f"{t_write:.2f} s including writing every split directory"
    )
    print(
        f"per-patient Python loop reference: {n_ref} splits in {t_ref:.2f} s = {1000 * t_ref / n_ref:.1f} ms per "
        f"split (mean images per split: ours {ours_images:,.0f}, reference {ref_images:,.0f})"
    )
    print(f"ratio reference / ours per split: {(t_ref / n_ref) / (t_ours / n_splits):.1f}x")
    print("target met" if t_ours < 10 else "TARGET MISSED")


if __name__ == "__main__":
    main()
