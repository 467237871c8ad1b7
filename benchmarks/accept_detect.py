"""Acceptance run of the mammography detector on phantom mammograms at CPU size.

Steps (each cached in OUT, so a rerun resumes): phantom cohort (CBIS-DDSM layout) ->
read_cbis_ddsm -> build_mammo_store at the detector's spacing -> train the ``cpu-small``
detector on the phantom's train split -> predict the test split -> print

* FROC sensitivity at 0.125-4 FP/image, mean sensitivity and AP@0.5 per class (goal:
  mean sensitivity >= 0.7 for masses and calcifications), image/breast Table 1;
* localisation: share of true positives whose predicted region (estimated landmarks,
  detected box) equals the true region (the phantom's own nipple and pectoral line,
  replayed from its generator, true box) -- goal >= 90 %;
* CC-MLO matching: share of lesions detected in both views whose CC detection is paired
  with the MLO detection of the same lesion -- goal >= 90 % -- for the documented
  heuristic and for the gradient-boosted pair model trained on the TRAIN patients' pairs
  (out-of-fold detections on the train images: two more detectors, each trained on half
  of the train patients, predict the other half; truth: which findings are the same lesion).

Predictions are cached in OUT (run/test_detections.parquet, run_fold*/oof_detections.parquet),
so a rerun goes straight to the evaluation (delete them after retraining).

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
    ap.add_argument("--patients", type=int, default=200)
    ap.add_argument("--matrix", type=int, default=768)
    ap.add_argument("--spacing", type=float, default=1.0)
    ap.add_argument("--iterations", type=int, default=600)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-only", action="store_true")
    ap.add_argument("--verbose", action="store_true", help="print the breasts whose lesion was paired wrongly")
    args = ap.parse_args()

    from breastlab._io import read_table, write_table
    from breastlab.data.mammo import read_cbis_ddsm
    from breastlab.data.mammo.preprocess import build_mammo_store
    from breastlab.data.phantom.mammo import make_mammo_cohort
    from breastlab.data.store import ArrayStore
    from breastlab.detect.model import load_detector, predict, preset, train_detector

    out = Path(args.out)
    cohort = out / "cohort"
    t0 = time.perf_counter()
    if not (cohort / "phantom_truth.csv").exists():
        make_mammo_cohort(
            cohort,
            args.patients,
            seed=args.seed,
            matrix=args.matrix,
            proportions=(0.3, 0.35, 0.35),
            test_fraction=0.3,
            progress=False,
        )
    store_dir = out / "store"
    if not (store_dir / "store.json").exists():
        build_mammo_store(read_cbis_ddsm(cohort, cohort / "CBIS-DDSM"), store_dir, spacing=args.spacing, progress=False)
    store = ArrayStore(store_dir)
    man = store.manifest
    print(f"cohort + store: {len(man)} images, {len(store.findings)} findings ({time.perf_counter() - t0:.0f} s)")
    cfg = preset(
        "cpu-small",
        spacing_mm=args.spacing,
        iterations=args.iterations,
        batch_size=args.batch,
        checkpoint_every=50,
        seed=args.seed,
    )
    run = out / "run"
    train_rows = man.index[man["split"] == "train"].to_numpy()
    t1 = time.perf_counter()
    if not (run / "model.pt").exists():
        train_detector(store, run, cfg, rows=train_rows, resume=(run / "config.json").exists(), progress=True)
    metrics = pd.read_csv(run / "metrics.csv")
    print(
        f"trained {len(metrics)} iterations this run ({time.perf_counter() - t1:.0f} s), "
        f"data wait {metrics['data_s'].sum() / metrics['step_s'].sum():.1%} of step time"
    )
    if args.train_only:
        return
    model, cfg = load_detector(run)
    test_rows = man.index[man["split"] == "test"].to_numpy()
    t2 = time.perf_counter()
    dets = {}
    cached = run / "test_detections.parquet"  # cached: reruns go straight to the evaluation
    if not cached.exists():
        write_table(predict(model, cfg, store, rows=test_rows, progress=False), cached)
    dets["test"] = read_table(cached)
    # out-of-fold detections of the TRAIN images (2 folds by patient, a detector per fold trained on the other
    # fold) for the pair model: detections of images the detector trained on are overconfident (few false
    # positives, scores near 1) and would teach the pair model another score distribution than the test's.
    pats = np.sort(man.loc[train_rows, "patient_id"].unique())
    fold_of = {pid: k % 2 for k, pid in enumerate(pats)}
    oof = []
    for k in (0, 1):
        in_fold = man.loc[train_rows, "patient_id"].map(fold_of).to_numpy() == k
        cached = out / f"run_fold{k}" / "oof_detections.parquet"
        if not cached.exists():
            frun = out / f"run_fold{k}"
            if not (frun / "model.pt").exists():
                train_detector(
                    store, frun, cfg, rows=train_rows[~in_fold], resume=(frun / "config.json").exists(), progress=True
                )
            fmodel, _ = load_detector(frun)
            write_table(predict(fmodel, cfg, store, rows=train_rows[in_fold], progress=False), cached)
        oof.append(read_table(cached))
    dets["train"] = pd.concat(oof, ignore_index=True)
    print(
        f"predicted {len(test_rows)} test and {len(train_rows)} train images (out of fold) "
        f"({time.perf_counter() - t2:.0f} s)"
    )
    evaluate(store, test_rows, train_rows, dets, cfg, args)
    print(f"total {time.perf_counter() - t0:.0f} s")


def marks_table(store, det, landmarks) -> pd.DataFrame:
    """One mark per location (class-agnostic suppression as the AI marks: IoU 0.3 or a box covering half of a
    smaller one), top 5 per image with score >= 0.1, with the breast's keys and the location columns (nipple,
    radial and chest-wall distances, PNL length) from the estimated landmarks."""
    from breastlab.detect.localise import locate_boxes
    from breastlab.detect.marks import suppress_overlaps

    recs = store.manifest.set_index("image_id")
    work = suppress_overlaps(det[det["score"] >= 0.1], 0.3).sort_values("score", ascending=False)
    work = work.groupby("image_id").head(5).copy()
    for c in ("patient_id", "laterality", "view"):
        work[c] = work["image_id"].map(recs[c])
    return pd.concat([locate_boxes(g, landmarks[iid]) for iid, g in work.groupby("image_id", sort=False)])


def evaluate(store, test_rows, train_rows, dets, cfg, args) -> None:
    from breastlab._table import format_table
    from breastlab.data.phantom.mammo import plan_mammo_cohort
    from breastlab.detect.froc import evaluate_detections
    from breastlab.detect.localise import (
        PAIR_FEATURES,
        breast_landmarks,
        fit_pair_model,
        heuristic_pair_score,
        labelled_pairs,
        locate,
        matching_accuracy,
    )
    from breastlab.evaluate.stats import auc

    full = store.manifest
    man = full.iloc[test_rows].reset_index(drop=True)
    images = man[["image_id", "patient_id", "laterality", "view", "height", "width"]]
    truth = store.findings[store.findings["image_id"].isin(man["image_id"])]
    ev = evaluate_detections(images, truth, dets["test"])
    print(ev.format())

    # ---- landmarks: estimated (breast contour, pectoral line) vs the phantom's own, for every image
    patients = {
        p.patient_id: p
        for p in plan_mammo_cohort(
            args.patients, args.seed, proportions=(0.3, 0.35, 0.35), test_fraction=0.3, matrix=args.matrix
        )
    }
    recs = full.set_index("image_id")
    est, tru_lm = {}, {}
    for _, rec in full.iterrows():
        est[rec["image_id"]] = breast_landmarks(store[int(rec["row"])], rec["view"])
        tru_lm[rec["image_id"]] = true_landmarks(rec, patients[rec["patient_id"]])
    nip_err = np.array([math.dist(est[i].nipple, tru_lm[i].nipple) * cfg.spacing_mm for i in est])
    row_err = np.array([abs(est[i].nipple[1] - tru_lm[i].nipple[1]) * cfg.spacing_mm for i in est])
    print(
        f"\nnipple position error over {len(est)} images: median {np.median(nip_err):.1f} mm, 90th percentile "
        f"{np.quantile(nip_err, 0.9):.1f} mm; across the PNL (row) median {np.median(row_err):.1f} mm, 95th "
        f"percentile {np.quantile(row_err, 0.95):.1f} mm, max {row_err.max():.1f} mm; nipple in profile "
        f"{np.mean([est[i].nipple_in_profile for i in est]):.0%}"
    )

    # ---- localisation. Truth: the region of the TRUE box centre under the phantom's own landmarks; predicted:
    # the region of the DETECTED box centre under the estimated landmarks (both the box centre, as the marks).
    d, t = ev.detections, ev.truth
    located = []
    for _, r in d[d["outcome"] == "tp"].iterrows():
        f = t.iloc[int(r["finding_index"])]
        p = locate((r["x0"] + r["x1"]) / 2, (r["y0"] + r["y1"]) / 2, est[r["image_id"]])
        q = locate((f["x0"] + f["x1"]) / 2, (f["y0"] + f["y1"]) / 2, tru_lm[r["image_id"]])
        q_est = locate((f["x0"] + f["x1"]) / 2, (f["y0"] + f["y1"]) / 2, est[r["image_id"]])
        located.append(
            {
                "view": recs.loc[r["image_id"], "view"],
                "predicted": p.region,
                "true": q.region,
                "true_box_est_landmarks": q_est.region,
                "d_pred": p.nipple_distance,
                "d_true": q.nipple_distance,
                "margin": abs(abs(q.offset) - 0.10),
            }
        )
    loc = pd.DataFrame(located)
    ok = loc["predicted"] == loc["true"]
    print(
        f"localisation: {len(loc)} true positives, region correct {ok.mean():.1%} (goal >= 90%), "
        f"nipple distance |error| median {np.median(np.abs(loc['d_pred'] - loc['d_true'])):.3f}"
    )
    lm_ok = loc["true_box_est_landmarks"] == loc["true"]
    print(
        f"  with the true box centre and estimated landmarks: {lm_ok.mean():.1%}; errors within 0.03 PNL "
        f"lengths of the central band's edge: {int((~ok & (loc['margin'] < 0.03)).sum())} of {int((~ok).sum())}"
    )
    all_t = truth.assign(cx=(truth["x0"] + truth["x1"]) / 2, cy=(truth["y0"] + truth["y1"]) / 2)
    reg = [
        (locate(r.cx, r.cy, est[r.image_id]).region, locate(r.cx, r.cy, tru_lm[r.image_id]).region)
        for r in all_t.itertuples()
    ]
    print(
        f"  landmarks alone, all {len(reg)} test findings (true box centre): "
        f"{np.mean([a == b for a, b in reg]):.1%} in the true region"
    )
    if len(loc):
        print(format_table(pd.crosstab(loc["true"], loc["predicted"]).reset_index(), "true (rows) x predicted region"))

    # ---- CC-MLO matching on test breasts: heuristic vs the gradient-boosted pair model trained on TRAIN breasts
    marks = {k: marks_table(store, dets[k], est) for k in ("test", "train")}
    train_truth = store.findings[store.findings["image_id"].isin(full["image_id"].iloc[train_rows])]
    pairs_train = labelled_pairs(marks["train"], train_truth)
    pairs_test = labelled_pairs(marks["test"], truth)
    heur = matching_accuracy(marks["test"], truth)
    print(
        f"\nCC-MLO matching (test): {heur.n_lesions} lesions detected in both views; heuristic: correctly paired "
        f"{heur.share:.1%} (goal >= 90%)"
    )
    if pairs_train["same_lesion"].nunique() == 2:
        model = fit_pair_model(
            pairs_train[list(PAIR_FEATURES)].to_numpy(float), pairs_train["same_lesion"], seed=args.seed
        )
        learned = matching_accuracy(marks["test"], truth, model=model)
        X = pairs_test[list(PAIR_FEATURES)].to_numpy(float)
        y = pairs_test["same_lesion"].to_numpy(int)
        a_h = auc(y, heuristic_pair_score(X)) if 0 < y.sum() < len(y) else float("nan")
        a_m = auc(y, model.predict_proba(X)[:, 1]) if 0 < y.sum() < len(y) else float("nan")
        print(
            f"  gradient-boosted pair model ({len(pairs_train)} train pairs, {int(pairs_train['same_lesion'].sum())}"
            f" same lesion): correctly paired {learned.share:.1%} (goal >= 90%)"
        )
        print(
            f"  pair-level AUC on {len(y)} test pairs ({int(y.sum())} same lesion): heuristic {a_h:.3f}, "
            f"learned {a_m:.3f}"
        )
        if args.verbose:
            for name, res in (("heuristic", heur), ("learned", learned)):
                print(name, "wrong:", res.lesions.loc[~res.lesions["correct"].astype(bool), "breast"].tolist())
    else:
        print("  no train pairs with both labels: the pair model is not fitted (heuristic only)")


if __name__ == "__main__":
    main()
