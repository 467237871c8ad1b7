"""Report section of a mammogram classification experiment: ROC figures in four numbered figures.

The figures group the results as the 2018 study's result figures do (breastlab's
reading of the paper's Figures 1-4; every panel says what it shows):

* Figure 1 -- the three "malignant" scenarios: malignant vs negative + recalled-benign,
  malignant vs negative, malignant vs recalled-benign;
* Figure 2 -- the two "recalled-benign" scenarios: negative vs recalled-benign,
  recalled-benign vs malignant + negative;
* Figure 3 -- the three-class task: one ROC curve per class pair (p_j of the more
  severe class j on the cases of the pair) and Hand & Till's mean pairwise AUC;
* Figure 4 -- training strategies on the same test images (ImageNet-only vs
  incremental vs mixed), per scenario, with the paired DeLong p-value.

Every curve is labelled with its AUC and patient-level bootstrap 95 % CI. Figures are
matplotlib PNGs inlined as base64: the HTML references nothing outside itself.

Report integration: :func:`breastlab.mammo.classify` writes ``classify_section.json``
(the marker ``breastlab report`` looks for) and ``scenario_results.json`` (every
scenario's AUC, CI, counts, pairwise AUCs and ROC points) in its output folder;
:func:`section_from_dir` rebuilds the section from those files and ``results.csv`` /
``comparisons.csv`` without recomputing anything.
"""

from __future__ import annotations

import contextlib
import html
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from breastlab._html import html_page, html_table, img_tag, png_uri, pyplot
from breastlab._io import write_text
from breastlab.mammo.classify import ClassifyResult, ScenarioResult, load_scenario_results
from breastlab.mammo.scenarios import SCENARIOS
from breastlab.schemas import CLASSIFY_SECTION, read_section_marker

FIGURES = (
    (
        "Figure 1",
        "malignant vs the other classes",
        ("malignant_vs_rest", "malignant_vs_negative", "malignant_vs_recalled"),
    ),
    ("Figure 2", "recalled-benign vs the other classes", ("recalled_vs_negative", "recalled_vs_rest")),
    ("Figure 3", "three-class task: per-pair ROC curves", ("three_class",)),
)


def _label(r: ScenarioResult, curve: dict, with_strategy: bool) -> str:
    head = f"{r.strategy}: " if with_strategy and r.strategy else ""
    if r.pairwise is not None:
        return f"{head}{curve['label']} (AUC {curve['auc']:.3f})"
    return f"{head}AUC {r.auc:.3f} [{r.ci_lower:.3f}, {r.ci_upper:.3f}]"


def _panels(results: Sequence[ScenarioResult], names: Sequence[str], title: str) -> str | None:
    plt = pyplot()
    present = [n for n in names if any(r.scenario == n for r in results)]
    if not present:
        return None
    fig, axes = plt.subplots(1, len(present), figsize=(4.2 * len(present), 4.3), squeeze=False, layout="constrained")
    for ax, name in zip(axes[0], present, strict=True):
        rs = [r for r in results if r.scenario == name]
        for r in rs:
            for c in r.curves:
                ax.plot(c["fpr"], c["tpr"], lw=1.6, label=_label(r, c, len(rs) > 1))
        sub = SCENARIOS[name].title
        if rs[0].pairwise is not None:
            sub += "\n" + "; ".join(
                f"{r.strategy + ' ' if len(rs) > 1 else ''}M = {r.auc:.3f} [{r.ci_lower:.3f}, {r.ci_upper:.3f}]"
                for r in rs
            )
        ax.plot([0, 1], [0, 1], ls=":", c="grey", lw=1)
        ax.set(xlabel="1 - specificity", ylabel="sensitivity", title=sub, xlim=(0, 1), ylim=(0, 1.01))
        ax.title.set_fontsize(9)
        ax.legend(loc="lower right", fontsize=7)
    fig.suptitle(title, fontsize=10)
    return png_uri(fig)


def _strategy_figure(results: Sequence[ScenarioResult], comparisons: pd.DataFrame) -> str | None:
    """Figure 4: per scenario, one curve per strategy (three-class: malignant vs rest on p_malignant)."""
    if comparisons is None or comparisons.empty:
        return None
    plt = pyplot()
    names = list(dict.fromkeys(comparisons["scenario"]))
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.3), squeeze=False, layout="constrained")
    for ax, name in zip(axes[0], names, strict=True):
        for r in (r for r in results if r.scenario == name):
            c = r.curves[-1] if r.pairwise is None else max(r.curves, key=lambda c: c["label"].startswith("malig"))
            ax.plot(c["fpr"], c["tpr"], lw=1.6, label=f"{r.strategy} (AUC {c['auc']:.3f})")
        ps = comparisons[comparisons["scenario"] == name]
        p_txt = "; ".join(
            f"{a} vs {b}: p = {p:.3g}"
            for a, b, p in zip(ps["strategy_a"], ps["strategy_b"], ps["p_value"], strict=True)
        )
        ax.plot([0, 1], [0, 1], ls=":", c="grey", lw=1)
        ax.set(
            xlabel="1 - specificity",
            ylabel="sensitivity",
            xlim=(0, 1),
            ylim=(0, 1.01),
            title=f"{SCENARIOS[name].title}\nDeLong {p_txt}",
        )
        ax.title.set_fontsize(8)
        ax.legend(loc="lower right", fontsize=7)
    fig.suptitle("training strategies on the same test images", fontsize=10)
    return png_uri(fig)


def classify_section(result: ClassifyResult, heading: str = "Mammogram classification") -> str:
    """The HTML section (a ``<section>`` element) of one :func:`classify` result."""
    return f"<section>{_fragment(result, heading)}</section>"


def section_from_dir(path: str | os.PathLike) -> str:
    """HTML fragment (starting with ``<h2>``) of the classification saved in ``path`` (``breastlab report``).

    ``path`` is an output folder of :func:`breastlab.mammo.classify` / ``breastlab mammo
    classify``: its ``classify_section.json`` marker names the files the section is built from.
    """
    path = Path(path)
    info = read_section_marker(
        path,
        CLASSIFY_SECTION,
        remedy="not a complete output folder of `breastlab mammo classify`; run it with `--out` this folder",
    )
    files = info.get("files", {})
    results = pd.read_csv(path / files["results"]) if "results" in files else pd.DataFrame()
    comparisons = pd.DataFrame()
    if "comparisons" in files:
        with contextlib.suppress(pd.errors.EmptyDataError):  # a single strategy: nothing compared
            comparisons = pd.read_csv(path / files["comparisons"])
    scenario_results = load_scenario_results(path / files["scenario_results"])
    result = ClassifyResult(path, results, pd.DataFrame(), comparisons, scenario_results, list(info.get("notes", [])))
    heading = info.get("heading") or f"Mammogram classification ({path.name})"
    return _fragment(result, heading)


def _fragment(result: ClassifyResult, heading: str) -> str:
    parts = [f"<h2>{html.escape(heading)}</h2>"]
    if result.notes:
        parts.append("<p>" + html.escape("; ".join(result.notes)) + "</p>")
    cols = [
        c
        for c in ("strategy", "scenario", "auc", "ci_lower", "ci_upper", "n_images", "n_patients")
        if c in result.results
    ]
    parts.append("<h3>AUC per scenario (patient-level bootstrap 95 % CI)</h3>")
    parts.append(html_table(result.results[cols], decimals=3))
    for number, caption, names in FIGURES:
        uri = _panels(result.scenario_results, names, f"{number}: {caption}")
        if uri:
            parts.append(
                f"<figure>{img_tag(uri, number)}<figcaption>{number}: {html.escape(caption)}</figcaption></figure>"
            )
    pw = [r.pairwise.assign(strategy=r.strategy) for r in result.scenario_results if r.pairwise is not None]
    if pw:
        parts.append("<h3>Three-class task: pairwise AUCs (Hand &amp; Till)</h3>")
        parts.append(html_table(pd.concat(pw), decimals=3))
    uri = _strategy_figure(result.scenario_results, result.comparisons)
    if uri:
        parts.append(
            f"<figure>{img_tag(uri, 'Figure 4')}<figcaption>Figure 4: training strategies compared on "
            "the same test images (paired DeLong test; three-class: p(malignant), malignant vs rest)"
            "</figcaption>"
            "</figure>"
        )
        parts.append("<h3>Strategy comparison (paired DeLong test)</h3>" + html_table(result.comparisons, decimals=3))
    return "\n".join(parts)


def write_classify_report(result: ClassifyResult, path: str | os.PathLike | None = None) -> Path:
    """A self-contained HTML file holding :func:`classify_section` (default ``OUT/report.html``)."""
    path = Path(path) if path is not None else result.out / "report.html"
    doc = html_page("breastlab mammogram classification", classify_section(result))
    write_text(doc, path)
    return path
