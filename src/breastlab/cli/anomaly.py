"""``breastlab`` commands: breast MRI MIPs and anomaly detection."""

from __future__ import annotations

import argparse

from breastlab._lock import folder_lock
from breastlab.cli._args import config_argument, int_at_least, open_fraction, positive_int, save_config
from breastlab.errors import BreastlabInputError


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("anomaly", help="breast MIPs from DICOM, FCDD / BCE / HSC anomaly detection, evaluation")
    a = p.add_subparsers(dest="anomaly_command", metavar="STEP")
    q = a.add_parser("mip", help="subtraction MIP per breast into an array store (labels, projected boxes)")
    q.add_argument("source", help="cohort folder (DICOM tree, Clinical_and_Other_Features.xlsx, boxes file)")
    q.add_argument("--out", required=True, help="output store folder (an interrupted job resumes)")
    q.add_argument("--size", type=int, default=256, help="image size (default 256)")
    q.add_argument("--post", default="post1", help="post-contrast phase subtracted (post1)")
    q.add_argument("--percentile", type=float, default=99.5, help="per-exam scaling percentile (99.5)")
    q.add_argument("--chest-margin-mm", type=float, default=20.0, help="band behind the chest wall (20 mm)")
    q.add_argument(
        "--bilateral",
        choices=["exclude", "include"],
        default="exclude",
        help="patients with both breasts abnormal: exclude (leave out, the default) or include (keep)",
    )
    q.add_argument("--workers", type=positive_int, default=1, help="patients processed in parallel")
    q.add_argument("--sheet", default=None, help="also write a PNG contact sheet here")
    q.set_defaults(func=_cmd_anomaly_mip)
    q = a.add_parser("train", help="patient-grouped k-fold training and scoring of fcdd, bce or hsc")
    q.add_argument("--store", required=True, help="MIP store from `anomaly mip`")
    q.add_argument("--out", required=True, help="run folder (resumes)")
    q.add_argument(
        "--model",
        choices=["fcdd", "bce", "hsc"],
        default="fcdd",
        help="fcdd: fully convolutional data description (heatmaps); bce: classifier + Grad-CAM; hsc: hypersphere",
    )
    q.add_argument(
        "--backbone", choices=["small", "vgg11"], default="small", help="small CNN (CPU) or VGG11 (FCDD's paper)"
    )
    q.add_argument("--weights", default=None, help="vgg11: 'imagenet' or a state dict path")
    q.add_argument("--image-size", type=int, default=None, help="resize on load (default: the store's size)")
    q.add_argument("--epochs", type=positive_int, default=30, help="training epochs per fold")
    q.add_argument("--batch-size", type=positive_int, default=16, help="images per step")
    q.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (cosine-annealed over the epochs)")
    q.add_argument("--folds", type=int_at_least(2), default=5, help="patient-grouped cross-validation folds")
    q.add_argument("--seeds", type=int, nargs="+", default=[0], help="one cross-validation per seed")
    q.add_argument("--n-abnormal", type=int, default=None, help="abnormal breasts used per fold (default all)")
    q.add_argument("--oe", choices=["auto", "confetti", "none"], default="auto", help="outlier exposure")
    q.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    config_argument(q)
    q.set_defaults(func=_cmd_anomaly_train)
    q = a.add_parser("evaluate", help="breast-level AUC (balanced, low prevalence), triage, pixel AUC; HTML")
    q.add_argument("runs", nargs="*", help="run folders from `anomaly train` (one per model)")
    f = q.add_argument_group("any model's per-breast scores (beside or instead of runs)")
    f.add_argument("--scores", default=None, metavar="FILE", help="scores file, .csv or .parquet, one row per breast")
    f.add_argument("--truth", default="label", help="column of the 0/1 truth, 1 = abnormal breast (default: label)")
    f.add_argument("--score", default="score", help="column of the score, higher = more abnormal (default: score)")
    f.add_argument("--patient", default="patient_id", help="column of the patient id (default: patient_id)")
    f.add_argument("--id", default=None, help="column of the breast id; names the ID.npy heatmaps and masks")
    f.add_argument("--heatmaps", default=None, metavar="DIR", help="folder of one ID.npy heatmap per breast")
    f.add_argument(
        "--store", default=None, help="anomaly MIP store whose lesion boxes are the heatmaps' reference (ids: image_id)"
    )
    f.add_argument("--masks", default=None, metavar="DIR", help="folder of one ID.npy lesion mask per abnormal breast")
    q.add_argument(
        "--prevalence", type=open_fraction, default=0.02, help="share of abnormal breasts in the low-prevalence draws"
    )
    q.add_argument("--repeats", type=positive_int, default=200, help="low-prevalence draws (their spread is reported)")
    q.add_argument("--seed", type=int, default=0, help="seed of the low-prevalence draws")
    q.add_argument(
        "--out",
        default=None,
        help="output folder: the report section's files (`breastlab report OUT`); "
        "default: ./<name>_anomaly_evaluation, named after the first run or the scores file",
    )
    q.add_argument("--csv", default=None, help="write the comparison table here")
    q.add_argument("--html", default=None, help="write the anomaly report here")
    q.set_defaults(func=_cmd_anomaly_evaluate)


def _cmd_anomaly_mip(args: argparse.Namespace) -> int:
    from breastlab._table import format_table
    from breastlab.anomaly.mip import MipSettings, breast_counts, build_mip_store, contact_sheet

    settings = MipSettings(
        size=args.size,
        post=args.post,
        percentile=args.percentile,
        chest_margin_mm=args.chest_margin_mm,
        bilateral=args.bilateral,
    )
    store, problems = build_mip_store(args.source, args.out, settings, workers=args.workers)
    counts = breast_counts(store.manifest)
    print(format_table(counts.table, f"{args.out}: {counts.breasts} breasts of {counts.patients} patients"))
    for p in problems.problems:
        print(f"{p.stage}: {p.item}: {p.message}")
    if args.sheet:
        print(f"wrote {contact_sheet(store, args.sheet)}")
    return 0


def _cmd_anomaly_train(args: argparse.Namespace) -> int:
    from breastlab.anomaly.train import AnomalyConfig, train_anomaly

    cfg = AnomalyConfig(
        store=args.store,
        out=args.out,
        model=args.model,
        backbone=args.backbone,
        weights=args.weights,
        image_size=args.image_size,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        folds=args.folds,
        seeds=tuple(args.seeds),
        n_abnormal=args.n_abnormal,
        oe=args.oe,
        device=args.device,
    )
    with folder_lock(args.out):  # one command at a time writes a run folder
        run = train_anomaly(cfg)
        save_config(args, args.out)
    print(
        f"wrote {run.run_dir}/predictions.parquet ({len(run.predictions)} rows); "
        f"training {run.images_per_second:.0f} images/s"
    )
    return 0


def _cmd_anomaly_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from breastlab._table import emit
    from breastlab.anomaly.evaluate import comparison_table, evaluate_anomaly_run
    from breastlab.anomaly.report import write_anomaly_report, write_anomaly_section

    if not args.runs and args.scores is None:
        raise BreastlabInputError("give run folders from `anomaly train`, a --scores file, or both")
    first = args.runs[0] if args.runs else args.scores
    # in the working folder, never beside the input
    out = Path(args.out) if args.out else Path(f"{Path(first).resolve().stem}_anomaly_evaluation")
    with folder_lock(out):  # the evaluation folder
        evs = [evaluate_anomaly_run(r, args.prevalence, args.repeats, args.seed) for r in args.runs]
        if args.scores is not None:
            from breastlab.anomaly.scores import evaluate_breast_scores

            evs.append(
                evaluate_breast_scores(
                    args.scores,
                    truth=args.truth,
                    score=args.score,
                    patient=args.patient,
                    image_id=args.id,
                    heatmaps=args.heatmaps,
                    store=args.store,
                    masks=args.masks,
                    prevalence=args.prevalence,
                    repeats=args.repeats,
                    seed=args.seed,
                )
            )
        emit(
            comparison_table(evs),
            f"anomaly detection (balanced DeLong 95% CI; prevalence {args.prevalence:g})",
            csv_path=args.csv,
        )
        print(f"wrote {write_anomaly_section(evs, out).parent} (report section: `breastlab report {out}`)")
    if args.html:
        print(f"wrote {write_anomaly_report(evs, args.html)}")
    return 0
