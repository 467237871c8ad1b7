"""``breastlab`` commands: rOC statistics, agreement, reader studies and MRMC analysis."""

from __future__ import annotations

import argparse

from breastlab.cli._args import int_at_least, open_fraction, out_argument, positive_float, positive_int, unit_fraction

ALTERNATIVE_HELP = "H1: the first curve's AUC (first --score, or --by's first group) is greater, less, or either"
ALPHA_HELP = "significance level of the tests; the CIs are 1 - alpha"
DIRECTION_HELP = "'<': higher scores mean positive; '>': lower scores mean positive"


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stats", help="ROC/AUC, DeLong, bootstrap, agreement, reader studies, MRMC")
    stats_sub = p.add_subparsers(dest="stats_command", metavar="STAT")
    _add_stats_roc(stats_sub)
    _add_stats_mrmc(stats_sub)


def _add_stats_roc(stats_sub: argparse._SubParsersAction) -> None:
    def common(p, score: str = "many") -> None:
        p.add_argument("csv", help="input CSV")
        if score:
            p.add_argument("--truth", required=True, help="column of 0/1 truth")
            p.add_argument(
                "--score",
                action="append",
                required=score != "optional",
                default=None,
                help="score column (higher = positive unless --direction '>')"
                + ("; repeat for several" if score == "many" else ""),
            )
            p.add_argument("--direction", choices=["<", ">"], default="<", help=DIRECTION_HELP)
        p.add_argument("--conf-level", type=open_fraction, default=0.95, help="confidence level of the CIs")
        output_args(p)

    def partial_args(p) -> None:
        p.add_argument(
            "--partial-auc", nargs=2, type=float, metavar=("LOW", "HIGH"), default=None, help="partial AUC range"
        )
        p.add_argument(
            "--partial-focus",
            choices=["specificity", "sensitivity"],
            default="specificity",
            help="axis of the --partial-auc range",
        )
        p.add_argument("--partial-correct", action="store_true", help="McClish's standardised partial AUC")

    p = stats_sub.add_parser("auc", help="AUC with DeLong (or bootstrap) CI per score column")
    common(p)
    p.add_argument("--method", choices=["delong", "bootstrap"], default="delong", help="how the CI is computed")
    p.add_argument(
        "--n-boot", type=int_at_least(2), default=2000, help="bootstrap replicates (--method bootstrap, --var-method)"
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument(
        "--patient",
        "--cluster",
        default=None,
        help="column of the patient id (or other cluster), resampled whole by --method bootstrap",
    )
    partial_args(p)
    p.add_argument(
        "--smooth",
        choices=["binormal", "density"],
        default=None,
        help="also the smoothed curve's AUC (with --method bootstrap: and its CI, every replicate smoothed)",
    )
    p.add_argument(
        "--var-method",
        choices=["delong", "obuchowski", "bootstrap"],
        default=None,
        help="also the AUC variance by this method (pROC's var)",
    )
    p.add_argument("--best-method", choices=["youden", "closest.topleft"], default=None, help="best threshold")
    p.add_argument(
        "--best-weights",
        nargs=2,
        type=float,
        metavar=("COST", "PREVALENCE"),
        default=(1.0, 0.5),
        help="pROC's best.weights: cost of a false negative relative to a false positive, and prevalence",
    )
    p.set_defaults(func=_cmd_stats_auc)
    p = stats_sub.add_parser(
        "roc-test", help="compare two ROC curves: delong, bootstrap, venkatraman, se/sp at a level"
    )
    common(p)
    p.add_argument(
        "--method",
        choices=["delong", "bootstrap", "venkatraman", "sensitivity", "specificity"],
        default="delong",
        help="test of the AUCs (delong, bootstrap), of the curves' shapes (venkatraman) or at a fixed --level",
    )
    p.add_argument("--level", type=unit_fraction, default=None, help="fixed sensitivity/specificity for those methods")
    p.add_argument("--by", default=None, help="two-level column: unpaired test of one --score between its groups")
    p.add_argument(
        "--alternative", choices=["two-sided", "greater", "less"], default="two-sided", help=ALTERNATIVE_HELP
    )
    p.add_argument("--n-boot", "--boot-n", type=positive_int, default=2000, help="bootstrap replicates or permutations")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap or the permutations")
    p.add_argument("--no-stratify", action="store_true", help="bootstrap all cases together")
    p.add_argument(
        "--smooth",
        choices=["binormal", "density"],
        default=None,
        help="compare the smoothed curves' AUCs (--method bootstrap; every replicate smoothed)",
    )
    partial_args(p)
    p.set_defaults(func=_cmd_stats_roc_test)
    p = stats_sub.add_parser(
        "power", help="power, number of cases, detectable AUC or significance level (pROC's power.roc.test)"
    )
    p.add_argument("--auc", type=float, default=None, help="AUC of one curve (tested against 0.5)")
    p.add_argument("--cases", type=positive_float, default=None, help="number of cases (positives)")
    p.add_argument("--controls", type=positive_float, default=None, help="number of controls (negatives)")
    p.add_argument("--controls-per-case", type=positive_float, default=None, help="kappa = controls / cases")
    p.add_argument(
        "--power", type=open_fraction, default=None, help="wanted power (give all but one of AUC, cases, power)"
    )
    p.add_argument(
        "--sig-level", type=open_fraction, default=None, help="significance level (type I error; default 0.05)"
    )
    p.add_argument(
        "--solve-sig-level",
        action="store_true",
        help="compute the significance level at which the sample size reaches --power (pROC's sig.level = NULL)",
    )
    p.add_argument(
        "--alternative", choices=["two-sided", "one-sided"], default="two-sided", help="two- or one-sided test"
    )
    p.add_argument(
        "--binormal",
        nargs=7,
        type=float,
        default=None,
        metavar=("A1", "B1", "A2", "B2", "RN", "RA", "DELTA"),
        help="two paired curves from binormal parameters (Obuchowski & McClish 1997)",
    )
    p.add_argument("--pilot", default=None, help="pilot CSV (with --truth and one or two --score)")
    p.add_argument(
        "--var-method",
        choices=["delong", "obuchowski", "bootstrap"],
        default="delong",
        help="variances of two pilot curves (pROC's method)",
    )
    p.add_argument("--truth", default=None, help="--pilot: column of 0/1 truth")
    p.add_argument("--score", action="append", default=None, help="--pilot: score column (repeat for two curves)")
    p.add_argument("--direction", choices=["<", ">"], default="<", help=DIRECTION_HELP)
    output_args(p)
    p.set_defaults(func=_cmd_stats_power)
    p = stats_sub.add_parser("delong", help="DeLong test: two --score columns (paired) or one --score with --by")
    common(p)
    p.add_argument("--by", default=None, help="two-level column: unpaired test between its groups")
    p.add_argument(
        "--alternative", choices=["two-sided", "greater", "less"], default="two-sided", help=ALTERNATIVE_HELP
    )
    p.set_defaults(func=_cmd_stats_delong)
    p = stats_sub.add_parser("bootstrap", help="percentile bootstrap CIs (stratified or by --patient)")
    common(p, score="optional")
    p.add_argument(
        "--metric",
        action="append",
        default=None,
        help="auc, sensitivity, specificity, ppv, npv, accuracy (repeat; default auc)",
    )
    p.add_argument("--pred", default=None, help="column of 0/1 predictions for the 2x2 metrics")
    p.add_argument("--threshold", type=float, default=None, help="call positive when score >= threshold")
    p.add_argument(
        "--patient", "--cluster", default=None, help="column of the patient id (or other cluster): resampled whole"
    )
    p.add_argument("--n-boot", type=int_at_least(2), default=2000, help="bootstrap replicates")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--no-stratify", action="store_true", help="resample all cases together")
    p.set_defaults(func=_cmd_stats_bootstrap)
    p = stats_sub.add_parser("youden", help="Youden-optimal threshold(s) with sensitivity and specificity")
    common(p, score="one")
    p.set_defaults(func=_cmd_stats_youden)
    p = stats_sub.add_parser("kappa", help="Cohen's kappa between two rater columns")
    common(p, score="")
    p.add_argument("--rater1", required=True, help="column of the first rater's categories")
    p.add_argument("--rater2", required=True, help="column of the second rater's categories")
    p.add_argument(
        "--weights", choices=["linear", "quadratic"], default=None, help="weighted kappa (default: unweighted)"
    )
    p.set_defaults(func=_cmd_stats_kappa)
    p = stats_sub.add_parser("wilcoxon", help="Wilcoxon signed-rank test of paired columns, median (min-max)")
    common(p, score="")
    p.add_argument("--x", required=True, help="first column of the pairs")
    p.add_argument("--y", required=True, help="second column of the pairs")
    p.add_argument(
        "--alternative",
        choices=["two-sided", "greater", "less"],
        default="two-sided",
        help="H1: x - y is shifted above zero (greater), below (less) or either way",
    )
    p.set_defaults(func=_cmd_stats_wilcoxon)
    p = stats_sub.add_parser("reader-study", help="the four tables of a reader study from a long CSV")
    p.add_argument(
        "csv", help="long CSV: case_id, truth, reader, reader_group, condition, finding, score, reading_time_s"
    )
    p.add_argument("--out", default=None, help="output folder (default: ./<stem>_reader_study)")
    p.add_argument("--threshold", type=float, default=None, help="fixed cut-off for sensitivity/specificity")
    p.add_argument(
        "--kappa-weights", choices=["linear", "quadratic"], default=None, help="weighted kappa (default: unweighted)"
    )
    p.add_argument(
        "--time-unit",
        choices=["case", "reading"],
        default="case",
        help="reading-time pairs: cases (time averaged over a group's readers) or reader-case readings",
    )
    p.add_argument("--conf-level", type=open_fraction, default=0.95, help="confidence level of the CIs")
    p.add_argument("--ai-group", default="AI", help="reader_group of standalone AI readings (default: AI)")
    p.set_defaults(func=_cmd_stats_reader_study)
    p = stats_sub.add_parser("simulate-readers", help="write a synthetic reader-study CSV (demo, tests)")
    out_argument(p, "output CSV")
    p.add_argument(
        "--cases", type=int_at_least(4), default=120, help="cases (40 %% positive), each read by every reader"
    )
    p.add_argument(
        "--readers-per-group", type=positive_int, default=3, help="readers in each of the junior and senior groups"
    )
    p.add_argument(
        "--scale",
        choices=["birads", "probability"],
        default="birads",
        help="rating scale: BI-RADS categories 1-5 or probabilities in (0, 1)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same table")
    p.add_argument("--ai-skill", type=float, default=None, help="add a standalone AI reader of this separation")
    p.set_defaults(func=_cmd_stats_simulate_readers)


def output_args(p: argparse.ArgumentParser) -> None:
    """Where a stats command writes: nothing unless asked (never beside the input)."""
    p.add_argument("--out", metavar="DIR", default=None, help="write the table as DIR/<command>.csv and .json")
    p.add_argument("--json", default=None, help="write the table (and its input's name) as JSON here")
    p.add_argument("--out-csv", default=None, help="write the table as CSV here")


def _stats_emit(args: argparse.Namespace, df, title: str, transpose: bool = False) -> None:
    """Print ``df`` (one row shown as field/value pairs when ``transpose``), write JSON (and --out-csv)."""
    from pathlib import Path

    from breastlab._io import write_json, write_table
    from breastlab._table import format_table, with_ci_columns

    source = getattr(args, "csv", None) or getattr(args, "pilot", None)
    out = Path(args.out) if args.out else None
    json_path = args.json or (out / f"{args.stats_command}.json" if out else None)
    csv_path = args.out_csv or (out / f"{args.stats_command}.csv" if out else None)
    extra = {"input": None if source is None else Path(source).name, "command": args.stats_command}
    shown = with_ci_columns(df, getattr(args, "conf_level", None) or 0.95)
    if transpose:
        print(format_table(shown.T.reset_index().set_axis(["field", "value"], axis=1), title))
    else:
        print(format_table(shown, title))
    if json_path:
        print(f"wrote {write_json({'rows': df.to_dict(orient='records'), **extra}, json_path)}")
    if csv_path:
        print(f"wrote {write_table(df, Path(csv_path))}")


def _cmd_stats_auc(args: argparse.Namespace) -> int:
    from breastlab.evaluate.stats import tables

    df = tables.auc_table(
        tables.read_csv(args.csv),
        args.truth,
        args.score,
        args.direction,
        args.conf_level,
        args.method,
        args.n_boot,
        args.seed,
        args.patient,
        partial=args.partial_auc,
        focus=args.partial_focus,
        correct=args.partial_correct,
        smooth=args.smooth,
        var_method=args.var_method,
        best_method=args.best_method,
        best_weights=tuple(args.best_weights),
    )
    _stats_emit(args, df, f"AUC ({args.method} {args.conf_level:.0%} CI)", transpose=len(df) == 1)
    return 0


def _cmd_stats_roc_test(args: argparse.Namespace) -> int:
    from breastlab.evaluate.stats import tables

    df = tables.roc_test_table(
        tables.read_csv(args.csv),
        args.truth,
        args.score,
        args.method,
        args.by,
        level=args.level,
        alternative=args.alternative,
        n_boot=args.n_boot,
        seed=args.seed,
        stratified=not args.no_stratify,
        partial=args.partial_auc,
        focus=args.partial_focus,
        correct=args.partial_correct,
        conf_level=args.conf_level,
        direction=args.direction,
        smooth=args.smooth,
    )
    _stats_emit(args, df, f"ROC test ({args.method}); difference = first - second as listed", transpose=True)
    return 0


def _cmd_stats_power(args: argparse.Namespace) -> int:
    from breastlab.errors import BreastlabInputError
    from breastlab.evaluate.stats import tables

    args.csv = args.pilot
    if args.solve_sig_level and args.sig_level is not None:
        raise BreastlabInputError("--solve-sig-level computes the significance level; drop --sig-level")
    df = tables.power_table(
        auc=args.auc,
        ncases=args.cases,
        ncontrols=args.controls,
        kappa=args.controls_per_case,
        power=args.power,
        sig_level=None if args.solve_sig_level else (0.05 if args.sig_level is None else args.sig_level),
        alternative=args.alternative,
        binormal=args.binormal,
        pilot=None if args.pilot is None else tables.read_csv(args.pilot),
        truth=args.truth,
        scores=args.score,
        direction=args.direction,
        method=args.var_method,
    )
    _stats_emit(args, df, f"Power calculation (solved for {df['solved_for'].iloc[0]})", transpose=True)
    return 0


def _cmd_stats_delong(args: argparse.Namespace) -> int:
    from breastlab.evaluate.stats import tables

    df = tables.delong_table(
        tables.read_csv(args.csv), args.truth, args.score, args.by, args.direction, args.alternative, args.conf_level
    )
    _stats_emit(args, df, "DeLong test", transpose=True)
    return 0


def _cmd_stats_bootstrap(args: argparse.Namespace) -> int:
    from breastlab.evaluate.stats import tables

    score = args.score[0] if args.score else None
    df = tables.bootstrap_table(
        tables.read_csv(args.csv),
        args.truth,
        score,
        args.metric or ["auc"],
        args.pred,
        args.threshold,
        args.patient,
        args.n_boot,
        args.conf_level,
        not args.no_stratify,
        args.seed,
        args.direction,
    )
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
    res = reader_study(
        tables.read_csv(csv),
        threshold=args.threshold,
        kappa_weights=args.kappa_weights,
        time_unit=args.time_unit,
        conf_level=args.conf_level,
        ai_group=args.ai_group,
    )
    out = res.write(args.out or f"{csv.stem}_reader_study")  # in the working folder, never beside the input
    print(res.format())
    print(f"\nwrote {out}/ (one CSV per table, reader_study.json, reader_study.docx)")
    return 0


def _cmd_stats_simulate_readers(args: argparse.Namespace) -> int:
    from breastlab._io import write_table
    from breastlab.evaluate.stats import simulate_reader_study

    df = simulate_reader_study(
        n_cases=args.cases,
        readers_per_group=args.readers_per_group,
        score=args.scale,
        seed=args.seed,
        ai_skill=args.ai_skill,
    )
    write_table(df, args.out)
    print(f"wrote {args.out}: {len(df)} readings, {df['case_id'].nunique()} cases, {df['reader'].nunique()} readers")
    return 0


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
    p.add_argument(
        "--fom",
        choices=("auc", "sensitivity", "specificity", "pauc", "binormal_auc"),
        default="auc",
        help="figure of merit (sensitivity/specificity need --threshold, pauc --partial)",
    )
    p.add_argument("--threshold", type=float, default=None, help="rating >= threshold is a positive call")
    p.add_argument("--partial", default=None, help="with --fom pauc: low,high of --focus, e.g. 0.8,1")
    p.add_argument(
        "--focus", choices=("specificity", "sensitivity"), default="specificity", help="axis of the --partial range"
    )
    p.add_argument(
        "--cov",
        choices=("delong", "jackknife"),
        default=None,
        help="case covariance (default: delong for auc, jackknife otherwise)",
    )
    p.add_argument("--alpha", type=open_fraction, default=0.05, help=ALPHA_HELP)
    p.add_argument("--json", default=None, help="write the full result as JSON here")
    p.add_argument("--csv", default=None, help="write the per-reader table as CSV here")
    p.add_argument(
        "--out", metavar="DIR", default=None, help="write the full result as DIR/mrmc.json, readers as DIR/readers.csv"
    )
    p.set_defaults(func=_cmd_stats_mrmc)
    _add_stats_froc(stats_sub)
    _add_stats_mrmc_power(stats_sub)


def _cmd_stats_mrmc(args: argparse.Namespace) -> int:
    from breastlab._table import emit
    from breastlab.evaluate.mrmc import or_hillis, read_reader_study

    res = or_hillis(
        read_reader_study(args.table),
        reader=args.reader,
        treatment=args.treatment,
        case=args.case,
        truth=args.truth,
        rating=args.rating,
        fom=args.fom,
        cov=args.cov,
        threshold=args.threshold,
        alpha=args.alpha,
        treatments=args.treatments.split(",") if args.treatments else None,
        partial=_float_pair(args.partial, "--partial") if args.partial else None,
        focus=args.focus,
    )
    print(res.summary(include_readers=False) + "\n")
    emit(
        res.reader_table(),
        f"Per-reader {res.fom_label} ({100 * (1 - args.alpha):g}% CI, fixed readers)",
        csv_path=args.csv or (f"{args.out}/readers.csv" if args.out else None),
        json_path=args.json or (f"{args.out}/mrmc.json" if args.out else None),
        extra=res.to_dict(),
    )
    return 0


def _add_stats_froc(stats_sub: argparse._SubParsersAction) -> None:
    p = stats_sub.add_parser(
        "froc",
        help="free-response (FROC) reader study: JAFROC figures of merit and OR-Hillis analysis (as RJafroc)",
        description="FROC analysis of a JAFROC workbook (sheets TRUTH, NL/FP, LL/TP) or a folder of TRUTH.csv, "
        "NL.csv, LL.csv: figures of merit per reader and treatment, random-reader random-case, fixed-reader and "
        "fixed-case OR-Hillis tests, every treatment difference (first minus second in --treatments order).",
    )
    p.add_argument(
        "study",
        metavar="WORKBOOK.xlsx|DIR|MARKS.csv",
        help="JAFROC workbook, CSV folder, or a long table of marks (reader, condition, case_id, lesion_id, score) "
        "with --lesions",
    )
    p.add_argument("--lesions", default=None, help="with a marks table: case_id, lesion_id (0: none), weight")
    p.add_argument(
        "--fom",
        default="wafroc",
        help="wAFROC (default), AFROC, wAFROC1, AFROC1, HrAuc, HrSe, HrSp, MaxLLF, MaxNLF, MaxNLFAllCases",
    )
    p.add_argument("--cov", choices=("jackknife", "bootstrap"), default="jackknife", help="case covariance")
    p.add_argument("--n-boot", type=int_at_least(2), default=200, help="bootstrap samples (--cov bootstrap)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (--cov bootstrap)")
    p.add_argument("--treatments", default=None, help="comma-separated modalities and their order, e.g. AI,unaided")
    p.add_argument("--readers", default=None, help="comma-separated readers to keep")
    p.add_argument("--alpha", type=open_fraction, default=0.05, help=ALPHA_HELP)
    p.add_argument("--out", default=None, help="output folder (default: ./<name>_froc)")
    p.add_argument("--json", default=None, help="also write the full result as JSON here")
    p.add_argument(
        "--standalone",
        default=None,
        metavar="READER",
        help="compare this reader (e.g. AI) with the other readers in one treatment (--treatments T) instead",
    )
    p.add_argument(
        "--order",
        choices=("AI,readers", "readers,AI"),
        default="AI,readers",
        help="with --standalone: the difference is first minus second (default: AI,readers, AI minus readers)",
    )
    p.add_argument("--plots", action="store_true", help="also write FROC, AFROC and wAFROC curve PNGs and points")
    p.set_defaults(func=_cmd_stats_froc)


def _cmd_stats_froc(args: argparse.Namespace) -> int:
    from pathlib import Path

    from breastlab._io import write_json
    from breastlab.evaluate.froc import or_froc

    src = Path(args.study)
    data = _read_froc_study(src, args.lesions)
    if args.standalone:
        return _froc_standalone(args, data, src)
    res = or_froc(
        data,
        fom=args.fom,
        cov=args.cov,
        n_boot=args.n_boot,
        seed=args.seed,
        treatments=args.treatments.split(",") if args.treatments else None,
        readers=args.readers.split(",") if args.readers else None,
        alpha=args.alpha,
    )
    out = res.write(args.out or f"{src.stem}_froc", name="froc")  # in the working folder, never beside the input
    if args.json:
        write_json(res.to_dict(), args.json)
    print(res.summary())
    print(f"\nwrote {out}/ (froc.json, froc_summary.txt, froc_foms.csv and one CSV per table)")
    if args.plots:
        _froc_plots(data, out, list(res.treatments), list(res.readers))
    return 0


def _froc_plots(data, out, treatments: list[str], readers: list[str]) -> None:
    from breastlab._io import write_table
    from breastlab.evaluate.froc.curves import froc_curves, plot_froc_curves

    for kind in ("froc", "afroc", "wafroc"):
        plot_froc_curves(data, out / f"{kind}_curves.png", kind, treatments=treatments, readers=readers)
        write_table(froc_curves(data, kind, treatments=treatments, readers=readers), out / f"{kind}_curves.csv")
    print(f"wrote {out}/{{froc,afroc,wafroc}}_curves.png and their points (.csv)")


def _add_stats_mrmc_power(stats_sub: argparse._SubParsersAction) -> None:
    p = stats_sub.add_parser(
        "mrmc-power",
        help="power and sample size of a planned MRMC study from a pilot (Hillis, Obuchowski & Berbaum 2011)",
        description="Pilot: a long reader-study table (ROC ratings) or a JAFROC workbook / CSV folder (FROC). "
        "Its OR variance components (jackknife) give the power of a planned 2-treatment study for every "
        "readers x cases pair of the grid, under random-reader random-case (RRRC), fixed-reader (FRRC) and "
        "fixed-case (RRFC) analyses, and the number of cases needed for --power.",
    )
    p.add_argument("pilot", help="pilot study: .csv/.tsv/.parquet long table, or .xlsx / folder in JAFROC format")
    p.add_argument("--effect", type=float, default=None, help="difference to detect (default: the pilot's)")
    p.add_argument("--treatments", default=None, help="the two treatments, first,second (difference first - second)")
    p.add_argument("--fom", default=None, help="figure of merit (ROC: auc; FROC: wafroc)")
    p.add_argument("--readers", default="4,6,8,10,12", help="comma-separated numbers of readers")
    p.add_argument("--cases", default="50,100,150,200,300,400,500", help="comma-separated numbers of cases")
    p.add_argument("--power", type=open_fraction, default=0.8, help="target power for the sample-size column")
    p.add_argument("--alpha", type=open_fraction, default=0.05, help="significance level of the planned test")
    p.add_argument(
        "--out", metavar="DIR", default=None, help="write the grid as DIR/power_grid.csv and the JSON as DIR/power.json"
    )
    p.add_argument("--json", default=None, help="write grid, sample sizes and pilot components as JSON here")
    p.set_defaults(func=_cmd_stats_mrmc_power)


def _int_list(text: str, flag: str) -> list[int]:
    from breastlab.errors import BreastlabInputError

    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise BreastlabInputError(f"{flag} must be comma-separated integers, got {text!r}") from None


def _cmd_stats_mrmc_power(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    import pandas as pd

    from breastlab._table import emit
    from breastlab.evaluate.mrmc import or_hillis, read_reader_study
    from breastlab.evaluate.mrmc.power import ANALYSES, PilotVariance, mrmc_sample_size, power_table

    src = Path(args.pilot)
    trts = args.treatments.split(",") if args.treatments else None
    if src.is_dir() or src.suffix.lower() in (".xlsx", ".xlsm"):
        from breastlab.evaluate.froc import or_froc, read_jafroc

        res = or_froc(read_jafroc(src), fom=args.fom or "wafroc", treatments=trts)
    else:
        res = or_hillis(read_reader_study(src), fom=args.fom or "auc", cov="jackknife", treatments=trts)
    pilot = PilotVariance.from_result(res)
    effect = args.effect if args.effect is not None else float(res.differences.estimate.iloc[0])
    readers, cases = _int_list(args.readers, "--readers"), _int_list(args.cases, "--cases")
    grid = power_table(pilot, effect, readers, cases, alpha=args.alpha)
    sizes = []
    for j in readers:
        row = {"readers": j}
        for analysis in ANALYSES:
            k, pw = mrmc_sample_size(pilot, effect, j, power=args.power, alpha=args.alpha, analysis=analysis)
            row[f"cases_{analysis}"] = k
            row[f"power_{analysis}"] = pw
        sizes.append(row)
    sizes = pd.DataFrame(sizes)
    print(
        f"Pilot: {res.fom_label}, {len(res.readers)} readers, {pilot.n_cases} cases, "
        f"treatments {res.treatments[0]} - {res.treatments[1]} = {res.differences.estimate.iloc[0]:+.4f}; "
        f"var_TR = {pilot.var_tr:.3g}, Var = {pilot.var_error:.3g}, Cov1 = {pilot.cov1:.3g}, "
        f"Cov2 = {pilot.cov2:.3g}, Cov3 = {pilot.cov3:.3g} (jackknife)"
    )
    print(f"Effect size to detect: {effect:+.4f} (first minus second), alpha {args.alpha:g}\n")
    emit(
        grid,
        "Power (RRRC: random readers and cases; FRRC: fixed readers; RRFC: fixed cases)",
        csv_path=f"{args.out}/power_grid.csv" if args.out else None,
    )
    print()
    emit(
        sizes,
        f"Cases needed for power >= {args.power:g} (empty: not reachable with these readers)",
        json_path=args.json or (f"{args.out}/power.json" if args.out else None),
        extra={
            "pilot": dataclasses.asdict(pilot),
            "effect": effect,
            "alpha": args.alpha,
            "grid": grid.to_dict(orient="records"),
            "method": "Hillis, Obuchowski & Berbaum 2011 (as RJafroc SsPowerGivenJK)",
        },
    )
    return 0


def _froc_standalone(args: argparse.Namespace, data, src) -> int:
    from breastlab._io import write_json
    from breastlab.errors import BreastlabInputError
    from breastlab.evaluate.froc import standalone_vs_readers

    trts = args.treatments.split(",") if args.treatments else [None]
    if len(trts) != 1:
        raise BreastlabInputError(f"--standalone compares within one treatment; --treatments gave {trts}")
    if args.readers:
        data = data.subset(readers=list(dict.fromkeys([args.standalone, *args.readers.split(",")])))
    res = standalone_vs_readers(
        data,
        args.standalone,
        fom=args.fom,
        treatment=trts[0],
        order=tuple(args.order.split(",")),
        cov=args.cov,
        alpha=args.alpha,
        n_boot=args.n_boot,
        seed=args.seed,
    )
    out = res.write(args.out or f"{src.stem}_froc", name="standalone")
    if args.json:
        write_json(res.to_dict(), args.json)
    print(res.summary())
    print(
        f"\nwrote {out}/ (standalone.json, standalone_summary.txt, standalone_analyses.csv, standalone_reader_foms.csv)"
    )
    return 0


def _float_pair(text: str, flag: str) -> tuple[float, float]:
    from breastlab.errors import BreastlabInputError

    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise BreastlabInputError(f"{flag} must be two numbers low,high, got {text!r}") from None
    return lo, hi


def _read_froc_study(src, lesions: str | None):
    from breastlab.errors import BreastlabInputError
    from breastlab.evaluate.froc import froc_from_marks, read_jafroc
    from breastlab.evaluate.mrmc import read_reader_study

    if src.is_file() and src.suffix.lower() in (".csv", ".tsv", ".parquet"):
        if not lesions:
            raise BreastlabInputError(f"{src.name} is a marks table: give its cases and lesions with --lesions")
        return froc_from_marks(read_reader_study(src), read_reader_study(lesions))
    return read_jafroc(src)
