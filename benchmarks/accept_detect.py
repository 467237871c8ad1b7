"""Acceptance run of the mammography detector (issue 10) on phantom mammograms at CPU size.

Steps (each cached in OUT, so a rerun resumes): phantom cohort (CBIS-DDSM layout) ->
read_cbis_ddsm -> build_mammo_store at the detector's spacing -> train the ``cpu-small``
detector on the phantom's train split -> predict the test split -> print

* FROC sensitivity at 0.125-4 FP/image, mean sensitivity and AP@0.5 per class (goal:
  mean sensitivity >= 0.7 for masses and calcifications), image/breast Table 1;
* localisation: share of true positives whose predicted region (estimated landmarks,
  detected box) equals the true region (the phantom's own nipple and pectoral line,
  replayed from its generator, true box) -- goal >= 90 %;
* CC-MLO matching: share of lesions detected in both views whose CC detection is paired
  with the MLO detection of the same lesion -- goal >= 90 %.

Usage: ``python benchmarks/accept_detect.py [--out DIR] [--patients N] [--iterations N]``.
Real mini-MIAS images are scored by tests/detect/test_real_mias.py.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd


def phantom_landmarks_original(patient, side: str, view: str):
    """True nipple (x, y) and posterior line (a, b: c = a + b r) in the phantom's ORIGINAL pixels.

    Replays the first draws of ``render_view`` (y0, phases, pectoral triangle); checked
    against the truth table's pectoral box by the caller.
    """
    from breastlab.data.phantom.mammo import VIEWS

    rows, cols, sp = patient.geometry()
    rng = np.random.default_rng(np.random.SeedSequence([patient.seed, VIEWS.index((side, view))]))
    y0 = rows * sp * (0.5 if view == "CC" else 0.55) + float(rng.uniform(-8, 8))
    rng.uniform(0, 2 * np.pi, 3)
    nipple = (patient.depth_mm / sp, y0 / sp)
    if view == "MLO":
        top, length = float(rng.uniform(35, 60)), float(rng.uniform(0.9, 1.2)) * y0
        # x / top + y / length = 1  ->  x = top - (top / length) y  (pixels)
        a, b = top / sp, -(top / length)
        pec = (top / sp, length / sp)
    else:
        a, b, pec = 0.0, 0.0, None
    if side == "RIGHT":  # the phantom mirrors the right breast: x -> cols - x
        nipple = (cols - nipple[0], nipple[1])
        a, b = cols - a, -b
    return nipple, (a, b), pec


def to_stored(x: float, y: float, rec) -> tuple[float, float]:
    """A point in original pixels -> stored pixels (crop, flip, scale as the preprocessing)."""
    x, y = x - rec["crop_x0"], y - rec["crop_y0"]
    if bool(rec["flipped"]):
        x = (rec["crop_x1"] - rec["crop_x0"]) - x
    return x * rec["scale_x"], y * rec["scale_y"]


def true_landmarks(rec, patient):
    from breastlab.detect.localise import Landmarks

    side = "LEFT" if rec["laterality"] == "L" else "RIGHT"
    nip, (a, b), _ = phantom_landmarks_original(patient, side, rec["view"])
    nx, ny = to_stored(*nip, rec)
    # two points of the posterior line, mapped, then the foot of the perpendicular from the nipple
    p1 = to_stored(a, 0.0, rec)
    p2 = to_stored(a + b * 1000.0, 1000.0, rec)
    dx, dy = p2[0] - p1[0], p2[1] - p1[1]
    t = ((nx - p1[0]) * dx + (ny - p1[1]) * dy) / (dx * dx + dy * dy)
    foot = (p1[0] + t * dx, p1[1] + t * dy)
    return Landmarks(rec["view"], (nx, ny), foot, False, rec["view"] == "MLO")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/breastlab_accept_detect")
    ap.add_argument("--patients", type=int, default=120)
    ap.add_argument("--matrix", type=int, default=768)
    ap.add_argument("--spacing", type=float, default=1.0)
    ap.add_argument("--iterations", type=int, default=600)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-only", action="store_true")
    ap.add_argument("--verbose", action="store_true", help="print the breasts whose lesion was paired wrongly")
    args = ap.parse_args()

    from breastlab.data.mammo import read_cbis_ddsm
    from breastlab.data.mammo.preprocess import build_mammo_store
    from breastlab.data.phantom.mammo import make_mammo_cohort
    from breastlab.data.store import ArrayStore
    from breastlab.detect.model import load_detector, predict, preset, train_detector

    out = Path(args.out)
    cohort = out / "cohort"
    t0 = time.perf_counter()
    if not (cohort / "phantom_truth.csv").exists():
        make_mammo_cohort(cohort, args.patients, seed=args.seed, matrix=args.matrix, proportions=(0.3, 0.35, 0.35),
                          test_fraction=0.3, progress=False)
    store_dir = out / "store"
    if not (store_dir / "store.json").exists():
        build_mammo_store(read_cbis_ddsm(cohort, cohort / "CBIS-DDSM"), store_dir, spacing=args.spacing,
                          progress=False)
    store = ArrayStore(store_dir)
    man = store.manifest
    print(f"cohort + store: {len(man)} images, {len(store.findings)} findings ({time.perf_counter() - t0:.0f} s)")
    cfg = preset("cpu-small", spacing_mm=args.spacing, iterations=args.iterations, batch_size=args.batch,
                 checkpoint_every=50, seed=args.seed)
    run = out / "run"
    train_rows = man.index[man["split"] == "train"].to_numpy()
    t1 = time.perf_counter()
    if not (run / "model.pt").exists():
        train_detector(store, run, cfg, rows=train_rows, resume=(run / "config.json").exists(), progress=True)
    metrics = pd.read_csv(run / "metrics.csv")
    print(f"trained {len(metrics)} iterations this run ({time.perf_counter() - t1:.0f} s), "
          f"data wait {metrics['data_s'].sum() / metrics['step_s'].sum():.1%} of step time")
    if args.train_only:
        return
    model, cfg = load_detector(run)
    test_rows = man.index[man["split"] == "test"].to_numpy()
    det = predict(model, cfg, store, rows=test_rows, progress=False)
    evaluate(store, test_rows, det, cfg, args)


def evaluate(store, test_rows, det, cfg, args) -> None:
    from breastlab._table import format_table
    from breastlab.data.phantom.mammo import plan_mammo_cohort
    from breastlab.detect.froc import evaluate_detections
    from breastlab.detect.localise import breast_landmarks, locate, match_views

    man = store.manifest.iloc[test_rows].reset_index(drop=True)
    images = man[["image_id", "patient_id", "laterality", "view", "height", "width"]]
    truth = store.findings[store.findings["image_id"].isin(man["image_id"])]
    ev = evaluate_detections(images, truth, det)
    print(ev.format())

    # ---- localisation: predicted region of each TP vs the true region of its finding
    patients = {p.patient_id: p for p in plan_mammo_cohort(args.patients, args.seed, proportions=(0.3, 0.35, 0.35),
                                                           test_fraction=0.3, matrix=args.matrix)}
    recs = man.set_index("image_id")
    rows_by_id = dict(zip(store.manifest["image_id"], store.manifest["row"], strict=True))
    est, tru_lm, located = {}, {}, []
    for iid, rec in recs.iterrows():
        rec = rec.copy()
        rec["image_id"] = iid
        est[iid] = breast_landmarks(store[int(rows_by_id[iid])], rec["view"])
        tru_lm[iid] = true_landmarks(rec, patients[rec["patient_id"]])
    nip_err = [math.dist(est[i].nipple, tru_lm[i].nipple) * cfg.spacing_mm for i in est]
    print(f"\nnipple position error: median {np.median(nip_err):.1f} mm, 90th percentile "
          f"{np.quantile(nip_err, 0.9):.1f} mm over {len(nip_err)} images")
    d = ev.detections
    tp = d[d["outcome"] == "tp"]
    t = ev.truth
    for _, r in tp.iterrows():
        f = t.iloc[int(r["finding_index"])]
        p = locate((r["x0"] + r["x1"]) / 2, (r["y0"] + r["y1"]) / 2, est[r["image_id"]])
        q = locate((f["x0"] + f["x1"]) / 2, (f["y0"] + f["y1"]) / 2, tru_lm[r["image_id"]])
        located.append({"image_id": r["image_id"], "class": r["finding_class"],
                        "view": recs.loc[r["image_id"], "view"], "predicted": p.region, "true": q.region,
                        "d_pred": p.nipple_distance, "d_true": q.nipple_distance})
    loc = pd.DataFrame(located)
    acc = float((loc["predicted"] == loc["true"]).mean()) if len(loc) else float("nan")
    print(f"localisation: {len(loc)} true positives, region correct {acc:.1%} (goal >= 90%), "
          f"nipple distance |error| median {np.median(np.abs(loc['d_pred'] - loc['d_true'])):.3f}")
    if len(loc):
        print(format_table(pd.crosstab(loc["true"], loc["predicted"]).reset_index(), "true (rows) x predicted region"))

    # ---- CC-MLO matching: one mark per location (class-agnostic NMS at IoU 0.3, as the marks), top 5 per image
    # with score >= 0.1; a lesion is correctly paired when its best CC hit (IoU >= 0.5 or centre in the true box,
    # any class) is paired with a detection hitting the same lesion's true box on the MLO.
    from breastlab.detect._boxes import centre_in, iou_matrix
    from breastlab.detect.marks import suppress_overlaps

    work = suppress_overlaps(d[d["score"] >= 0.1], 0.3).sort_values("score", ascending=False)
    work = work.groupby("image_id").head(5).copy()
    work["view"] = work["image_id"].map(recs["view"])
    work["breast"] = work["image_id"].map(recs["patient_id"] + ":" + recs["laterality"])
    work["nipple_distance"] = [locate((r.x0 + r.x1) / 2, (r.y0 + r.y1) / 2, est[r.image_id]).nipple_distance
                               for r in work.itertuples()]
    tb = truth.assign(view=truth["image_id"].map(recs["view"]),
                      breast=truth["image_id"].map(recs["patient_id"] + ":" + recs["laterality"]))

    def hits(g, box):
        b = g[["x0", "y0", "x1", "y1"]].to_numpy(float)
        return g[(iou_matrix(b, box)[:, 0] >= 0.5) | centre_in(b, box)[:, 0]]

    n_lesions = correct = 0
    for breast, g in work.groupby("breast"):
        t = tb[tb["breast"] == breast]
        if set(t["view"]) != {"CC", "MLO"}:
            continue
        cc, mlo = g[g["view"] == "CC"], g[g["view"] == "MLO"]
        cc_box = t.loc[t["view"] == "CC", ["x0", "y0", "x1", "y1"]].to_numpy(float)[:1]
        mlo_box = t.loc[t["view"] == "MLO", ["x0", "y0", "x1", "y1"]].to_numpy(float)[:1]
        cc_hit, mlo_hit = hits(cc, cc_box), hits(mlo, mlo_box)
        if cc_hit.empty or mlo_hit.empty:
            continue
        pairs = match_views(cc, mlo)
        partner = dict(zip(pairs["cc_index"], pairs["mlo_index"], strict=True))
        n_lesions += 1
        ok = partner.get(cc_hit.index[0]) in set(mlo_hit.index)
        correct += int(ok)
        if not ok and args.verbose:
            print(breast, dict(zip(pairs["cc_index"], pairs["pair_score"].round(3), strict=True)), "cc hit",
                  cc_hit.index[0], "mlo hits", list(mlo_hit.index), "partner", partner.get(cc_hit.index[0]))
            print(g[["view", "finding_class", "score", "nipple_distance", "outcome"]].round(3).to_string())
    share = correct / n_lesions if n_lesions else float("nan")
    print(f"CC-MLO matching: {n_lesions} lesions detected in both views, correctly paired {share:.1%} (goal >= 90%)")


if __name__ == "__main__":
    main()
