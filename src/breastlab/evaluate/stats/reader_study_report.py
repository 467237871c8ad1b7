"""Report section of a reader study: per-reader AUCs unaided and aided, the journal tables, the MRMC analysis.

:meth:`ReaderStudyResult.write <breastlab.evaluate.stats.reader_study.ReaderStudyResult.write>`
(``breastlab stats reader-study --out``) leaves a folder with ``reader_study.json`` and, last,
the marker ``reader_study_section.json``; :func:`section_from_dir` rebuilds the section from
that folder alone. The section shows, in this order: a figure of every reader's AUC in each
condition (the standalone AI as a line), Table 1 (performance per finding, group and
condition), the OR-Hillis MRMC comparison of the conditions (random readers and cases), the
DeLong comparisons (Table 2), per-reader AUCs, reading times (Table 4) and the agreement of
the readers (Table 3); Tables 2 and 3 over all findings (per finding in their CSVs). The tables are the
printed ones (:meth:`~breastlab.evaluate.stats.reader_study.ReaderStudyResult.journal_tables`).
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import numpy as np
import pandas as pd

from breastlab._html import html_table, img_tag, png_uri, pyplot
from breastlab.evaluate.mrmc import MRMC_DISPLAY_COLUMNS
from breastlab.evaluate.stats.reader_study import ALL, ReaderStudyResult
from breastlab.schemas import READER_STUDY_SECTION, SECTION, read_section_marker

MARKER = READER_STUDY_SECTION


def reader_auc_figure(result: ReaderStudyResult) -> str | None:
    """Each reader's AUC in every condition (one line per reader, coloured by group; the standalone AI
    as a dashed horizontal line), as a PNG data URI; None without per-reader AUCs."""
    per = result.per_reader
    if per.empty or "auc" not in per:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    x = {c: k for k, c in enumerate(result.conditions)}
    colours = dict(zip(result.groups, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for (_reader, group), g in per.groupby(["reader", "group"], sort=False):
        g = g[g["condition"].isin(x)].sort_values("condition", key=lambda c: c.map(x))
        label = group if group not in {t.get_label() for t in ax.lines} else None
        ax.plot(g["condition"].map(x), g["auc"], "o-", color=colours.get(group, "grey"), alpha=0.8, label=label)
    ai = result.performance
    ai = ai[(ai["finding"] == ALL) & ~ai["group"].isin(result.groups)] if not ai.empty else ai
    for _, row in ai.iterrows():
        ax.axhline(row["auc"], ls="--", color="black", lw=1, label=f"{row['group']} standalone ({row['auc']:.3f})")
    ax.set_xticks(range(len(x)), list(x))
    ax.set(ylabel="AUC (per reader)", xlim=(-0.3, len(x) - 0.7), title="Readers' AUC by condition")
    ax.legend(fontsize=8, loc="lower right")
    return png_uri(fig)


def reader_study_section(result: ReaderStudyResult, heading: str = "Reader study", description: str = "") -> str:
    """The HTML fragment (starting with its ``<h2>``) of a reader study."""
    tables = result.journal_tables()
    parts = [f"<h2>{html.escape(heading)}</h2>"]
    if description:
        parts.append(f"<p class='note'>{html.escape(description)}</p>")
    uri = reader_auc_figure(result)
    if uri:
        parts.append(img_tag(uri, "readers' AUC by condition"))
    parts += [_titled(result, "performance", tables)]
    if result.mrmc is not None:
        mrmc = result.mrmc.reindex(columns=[c for c in MRMC_DISPLAY_COLUMNS if c in result.mrmc.columns])
        parts.append(f"<h3>{html.escape(result.TITLES['mrmc'])}</h3>")
        parts.append(
            "<p class='note'>Obuchowski-Rockette analysis with Hillis's degrees of freedom; the difference "
            "is first minus second condition, as named.</p>"
        )
        parts.append(html_table(_plain(mrmc), decimals=3))
    overall = {name: _all_findings(tables[name]) for name in ("comparisons", "agreement")}
    parts.append(_titled(result, "comparisons", overall, "over all findings; per finding in comparisons.csv"))
    parts += [_titled(result, name, tables) for name in ("per_reader", "reading_time")]
    parts.append(_titled(result, "agreement", overall, "over all findings; per finding in agreement.csv"))
    if result.notes:
        items = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
        parts.append(f"<h3>Notes</h3><ul class='note'>{items}</ul>")
    return "\n".join(parts)


def _titled(result: ReaderStudyResult, name: str, tables: dict[str, pd.DataFrame], extra: str = "") -> str:
    title = result.TITLES[name] + (f" ({extra})" if extra else "")
    table = tables[name]
    body = html_table(table) if not table.empty else "<p class='note'>(none)</p>"
    return f"<h3>{html.escape(title)}</h3>\n{body}"


def _all_findings(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a printed table that pool every finding."""
    return table[table["Finding"] == ALL] if "Finding" in table.columns else table


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Readable headers (``auc_first_ci`` -> ``auc first ci``) and p-values below 0.001 as "<0.001"."""
    out = df.copy()
    for c in out.columns:
        if c.startswith("p_") and pd.api.types.is_numeric_dtype(out[c]):
            out[c] = [("<0.001" if v < 0.001 else f"{v:.3f}") if np.isfinite(v) else "-" for v in out[c]]
    return out.rename(columns=lambda c: c.replace("_", " "))


def section_from_dir(path: str | os.PathLike) -> str:
    """The reader-study section's HTML fragment, rebuilt from a folder that
    :meth:`ReaderStudyResult.write` (``breastlab stats reader-study --out``) wrote."""
    folder = Path(path)
    remedy = f"write it with `breastlab stats reader-study STUDY.csv --out {folder}`"
    meta = read_section_marker(folder, MARKER, remedy=remedy, version=SECTION.version)
    result = ReaderStudyResult.read(folder / meta["files"]["tables"])
    return reader_study_section(result, meta.get("heading") or "Reader study", meta.get("description") or "")


__all__ = ["MARKER", "reader_auc_figure", "reader_study_section", "section_from_dir"]
