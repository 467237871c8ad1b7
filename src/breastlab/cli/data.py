"""``breastlab`` commands: duke tables, DICOM slice export and phantom cohorts."""

from __future__ import annotations

import argparse

from breastlab.cli._args import out_argument, positive_int


def add_duke(sub: argparse._SubParsersAction) -> None:
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
    lab.add_argument("--seed", type=int, default=0, help="seed of the negative-slice sampling (--negatives match or N)")
    lab.add_argument("--out", help="write the labels (.csv or .parquet); problems.csv goes beside it")
    lab.set_defaults(func=_cmd_duke_labels)
    coh = duke_sub.add_parser("cohort", help="the cohort table of a Duke-layout folder (for breastlab import mri)")
    coh.add_argument("duke_dir", metavar="DUKE_DIR", help="folder with Duke-Breast-Cancer-MRI/, clinical xlsx, boxes")
    coh.add_argument("--out", required=True, help="cohort table (.csv); problems.csv goes beside it")
    coh.set_defaults(func=_cmd_duke_cohort)


def _cmd_duke_cohort(args: argparse.Namespace) -> int:
    from pathlib import Path

    from breastlab.data.cohort_scan import write_duke_cohort

    table, problems = write_duke_cohort(args.duke_dir, args.out)
    print(f"{len(table)} patient(s); wrote {args.out} and {Path(args.out).with_name('problems.csv')}")
    print(f"build the store with: breastlab import mri {args.out} --root {args.duke_dir} --out STORE")
    for p in problems.problems:
        print(f"problem: {p.item}: {p.message}")
    return 0


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


def add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export labelled Duke MRI slices into a uint8 slice store")
    p.add_argument(
        "cohort",
        metavar="COHORT_DIR",
        help="folder with Duke-Breast-Cancer-MRI/, Clinical_and_Other_Features.xlsx, Annotation_Boxes.csv",
    )
    p.add_argument("--out", required=True, metavar="STORE", help="store folder (resumes an interrupted export)")
    p.add_argument("--sequence", default="pre", help="DCE phase: pre, post1 .. post4 (default: pre)")
    p.add_argument("--size", type=int, default=320, help="stored image size in pixels, square (default: 320)")
    p.add_argument("--buffer", type=int, default=5, help="slices left out each side of the tumour (default: 5)")
    p.add_argument("--negatives", default="all", help="non-tumour slices: all, match or an integer cap per patient")
    p.add_argument("--workers", type=positive_int, default=2, help="patients exported in parallel (default: 2)")
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


def add_phantom(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("phantom", help="synthetic phantom cohorts in the real data sets' formats")
    phantom_sub = p.add_subparsers(dest="phantom_command", metavar="KIND")
    m = phantom_sub.add_parser("mri", help="Duke-like breast DCE-MRI cohort (TCIA DICOM tree, clinical xlsx, boxes)")
    out_argument(m, "output folder (empty, or a cohort to resume with the same arguments)")
    m.add_argument("--patients", type=positive_int, default=20, help="number of patients (default: 20)")
    m.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives identical files")
    m.add_argument("--slices", type=int, default=None, help="slices per volume (default: 48-64 per patient)")
    m.add_argument(
        "--matrix",
        type=int,
        default=None,
        help="in-plane size of 512-matrix scanners, others scaled in proportion (default: real sizes)",
    )
    m.add_argument("--post", type=int, default=2, help="post-contrast phases, 1-4 (default: 2)")
    m.add_argument("--workers", type=positive_int, default=1, help="processes (default: 1)")
    m.set_defaults(func=_cmd_phantom_mri)
    g = phantom_sub.add_parser("mammo", help="mammography cohort: CBIS-DDSM layout DICOM + case CSVs, VinDr-style CSVs")
    out_argument(g, "output folder (empty, or a cohort to resume with the same arguments)")
    g.add_argument("--patients", type=positive_int, default=20, help="number of patients (default: 20)")
    g.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives identical files")
    g.add_argument(
        "--matrix",
        type=int,
        default=None,
        help="rows of the digital site's images, the film site scaled alike (default: real sizes)",
    )
    g.add_argument(
        "--proportions",
        type=float,
        nargs=3,
        default=(0.4, 0.3, 0.3),
        metavar=("NEG", "BENIGN", "MALIGNANT"),
        help="negative / recalled-benign / malignant patients",
    )
    g.add_argument("--film-fraction", type=float, default=0.5, help="share of patients from the film-like site")
    g.add_argument("--test-fraction", type=float, default=0.2, help="share of patients in the test split")
    g.add_argument("--workers", type=positive_int, default=1, help="processes (default: 1)")
    g.set_defaults(func=_cmd_phantom_mammo)


def _cmd_phantom_mammo(args: argparse.Namespace) -> int:
    from breastlab.data.phantom.mammo import make_mammo_cohort, summarize_mammo_cohort

    out = make_mammo_cohort(
        args.out,
        args.patients,
        seed=args.seed,
        matrix=args.matrix,
        proportions=tuple(args.proportions),
        film_fraction=args.film_fraction,
        test_fraction=args.test_fraction,
        workers=args.workers,
    )
    print(summarize_mammo_cohort(out))
    return 0


def _cmd_phantom_mri(args: argparse.Namespace) -> int:
    from breastlab.data.phantom.mri import make_mri_cohort, summarize_mri_cohort

    out = make_mri_cohort(
        args.out,
        args.patients,
        seed=args.seed,
        n_slices=args.slices,
        matrix=args.matrix,
        workers=args.workers,
        n_post=args.post,
    )
    print(summarize_mri_cohort(out))
    return 0
