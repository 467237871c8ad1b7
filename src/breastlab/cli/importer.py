"""``breastlab import``: your own MRI or mammography in (draft a table from a DICOM tree, a store from a table)."""

from __future__ import annotations

import argparse

from breastlab.cli._args import positive_int


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="your own data: cohort tables from any DICOM tree, stores from tables")
    kinds = p.add_subparsers(dest="import_command", metavar="KIND")
    m = kinds.add_parser(
        "mri",
        help="breast MRI: --scan DIR drafts cohort.csv; TABLE --root DIR builds the slice store",
        description="breastlab import mri --scan DIR --out cohort.csv  |  breastlab import mri cohort.csv --root DIR "
        "--out STORE",
    )
    m.add_argument("table", nargs="?", metavar="TABLE", help="cohort table (.csv) to build a store from")
    m.add_argument("--scan", metavar="DIR", help="draft a cohort table from every DICOM file under DIR (headers only)")
    m.add_argument("--root", metavar="DIR", help="folder the table's series paths are relative to")
    m.add_argument("--out", required=True, help="cohort.csv (with --scan) or the store folder")
    m.add_argument("--sequence", default="pre", help="DCE phase column to store: pre, post1 .. post4 (default: pre)")
    m.add_argument("--size", type=int, default=320, help="stored image size in pixels, square (default: 320)")
    m.add_argument("--buffer", type=int, default=5, help="slices left out each side of the tumour (default: 5)")
    m.add_argument("--negatives", default="all", help="non-tumour slices: all, match or an integer cap per patient")
    m.add_argument("--workers", type=positive_int, default=2, help="patients in parallel (default: 2)")
    m.add_argument("--png", default=None, metavar="DIR", help="also write DIR/<label>/<seq>-<slice>-<patient>.png")
    m.add_argument("--seed", type=int, default=0, help="seed of the negative-slice sampling (default: 0)")
    m.add_argument("--overwrite", action="store_true", help="rebuild a finished store in --out")
    m.add_argument(
        "--mip", nargs="?", const="", default=None, metavar="DIR",
        help="also build the breast-MIP store of `anomaly mip` (post1 - pre) in DIR (default: OUT_mip)",
    )  # fmt: skip
    m.add_argument("--mip-size", type=int, default=256, help="MIP image size in pixels with --mip (default: 256)")
    m.set_defaults(func=_cmd_import_mri)
    _add_import_mammo(kinds)


def _add_import_mammo(kinds: argparse._SubParsersAction) -> None:
    from breastlab.cli.mammo import add_preprocess_options

    g = kinds.add_parser(
        "mammo",
        help="mammography: --scan DIR drafts images.csv; TABLE --root DIR builds the store of `mammo preprocess`",
        description="breastlab import mammo --scan DIR --out images.csv  |  breastlab import mammo images.csv --root "
        "DIR --out STORE",
    )
    g.add_argument("table", nargs="?", metavar="TABLE", help="image table (.csv) to build a store from")
    g.add_argument("--scan", metavar="DIR", help="draft an image table from every DICOM image under DIR (headers only)")
    g.add_argument("--root", metavar="DIR", help="folder the table's image paths are relative to")
    g.add_argument("--out", required=True, help="images.csv (with --scan) or the store folder")
    g.add_argument(
        "--labels",
        default=None,
        metavar="A,B,C",
        help="the image labels the table may use (default: negative,recalled-benign,malignant)",
    )
    g.add_argument("--findings", default=None, metavar="CSV", help="findings: path or image_id, class, x0,y0,x1,y1")
    g.add_argument("--coco", default=None, metavar="JSON", help="findings from a COCO annotation file (bbox in pixels)")
    g.add_argument("--overwrite", action="store_true", help="rebuild a finished store in --out")
    add_preprocess_options(g)
    g.set_defaults(func=_cmd_import_mammo)


def _cmd_import_mammo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from breastlab.errors import BreastlabInputError

    if args.scan and args.table:
        raise BreastlabInputError("give --scan DIR (draft a table) or TABLE --root DIR (build a store), not both")
    if args.scan:
        from breastlab.data.mammo.table_import import write_mammo_scan

        table, problems = write_mammo_scan(args.scan, args.out)
        print(f"{len(table)} image(s), {table['patient_id'].nunique()} patient(s); views: "
              f"{', '.join(f'{k} {v}' for k, v in table['view'].value_counts().items()) or 'none'}")  # fmt: skip
        print(f"wrote {args.out} (fill in the label column) and {Path(args.out).with_name('problems.csv')}")
        _print_problems(problems.to_frame(), Path(args.out).with_name("problems.csv"), "file(s) to look at")
        return 0
    if not args.table or not args.root:
        raise BreastlabInputError("import mammo: give --scan DIR --out images.csv, or TABLE --root DIR --out STORE")
    from breastlab.cli.mammo import preprocess_size
    from breastlab.data.export import read_problems
    from breastlab.data.mammo.table_import import import_mammo

    store = import_mammo(
        args.table, args.root, args.out, labels=args.labels, findings=args.findings, coco=args.coco,
        fallback_spacing=args.fallback_spacing, method=args.method, spacing=args.spacing, layout=args.layout,
        size=preprocess_size(args.size), pectoral=args.pectoral, workers=args.workers, overwrite=args.overwrite,
    )  # fmt: skip
    out = Path(args.out)
    print(f"store: {out} ({len(store)} images, {len(store.findings)} findings)")
    _print_problems(read_problems(out), out / "problems.csv", "problem(s): rows or images left out")
    return 0


def _cmd_import_mri(args: argparse.Namespace) -> int:
    from pathlib import Path

    from breastlab.errors import BreastlabInputError

    if args.scan and args.table:
        raise BreastlabInputError("give --scan DIR (draft a table) or TABLE --root DIR (build a store), not both")
    if args.scan:
        from breastlab.data.cohort_scan import write_scan

        table, problems = write_scan(args.scan, args.out)
        phases = [c for c in table.columns if c == "pre" or str(c).startswith("post")]
        print(f"{len(table)} exam(s), {table['patient_id'].nunique()} patient(s); phases found: "
              f"{', '.join(f'{c} {int(table[c].notna().sum())}' for c in phases) or 'none'}")  # fmt: skip
        print(f"wrote {args.out} (fill in the box columns) and {Path(args.out).with_name('problems.csv')}")
        _print_problems(problems.to_frame(), Path(args.out).with_name("problems.csv"), "file(s) skipped")
        return 0
    if not args.table or not args.root:
        raise BreastlabInputError("import mri: give --scan DIR --out cohort.csv, or TABLE --root DIR --out STORE")
    from breastlab._table import emit
    from breastlab.data.cohort_import import import_mri
    from breastlab.data.export import export_summary, parse_negatives, read_problems

    store = import_mri(
        args.table, args.root, args.out, sequence=args.sequence, size=args.size, buffer=args.buffer,
        negatives=parse_negatives(args.negatives), workers=args.workers, png_dir=args.png, seed=args.seed,
        overwrite=args.overwrite,
    )  # fmt: skip
    out = Path(args.out)
    emit(export_summary(store), title=f"Slice store {out} ({store.shape[0]}x{store.shape[1]} uint8)",
         csv_path=out / "export_summary.csv")  # fmt: skip
    _print_problems(read_problems(out), out / "problems.csv", "patient(s) left out")
    if args.mip is not None:
        _import_mips(args, Path(args.mip) if args.mip else out.with_name(f"{out.name}_mip"))
    return 0


def _import_mips(args: argparse.Namespace, mip_dir) -> None:  # noqa: ANN001 - a Path
    from pathlib import Path

    from breastlab._table import format_table
    from breastlab.data.cohort_import import import_mri_mips
    from breastlab.data.mip import MipSettings, breast_counts

    store, problems = import_mri_mips(args.table, args.root, mip_dir, MipSettings(size=args.mip_size),
                                      workers=args.workers)  # fmt: skip
    counts = breast_counts(store.manifest)
    print()
    print(format_table(counts.table, f"MIP store {mip_dir}: {counts.breasts} breasts of {counts.patients} patients"))
    _print_problems(problems.to_frame(), Path(mip_dir) / "problems.csv", "MIP problem(s) and note(s)")


def _print_problems(problems, path, what: str) -> None:  # noqa: ANN001 - a problems frame and its file
    if len(problems):
        print(f"\n{len(problems)} {what}, see {path}:")
        for item, message in zip(problems["item"], problems["message"], strict=True):
            print(f"  {item}: {message[:200]}")
