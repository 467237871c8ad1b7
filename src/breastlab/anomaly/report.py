"""The anomaly section of the HTML report: ROC curves per model and task, the triage table,
box plots of pixel AUC and a gallery of MIPs with heatmap overlay and reference box
(true positives, misses, false alarms). Self-contained (PNG figures inlined as base64),
built with the helpers of :mod:`breastlab.report.html`.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from breastlab._io import write_text
from breastlab.anomaly.evaluate import AnomalyEvaluation, comparison_table
from breastlab.data.store import ArrayStore
from breastlab.report.html import REPORT_CSS, html_table, img_tag, png_uri, pyplot


def roc_figure(evs: Sequence[AnomalyEvaluation], prevalence: float | None = None) -> str:
    """ROC curves of every model (first seed) in the balanced task."""
    from breastlab.evaluate.stats import roc_curve

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    for ev in evs:
        p = ev.predictions[ev.predictions["seed"] == ev.predictions["seed"].min()]
        roc = roc_curve(p["label"], p["score"])
        ax.plot(roc.fpr, roc.tpr, label=f"{ev.model} (AUC {ev.balanced['auc'].iloc[0]:.3f})")
    ax.plot([0, 1], [0, 1], color="#999", lw=0.8, ls="--")
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title="breast level, balanced task")
    ax.legend(loc="lower right", fontsize=8)
    return png_uri(fig)


def pixel_box_figure(evs: Sequence[AnomalyEvaluation]) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 3.6))
    data = [ev.pixel["pixel_auc"].dropna().to_numpy() for ev in evs]
    ax.boxplot(data, tick_labels=[ev.model for ev in evs])
    ax.set(ylabel="pixel AUC vs projected box", title="explanation quality (abnormal breasts)")
    ax.set_ylim(0, 1.02)
    return png_uri(fig)


def gallery_figure(ev: AnomalyEvaluation, per_kind: int = 3) -> str:
    """True positives, misses (false negatives) and false alarms at the Youden threshold."""
    from breastlab.anomaly.train import load_heatmaps
    from breastlab.evaluate.stats import youden

    plt = pyplot()
    seed = int(ev.predictions["seed"].min())
    p = ev.predictions[ev.predictions["seed"] == seed]
    thr = youden(p["label"], p["score"]).threshold
    kinds = {
        "true positive": p[(p["label"] == 1) & (p["score"] >= thr)].nlargest(per_kind, "score"),
        "miss": p[(p["label"] == 1) & (p["score"] < thr)].nsmallest(per_kind, "score"),
        "false alarm": p[(p["label"] == 0) & (p["score"] >= thr)].nlargest(per_kind, "score"),
    }
    import json

    store = ArrayStore(json.loads((ev.run_dir / "config.json").read_text())["store"])
    heat = load_heatmaps(ev.run_dir, seed)
    fig, axes = plt.subplots(3, per_kind, figsize=(2.3 * per_kind, 7.2), squeeze=False)
    for r, (kind, rows) in enumerate(kinds.items()):
        for c in range(per_kind):
            ax = axes[r, c]
            ax.axis("off")
            if c >= len(rows):
                continue
            rec = rows.iloc[c]
            ax.imshow(store[int(rec["row"])], cmap="gray", vmin=0, vmax=255)
            h = np.asarray(heat[int(rec["row"])], dtype=np.float32)
            ax.imshow(h / (h.max() or 1), cmap="jet", alpha=0.35, vmin=0, vmax=1)
            for f in store.findings_for(rec["image_id"]).itertuples():
                ax.add_patch(plt.Rectangle((f.x0 - 0.5, f.y0 - 0.5), f.x1 - f.x0, f.y1 - f.y0, fill=False,
                                           edgecolor="lime", lw=1.2))
            ax.set_title(f"{kind}\n{rec['image_id']}\nscore {rec['score']:.3g}", fontsize=7)
    return png_uri(fig)


def anomaly_section(evs: Sequence[AnomalyEvaluation], per_kind: int = 3) -> str:
    """The HTML section (a ``<section>`` element) for a set of evaluated runs."""
    table = comparison_table(list(evs))
    triage_cols = ["model"] + [c for c in table.columns if c.startswith(("normals_set_aside", "sens_at"))]
    parts = ["<section><h2>Anomaly detection on breast MIPs</h2>",
             "<p class='note'>Breast-level AUC with DeLong 95% CI (balanced task: all abnormal vs all normal "
             "breasts), low-prevalence AUC (mean and 2.5-97.5th percentiles over repeated stratified "
             "subsamples), triage figures, and pixel AUC of each heatmap against the projected tumour box "
             "(median and IQR; FCDD: Gaussian-upsampled A(X); BCE and HSC: Grad-CAM).</p>",
             html_table(table), "<h3>Triage</h3>", html_table(table[triage_cols]),
             img_tag(roc_figure(evs), "ROC curves"), img_tag(pixel_box_figure(evs), "pixel AUC box plots")]
    for ev in evs:
        parts.append(f"<h3>Gallery: {html.escape(ev.model)}</h3>")
        parts.append(img_tag(gallery_figure(ev, per_kind), f"gallery {ev.model}"))
    parts.append("</section>")
    return "\n".join(parts)


def write_anomaly_report(evs: Sequence[AnomalyEvaluation], path: str | os.PathLike) -> Path:
    """A self-contained HTML page holding :func:`anomaly_section`."""
    body = anomaly_section(evs)
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>breastlab anomaly report</title>"
            f"<style>{REPORT_CSS}</style></head><body><h1>breastlab anomaly report</h1>{body}</body></html>")
    return write_text(page, path)


def comparison_frame(evs: Sequence[AnomalyEvaluation]) -> pd.DataFrame:
    return comparison_table(list(evs))
