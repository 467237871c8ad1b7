"""``breastlab`` command line: parses arguments and calls library functions.

Each capability registers its subcommands in its own ``_add_<group>`` function
below; handlers import their library lazily so ``breastlab --help`` stays fast.
Keep handlers thin: no logic here that a library function should own.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from breastlab import __version__
from breastlab.problems import BreastlabInputError


# ------------------------------------------------------------------ data: Duke tables (issue 2)
def _add_duke(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("duke", help="Duke-Breast-Cancer-MRI tables: clinical features, boxes, slice labels")
    duke_sub = p.add_subparsers(dest="duke_command", metavar="TABLE")
    c = duke_sub.add_parser("clinical", help="decode Clinical_and_Other_Features.xlsx (all 98 columns)")
    c.add_argument("xlsx", help="TCIA's Clinical_and_Other_Features.xlsx")
    c.add_argument("--out", help="write the decoded table (.csv, .parquet or .json)")
    c.set_defaults(func=_cmd_duke_clinical)
    lab = duke_sub.add_parser("labels", help="slice labels (1 tumour / 0 non-tumour) from boxes and slice counts")
    lab.add_argument("--boxes", required=True, help="Annotation_Boxes.csv or .xlsx")
    lab.add_argument("--counts", required=True, help="slice_counts.csv (patient_id, series, n_slices, phase)")
    lab.add_argument("--buffer", type=int, default=5, help="slices excluded each side of the tumour (default 5)")
    lab.add_argument("--negatives", default="all", help="'all', 'match' or an integer cap per patient")
    lab.add_argument("--seed", type=int, default=0)
    lab.add_argument("--out", help="write the labels (.csv or .parquet); problems.csv goes beside it")
    lab.set_defaults(func=_cmd_duke_labels)


def _cmd_duke_clinical(args: argparse.Namespace) -> int:
    from breastlab._table import format_table
    from breastlab.data.duke.clinical import clinical_summary, read_clinical, write_clinical_table

    decoded = read_clinical(args.xlsx)
    title = f"{args.xlsx}: {len(decoded)} patients, {decoded.shape[1]} columns decoded"
    print(format_table(clinical_summary(decoded), title, floatfmt="{:.1f}"))
    if args.out:
        write_clinical_table(decoded, args.out)
        print(f"wrote {args.out}")
    return 0


def _cmd_duke_labels(args: argparse.Namespace) -> int:
    from pathlib import Path

    from breastlab._io import write_table
    from breastlab._table import format_table
    from breastlab.data.duke.boxes import read_boxes, read_slice_counts
    from breastlab.data.duke.labels import label_slices, label_summary
    from breastlab.problems import ProblemLog

    negatives = int(args.negatives) if args.negatives.lstrip("-").isdigit() else args.negatives
    log = ProblemLog()
    slices = label_slices(read_boxes(args.boxes), read_slice_counts(args.counts), buffer=args.buffer,
                          negatives=negatives, seed=args.seed, problems=log)  # fmt: skip
    print(format_table(label_summary(slices, log), "slice labels"))
    for p in log.problems:
        print(f"problem: {p.item}: {p.message}")
    if args.out:
        write_table(slices, args.out)
        log.write(Path(args.out).with_name("problems.csv"))
        print(f"wrote {args.out} and {Path(args.out).with_name('problems.csv')}")
    return 0


# --------------------------------------------------------------------------- data: DICOM + export (issue 2)
def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export labelled Duke MRI slices into a uint8 slice store")
    p.add_argument("cohort", metavar="COHORT_DIR",
                   help="folder with Duke-Breast-Cancer-MRI/, Clinical_and_Other_Features.xlsx, Annotation_Boxes.csv")
    p.add_argument("--out", required=True, metavar="STORE", help="store folder (resumes an interrupted export)")
    p.add_argument("--sequence", default="pre", help="DCE phase: pre, post1 .. post4 (default: pre)")
    p.add_argument("--size", type=int, default=320, help="stored image size in pixels, square (default: 320)")
    p.add_argument("--buffer", type=int, default=5, help="slices left out each side of the tumour (default: 5)")
    p.add_argument("--negatives", default="all", help="non-tumour slices: all, match or an integer cap per patient")
    p.add_argument("--workers", type=int, default=2, help="patients exported in parallel (default: 2)")
    p.add_argument("--png", default=None, metavar="DIR", help="also write DIR/<label>/<seq>-<slice>-<patient>.png")
    p.add_argument("--seed", type=int, default=0, help="seed of the negative-slice sampling (default: 0)")
    p.add_argument("--overwrite", action="store_true", help="rebuild a finished store in --out")
    p.set_defaults(func=_cmd_export)  # fmt: skip


def _cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from breastlab._table import emit
    from breastlab.data.export import export_slices, export_summary, parse_negatives, read_problems

    store = export_slices(
        args.cohort, args.out, sequence=args.sequence, size=args.size, buffer=args.buffer,
        negatives=parse_negatives(args.negatives), workers=args.workers, png_dir=args.png, seed=args.seed,
        overwrite=args.overwrite,
    )  # fmt: skip
    out = Path(args.out)
    emit(export_summary(store), title=f"Slice store {out} ({store.shape[0]}x{store.shape[1]} uint8)",
         csv_path=out / "export_summary.csv")  # fmt: skip
    problems = read_problems(out)
    if len(problems):
        print(f"\n{len(problems)} patient(s) left out, see {out / 'problems.csv'}:")
        for item, message in zip(problems["item"], problems["message"], strict=True):
            print(f"  {item}: {message[:160]}")
    return 0


# --------------------------------------------------------------------------- data: phantoms (issue 2)
def _add_phantom(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("phantom", help="synthetic phantom cohorts in the real data sets' formats")
    phantom_sub = p.add_subparsers(dest="phantom_command", metavar="KIND")
    m = phantom_sub.add_parser("mri", help="Duke-like breast DCE-MRI cohort (TCIA DICOM tree, clinical xlsx, boxes)")
    m.add_argument("out", help="output folder (empty, or a cohort to resume with the same arguments)")
    m.add_argument("--patients", type=int, default=20, help="number of patients (default: 20)")
    m.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives identical files")
    m.add_argument("--slices", type=int, default=None, help="slices per volume (default: 48-64 per patient)")
    m.add_argument("--matrix", type=int, default=None,
                   help="in-plane size of 512-matrix scanners, others scaled in proportion (default: real sizes)")
    m.add_argument("--post", type=int, default=2, help="post-contrast phases, 1-4 (default: 2)")
    m.add_argument("--workers", type=int, default=1, help="processes (default: 1)")
    m.set_defaults(func=_cmd_phantom_mri)
    g = phantom_sub.add_parser("mammo", help="mammography cohort: CBIS-DDSM layout DICOM + case CSVs, VinDr-style CSVs")
    g.add_argument("out", help="output folder (empty, or a cohort to resume with the same arguments)")
    g.add_argument("--patients", type=int, default=20, help="number of patients (default: 20)")
    g.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives identical files")
    g.add_argument("--matrix", type=int, default=None,
                   help="rows of the digital site's images, the film site scaled alike (default: real sizes)")
    g.add_argument("--proportions", type=float, nargs=3, default=(0.4, 0.3, 0.3),
                   metavar=("NEG", "BENIGN", "MALIGNANT"), help="negative / recalled-benign / malignant patients")
    g.add_argument("--film-fraction", type=float, default=0.5, help="share of patients from the film-like site")
    g.add_argument("--test-fraction", type=float, default=0.2, help="share of patients in the test split")
    g.add_argument("--workers", type=int, default=1, help="processes (default: 1)")
    g.set_defaults(func=_cmd_phantom_mammo)


def _cmd_phantom_mammo(args: argparse.Namespace) -> int:
    from breastlab.data.phantom.mammo import make_mammo_cohort, summarize_mammo_cohort

    out = make_mammo_cohort(args.out, args.patients, seed=args.seed, matrix=args.matrix,
                            proportions=tuple(args.proportions), film_fraction=args.film_fraction,
                            test_fraction=args.test_fraction, workers=args.workers)
    print(summarize_mammo_cohort(out))
    return 0


def _cmd_phantom_mri(args: argparse.Namespace) -> int:
    from breastlab.data.phantom.mri import make_mri_cohort, summarize_mri_cohort

    out = make_mri_cohort(args.out, args.patients, seed=args.seed, n_slices=args.slices, matrix=args.matrix,
                          workers=args.workers, n_post=args.post)
    print(summarize_mri_cohort(out))
    return 0


# --------------------------------------------------------------------------- curate (issue 3)
def _add_curate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("curate", help="SpurBreast-style splits, feature scan, split checks, release import")
    cs = p.add_subparsers(dest="curate_command", metavar="STEP")

    def source(q: argparse.ArgumentParser) -> None:
        g = q.add_mutually_exclusive_group(required=True)
        g.add_argument("--duke", metavar="DIR", help="real Duke metadata folder (clinical table, boxes, slice counts)")
        g.add_argument("--store", metavar="STORE", help="exported array store (its manifest is the slice table)")
        q.add_argument("--buffer", type=int, default=5, help="--duke: slices excluded each side of the box (5)")
        q.add_argument("--sequence", default=None, help="--store: sequence to use when it holds several")

    q = cs.add_parser("splits", help="build baseline / spurious / transform splits (or the eight SpurBreast ones)")
    source(q)
    q.add_argument("--out", required=True, help="output folder: OUT/<name>/repNN/ per split")
    what = q.add_mutually_exclusive_group(required=True)
    what.add_argument("--spurbreast", nargs="*", metavar="NAME", default=None,
                      help="the eight SpurBreast configurations (or the NAMEs given)")
    what.add_argument("--feature", metavar="COLUMN", help="spurious split on this clinical column (with --groups)")
    what.add_argument("--transform", metavar="NAME", help="image-transform split, e.g. vflip")
    what.add_argument("--baseline", action="store_true", help="random patients, no correlation")
    q.add_argument("--groups", nargs=2, metavar=("A", "B"),
                   help="group values; A goes with the tumour class; a set of values is comma-separated: '2.8936,3.0'")
    q.add_argument("--names", nargs=2, metavar=("NAME_A", "NAME_B"), help="attribute names of the two groups")
    q.add_argument("--attribute", metavar="COLUMN", help="--baseline: annotate groups by this column")
    q.add_argument("--reverse", action="store_true", help="--transform: transform the non-tumour slices instead")
    q.add_argument("--name", help="configuration name (default: the feature, transform or 'baseline')")
    q.add_argument("--train", type=int, default=400, help="train patients (400)")
    q.add_argument("--val", type=int, default=150, help="validation patients (150)")
    q.add_argument("--test", type=int, default=150, help="test patients, drawn first (150)")
    q.add_argument("--tune", type=int, default=0, help="patients of a group-balanced tuning split (0: none)")
    q.add_argument("--rho", type=float, default=1.0, help="correlation strength in [0.5, 1] (1.0)")
    q.add_argument("--repeats", type=int, default=1, help="splits with different random patients (1)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--negatives", choices=["random", "nearest"], default="random",
                   help="non-tumour slices per patient: random (default) or nearest the tumour")
    q.add_argument("--test-transform", choices=["balanced", "none"], default="balanced",
                   help="--transform: test set half transformed per class (balanced) or untransformed")
    q.set_defaults(func=_cmd_curate_splits)

    q = cs.add_parser("scan", help="which clinical columns can carry a spurious split of the given sizes")
    source(q)
    q.add_argument("--sizes", nargs="+", default=["400/150", "200/100"], help="train/val patients (400/150 200/100)")
    q.add_argument("--test", type=int, default=150)
    q.add_argument("--rho", type=float, default=1.0)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--columns", nargs="+", help="scan only these columns")
    q.add_argument("--top", type=int, default=40, help="rows printed (all go to the CSV)")
    q.add_argument("--out", default="feature_scan.csv", help="CSV of every partition (feature_scan.csv)")
    q.set_defaults(func=_cmd_curate_scan)

    q = cs.add_parser("check", help="verify split directories (ours or the imported SpurBreast release)")
    q.add_argument("dir", help="a split directory or a folder holding several")
    q.add_argument("--store", help="store whose rows the split addresses (default: from config.json)")
    q.add_argument("--balance-tol", type=float, default=0.0, help="allowed |tumour - non-tumour| / images (0)")
    q.add_argument("--rho-tol", type=float, default=0.01, help="allowed |measured - claimed rho| (0.01)")
    q.add_argument("--test-tol", type=float, default=0.05, help="allowed |test rho - 0.5| (0.05)")
    q.add_argument("--csv", help="write every check result here")
    q.set_defaults(func=_cmd_curate_check)

    q = cs.add_parser("import-release", help="read the published SpurBreast PNG release into a store + splits")
    q.add_argument("root", help="release folder holding <feature>/<training|validation|test>/<0|1>/*.png")
    q.add_argument("--out", required=True, help="output: OUT/store and OUT/splits/<feature>")
    q.add_argument("--clinical", help="Clinical_and_Other_Features.xlsx, to recover each patient's group")
    q.add_argument("--features", nargs="+", help="only these feature folders")
    q.set_defaults(func=_cmd_curate_import_release)


def _curate_cohort(args: argparse.Namespace):
    from breastlab.curate import as_cohort, duke_cohort

    return duke_cohort(args.duke, buffer=args.buffer) if args.duke else as_cohort(args.store, sequence=args.sequence)


def _cmd_curate_splits(args: argparse.Namespace) -> int:
    from pathlib import Path

    from breastlab._table import emit
    from breastlab.curate import GroupSpec, SplitConfig, build_splits, build_spurbreast_configs, compare_with_paper

    common = {"n_test": args.test, "n_tune": args.tune, "seed": args.seed, "negatives": args.negatives}
    if args.spurbreast is not None:
        configs = build_spurbreast_configs(rho=args.rho, names=args.spurbreast or None, **common)
    else:
        sizes = {"n_train": args.train, "n_val": args.val, "rho": args.rho, **common}
        if args.feature:
            if not args.groups:
                raise BreastlabInputError("--feature needs --groups A B (values of the column; sets comma-separated)")
            spec = GroupSpec(args.feature, args.groups[0], args.groups[1], tuple(args.names) if args.names else None)
            cfg = SplitConfig(args.name or args.feature, "spurious", groups=spec, **sizes)
        elif args.transform:
            cfg = SplitConfig(args.name or args.transform, "transform", transform=args.transform,
                              reverse=args.reverse, test_transform=args.test_transform, **sizes)
        else:
            cfg = SplitConfig(args.name or "baseline", "baseline", attribute=args.attribute, **sizes)
        configs = [cfg]
    splits = build_splits(_curate_cohort(args), configs, repeats=args.repeats, out=args.out, progress=True)
    from breastlab.curate import splits_table

    table = splits_table(splits)
    agg = table.groupby(["config", "split"], sort=False).agg(
        patients=("patients", "first"), images_mean=("images", "mean"), images_min=("images", "min"),
        images_max=("images", "max"), rho=("rho", "mean")).reset_index()
    emit(agg, f"splits in {args.out} ({args.repeats} repeat(s))", csv_path=Path(args.out) / "splits.csv")
    if args.spurbreast is not None:
        emit(compare_with_paper(splits), "ours vs SpurBreast Table 1 (images over repeats)",
             csv_path=Path(args.out) / "paper_comparison.csv")
    return 0


def _cmd_curate_scan(args: argparse.Namespace) -> int:
    from breastlab._table import emit
    from breastlab.curate import scan_features, scan_table

    scan = scan_features(_curate_cohort(args), sizes=args.sizes, n_test=args.test, rho=args.rho, seed=args.seed,
                         columns=args.columns)
    from breastlab._io import write_table

    write_table(scan, args.out)
    emit(scan_table(scan, args.top), f"feature scan, sorted by feasibility (all {len(scan)} rows in {args.out})")
    return 0


def _cmd_curate_check(args: argparse.Namespace) -> int:
    import pandas as pd

    from breastlab._table import emit
    from breastlab.curate import check_splits

    reports = check_splits(args.dir, store=args.store, balance_tol=args.balance_tol, rho_tol=args.rho_tol,
                           test_tol=args.test_tol)
    table = pd.concat([r.to_frame() for r in reports], ignore_index=True)
    failed = [r.path for r in reports if not r.ok]
    title = f"{len(reports)} split dir(s): {len(reports) - len(failed)} pass, {len(failed)} fail"
    if len(reports) > 1:  # one line per directory; every check goes to --csv
        table_short = pd.DataFrame([{
            "split_dir": r.path, "pass": sum(c.passed is True for c in r.checks),
            "fail": sum(c.passed is False for c in r.checks), "n/a": sum(c.passed is None for c in r.checks),
            "failed": "; ".join(f"{c.name}: {c.detail}" for c in r.checks if c.passed is False)} for r in reports])
        emit(table_short, title)
        if args.csv:
            from breastlab._io import write_table

            write_table(table, args.csv)
    else:
        emit(table, title, csv_path=args.csv)
    return 1 if failed else 0


def _cmd_curate_import_release(args: argparse.Namespace) -> int:
    import pandas as pd

    from breastlab._table import emit
    from breastlab.curate import check_split, read_spurbreast_release

    result = read_spurbreast_release(args.root, args.out, clinical=args.clinical, features=args.features)
    reports = [check_split(d, balance_tol=0.01) for d in result.splits.values()]
    table = pd.concat([r.to_frame() for r in reports], ignore_index=True)
    emit(table, f"imported {len(result.files)} files into {result.store}; checks of the release's splits")
    return 0


# --------------------------------------------------------------------------- train/sweep (issue 4)
def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model on a split (SpurBreast protocol); multi-GPU under torchrun")
    p.add_argument("--store", required=True, help="array store directory")
    p.add_argument("--split", required=True, help="split directory (manifest.parquet)")
    p.add_argument("--out", required=True, help="run directory to write")
    p.add_argument("--model", default="resnet50", help="resnet50, vit_b_16, alexnet, resnet18, small_cnn")
    p.add_argument("--optimizer", default="sgd", choices=["sgd", "adam", "adamw"])
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--wd", type=float, default=1e-4)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", default="erm", help="erm, reweight, resample, groupdro, dfr")
    p.add_argument("--select-by", default="val_acc", choices=["val_acc", "worst_group_acc"])
    p.add_argument("--weights", default="none", help="none, imagenet (torch hub cache) or PATH to a state dict")
    p.add_argument("--in-channels", type=int, default=1, choices=[1, 3])
    p.add_argument("--image-size", type=int, default=224, help="crop size (resize before crop: 256/224 of it)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--resume", action="store_true", help="continue RUN from its checkpoint")
    p.add_argument("--stop-after", type=int, default=None, help="run at most N epochs now (resume later)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_train)

    s = sub.add_parser("sweep", help="run a hyper-parameter grid (local processes or Ray Tune)")
    s.add_argument("config", help="sweep YAML (see breastlab.train.sweep)")
    s.add_argument("--backend", default="local", choices=["local", "ray"])
    s.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)")
    s.add_argument("--parallel", type=int, default=1, help="local trials at once")
    s.add_argument("--gpus-per-trial", type=float, default=0.0)
    s.add_argument("--cpus-per-trial", type=float, default=1.0)
    s.add_argument("--asha", action="store_true", help="ASHA early stopping (Ray backend)")
    s.set_defaults(func=_cmd_sweep)


def _cmd_train(args: argparse.Namespace) -> int:
    from breastlab._table import emit
    from breastlab.train import TrainConfig, train

    cfg = TrainConfig(store=args.store, split=args.split, out=args.out, model=args.model, optimizer=args.optimizer,
                      lr=args.lr, wd=args.wd, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                      method=args.method, select_by=args.select_by, weights=args.weights,
                      in_channels=args.in_channels, image_size=args.image_size, device=args.device,
                      progress=not args.no_progress)
    result = train(cfg, resume=args.resume, stop_after=args.stop_after)
    if result.summary:
        import pandas as pd

        emit(pd.DataFrame([result.summary]), title=f"run {result.run_dir}")
    else:
        print(f"{result.run_dir}: stopped after epoch {int(result.metrics['epoch'].max())}; continue with --resume")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from breastlab._table import emit
    from breastlab.train.sweep import run_sweep

    table = run_sweep(args.config, backend=args.backend, parallel=args.parallel, address=args.address,
                      gpus_per_trial=args.gpus_per_trial, cpus_per_trial=args.cpus_per_trial, asha=args.asha)
    cols = [c for c in ("trial", "status", "best_epoch", "val_acc", "val_worst_group_acc", "test_acc", "selected")
            if c in table]
    emit(table[cols], title="sweep")
    return 0


# --------------------------------------------------------------------------- evaluate/report (issue 4)
def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="Table 2 (acc/PPV/NPV with patient-level CIs), groups, shortcut of a run")
    p.add_argument("run", help="run directory (with predictions.parquet) or a sweep folder of runs")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap replicates (0: no CIs; default 2000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    p.add_argument("--recompute", action="store_true", help="ignore an existing RUN/evaluation/metrics.json")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("report", help="one self-contained HTML report of runs, sweeps and evaluation folders")
    p.add_argument("run", nargs="+", help="run directories, sweep folders, or output folders of `anomaly evaluate`, "
                   "`mammo classify` and `mammo detect evaluate` (each becomes a section)")
    p.add_argument("--out", default=None, help="output HTML (default: FIRST_PATH/report.html)")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap replicates (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-gallery", action="store_true", help="skip the Grad-CAM gallery (no model loading)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("check-figures", help="can one confusion matrix give a reported accuracy, PPV and NPV?")
    p.add_argument("--accuracy", type=float, required=True)
    p.add_argument("--ppv", type=float, required=True)
    p.add_argument("--npv", type=float, required=True)
    p.add_argument("--n-pos", type=int, default=None, help="positives in the evaluated set (with --n-neg)")
    p.add_argument("--n-neg", type=int, default=None, help="negatives in the evaluated set (with --n-pos)")
    p.add_argument("--prevalence", type=float, default=None, help="share of positives without counts (default 0.5)")
    p.add_argument("--tolerance", type=float, default=None, help="allowed deviation (default: rounding of each)")
    p.set_defaults(func=_cmd_check_figures)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from breastlab.evaluate.metrics import evaluate_runs_cli

    evaluate_runs_cli(args.run, n_boot=args.bootstrap, seed=args.seed, level=args.level, reuse=not args.recompute)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from breastlab.report import write_report

    out = args.out or str(Path(args.run[0]) / "report.html")
    path = write_report(args.run, out, n_boot=args.bootstrap, seed=args.seed, gallery=not args.no_gallery)
    print(f"report written to {path}")
    return 0


def _cmd_check_figures(args: argparse.Namespace) -> int:
    from breastlab.evaluate.consistency import check_reported_metrics

    res = check_reported_metrics(args.accuracy, args.ppv, args.npv, n_pos=args.n_pos, n_neg=args.n_neg,
                                 prevalence=args.prevalence, tolerance=args.tolerance)
    print(res.explanation)
    if res.confusion:
        print("closest confusion matrix: " + ", ".join(f"{k.upper()} {v}" for k, v in res.confusion.items()))
    return 0 if res.possible else 1


# --------------------------------------------------------------------------- stats (issue 5)
def _add_stats(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stats", help="ROC/AUC, DeLong, bootstrap, agreement, reader studies, MRMC")
    stats_sub = p.add_subparsers(dest="stats_command", metavar="STAT")
    _add_stats_roc(stats_sub)
    _add_stats_mrmc(stats_sub)


def _add_stats_roc(stats_sub: argparse._SubParsersAction) -> None:
    def common(p, score: str = "many") -> None:
        p.add_argument("csv", help="input CSV")
        if score:
            p.add_argument("--truth", required=True, help="column of 0/1 truth")
            p.add_argument("--score", action="append", required=score != "optional", default=None,
                           help="score column (higher = positive unless --direction '>')"
                           + ("; repeat for several" if score == "many" else ""))
            p.add_argument("--direction", choices=["<", ">"], default="<")
        p.add_argument("--conf-level", type=float, default=0.95)
        p.add_argument("--json", default=None, help="JSON output (default: beside the CSV, <stem>.<command>.json)")
        p.add_argument("--out-csv", default=None, help="also write the table as CSV")

    p = stats_sub.add_parser("auc", help="AUC with DeLong (or bootstrap) CI per score column")
    common(p)
    p.add_argument("--method", choices=["delong", "bootstrap"], default="delong")
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cluster", default=None, help="cluster column (e.g. patient_id) for --method bootstrap")
    p.set_defaults(func=_cmd_stats_auc)
    p = stats_sub.add_parser("delong", help="DeLong test: two --score columns (paired) or one --score with --by")
    common(p)
    p.add_argument("--by", default=None, help="two-level column: unpaired test between its groups")
    p.add_argument("--alternative", choices=["two-sided", "greater", "less"], default="two-sided")
    p.set_defaults(func=_cmd_stats_delong)
    p = stats_sub.add_parser("bootstrap", help="percentile bootstrap CIs (stratified or --cluster)")
    common(p, score="optional")
    p.add_argument("--metric", action="append", default=None,
                   help="auc, sensitivity, specificity, ppv, npv, accuracy (repeat; default auc)")
    p.add_argument("--pred", default=None, help="column of 0/1 predictions for the 2x2 metrics")
    p.add_argument("--threshold", type=float, default=None, help="call positive when score >= threshold")
    p.add_argument("--cluster", default=None, help="cluster column (e.g. patient_id): resample clusters")
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-stratify", action="store_true", help="resample all cases together")
    p.set_defaults(func=_cmd_stats_bootstrap)
    p = stats_sub.add_parser("youden", help="Youden-optimal threshold(s) with sensitivity and specificity")
    common(p, score="one")
    p.set_defaults(func=_cmd_stats_youden)
    p = stats_sub.add_parser("kappa", help="Cohen's kappa between two rater columns")
    common(p, score="")
    p.add_argument("--rater1", required=True)
    p.add_argument("--rater2", required=True)
    p.add_argument("--weights", choices=["linear", "quadratic"], default=None)
    p.set_defaults(func=_cmd_stats_kappa)
    p = stats_sub.add_parser("wilcoxon", help="Wilcoxon signed-rank test of paired columns, median (min-max)")
    common(p, score="")
    p.add_argument("--x", required=True)
    p.add_argument("--y", required=True)
    p.add_argument("--alternative", choices=["two-sided", "greater", "less"], default="two-sided")
    p.set_defaults(func=_cmd_stats_wilcoxon)
    p = stats_sub.add_parser("reader-study", help="the four tables of a reader study from a long CSV")
    p.add_argument("csv", help="long CSV: case_id, truth, reader, reader_group, condition, finding, score, "
                   "reading_time_s")
    p.add_argument("--out", default=None, help="output folder (default: <stem>_reader_study beside the CSV)")
    p.add_argument("--threshold", type=float, default=None, help="fixed cut-off for sensitivity/specificity")
    p.add_argument("--kappa-weights", choices=["linear", "quadratic"], default=None)
    p.add_argument("--time-unit", choices=["case", "reading"], default="case")
    p.add_argument("--conf-level", type=float, default=0.95)
    p.set_defaults(func=_cmd_stats_reader_study)
    p = stats_sub.add_parser("simulate-readers", help="write a synthetic reader-study CSV (demo, tests)")
    p.add_argument("out", help="output CSV")
    p.add_argument("--cases", type=int, default=120)
    p.add_argument("--readers-per-group", type=int, default=3)
    p.add_argument("--score", choices=["birads", "probability"], default="birads")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_stats_simulate_readers)


def _stats_emit(args: argparse.Namespace, df, title: str, transpose: bool = False) -> None:
    """Print ``df`` (one row shown as field/value pairs when ``transpose``), write JSON (and --out-csv)."""
    from pathlib import Path

    from breastlab._io import write_json, write_table
    from breastlab._table import emit, format_table

    csv = Path(args.csv)
    json_path = args.json or csv.with_name(f"{csv.stem}.{args.stats_command}.json")
    extra = {"input": str(csv), "command": args.stats_command}
    if transpose:
        print(format_table(df.T.reset_index().set_axis(["field", "value"], axis=1), title))
        write_json({"rows": df.to_dict(orient="records"), **extra}, json_path)
        if args.out_csv:
            write_table(df, Path(args.out_csv))
    else:
        emit(df, title, csv_path=args.out_csv, json_path=json_path, extra=extra)
    print(f"wrote {json_path}")


def _cmd_stats_auc(args: argparse.Namespace) -> int:
    from breastlab.evaluate.stats import tables

    df = tables.auc_table(tables.read_csv(args.csv), args.truth, args.score, args.direction, args.conf_level,
                          args.method, args.n_boot, args.seed, args.cluster)
    _stats_emit(args, df, f"AUC ({args.method} {args.conf_level:.0%} CI)")
    return 0


def _cmd_stats_delong(args: argparse.Namespace) -> int:
    from breastlab.evaluate.stats import tables

    df = tables.delong_table(tables.read_csv(args.csv), args.truth, args.score, args.by, args.direction,
                             args.alternative, args.conf_level)
    _stats_emit(args, df, "DeLong test", transpose=True)
    return 0


def _cmd_stats_bootstrap(args: argparse.Namespace) -> int:
    from breastlab.evaluate.stats import tables

    score = args.score[0] if args.score else None
    df = tables.bootstrap_table(tables.read_csv(args.csv), args.truth, score, args.metric or ["auc"], args.pred,
                                args.threshold, args.cluster, args.n_boot, args.conf_level, not args.no_stratify,
                                args.seed, args.direction)
    _stats_emit(args, df, f"Bootstrap percentile {args.conf_level:.0%} CIs")
    return 0


def _cmd_stats_youden(args: argparse.Namespace) -> int:
    from breastlab.evaluate.stats import tables

    df = tables.youden_table(tables.read_csv(args.csv), args.truth, args.score[0], args.direction)
    _stats_emit(args, df, "Youden-optimal threshold(s)")
    return 0


def _cmd_stats_kappa(args: argparse.Namespace) -> int:
    from breastlab.evaluate.stats import tables

    df = tables.kappa_table(tables.read_csv(args.csv), args.rater1, args.rater2, args.weights, args.conf_level)
    _stats_emit(args, df, "Cohen's kappa", transpose=True)
    return 0


def _cmd_stats_wilcoxon(args: argparse.Namespace) -> int:
    from breastlab.evaluate.stats import tables

    df = tables.wilcoxon_table(tables.read_csv(args.csv), args.x, args.y, args.alternative)
    _stats_emit(args, df, "Wilcoxon signed-rank test", transpose=True)
    return 0


def _cmd_stats_reader_study(args: argparse.Namespace) -> int:
    from pathlib import Path

    from breastlab.evaluate.stats import reader_study, tables

    csv = Path(args.csv)
    res = reader_study(tables.read_csv(csv), threshold=args.threshold, kappa_weights=args.kappa_weights,
                       time_unit=args.time_unit, conf_level=args.conf_level)
    out = res.write(args.out or csv.with_name(f"{csv.stem}_reader_study"))
    print(res.format())
    print(f"\nwrote {out}/ (one CSV per table, reader_study.json)")
    return 0


def _cmd_stats_simulate_readers(args: argparse.Namespace) -> int:
    from breastlab._io import write_table
    from breastlab.evaluate.stats import simulate_reader_study

    df = simulate_reader_study(n_cases=args.cases, readers_per_group=args.readers_per_group, score=args.score,
                               seed=args.seed)
    write_table(df, args.out)
    print(f"wrote {args.out}: {len(df)} readings, {df['case_id'].nunique()} cases, {df['reader'].nunique()} readers")
    return 0


# --------------------------------------------------------------------------- stats mrmc (issue 6)
def _add_stats_mrmc(stats_sub: argparse._SubParsersAction) -> None:
    p = stats_sub.add_parser(
        "mrmc",
        help="multi-reader multi-case analysis (Obuchowski-Rockette, Hillis df) of a long reader-study table",
        description="OR-Hillis MRMC analysis. CSV: one row per reading with reader, treatment, case, truth (0/1) "
        "and rating columns; fully crossed. Comparisons are first minus second treatment.",
    )
    p.add_argument("table", metavar="CSV", help="reader-study table (.csv/.tsv/.parquet; leading '#' lines skipped)")
    for col in ("reader", "treatment", "case", "truth", "rating"):
        p.add_argument(f"--{col}", default=col, help=f"column name of the {col} (default: {col})")
    p.add_argument("--treatments", default=None, help="comma-separated treatment order, e.g. aided,unaided")
    p.add_argument("--fom", choices=("auc", "sensitivity", "specificity"), default="auc")
    p.add_argument("--threshold", type=float, default=None, help="rating >= threshold is a positive call")
    p.add_argument("--cov", choices=("delong", "jackknife"), default=None,
                   help="case covariance (default: delong for auc, jackknife otherwise)")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--json", default=None, help="write the full result as JSON here")
    p.add_argument("--csv", default=None, help="write the per-reader table as CSV here")
    p.set_defaults(func=_cmd_stats_mrmc)


def _cmd_stats_mrmc(args: argparse.Namespace) -> int:
    from breastlab._table import emit
    from breastlab.evaluate.mrmc import or_hillis, read_reader_study

    res = or_hillis(
        read_reader_study(args.table), reader=args.reader, treatment=args.treatment, case=args.case,
        truth=args.truth, rating=args.rating, fom=args.fom, cov=args.cov, threshold=args.threshold, alpha=args.alpha,
        treatments=args.treatments.split(",") if args.treatments else None,
    )
    print(res.summary(include_readers=False) + "\n")
    emit(res.reader_table(), f"Per-reader {res.fom_label} ({100 * (1 - args.alpha):g}% CI, fixed readers)",
         csv_path=args.csv, json_path=args.json, extra=res.to_dict())
    return 0


# --------------------------------------------------------------------------- anomaly detection (issue 8)
def _add_anomaly(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("anomaly", help="breast MIPs from DICOM, FCDD / BCE / HSC anomaly detection, evaluation")
    a = p.add_subparsers(dest="anomaly_command", metavar="STEP")
    q = a.add_parser("mip", help="subtraction MIP per breast into an array store (labels, projected boxes)")
    q.add_argument("source", help="cohort folder (DICOM tree, Clinical_and_Other_Features.xlsx, boxes file)")
    q.add_argument("--out", required=True, help="output store folder (an interrupted job resumes)")
    q.add_argument("--size", type=int, default=256, help="image size (default 256)")
    q.add_argument("--post", default="post1", help="post-contrast phase subtracted (post1)")
    q.add_argument("--percentile", type=float, default=99.5, help="per-exam scaling percentile (99.5)")
    q.add_argument("--chest-margin-mm", type=float, default=20.0, help="band behind the chest wall (20 mm)")
    q.add_argument("--bilateral", choices=["exclude", "include"], default="exclude",
                   help="patients with both breasts abnormal: leave out (default) or keep")
    q.add_argument("--workers", type=int, default=1)
    q.add_argument("--sheet", default=None, help="also write a PNG contact sheet here")
    q.set_defaults(func=_cmd_anomaly_mip)
    q = a.add_parser("train", help="patient-grouped k-fold training and scoring of fcdd, bce or hsc")
    q.add_argument("--store", required=True, help="MIP store from `anomaly mip`")
    q.add_argument("--out", required=True, help="run folder (resumes)")
    q.add_argument("--model", choices=["fcdd", "bce", "hsc"], default="fcdd")
    q.add_argument("--backbone", choices=["small", "vgg11"], default="small")
    q.add_argument("--weights", default=None, help="vgg11: 'imagenet' or a state dict path")
    q.add_argument("--image-size", type=int, default=None, help="resize on load (default: the store's size)")
    q.add_argument("--epochs", type=int, default=30)
    q.add_argument("--batch-size", type=int, default=16)
    q.add_argument("--lr", type=float, default=1e-3)
    q.add_argument("--folds", type=int, default=5)
    q.add_argument("--seeds", type=int, nargs="+", default=[0])
    q.add_argument("--n-abnormal", type=int, default=None, help="abnormal breasts used per fold (default all)")
    q.add_argument("--oe", choices=["auto", "confetti", "none"], default="auto", help="outlier exposure")
    q.add_argument("--device", default="auto")
    q.set_defaults(func=_cmd_anomaly_train)
    q = a.add_parser("evaluate", help="breast-level AUC (balanced, low prevalence), triage, pixel AUC; HTML")
    q.add_argument("runs", nargs="+", help="run folders from `anomaly train` (one per model)")
    q.add_argument("--prevalence", type=float, default=0.02)
    q.add_argument("--repeats", type=int, default=200)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--out", default=None, help="output folder: the report section's files (`breastlab report OUT`); "
                   "default: anomaly_evaluation beside the first run")
    q.add_argument("--csv", default=None, help="write the comparison table here")
    q.add_argument("--html", default=None, help="write the anomaly report here")
    q.set_defaults(func=_cmd_anomaly_evaluate)


def _cmd_anomaly_mip(args: argparse.Namespace) -> int:
    from breastlab._table import format_table
    from breastlab.anomaly.mip import MipSettings, build_mip_store, contact_sheet

    settings = MipSettings(size=args.size, post=args.post, percentile=args.percentile,
                           chest_margin_mm=args.chest_margin_mm, bilateral=args.bilateral)
    store, problems = build_mip_store(args.source, args.out, settings, workers=args.workers)
    man = store.manifest
    counts = man.groupby(["side", "label"]).size().rename("breasts").reset_index()
    print(format_table(counts, f"{args.out}: {len(man)} breasts of {man['patient_id'].nunique()} patients"))
    for p in problems.problems:
        print(f"{p.stage}: {p.item}: {p.message}")
    if args.sheet:
        print(f"wrote {contact_sheet(store, args.sheet)}")
    return 0


def _cmd_anomaly_train(args: argparse.Namespace) -> int:
    from breastlab.anomaly.train import AnomalyConfig, train_anomaly

    cfg = AnomalyConfig(store=args.store, out=args.out, model=args.model, backbone=args.backbone, weights=args.weights,
                        image_size=args.image_size, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                        folds=args.folds, seeds=tuple(args.seeds), n_abnormal=args.n_abnormal, oe=args.oe,
                        device=args.device)
    run = train_anomaly(cfg)
    print(f"wrote {run.run_dir}/predictions.parquet ({len(run.predictions)} rows); "
          f"training {run.images_per_second:.0f} images/s")
    return 0


def _cmd_anomaly_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from breastlab._table import emit
    from breastlab.anomaly.evaluate import comparison_table, evaluate_anomaly_run
    from breastlab.anomaly.report import write_anomaly_report, write_anomaly_section

    evs = [evaluate_anomaly_run(r, args.prevalence, args.repeats, args.seed) for r in args.runs]
    emit(comparison_table(evs), f"anomaly detection (balanced DeLong 95% CI; prevalence {args.prevalence:g})",
         csv_path=args.csv)
    out = Path(args.out) if args.out else Path(args.runs[0]).resolve().parent / "anomaly_evaluation"
    print(f"wrote {write_anomaly_section(evs, out).parent} (report section: `breastlab report {out}`)")
    if args.html:
        print(f"wrote {write_anomaly_report(evs, args.html)}")
    return 0


# --------------------------------------------------------------------------- mammography (issue 9)
def _add_mammo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mammo", help="mammography: classification (and detection)")
    mammo_sub = p.add_subparsers(dest="mammo_command", metavar="SUBCOMMAND")
    c = mammo_sub.add_parser("classify", help="negative / recalled-benign / malignant classification "
                             "(Aboutalib et al. 2018): scenarios, transfer strategies, ROC/AUC, DeLong")
    c.add_argument("store", help="fixed 227x227 store from build_mammo_store(..., method='aboutalib2018') (dataset B)")
    c.add_argument("--out", required=True, help="output folder (runs, results.csv, predictions, report.html)")
    c.add_argument("--scenario", default="all", help="all or comma-separated: malignant_vs_rest, "
                   "malignant_vs_negative, malignant_vs_recalled, recalled_vs_negative, recalled_vs_rest, three_class")
    c.add_argument("--strategy", default="imagenet", help="comma-separated: imagenet, incremental, mixed "
                   "(two or more are compared with DeLong)")
    c.add_argument("--sites", default=None, help="CSV with image_id,site (e.g. the phantom's phantom_truth.csv)")
    c.add_argument("--site", default=None, help="site of dataset B (default: all images)")
    c.add_argument("--pretrain-store", default=None, help="store of dataset A (default: the same store)")
    c.add_argument("--pretrain-site", default=None, help="site of dataset A (incremental / mixed)")
    c.add_argument("--test-fraction", type=float, default=None, help="patient-level held-out test (0.05/0.10/0.15; "
                   "default 0.15 unless --folds)")
    c.add_argument("--folds", type=int, default=None, help="patient-grouped k-fold cross-validation (e.g. 6)")
    c.add_argument("--train-patients", type=int, default=None, help="keep this many of B's training patients")
    c.add_argument("--preset", default="paper", choices=["paper", "cpu"], help="paper: alexnet, batch 50, lr 0.001, "
                   "7,500 iterations, 227 px (GPU); cpu: small_cnn (width 8, max pool), batch 32, lr 0.02, 300 "
                   "iterations, stored size, label-balanced (for a standard-path store at 1.6 mm, 128x96); "
                   "the options below override it")
    c.add_argument("--model", default=None, help="registry model: alexnet (paper), resnet18, resnet50, small_cnn")
    c.add_argument("--weights", default="imagenet", help="imagenet (torch hub cache, never downloaded), none, or PATH")
    c.add_argument("--iterations", type=int, default=None)
    c.add_argument("--pretrain-iterations", type=int, default=None, help="iterations on dataset A (default: same)")
    c.add_argument("--batch-size", type=int, default=None)
    c.add_argument("--lr", type=float, default=None)
    c.add_argument("--lr-step", type=int, default=None, help="multiply lr by 0.1 every N iterations")
    c.add_argument("--wd", type=float, default=None)
    c.add_argument("--image-size", type=int, default=None, help="input size (0: the stored size, no resize)")
    c.add_argument("--no-balance", action="store_true", help="uniform batches instead of class-balanced ones")
    c.add_argument("--n-boot", type=int, default=2000)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--device", default="auto")
    c.add_argument("--no-progress", action="store_true")
    c.set_defaults(func=_cmd_mammo_classify)
    _add_mammo_preprocess(mammo_sub)
    _add_mammo_detect(mammo_sub)


def _add_mammo_preprocess(mammo_sub: argparse._SubParsersAction) -> None:
    p = mammo_sub.add_parser("preprocess", help="read CBIS-DDSM / VinDr-Mammo / mini-MIAS into a preprocessed store")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--cbis", metavar="CSV_DIR", help="folder of the CBIS-DDSM case-description CSVs")
    src.add_argument("--vindr", metavar="DIR", help="VinDr-Mammo folder (finding_annotations.csv, images)")
    src.add_argument("--mias", metavar="DIR", help="mini-MIAS folder (Info.txt and mdbNNN.pgm)")
    p.add_argument("--dicom", default=None, help="CBIS-DDSM DICOM root (default: next to the CSVs)")
    p.add_argument("--out", required=True, help="output store folder")
    p.add_argument("--method", default="standard", choices=["standard", "aboutalib2018"])
    p.add_argument("--spacing", type=float, default=0.15, help="pixel spacing in mm (standard method)")
    p.add_argument("--layout", default="ragged", choices=["ragged", "fixed"])
    p.add_argument("--size", type=int, nargs="+", default=None, metavar="N",
                   help="fixed-layout image size: N (square) or H W (e.g. 128 96 at --spacing 1.6: the cpu preset)")
    p.add_argument("--pectoral", action="store_true", help="remove the pectoral muscle on MLO views")
    p.add_argument("--fallback-spacing", type=float, default=None, help="mm, for images without spacing tags")
    p.add_argument("--workers", type=int, default=1)
    p.set_defaults(func=_cmd_mammo_preprocess)


def _cmd_mammo_preprocess(args: argparse.Namespace) -> int:
    from breastlab._table import emit
    from breastlab.data.mammo import read_cbis_ddsm, read_mini_mias, read_vindr_mammo
    from breastlab.data.mammo.preprocess import build_mammo_store

    if args.cbis:
        dataset = read_cbis_ddsm(args.cbis, args.dicom)
    elif args.vindr:
        dataset = read_vindr_mammo(args.vindr)
    else:
        dataset = read_mini_mias(args.mias)
    emit(dataset.summary(), title=f"{dataset.source}: images and findings")
    size = None if args.size is None else (args.size[0] if len(args.size) == 1 else tuple(args.size))
    store = build_mammo_store(dataset, args.out, method=args.method, spacing=args.spacing, layout=args.layout,
                              size=size, pectoral=args.pectoral, fallback_spacing=args.fallback_spacing,
                              workers=args.workers)
    print(f"store: {store.path} ({len(store)} images; problems in {store.path / 'problems.csv'})")
    return 0


def _cmd_mammo_classify(args: argparse.Namespace) -> int:
    import dataclasses

    from breastlab._table import emit
    from breastlab.mammo import CPU_PRESET, PAPER_PRESET, ClassifierConfig, classify
    from breastlab.mammo.report import write_classify_report

    weights = None if args.weights.lower() == "none" else args.weights
    preset = {k: v for k, v in (CPU_PRESET if args.preset == "cpu" else PAPER_PRESET).items() if k != "store"}
    for key in ("model", "iterations", "batch_size", "lr", "lr_step", "wd", "image_size"):
        if getattr(args, key) is not None:
            preset[key] = getattr(args, key) or None if key == "image_size" else getattr(args, key)
    if args.model is not None and args.model != CPU_PRESET["model"]:
        preset.pop("model_kwargs", None)
    if args.no_balance:
        preset["balanced"] = False
    cfg = ClassifierConfig(**preset, weights=weights, seed=args.seed, device=args.device)
    pcfg = dataclasses.replace(cfg, iterations=args.pretrain_iterations or args.iterations)
    test_fraction = args.test_fraction if args.folds is None else None
    if args.folds is None and test_fraction is None:
        test_fraction = 0.15
    res = classify(args.store, args.out, scenarios=args.scenario, strategies=args.strategy, sites=args.sites,
                   site=args.site, pretrain_store=args.pretrain_store, pretrain_site=args.pretrain_site,
                   test_fraction=test_fraction, folds=args.folds, train_patients=args.train_patients, config=cfg,
                   pretrain_config=pcfg, n_boot=args.n_boot, seed=args.seed, progress=not args.no_progress)
    emit(res.results, title="AUC per scenario")
    if not res.comparisons.empty:
        emit(res.comparisons, title="DeLong comparison of strategies")
    print(f"report: {write_classify_report(res)}")
    return 0


# --------------------------------------------------------------------------- mammography detection (issue 10)
def _add_mammo_detect(mammo_sub: argparse._SubParsersAction) -> None:
    p = mammo_sub.add_parser("detect", help="finding detection (Faster R-CNN): train, predict (AI marks), evaluate")
    d = p.add_subparsers(dest="detect_command", metavar="STEP")
    t = d.add_parser("train", help="train a detector on a mammography store (resumable)")
    t.add_argument("store", help="store from build_mammo_store (standard method, the preset's spacing)")
    t.add_argument("--out", required=True, metavar="RUN", help="run folder (config.json, checkpoint.pt, model.pt)")
    t.add_argument("--preset", default="cpu-small", help="cpu-small (CPU, small arch) or study (ResNet-50 FPN v2)")
    t.add_argument("--split", default="train", help="manifest split to train on ('all': every image)")
    t.add_argument("--iterations", type=int, default=None)
    t.add_argument("--batch-size", type=int, default=None)
    t.add_argument("--lr", type=float, default=None)
    t.add_argument("--spacing", type=float, default=None, help="pixel spacing (mm) the store was made at")
    t.add_argument("--classes", default=None, help="comma-separated subset of the four finding classes")
    t.add_argument("--weights", default=None, help="coco (torch hub cache) or PATH of a checkpoint / state dict")
    t.add_argument("--workers", type=int, default=None)
    t.add_argument("--device", default=None)
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    t.set_defaults(func=_cmd_detect_train)
    q = d.add_parser("predict", help="detections + AI marks (CSV/JSON/PNG per image) + reader-study rows")
    q.add_argument("run", help="run folder or checkpoint")
    q.add_argument("store")
    q.add_argument("--out", required=True, help="output folder")
    q.add_argument("--split", default="all", help="manifest split to predict ('all': every image)")
    q.add_argument("--tta", default=None, help="none, wbf or nms (default: the run's config)")
    q.add_argument("--classes", default=None, help="expected classes (checked against the checkpoint)")
    q.add_argument("--min-score", type=float, default=0.05, help="marks below this score are not written")
    q.add_argument("--max-marks", type=int, default=5, help="marks per image in the CSV/JSON/PNG")
    q.add_argument("--no-png", action="store_true")
    q.add_argument("--level", default="patient", help="reader-study case: patient, breast or image")
    q.add_argument("--pair-model", default=None, help="CC-MLO pair model from `fit-pairs` (default: the heuristic)")
    q.set_defaults(func=_cmd_detect_predict)
    f = d.add_parser("fit-pairs", help="fit the gradient-boosted CC-MLO pair model on detections with known truth")
    f.add_argument("store")
    f.add_argument("detections", help="detections.csv of images the detector did not train on (e.g. out-of-fold)")
    f.add_argument("--out", required=True, help="model file to write (pickle)")
    f.add_argument("--split", default="all", help="manifest split whose images are used")
    f.add_argument("--min-score", type=float, default=0.1)
    f.add_argument("--seed", type=int, default=0)
    f.set_defaults(func=_cmd_detect_fit_pairs)
    e = d.add_parser("evaluate", help="FROC, AP@0.5, image/breast ROC (Table 1), report section")
    e.add_argument("store")
    e.add_argument("detections", help="detections.csv written by predict")
    e.add_argument("--out", required=True)
    e.add_argument("--split", default="all")
    e.add_argument("--hit", default="iou_or_centre", help="iou, centre or iou_or_centre")
    e.add_argument("--iou", type=float, default=0.5)
    e.add_argument("--html", default=None, help="write the detection report (FROC, Table 1, gallery)")
    e.set_defaults(func=_cmd_detect_evaluate)


def _detect_rows(store, split: str):
    if split == "all":
        return None
    if "split" not in store.manifest.columns or not (store.manifest["split"] == split).any():
        raise BreastlabInputError(f"{store.path}: no images with split {split!r}; use --split all or a split of "
                                  f"the manifest")
    return store.manifest.index[store.manifest["split"] == split].to_numpy()


def _cmd_detect_train(args: argparse.Namespace) -> int:
    import dataclasses

    from breastlab.data.store import ArrayStore
    from breastlab.detect.model import preset, train_detector

    store = ArrayStore(args.store)
    over = {k: v for k, v in {"iterations": args.iterations, "batch_size": args.batch_size, "lr": args.lr,
                              "spacing_mm": args.spacing, "weights": args.weights, "workers": args.workers,
                              "device": args.device, "seed": args.seed}.items() if v is not None}
    if args.classes:
        over["classes"] = tuple(c.strip() for c in args.classes.split(","))
    cfg = dataclasses.replace(preset(args.preset), **over)
    run = train_detector(store, args.out, cfg, rows=_detect_rows(store, args.split), resume=args.resume)
    print(f"wrote {run}")
    return 0


def _cmd_detect_predict(args: argparse.Namespace) -> int:
    from pathlib import Path

    from breastlab._io import write_table
    from breastlab.data.store import ArrayStore
    from breastlab.detect.marks import annotate, reader_study_rows, write_marks
    from breastlab.detect.model import load_detector, predict

    store = ArrayStore(args.store)
    classes = tuple(c.strip() for c in args.classes.split(",")) if args.classes else None
    model, cfg = load_detector(args.run, classes=classes)
    rows = _detect_rows(store, args.split)
    det = predict(model, cfg, store, rows=rows, tta=args.tta)
    out = Path(args.out)
    write_table(det, out / "detections.csv")
    pair_model = None
    if args.pair_model:
        from breastlab.detect.localise import load_pair_model

        pair_model = load_pair_model(args.pair_model)
    marks = annotate(det, store, min_score=args.min_score, pair_model=pair_model)
    write_marks(marks, store, out / "marks", max_per_image=args.max_marks, png=not args.no_png)
    images = store.manifest if rows is None else store.manifest.iloc[rows]
    write_table(reader_study_rows(det, images, store.findings, level=args.level), out / "reader_study_model.csv")
    print(f"{len(det)} detections on {len(images)} images; wrote {out}/detections.csv, marks/, reader_study_model.csv")
    return 0


def _cmd_detect_fit_pairs(args: argparse.Namespace) -> int:
    from breastlab._io import read_table
    from breastlab.data.store import ArrayStore
    from breastlab.detect.localise import save_pair_model
    from breastlab.detect.marks import fit_pair_model_on

    store = ArrayStore(args.store)
    rows = _detect_rows(store, args.split)
    det = read_table(args.detections)
    if rows is not None:
        det = det[det["image_id"].astype(str).isin(store.manifest["image_id"].iloc[rows].astype(str))]
    model, pairs = fit_pair_model_on(det, store, min_score=args.min_score, seed=args.seed)
    path = save_pair_model(model, args.out)
    print(f"pair model fitted on {len(pairs)} CC x MLO pairs ({int(pairs['same_lesion'].sum())} same lesion); "
          f"wrote {path}")
    return 0


def _cmd_detect_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from breastlab._io import read_table
    from breastlab.data.store import ArrayStore
    from breastlab.detect.froc import evaluate_detections
    from breastlab.detect.report import write_detection_report, write_detection_section

    store = ArrayStore(args.store)
    rows = _detect_rows(store, args.split)
    images = store.manifest if rows is None else store.manifest.iloc[rows]
    cols = [c for c in ("image_id", "patient_id", "laterality", "view", "height", "width") if c in images.columns]
    det = read_table(args.detections)
    det = det[det["image_id"].astype(str).isin(images["image_id"].astype(str))]
    ev = evaluate_detections(images[cols], store.findings, det, hit=args.hit, iou_threshold=args.iou)
    print(ev.format())
    settings = {"detections": str(Path(args.detections).resolve()), "split": args.split, "hit": args.hit,
                "iou": args.iou}
    print(f"wrote {write_detection_section(ev, Path(args.out), store, settings=settings)} "
          "(`breastlab report` section)")
    if args.html:
        print(f"wrote {write_detection_report(ev, args.html, store)}")
    return 0


# --------------------------------------------------------------------------- demo
def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the main job on the built-in phantom cohort")
    p.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--patients", type=int, default=None, help="phantom patients (default: the demo's own)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from breastlab.demo import run_demo

    run_demo(out=args.out, patients=args.patients, seed=args.seed)
    return 0


# --------------------------------------------------------------------------- entry point
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="breastlab", description="Breast-imaging AI research toolkit")
    parser.add_argument("--version", action="version", version=f"breastlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_add_duke, _add_export, _add_phantom, _add_curate, _add_train, _add_evaluate, _add_stats,
                _add_anomaly, _add_mammo, _add_demo):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BreastlabInputError as exc:
        print(f"breastlab: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
