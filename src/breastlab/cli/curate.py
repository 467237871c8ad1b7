"""``breastlab`` commands: spurBreast-style splits, feature scan, split checks and release import."""

from __future__ import annotations

import argparse
import os

from breastlab.cli._args import positive_int
from breastlab.errors import BreastlabInputError


def add(sub: argparse._SubParsersAction) -> None:
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
    what.add_argument(
        "--spurbreast",
        nargs="*",
        metavar="NAME",
        default=None,
        help="the eight SpurBreast configurations (or the NAMEs given)",
    )
    what.add_argument("--feature", metavar="COLUMN", help="spurious split on this clinical column (with --groups)")
    what.add_argument("--transform", metavar="NAME", help="image-transform split, e.g. vflip")
    what.add_argument("--baseline", action="store_true", help="random patients, no correlation")
    q.add_argument(
        "--groups",
        nargs=2,
        metavar=("A", "B"),
        help="group values; A goes with the tumour class; a set of values is comma-separated: '2.8936,3.0'",
    )
    q.add_argument("--names", nargs=2, metavar=("NAME_A", "NAME_B"), help="attribute names of the two groups")
    q.add_argument("--attribute", metavar="COLUMN", help="--baseline: annotate groups by this column")
    q.add_argument("--reverse", action="store_true", help="--transform: transform the non-tumour slices instead")
    q.add_argument("--name", help="configuration name (default: the feature, transform or 'baseline')")
    q.add_argument("--train", type=int, default=400, help="train patients (400)")
    q.add_argument("--val", type=int, default=150, help="validation patients (150)")
    q.add_argument("--test", type=int, default=150, help="test patients, drawn first (150)")
    q.add_argument("--tune", type=int, default=0, help="patients of a group-balanced tuning split (0: none)")
    q.add_argument("--rho", type=float, default=1.0, help="correlation strength in [0.5, 1] (1.0)")
    q.add_argument("--repeats", type=positive_int, default=1, help="splits with different random patients (1)")
    q.add_argument("--seed", type=int, default=0, help="seed of the patient draw; repeat r draws with (seed, r)")
    q.add_argument(
        "--negatives",
        choices=["random", "nearest"],
        default="random",
        help="non-tumour slices per patient: random (default) or nearest the tumour",
    )
    q.add_argument(
        "--test-transform",
        choices=["balanced", "none"],
        default="balanced",
        help="--transform: test set half transformed per class (balanced) or untransformed",
    )
    q.set_defaults(func=_cmd_curate_splits)

    q = cs.add_parser("scan", help="which clinical columns can carry a spurious split of the given sizes")
    source(q)
    q.add_argument("--sizes", nargs="+", default=["400/150", "200/100"], help="train/val patients (400/150 200/100)")
    q.add_argument("--test", type=int, default=150, help="test patients, drawn first")
    q.add_argument("--rho", type=float, default=1.0, help="correlation strength in [0.5, 1]")
    q.add_argument("--seed", type=int, default=0, help="seed of the patient draw")
    q.add_argument("--columns", nargs="+", help="scan only these columns")
    q.add_argument("--top", type=int, default=40, help="rows printed (all go to the CSV)")
    q.add_argument(
        "--out",
        metavar="DIR",
        help="write every partition with every column as DIR/feature_scan.csv (a path ending in .csv: that file)",
    )
    q.set_defaults(func=_cmd_curate_scan)

    q = cs.add_parser("check", help="verify split directories (ours or the imported SpurBreast release)")
    q.add_argument("dir", help="a split directory or a folder holding several")
    q.add_argument("--store", help="store whose rows the split addresses (default: from config.json)")
    q.add_argument("--balance-tol", type=float, default=0.0, help="allowed |tumour - non-tumour| / images (0)")
    q.add_argument("--rho-tol", type=float, default=0.01, help="allowed |measured - claimed rho| (0.01)")
    q.add_argument("--test-tol", type=float, default=0.05, help="allowed |test rho - 0.5| (0.05)")
    q.add_argument("--csv", help="write every check result here")
    q.add_argument("--out", metavar="DIR", help="write every check result as DIR/check.csv")
    q.set_defaults(func=_cmd_curate_check)

    q = cs.add_parser("import-release", help="read the published SpurBreast PNG release into a store + splits")
    q.add_argument("root", help="release folder holding <feature>/<training|validation|test>/<0|1>/*.png")
    q.add_argument("--out", required=True, help="output: OUT/store and OUT/splits/<feature>")
    q.add_argument("--clinical", help="Clinical_and_Other_Features.xlsx, to recover each patient's group")
    q.add_argument("--features", nargs="+", help="only these feature folders")
    q.set_defaults(func=_cmd_curate_import_release)

    q = cs.add_parser(
        "export-split",
        help="write a split's images as PNG folders in the SpurBreast release layout, with labels.csv",
    )
    q.add_argument("split", help="split directory (manifest.parquet) whose images are written")
    q.add_argument("--store", required=True, help="store whose rows the split addresses")
    q.add_argument(
        "--out", required=True, help="new or empty folder: OUT/<training|validation|test>/<0|1>/*.png, labels.csv"
    )
    q.add_argument("--prefix", default="img", help="first part of each file name <prefix>-<slice>-<patient>.png")
    q.add_argument("--subset", nargs="+", default=None, help="only these parts: train, val, test, tune (default all)")
    q.set_defaults(func=_cmd_curate_export_split)


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
            cfg = SplitConfig(
                args.name or args.transform,
                "transform",
                transform=args.transform,
                reverse=args.reverse,
                test_transform=args.test_transform,
                **sizes,
            )
        else:
            cfg = SplitConfig(args.name or "baseline", "baseline", attribute=args.attribute, **sizes)
        configs = [cfg]
    splits = build_splits(_curate_cohort(args), configs, repeats=args.repeats, out=args.out, progress=True)
    from breastlab.curate import splits_overview

    emit(
        splits_overview(splits),
        f"splits in {args.out} ({args.repeats} repeat(s))",
        csv_path=Path(args.out) / "splits.csv",
    )
    if args.spurbreast is not None:
        emit(
            compare_with_paper(splits),
            "ours vs SpurBreast Table 1 (images over repeats)",
            csv_path=Path(args.out) / "paper_comparison.csv",
        )
    return 0


def _cmd_curate_scan(args: argparse.Namespace) -> int:
    from breastlab._table import emit
    from breastlab.curate import scan_features, scan_table

    scan = scan_features(
        _curate_cohort(args), sizes=args.sizes, n_test=args.test, rho=args.rho, seed=args.seed, columns=args.columns
    )
    csv = None
    if args.out:
        csv = args.out if args.out.endswith(".csv") else os.path.join(args.out, "feature_scan.csv")
    shown = scan_table(scan, args.top)
    title = f"feature scan: {len(shown)} of {len(scan)} partitions, most feasible first"
    emit(scan, title + (f" (all in {csv})" if csv else ""), csv_path=csv, shown=shown, keep=3)
    return 0


def _cmd_curate_check(args: argparse.Namespace) -> int:
    import pandas as pd

    from breastlab._table import emit
    from breastlab.curate import check_splits

    reports = check_splits(
        args.dir, store=args.store, balance_tol=args.balance_tol, rho_tol=args.rho_tol, test_tol=args.test_tol
    )
    table = pd.concat([r.to_frame() for r in reports], ignore_index=True)
    failed = [r.path for r in reports if not r.ok]
    csv = args.csv or (os.path.join(args.out, "check.csv") if args.out else None)
    # the file names each split folder relative to itself; the screen as it was typed
    shared = pd.concat([r.to_frame(os.path.dirname(os.path.abspath(csv))) for r in reports]) if csv else table
    title = f"{len(reports)} split dir(s): {len(reports) - len(failed)} pass, {len(failed)} fail"
    if len(reports) > 1:  # one line per directory; every check goes to --csv
        table_short = pd.DataFrame(
            [
                {
                    "split_dir": r.path,
                    "pass": sum(c.passed is True for c in r.checks),
                    "fail": sum(c.passed is False for c in r.checks),
                    "n/a": sum(c.passed is None for c in r.checks),
                    "failed": "; ".join(f"{c.name}: {c.detail}" for c in r.checks if c.passed is False),
                }
                for r in reports
            ]
        )
        emit(table_short, title)
        if csv:
            from breastlab._io import write_table

            write_table(shared.reset_index(drop=True), csv)
    else:
        emit(shared.reset_index(drop=True), title, csv_path=csv, shown=table)
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


def _cmd_curate_export_split(args: argparse.Namespace) -> int:
    from breastlab._lock import folder_lock
    from breastlab._table import emit
    from breastlab.curate.release import export_split

    with folder_lock(args.out):  # one command at a time writes the folder
        res = export_split(args.store, args.split, args.out, prefix=args.prefix, subsets=args.subset)
    counts = res.labels.groupby(["split", "label"]).size().rename("images").reset_index()
    emit(counts, f"wrote {len(res.labels)} PNG images and labels.csv to {res.out}")
    return 0
