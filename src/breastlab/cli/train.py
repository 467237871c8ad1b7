"""``breastlab`` commands: training, sweeps, evaluation of runs, the report and published-figure checks."""

from __future__ import annotations

import argparse

from breastlab._lock import folder_lock
from breastlab.cli._args import (
    config_argument,
    non_negative_float,
    non_negative_int,
    open_fraction,
    positive_int,
    save_config,
)


def add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model on a split (SpurBreast protocol); multi-GPU under torchrun")
    p.add_argument("--store", required=True, help="array store directory")
    p.add_argument("--split", required=True, help="split directory (manifest.parquet)")
    p.add_argument("--out", required=True, help="run directory to write")
    p.add_argument("--model", default="resnet50", help="resnet50, vit_b_16, alexnet, resnet18, small_cnn")
    p.add_argument(
        "--optimizer",
        default="sgd",
        choices=["sgd", "adam", "adamw"],
        help="sgd: momentum 0.9, cosine-annealed learning rate; adam/adamw: constant rate",
    )
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (SpurBreast: 1e-5 to 1e-2)")
    p.add_argument("--wd", type=float, default=1e-4, help="weight decay (SpurBreast: 1e-4, 1e-5 or 0)")
    p.add_argument("--epochs", type=positive_int, default=50, help="training epochs; the best validation epoch is kept")
    p.add_argument(
        "--batch-size", type=positive_int, default=32, help="images per step (the global batch under torchrun)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the initialisation, sample order and crops")
    p.add_argument("--method", default="erm", help="erm, reweight, resample, groupdro, dfr")
    p.add_argument(
        "--select-by",
        default="val_acc",
        choices=["val_acc", "worst_group_acc"],
        help="which epoch is kept: best validation accuracy or best worst-group validation accuracy",
    )
    p.add_argument("--weights", default="none", help="none, imagenet (torch hub cache) or PATH to a state dict")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    p.add_argument("--groupdro-eta", type=float, default=0.01, help="GroupDRO's step size of the group weights")
    p.add_argument("--dfr-repeats", type=int, default=10, help="DFR: group-balanced subsets the last layer is fit on")
    p.add_argument(
        "--in-channels", type=int, default=1, choices=[1, 3], help="model input channels (3: grey repeated to RGB)"
    )
    p.add_argument("--image-size", type=int, default=224, help="crop size (resize before crop: 256/224 of it)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--resume", action="store_true", help="continue RUN from its checkpoint")
    p.add_argument("--stop-after", type=int, default=None, help="run at most N epochs now (resume later)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars or progress lines")
    config_argument(p)
    p.set_defaults(func=_cmd_train)

    s = sub.add_parser("sweep", help="run a hyper-parameter grid (local processes or Ray Tune)")
    s.add_argument("grid", metavar="GRID", help="sweep YAML: store, splits, models, grid (breastlab.train.sweep)")
    s.add_argument("--out", default=None, help="sweep folder (trials/, summary.csv; default: the sweep YAML's out)")
    s.add_argument(
        "--backend", default="local", choices=["local", "ray"], help="local processes or Ray Tune (pip install ray)"
    )
    s.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)")
    s.add_argument(
        "--workers", "--parallel", type=positive_int, default=1, help="local trials run at once (local backend)"
    )
    s.add_argument("--gpus-per-trial", type=float, default=0.0, help="GPUs reserved per trial (Ray backend)")
    s.add_argument("--cpus-per-trial", type=float, default=1.0, help="CPUs reserved per trial (Ray backend)")
    s.add_argument("--asha", action="store_true", help="ASHA early stopping (Ray backend)")
    config_argument(s)
    s.set_defaults(func=_cmd_sweep)


def _cmd_train(args: argparse.Namespace) -> int:
    from breastlab._table import emit
    from breastlab.train import TrainConfig, train

    cfg = TrainConfig(
        store=args.store,
        split=args.split,
        out=args.out,
        model=args.model,
        optimizer=args.optimizer,
        lr=args.lr,
        wd=args.wd,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        method=args.method,
        select_by=args.select_by,
        weights=args.weights,
        momentum=args.momentum,
        groupdro_eta=args.groupdro_eta,
        dfr_repeats=args.dfr_repeats,
        in_channels=args.in_channels,
        image_size=args.image_size,
        device=args.device,
        progress=not args.no_progress,
    )
    with folder_lock(args.out):  # one command at a time writes a run folder
        result = train(cfg, resume=args.resume, stop_after=args.stop_after)
        save_config(args, args.out)
    if result.summary:
        import pandas as pd

        emit(pd.DataFrame([result.summary]), title=f"run {result.run_dir}")
    else:
        print(f"{result.run_dir}: stopped after epoch {int(result.metrics['epoch'].max())}; continue with --resume")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from breastlab._table import emit
    from breastlab.train.sweep import load_sweep_config, run_sweep

    out = args.out or load_sweep_config(args.grid)["out"]
    with folder_lock(out):  # the sweep folder
        table = run_sweep(
            args.grid,
            out=out,
            backend=args.backend,
            parallel=args.workers,
            address=args.address,
            gpus_per_trial=args.gpus_per_trial,
            cpus_per_trial=args.cpus_per_trial,
            asha=args.asha,
        )
        save_config(args, out)
    cols = [
        c
        for c in ("trial", "status", "best_epoch", "val_acc", "val_worst_group_acc", "test_acc", "selected")
        if c in table
    ]
    emit(table[cols], title="sweep")
    return 0


def add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="Table 2 (acc/PPV/NPV with patient-level CIs), groups, shortcut of a run or of any model's predictions",
    )
    p.add_argument(
        "run",
        help="run directory (with predictions.parquet), a sweep folder of runs, "
        "or any model's predictions file (.csv or .parquet; see --truth, --score, --patient)",
    )
    f = p.add_argument_group("a predictions file (one row per image)")
    f.add_argument("--truth", default=None, help="column of the 0/1 truth, 1 = tumour (default: label)")
    f.add_argument("--score", default=None, help="column of the model's score, higher = tumour (default: score)")
    f.add_argument(
        "--patient", default=None, help="column of the patient id, the bootstrap's unit (default: patient_id)"
    )
    f.add_argument("--split", default=None, help="column of the split: train, val, test or tune (default: all test)")
    f.add_argument("--attribute", default=None, help="column of the attribute for groups and the shortcut rule")
    f.add_argument("--threshold", type=float, default=None, help="predict tumour iff score >= T (default: 0.5)")
    p.add_argument(
        "--out",
        default=None,
        help="folder for metrics.json, metrics.csv, groups.csv, shortcut.csv (a sweep: one sub-folder per run); "
        "default: a run's own evaluation/ folder, where `report` finds it; a predictions file: printed only",
    )
    p.add_argument(
        "--n-boot",
        "--bootstrap",
        type=non_negative_int,
        default=2000,
        help="bootstrap replicates (0: no CIs; default 2000)",
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--level", type=open_fraction, default=0.95, help="confidence level (default 0.95)")
    p.add_argument("--recompute", action="store_true", help="ignore an existing RUN/evaluation/metrics.json")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("report", help="one self-contained HTML report of runs, sweeps and evaluation folders")
    p.add_argument(
        "run",
        nargs="+",
        help="run directories, sweep folders, or output folders of `anomaly evaluate`, "
        "`mammo classify` and `mammo detect evaluate` (each becomes a section)",
    )
    p.add_argument(
        "--out", default=None, help="output HTML (default: ./<name>_report.html, named after the first path)"
    )
    p.add_argument(
        "--n-boot", "--bootstrap", type=non_negative_int, default=2000, help="bootstrap replicates (default 2000)"
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--no-gallery", action="store_true", help="skip the Grad-CAM gallery (no model loading)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("check-figures", help="can one confusion matrix give a reported accuracy, PPV and NPV?")
    p.add_argument("--accuracy", type=float, required=True, help="reported accuracy, in [0, 1]")
    p.add_argument("--ppv", type=float, required=True, help="reported positive predictive value, in [0, 1]")
    p.add_argument("--npv", type=float, required=True, help="reported negative predictive value, in [0, 1]")
    p.add_argument("--n-pos", type=int, default=None, help="positives in the evaluated set (with --n-neg)")
    p.add_argument("--n-neg", type=int, default=None, help="negatives in the evaluated set (with --n-pos)")
    p.add_argument(
        "--prevalence", type=open_fraction, default=None, help="share of positives without counts (default 0.5)"
    )
    p.add_argument(
        "--tolerance", type=non_negative_float, default=None, help="allowed deviation (default: rounding of each)"
    )
    p.add_argument("--json", default=None, help="also write both checks as JSON here")
    p.add_argument("--out", metavar="DIR", default=None, help="also write both checks as DIR/check_figures.json")
    p.set_defaults(func=_cmd_check_figures)


_FILE_OPTIONS = ("truth", "score", "patient", "split", "attribute", "threshold")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from breastlab.errors import BreastlabInputError
    from breastlab.evaluate.metrics import evaluate_runs, format_evaluations

    if Path(args.run).suffix.lower() in (".csv", ".parquet"):
        return _evaluate_file(args)
    given = [f"--{o}" for o in _FILE_OPTIONS if getattr(args, o) is not None]
    if given:
        raise BreastlabInputError(
            f"{' '.join(given)}: only for a predictions file (.csv or .parquet); {args.run} is a run or sweep "
            "folder, evaluated into its own evaluation/ folder"
        )
    with folder_lock(args.out or args.run):  # the evaluation folders are written
        evs = evaluate_runs(
            args.run, n_boot=args.n_boot, seed=args.seed, level=args.level, reuse=not args.recompute, out=args.out
        )
    print(format_evaluations(evs))
    return 0


def _evaluate_file(args: argparse.Namespace) -> int:
    import contextlib

    from breastlab.evaluate.metrics import evaluate_predictions_file, format_evaluation
    from breastlab.schemas import EVALUATION

    if args.recompute:
        from breastlab.errors import BreastlabInputError

        raise BreastlabInputError("--recompute: only for a run folder; a predictions file is always evaluated afresh")
    lock = folder_lock(args.out) if args.out else contextlib.nullcontext()
    with lock:
        ev = evaluate_predictions_file(
            args.run,
            truth=args.truth or "label",
            score=args.score or "score",
            patient=args.patient or "patient_id",
            split=args.split,
            attribute=args.attribute,
            threshold=0.5 if args.threshold is None else args.threshold,
            out=args.out,
            n_boot=args.n_boot,
            seed=args.seed,
            level=args.level,
        )
    print(format_evaluation(ev))
    if args.out:
        files = ", ".join((EVALUATION.metrics_json, EVALUATION.metrics, EVALUATION.groups, EVALUATION.shortcut))
        print(f"written: {args.out}/{files}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from breastlab.report import write_report

    out = args.out or f"{Path(args.run[0]).resolve().stem}_report.html"  # in the working folder, never beside the input
    path = write_report(args.run, out, n_boot=args.n_boot, seed=args.seed, gallery=not args.no_gallery)
    print(f"report written to {path}")
    return 0


def _cmd_check_figures(args: argparse.Namespace) -> int:
    from breastlab.evaluate.consistency import check_reported_metrics, check_sensitivity_specificity_swap

    res = check_reported_metrics(
        args.accuracy,
        args.ppv,
        args.npv,
        n_pos=args.n_pos,
        n_neg=args.n_neg,
        prevalence=args.prevalence,
        tolerance=args.tolerance,
    )
    print(res.explanation)
    if res.confusion:
        print("closest confusion matrix: " + ", ".join(f"{k.upper()} {v}" for k, v in res.confusion.items()))
    swap = check_sensitivity_specificity_swap(args.accuracy, args.ppv, args.npv, tolerance=args.tolerance)
    print("alternative: " + swap.explanation)
    path = args.json or (f"{args.out}/check_figures.json" if args.out else None)
    if path:
        from breastlab._io import write_json

        write_json({"as_reported": res.to_dict(), "as_sensitivity_specificity_balanced": swap.to_dict()}, path)
        print(f"wrote {path}")
    return 0 if res.possible else 1
