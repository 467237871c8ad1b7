"""Analysis of a DNN-assisted reader study from one long table (one row per reading).

Input columns: ``case_id``, ``truth`` (0/1), ``reader``, ``reader_group`` (e.g.
junior/senior), ``condition`` (e.g. unaided/aided), ``finding`` (e.g. mass,
calcification, asymmetry, distortion; empty for cases without a finding),
``score`` (BI-RADS category or probability; higher = more suspicious) and
optionally ``reading_time_s``.

Unit of analysis: a group's score for a case is the mean score of the group's
readers for that case in that condition (a consensus reading); the AUCs of one
group in two conditions, or of two groups in one condition, are then AUCs of
paired scores on the same cases and are compared with DeLong's paired test.
Readers are treated as fixed: for inference that generalises to other readers
use the MRMC analysis (``breastlab.evaluate.mrmc``), whose table goes into
``ReaderStudyResult.mrmc``.

Tables:

1. ``performance``: per finding ("all" first) x group x condition: cases, AUC
   (95% CI, DeLong), SE, p against AUC = 0.5, and sensitivity and specificity at
   each reader's own Youden cut-off (Youden 1950) on the rating scale used
   (``cutoff`` lists them, e.g. ">=4 (2), >=3 (1)": BI-RADS 4 or higher called
   positive by two readers), or at a fixed ``threshold`` if given. Sensitivity and
   specificity pool the group's readings (TP, FN, TN, FP summed over readers) with
   Clopper-Pearson exact 95% CIs. With a standalone AI (rows whose ``reader_group``
   is ``ai_group``, default "AI"), its rows come last in each finding (group "AI",
   condition "standalone").
2. ``comparisons``: DeLong paired tests per finding: each group's conditions
   (e.g. junior unaided vs aided), each condition's groups (e.g. senior vs junior)
   and the AI against every group in every condition (AI - group). Each row says
   which AUC is subtracted from which (``difference = auc1 - auc2``).
3. ``agreement``: Cohen's kappa between every two readers of a group, per
   condition and per finding ("all" first; a finding's cases plus the shared
   controls), on their scores (BI-RADS categories) or, for non-integer scores,
   on calls at the group's Youden cut-off.
4. ``reading_time``: per group (and all readers), Wilcoxon signed-rank test of
   reading times between the two conditions with median (min–max); pairs are
   cases (time averaged over the group's readers) or, with ``time_unit="reading"``,
   reader-case pairs.

Also ``per_reader``: each reader's AUC (95% CI) per condition (all findings), with
the reader's Youden cut-off on the rating scale and its sensitivity and specificity.

Printed and Word tables (``format()``, ``write()``'s ``reader_study.docx``, made with
python-docx) show one number of decimals per column, integers as integers,
sensitivity and specificity as percentages with CIs, and p-values below 0.001 as
"<0.001"; the CSVs and the JSON keep the exact values.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from breastlab._table import format_ci, format_p
from breastlab.errors import BreastlabInputError
from breastlab.evaluate.stats._validate import DegenerateCIWarning
from breastlab.evaluate.stats.agreement import cohen_kappa
from breastlab.evaluate.stats.delong import ci_auc, delong_test
from breastlab.evaluate.stats.operating import youden
from breastlab.evaluate.stats.paired import wilcoxon_signed_rank

REQUIRED = ("case_id", "truth", "reader", "reader_group", "condition", "finding", "score")
AI_CONDITION = "standalone"
NO_FINDING = ("", "none", "normal", "nan", "na")
ALL = "all"
_TABLES = ("performance", "comparisons", "agreement", "reading_time", "per_reader")  # mrmc: optional


@dataclasses.dataclass
class ReaderStudyResult:
    """The tables of a reader study; ``mrmc`` is left for the MRMC analysis to fill."""

    performance: pd.DataFrame
    comparisons: pd.DataFrame
    agreement: pd.DataFrame
    reading_time: pd.DataFrame
    per_reader: pd.DataFrame
    groups: list[str]
    conditions: list[str]
    findings: list[str]
    mrmc: pd.DataFrame | None = None  # filled by breastlab.evaluate.mrmc (Obuchowski-Rockette / DBM)
    notes: list[str] = dataclasses.field(default_factory=list)

    TITLES = {
        "performance": "Table 1. Diagnostic performance per finding, reader group and condition (AUC: DeLong 95% CI; "
        "sensitivity/specificity: readers pooled at their own cut-offs, Clopper-Pearson 95% CI)",
        "comparisons": "Table 2. DeLong tests of paired AUCs (difference = first minus second AUC, as named)",
        "agreement": "Table 3. Inter-reader agreement (Cohen's kappa)",
        "reading_time": "Table 4. Reading time (s), Wilcoxon signed-rank test",
        "per_reader": "Per-reader AUC and Youden cut-off on the rating scale",
        "mrmc": "MRMC analysis (random readers and cases)",
    }

    def tables(self) -> dict[str, pd.DataFrame]:
        out = {k: getattr(self, k) for k in _TABLES}
        if self.mrmc is not None:
            out["mrmc"] = self.mrmc
        return out

    def format(self) -> str:
        from breastlab._table import format_table

        parts = [format_table(df, self.TITLES[k]) for k, df in self.journal_tables().items()]
        if self.notes:
            parts.append("Notes:\n" + "\n".join(f"- {n}" for n in self.notes))
        return "\n\n".join(parts)

    def write(self, out_dir: str | os.PathLike, *, heading: str = "Reader study", description: str = "") -> Path:
        """One CSV per table, ``reader_study.json`` (all tables and notes) and ``reader_study.docx``, each
        written atomically, then the report-section marker (``schemas.READER_STUDY_SECTION``: ``breastlab
        report OUT`` shows the study under ``heading``, with ``description`` as its first paragraph)."""
        from breastlab._io import write_json, write_table
        from breastlab.schemas import READER_STUDY_SECTION, section_marker

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        payload: dict = {
            "groups": self.groups,
            "conditions": self.conditions,
            "findings": self.findings,
            "notes": self.notes,
        }
        for name, df in self.tables().items():
            write_table(df, out / f"{name}.csv")
            payload[name] = df.astype(object).where(df.notna(), None).to_dict(orient="records")
        write_json(payload, out / "reader_study.json")
        self.write_docx(out / "reader_study.docx")
        files = {"tables": "reader_study.json", "docx": "reader_study.docx"}
        write_json(
            section_marker("reader_study", files, heading=heading, description=description),
            out / READER_STUDY_SECTION,
        )
        return out

    @classmethod
    def read(cls, path: str | os.PathLike) -> ReaderStudyResult:
        """The result :meth:`write` saved as ``reader_study.json`` (a file or the folder holding it)."""
        path = Path(path)
        path = path / "reader_study.json" if path.is_dir() else path
        try:
            payload = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise BreastlabInputError(f"{path}: not a readable reader_study.json ({exc})") from exc
        missing = [k for k in (*_TABLES, "groups", "conditions", "findings") if k not in payload]
        if missing:
            raise BreastlabInputError(f"{path}: lacks {missing}; write it with `breastlab stats reader-study`")
        frames = {k: pd.DataFrame(payload[k]) for k in _TABLES}
        mrmc = pd.DataFrame(payload["mrmc"]) if payload.get("mrmc") is not None else None
        return cls(
            **frames,
            groups=payload["groups"],
            conditions=payload["conditions"],
            findings=payload["findings"],
            mrmc=mrmc,
            notes=list(payload.get("notes", [])),
        )

    def journal_tables(self) -> dict[str, pd.DataFrame]:
        """The tables as printed: strings, one decimals count per column, p < 0.001 as "<0.001"."""
        return {k: _journal(k, df) for k, df in self.tables().items()}

    def write_docx(self, path: str | os.PathLike) -> Path:
        """The journal tables as a Word document (one titled table each, notes last), written atomically."""
        import docx

        from breastlab._io import atomic_path

        document = docx.Document()
        document.add_heading("Reader study", level=1)
        for name, table in self.journal_tables().items():
            document.add_paragraph(self.TITLES[name], style="Heading 2")
            grid = document.add_table(rows=1, cols=len(table.columns))
            grid.style = "Table Grid"
            for cell, col in zip(grid.rows[0].cells, table.columns, strict=True):
                cell.text = str(col)
            for values in table.itertuples(index=False):
                for cell, v in zip(grid.add_row().cells, values, strict=True):
                    cell.text = str(v)
        if self.notes:
            document.add_paragraph("Notes", style="Heading 2")
            for n in self.notes:
                document.add_paragraph(n, style="List Bullet")
        path = Path(path)
        with atomic_path(path) as tmp:
            document.save(str(tmp))
        return path


def _fmt_num(v, decimals: int) -> str:
    return "-" if v is None or not np.isfinite(v) else f"{v:.{decimals}f}"


def _fmt_int(v) -> str:
    return "-" if v is None or not np.isfinite(v) else str(int(round(v)))


def _fmt_est_ci(est, lo, hi, decimals: int = 3, scale: float = 1.0) -> str:
    return format_ci(est, lo, hi, decimals, scale=scale)


# Printed / Word columns per table: (header, formatter of a row). One decimals count per column.
_JOURNAL = {
    "performance": [
        ("Finding", lambda r: r["finding"]),
        ("Group", lambda r: r["group"]),
        ("Condition", lambda r: r["condition"]),
        ("Cases", lambda r: _fmt_int(r["n_pos"])),
        ("Controls", lambda r: _fmt_int(r["n_neg"])),
        ("AUC (95% CI)", lambda r: _fmt_est_ci(r["auc"], r["auc_lower"], r["auc_upper"])),
        ("P (AUC vs 0.5)", lambda r: format_p(r["p_value"])),
        ("Cut-off", lambda r: r["cutoff"]),
        ("Sensitivity, % (95% CI)", lambda r: _fmt_est_ci(r["sensitivity"], r["sens_lower"], r["sens_upper"], 1, 100)),
        ("Specificity, % (95% CI)", lambda r: _fmt_est_ci(r["specificity"], r["spec_lower"], r["spec_upper"], 1, 100)),
    ],
    "comparisons": [
        ("Finding", lambda r: r["finding"]),
        ("Comparison (first - second)", lambda r: r["comparison"]),
        ("Cases", lambda r: _fmt_int(r["n_cases"])),
        ("AUC first", lambda r: _fmt_num(r["auc1"], 3)),
        ("AUC second", lambda r: _fmt_num(r["auc2"], 3)),
        ("Difference (95% CI)", lambda r: _fmt_est_ci(r["difference"], r["diff_lower"], r["diff_upper"])),
        ("z", lambda r: _fmt_num(r["z"], 2)),
        ("P", lambda r: format_p(r["p_value"])),
    ],
    "agreement": [
        ("Finding", lambda r: r["finding"]),
        ("Group", lambda r: r["group"]),
        ("Condition", lambda r: r["condition"]),
        ("Reader 1", lambda r: r["reader1"]),
        ("Reader 2", lambda r: r["reader2"]),
        ("Cases", lambda r: _fmt_int(r["n"])),
        ("Kappa (95% CI)", lambda r: _fmt_est_ci(r["kappa"], r["kappa_lower"], r["kappa_upper"], 2)),
        ("P", lambda r: format_p(r["p_value"])),
        ("Agreement", lambda r: r["strength"]),
    ],
    "reading_time": [
        ("Group", lambda r: r["group"]),
        ("Pairs", lambda r: _fmt_int(r["n_pairs"])),
        ("First", lambda r: r["first"]),
        ("Median (min–max), first", lambda r: _fmt_median(r, "first")),
        ("Second", lambda r: r["second"]),
        ("Median (min–max), second", lambda r: _fmt_median(r, "second")),
        ("W", lambda r: _fmt_num(r["statistic"], 1)),
        ("P", lambda r: format_p(r["p_value"])),
    ],
    "per_reader": [
        ("Reader", lambda r: r["reader"]),
        ("Group", lambda r: r["group"]),
        ("Condition", lambda r: r["condition"]),
        ("Cases", lambda r: _fmt_int(r["n_cases"])),
        ("AUC (95% CI)", lambda r: _fmt_est_ci(r["auc"], r["auc_lower"], r["auc_upper"])),
        ("Cut-off", lambda r: r["cutoff"]),
        ("Sensitivity, % (95% CI)", lambda r: _fmt_est_ci(r["sensitivity"], r["sens_lower"], r["sens_upper"], 1, 100)),
        ("Specificity, % (95% CI)", lambda r: _fmt_est_ci(r["specificity"], r["spec_lower"], r["spec_upper"], 1, 100)),
    ],
}


def _fmt_median(r, which: str) -> str:
    med, lo, hi = r[f"median_{which}"], r[f"min_{which}"], r[f"max_{which}"]
    return "-" if not np.isfinite(med) else f"{med:.1f} ({lo:.1f}–{hi:.1f})"


def _journal_generic(df: pd.DataFrame) -> pd.DataFrame:
    """Tables without a layout here (e.g. the MRMC table): integers as integers, p-values as
    "<0.001", other numbers with three decimals."""
    out = pd.DataFrame(index=df.index)
    for c in df.columns:
        col = df[c]
        if pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
            out[c] = col.astype(object).where(col.notna(), "-").astype(str)
        elif pd.api.types.is_integer_dtype(col):
            out[c] = col.map(_fmt_int)
        elif c.startswith("p_") or c.endswith("p_value") or c == "p":
            out[c] = col.map(format_p)
        else:
            out[c] = col.map(lambda v: _fmt_num(v, 3))
    return out.reset_index(drop=True)


def _journal(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """A table as a journal prints it (strings); the exact values stay in the CSV and JSON."""
    layout = _JOURNAL.get(name)
    if layout is None:
        return _journal_generic(df)
    rows = [{header: fn(r) for header, fn in layout} for r in df.to_dict(orient="records")]
    return pd.DataFrame(rows, columns=[h for h, _ in layout])


def _fmt_ci(est: float, lo: float, hi: float) -> str:
    return format_ci(est, lo, hi)


def _order(values: pd.Series, given: Sequence[str] | None, name: str) -> list[str]:
    present = list(dict.fromkeys(values.astype(str)))
    if given is None:
        lower = [v.lower() for v in present]
        if set(lower) == {"unaided", "aided"}:
            return [present[lower.index("unaided")], present[lower.index("aided")]]
        return sorted(present)
    missing = [g for g in given if g not in present]
    if missing:
        raise BreastlabInputError(f"{name} {missing} not found in the data (present: {present})")
    return list(given)


def _validate(df: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise BreastlabInputError(
            f"reader-study table lacks column(s) {missing}; it has {[str(c) for c in df.columns]}, "
            f"needs {list(REQUIRED)}"
        )
    d = df.copy()
    for col in ("case_id", "reader", "reader_group", "condition"):
        if d[col].isna().any():
            raise BreastlabInputError(f"column {col!r} has {int(d[col].isna().sum())} empty value(s)")
        d[col] = d[col].astype(str)
    d["finding"] = d["finding"].astype("string").fillna("").str.strip()
    d.loc[d["finding"].str.lower().isin(NO_FINDING), "finding"] = ""
    d["finding"] = d["finding"].astype(str)
    truth = pd.to_numeric(d["truth"], errors="coerce")
    if truth.isna().any() or not truth.isin([0, 1]).all():
        bad = d.loc[truth.isna() | ~truth.isin([0, 1]), "case_id"].iloc[0]
        raise BreastlabInputError(f"column 'truth' must be 0 or 1 (case {bad!r} is not)")
    d["truth"] = truth.astype(int)
    score = pd.to_numeric(d["score"], errors="coerce")
    if not np.isfinite(score.to_numpy(dtype=float)).all():
        bad = d.loc[~np.isfinite(score.to_numpy(dtype=float)), ["case_id", "reader"]].iloc[0].tolist()
        raise BreastlabInputError(f"column 'score' must be a finite number (case {bad[0]!r}, reader {bad[1]!r})")
    d["score"] = score.astype(float)
    per_case = d.groupby("case_id")["truth"].nunique()
    if (per_case > 1).any():
        raise BreastlabInputError(f"case {per_case[per_case > 1].index[0]!r} has different truth values across rows")
    per_case_f = d.groupby("case_id")["finding"].nunique()
    if (per_case_f > 1).any():
        raise BreastlabInputError(f"case {per_case_f[per_case_f > 1].index[0]!r} has different findings across rows")
    per_reader = d.groupby("reader")["reader_group"].nunique()
    if (per_reader > 1).any():
        raise BreastlabInputError(f"reader {per_reader[per_reader > 1].index[0]!r} belongs to several reader groups")
    dup = d.duplicated(["case_id", "reader", "condition"])
    if dup.any():
        row = d.loc[dup, ["case_id", "reader", "condition"]].iloc[0].tolist()
        raise BreastlabInputError(f"case {row[0]!r} was read twice by reader {row[1]!r} in condition {row[2]!r}")
    if "reading_time_s" in d.columns:
        d["reading_time_s"] = pd.to_numeric(d["reading_time_s"], errors="coerce")
    return d


def _check_crossed_within_groups(d: pd.DataFrame) -> None:
    """Every reader of a group reads the same cases in every condition of the group.

    A group's score for a case is the mean of its readers' scores: with readers who read
    different cases (or a case in one condition only) that mean would mix readers from case
    to case and condition to condition. Groups may read different case sets (a split-plot
    design over groups): group comparisons then use the cases both read (``n_cases``).
    """
    for group, sub in d.groupby("reader_group", sort=True):
        readers, cases = sorted(sub["reader"].unique()), sorted(sub["case_id"].unique())
        conditions = sorted(sub["condition"].unique())
        if len(sub) == len(readers) * len(cases) * len(conditions):
            continue  # rows are unique per (case, reader, condition): the cross is complete
        read = set(zip(sub["reader"], sub["condition"], sub["case_id"], strict=True))
        reader, condition, case = next(
            (r, k, c) for r in readers for k in conditions for c in cases if (r, k, c) not in read
        )
        raise BreastlabInputError(
            f"reader {reader!r} (group {group!r}) has no reading of case {case!r} in condition {condition!r}, "
            f"which other {group!r} readings cover: {len(readers) * len(cases) * len(conditions) - len(sub)} of "
            f"{len(readers)} readers x {len(cases)} cases x {len(conditions)} conditions are missing. A group's "
            "score is the mean of its readers, so every reader of a group must read the same cases in every "
            "condition (groups may read different cases)"
        )


def _subset(cases: pd.DataFrame, finding: str) -> pd.Index:
    """Cases of a finding plus the cases without a finding (controls shared by every finding)."""
    if finding == ALL:
        return cases.index
    return cases.index[(cases["finding"] == finding) | (cases["finding"] == "")]


def clopper_pearson(k: int, n: int, conf_level: float = 0.95) -> tuple[float, float]:
    """Exact binomial CI of k / n (Clopper & Pearson, Biometrika 1934;26:404-413)."""
    from scipy.stats import beta

    if n == 0:
        return math.nan, math.nan
    a = 1.0 - conf_level
    lo = 0.0 if k == 0 else float(beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


def _rating_cutoff(scores: np.ndarray, threshold: float) -> float:
    """The lowest rating called positive at ``threshold`` (positive when score >= threshold)."""
    called = scores[scores >= threshold]
    return float(called.min()) if called.size else math.inf


def _reader_calls(wide: pd.DataFrame | None, truth: pd.Series, threshold: float | None, conf_level: float) -> dict:
    """Sensitivity and specificity pooled over readers, each at their own Youden cut-off (or ``threshold``).

    ``wide``: case x reader scores. The cut-off is reported on the rating scale: the
    lowest rating each reader calls positive ("≥4"), counted over readers.
    """
    counts = {"tp": 0, "fn": 0, "tn": 0, "fp": 0}
    cuts: list[float] = []
    for reader in [] if wide is None else wide.columns:
        col = wide[reader].dropna()
        y = truth.loc[col.index].to_numpy()
        if threshold is None:
            point, _ = _safe(youden, y, col.to_numpy())
            if point is None:
                continue
            t = point.threshold
        else:
            t = threshold
        pos = col.to_numpy() >= t
        cuts.append(_rating_cutoff(col.to_numpy(), t))
        counts["tp"] += int((pos & (y == 1)).sum())
        counts["fn"] += int((~pos & (y == 1)).sum())
        counts["tn"] += int((~pos & (y == 0)).sum())
        counts["fp"] += int((pos & (y == 0)).sum())
    n_pos, n_neg = counts["tp"] + counts["fn"], counts["tn"] + counts["fp"]
    se = counts["tp"] / n_pos if n_pos else math.nan
    sp = counts["tn"] / n_neg if n_neg else math.nan
    se_lo, se_hi = clopper_pearson(counts["tp"], n_pos, conf_level)
    sp_lo, sp_hi = clopper_pearson(counts["tn"], n_neg, conf_level)
    tally = pd.Series(cuts, dtype=float).value_counts().sort_index(ascending=False)
    if threshold is not None:
        label = f"≥{threshold:g} (fixed)"
    elif len(cuts) == 1:
        label = f"≥{cuts[0]:g}"
    else:
        label = ", ".join(f"≥{v:g} ({n})" for v, n in tally.items()) or "-"
    return {
        "cutoff": label,
        "sensitivity": se,
        "sens_lower": se_lo,
        "sens_upper": se_hi,
        "specificity": sp,
        "spec_lower": sp_lo,
        "spec_upper": sp_hi,
        **counts,
    }


def _safe(fn, *args, **kwargs):
    """Run a statistic; bad subsets (too few cases per class) give None and a note."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateCIWarning)
            return fn(*args, **kwargs), None
    except BreastlabInputError as exc:
        return None, str(exc)


def reader_study(
    df: pd.DataFrame,
    *,
    groups: Sequence[str] | None = None,
    conditions: Sequence[str] | None = None,
    threshold: float | None = None,
    kappa_weights: str | None = None,
    time_unit: str = "case",
    conf_level: float = 0.95,
    ai_group: str | None = "AI",
) -> ReaderStudyResult:
    """Analyse a long reader-study table (see the module docstring for inputs and tables).

    ``groups`` / ``conditions`` fix their order (default: sorted groups;
    "unaided" before "aided", else sorted); comparisons are "later vs earlier"
    for groups (senior vs junior) and "first vs second" for conditions
    (unaided vs aided), differences AUC1 - AUC2. ``threshold`` reports
    sensitivity/specificity at a fixed cut-off (e.g. 3.5: BI-RADS >= 4) instead of
    the Youden cut-off. ``kappa_weights``: None, "linear" or "quadratic".
    ``ai_group``: the ``reader_group`` value of standalone AI readings (matched
    without regard to case; None: no AI), analysed as its own row and compared with
    every reader group (DeLong, paired on the cases both read).
    """
    if time_unit not in ("case", "reading"):
        raise BreastlabInputError(f"time_unit must be 'case' or 'reading', got {time_unit!r}")
    d = _validate(df)
    is_ai = d["reader_group"].str.lower() == ai_group.lower() if ai_group else pd.Series(False, index=d.index)
    ai, d = d[is_ai], d[~is_ai]
    if d.empty:
        raise BreastlabInputError("the reader-study table holds no readings by human readers (only AI rows)")
    groups = _order(d["reader_group"], groups, "reader_group")
    conditions = _order(d["condition"], conditions, "condition")
    _check_crossed_within_groups(d)
    cases = d.groupby("case_id")[["truth", "finding"]].first()
    findings = sorted(f for f in cases["finding"].unique() if f)
    notes: list[str] = []
    # wide table of group-consensus scores: index case, columns (group, condition)
    mean_scores = d.pivot_table(index="case_id", columns=["reader_group", "condition"], values="score", aggfunc="mean")
    wides = {
        key: sub.pivot(index="case_id", columns="reader", values="score")
        for key, sub in d.groupby(["reader_group", "condition"])
    }
    cells = [(g, c) for g in groups for c in conditions]
    if not ai.empty:
        ai_key = (str(ai["reader_group"].iloc[0]), AI_CONDITION)
        mean_scores[ai_key] = ai.groupby("case_id")["score"].mean().reindex(mean_scores.index)
        wides[ai_key] = ai.pivot_table(index="case_id", columns="reader", values="score", aggfunc="mean")
        cells.append(ai_key)
    perf, comps = [], []
    truth = cases["truth"]
    for finding in [ALL, *findings]:
        idx = _subset(cases, finding)
        for g, c in cells:
            wide = wides.get((g, c))
            wide = None if wide is None else wide.loc[wide.index.intersection(idx)]
            perf.append(
                _performance_row(cases, mean_scores, idx, finding, g, c, wide, truth, threshold, conf_level, notes)
            )
        comps.extend(_comparisons(cases, mean_scores, idx, finding, groups, conditions, conf_level, notes))
        if not ai.empty:
            comps.extend(_ai_comparisons(cases, mean_scores, idx, finding, ai_key, cells[:-1], conf_level, notes))
    result = ReaderStudyResult(
        performance=pd.DataFrame(perf),
        comparisons=pd.DataFrame(comps),
        agreement=_agreement(d, cases, findings, groups, conditions, kappa_weights, conf_level, notes),
        reading_time=_reading_time(d, groups, conditions, time_unit, notes),
        per_reader=_per_reader(d, cases, groups, conditions, threshold, conf_level, notes),
        groups=groups,
        conditions=conditions,
        findings=findings,
        notes=notes,
    )
    result.mrmc = _mrmc(d, conditions, notes)
    return result


def _scores(cases, mean_scores, idx, g, c):
    col = (g, c)
    if col not in mean_scores.columns:
        return None, None
    s = mean_scores.loc[idx, col].dropna()
    return cases.loc[s.index, "truth"].to_numpy(), s.to_numpy()


def _performance_row(cases, mean_scores, idx, finding, g, c, wide, truth, threshold, conf_level, notes) -> dict:
    y, s = _scores(cases, mean_scores, idx, g, c)
    row = {
        "finding": finding,
        "group": g,
        "condition": c,
        "n_pos": int(y.sum()) if y is not None else 0,
        "n_neg": int((1 - y).sum()) if y is not None else 0,
    }
    ci, err = _safe(ci_auc, y, s, conf_level=conf_level) if y is not None else (None, "no readings")
    calls = _reader_calls(wide, truth, threshold, conf_level)
    if ci is None:
        notes.append(f"{finding}/{g}/{c}: no AUC ({err})")
        return {
            **row,
            "auc": math.nan,
            "auc_lower": math.nan,
            "auc_upper": math.nan,
            "se": math.nan,
            "p_value": math.nan,
            "auc_ci": "-",
            **calls,
        }
    return {
        **row,
        "auc": ci.auc,
        "auc_lower": ci.lower,
        "auc_upper": ci.upper,
        "se": ci.se,
        "p_value": ci.p_value,
        "auc_ci": _fmt_ci(ci.auc, ci.lower, ci.upper),
        **calls,
    }


def _ai_comparisons(cases, mean_scores, idx, finding, ai_key, cells, conf_level, notes) -> list[dict]:
    """DeLong paired tests of the standalone AI against every group and condition (AI - group)."""
    return _delong_rows(
        cases, mean_scores, idx, finding, [(f"AI vs {g} ({c})", ai_key, (g, c)) for g, c in cells], conf_level, notes
    )


def _comparisons(cases, mean_scores, idx, finding, groups, conditions, conf_level, notes) -> list[dict]:
    pairs = []
    for g in groups:  # e.g. junior: unaided vs aided
        for c1, c2 in itertools.combinations(conditions, 2):
            pairs.append((f"{g}: {c1} vs {c2}", (g, c1), (g, c2)))
    for c in reversed(conditions):  # e.g. aided: senior vs junior, then unaided
        for g1, g2 in itertools.combinations(groups, 2):
            pairs.append((f"{c}: {g2} vs {g1}", (g2, c), (g1, c)))
    return _delong_rows(cases, mean_scores, idx, finding, pairs, conf_level, notes)


def _delong_rows(cases, mean_scores, idx, finding, pairs, conf_level, notes) -> list[dict]:
    rows = []
    for label, a, b in pairs:
        if a not in mean_scores.columns or b not in mean_scores.columns:
            continue
        both = mean_scores.loc[idx, [a, b]].dropna()
        y = cases.loc[both.index, "truth"].to_numpy()
        t, err = _safe(delong_test, y, both[a].to_numpy(), both[b].to_numpy(), conf_level=conf_level)
        row = {"finding": finding, "comparison": label, "n_cases": len(both)}
        if t is None:
            notes.append(f"{finding}/{label}: no test ({err})")
            rows.append(
                {
                    **row,
                    "auc1": math.nan,
                    "auc2": math.nan,
                    "difference": math.nan,
                    "diff_lower": math.nan,
                    "diff_upper": math.nan,
                    "diff_ci": "-",
                    "z": math.nan,
                    "p_value": math.nan,
                }
            )
            continue
        rows.append(
            {
                **row,
                "auc1": t.auc1,
                "auc2": t.auc2,
                "difference": t.difference,
                "diff_lower": t.ci_lower,
                "diff_upper": t.ci_upper,
                "diff_ci": _fmt_ci(t.difference, t.ci_lower, t.ci_upper),
                "z": t.statistic,
                "p_value": t.p_value,
            }
        )
    return rows


def _agreement(d, cases, findings, groups, conditions, weights, conf_level, notes) -> pd.DataFrame:
    integer = bool(np.all(d["score"].to_numpy() == np.round(d["score"].to_numpy())))
    if not integer:
        notes.append("agreement: scores are not categories; kappa is computed on calls at the group's Youden cut-off")
    rows = []
    for g in groups:
        readers = sorted(d.loc[d["reader_group"] == g, "reader"].unique())
        for c in conditions:
            wide = d[(d["reader_group"] == g) & (d["condition"] == c)].pivot(
                index="case_id", columns="reader", values="score"
            )
            if not integer:
                consensus = wide.mean(axis=1)
                yp, _ = _safe(youden, cases.loc[consensus.index, "truth"].to_numpy(), consensus.to_numpy())
                cut = yp.threshold if yp is not None else 0.5
                wide = (wide >= cut).astype(float).where(wide.notna())
            reader_pairs = list(itertools.combinations(readers, 2))
            for finding, (r1, r2) in itertools.product([ALL, *findings], reader_pairs):
                if r1 not in wide.columns or r2 not in wide.columns:
                    continue
                pair = wide.loc[wide.index.intersection(_subset(cases, finding)), [r1, r2]].dropna()
                k, err = _safe(
                    cohen_kappa, pair[r1].to_numpy(), pair[r2].to_numpy(), weights=weights, conf_level=conf_level
                )
                row = {"finding": finding, "group": g, "condition": c, "reader1": r1, "reader2": r2, "n": len(pair)}
                if k is None:
                    notes.append(f"agreement {finding}/{g}/{c}/{r1}-{r2}: {err}")
                    continue
                rows.append(
                    {
                        **row,
                        "kappa": k.kappa,
                        "se": k.se,
                        "kappa_lower": k.lower,
                        "kappa_upper": k.upper,
                        "kappa_ci": _fmt_ci(k.kappa, k.lower, k.upper),
                        "p_value": k.p_value,
                        "strength": k.strength,
                        "weights": k.weights,
                    }
                )
    out = pd.DataFrame(
        rows,
        columns=[
            "finding",
            "group",
            "condition",
            "reader1",
            "reader2",
            "n",
            "kappa",
            "se",
            "kappa_lower",
            "kappa_upper",
            "kappa_ci",
            "p_value",
            "strength",
            "weights",
        ],
    )
    order = {f: i for i, f in enumerate([ALL, *findings])}
    return out.sort_values("finding", key=lambda col: col.map(order), kind="stable").reset_index(drop=True)


def _reading_time(d, groups, conditions, time_unit, notes) -> pd.DataFrame:
    cols = [
        "group",
        "n_pairs",
        "first",
        "second",
        "median_first",
        "median_second",
        "min_first",
        "max_first",
        "min_second",
        "max_second",
        "summary_first",
        "summary_second",
        "median_difference",
        "statistic",
        "p_value",
        "method",
    ]
    if "reading_time_s" not in d.columns or d["reading_time_s"].isna().all():
        notes.append("reading_time: no reading_time_s column; table left empty")
        return pd.DataFrame(columns=cols)
    if len(conditions) < 2:
        notes.append(f"reading_time: one condition only ({conditions[0]!r}); no times to compare, table left empty")
        return pd.DataFrame(columns=cols)
    c1, c2 = conditions[0], conditions[1]
    rows = []
    for g in [*groups, ALL]:
        sub = d if g == ALL else d[d["reader_group"] == g]
        key = ["case_id"] if time_unit == "case" else ["reader", "case_id"]
        wide = sub.pivot_table(index=key, columns="condition", values="reading_time_s", aggfunc="mean")
        if c1 not in wide.columns or c2 not in wide.columns:
            continue
        pair = wide[[c1, c2]].dropna()
        w, err = _safe(wilcoxon_signed_rank, pair[c1].to_numpy(), pair[c2].to_numpy())
        if w is None:
            notes.append(f"reading_time {g}: {err}")
            continue
        rows.append(
            {
                "group": g,
                "n_pairs": w.n,
                "first": c1,
                "second": c2,
                "median_first": float(np.median(pair[c1])),
                "median_second": float(np.median(pair[c2])),
                "min_first": w.min_x,
                "max_first": w.max_x,
                "min_second": w.min_y,
                "max_second": w.max_y,
                "summary_first": w.summary_x,
                "summary_second": w.summary_y,
                "median_difference": w.median_difference,
                "statistic": w.statistic,
                "p_value": w.p_value,
                "method": w.method,
            }
        )
    return pd.DataFrame(rows, columns=cols)


def _per_reader(d, cases, groups, conditions, threshold, conf_level, notes) -> pd.DataFrame:
    rows = []
    for g in groups:
        for r in sorted(d.loc[d["reader_group"] == g, "reader"].unique()):
            for c in conditions:
                sub = d[(d["reader"] == r) & (d["condition"] == c)]
                if sub.empty:
                    continue
                ci, err = _safe(ci_auc, sub["truth"].to_numpy(), sub["score"].to_numpy(), conf_level=conf_level)
                if ci is None:
                    notes.append(f"per_reader {r}/{c}: {err}")
                    continue
                calls = _reader_calls(
                    sub.set_index("case_id")[["score"]].rename(columns={"score": r}),
                    cases["truth"],
                    threshold,
                    conf_level,
                )
                rows.append(
                    {
                        "reader": r,
                        "group": g,
                        "condition": c,
                        "n_cases": len(sub),
                        "auc": ci.auc,
                        "auc_lower": ci.lower,
                        "auc_upper": ci.upper,
                        "se": ci.se,
                        "auc_ci": _fmt_ci(ci.auc, ci.lower, ci.upper),
                        **calls,
                    }
                )
    columns = [
        "reader",
        "group",
        "condition",
        "n_cases",
        "auc",
        "auc_lower",
        "auc_upper",
        "se",
        "auc_ci",
        "cutoff",
        "sensitivity",
        "sens_lower",
        "sens_upper",
        "specificity",
        "spec_lower",
        "spec_upper",
        "tp",
        "fn",
        "tn",
        "fp",
    ]
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------- MRMC table (OR-Hillis)
def _mrmc(d: pd.DataFrame, conditions: list[str], notes: list[str]) -> pd.DataFrame | None:
    """OR-Hillis random-reader random-case comparison of the first two conditions, per group and overall."""
    from breastlab.evaluate.mrmc import or_hillis_table

    if len(conditions) < 2:
        notes.append(
            f"mrmc: not run: the study has one condition only ({conditions[0]!r}); an MRMC comparison needs two "
            "conditions read by the same readers (e.g. unaided and aided)"
        )
        return None
    try:
        return or_hillis_table(d, treatments=conditions[:2])
    except BreastlabInputError as exc:
        notes.append(f"mrmc: {exc}")
        return None
