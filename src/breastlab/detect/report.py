"""Report section for detection: FROC curves per class, FROC/AP table, Table 1, gallery.

The gallery shows images with their true boxes (green) and predicted boxes (class
colour, score shown): up to ``per_kind`` images each of hits (a true positive),
misses (a finding not found at the working threshold) and false positives (the
highest-scoring false positives), at ``threshold`` (default: the score reaching
1 FP/image over all classes).
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path

import numpy as np

from breastlab._io import write_text
from breastlab.data.store import ArrayStore
from breastlab.detect.froc import DetectionEvaluation
from breastlab.report.html import REPORT_CSS, html_table, img_tag, png_uri, pyplot


def froc_figure(ev: DetectionEvaluation) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for c, cur in ev.froc.items():
        if cur.n_findings == 0:
            continue
        ax.step(np.maximum(cur.fp_per_image, 1e-3), cur.sensitivities, where="post",
                label=f"{c} (mean {cur.mean_sensitivity:.2f})")
    for r in next(iter(ev.froc.values())).rates:
        ax.axvline(r, color="#ccc", lw=0.6, zorder=0)
    ax.set_xscale("log", base=2)
    ax.set_xlim(1 / 16, 8)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false positives per image")
    ax.set_ylabel("sensitivity")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("FROC per finding class")
    return png_uri(fig)


def working_threshold(ev: DetectionEvaluation, fp_rate: float = 1.0) -> float:
    """Lowest score at which all false positives together stay at or below ``fp_rate`` per image."""
    fp = np.sort(ev.detections.loc[ev.detections["outcome"] == "fp", "score"].to_numpy())[::-1]
    n_images = next(iter(ev.froc.values())).n_images
    k = int(np.floor(fp_rate * n_images))
    return float(fp[k]) + 1e-9 if k < len(fp) else 0.0


def gallery(ev: DetectionEvaluation, store: ArrayStore, threshold: float | None = None, per_kind: int = 4) -> str:
    from breastlab.detect.marks import draw_marks
    from breastlab.detect.model import load_image

    thr = working_threshold(ev) if threshold is None else threshold
    d, t = ev.detections, ev.truth
    kept = d[(d["score"] >= thr) & (d["outcome"] != "duplicate")]
    hits = kept.loc[kept["outcome"] == "tp", "image_id"].drop_duplicates().head(per_kind).tolist()
    missed = t[t["has_box"] & ~(t["found_score"] >= thr)]["image_id"].drop_duplicates().head(per_kind).tolist()
    fps = kept[kept["outcome"] == "fp"].sort_values("score", ascending=False)["image_id"].drop_duplicates()
    fps = fps.head(per_kind).tolist()
    rows = dict(zip(store.manifest["image_id"].astype(str), store.manifest["row"], strict=True))
    parts = []
    for title, ids in (("Hits", hits), ("Misses", missed), ("False positives", fps)):
        cells = []
        for iid in ids:
            png = draw_marks(load_image(store, rows[iid]), kept[kept["image_id"] == iid], t[t["image_id"] == iid])
            uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
            cells.append(f"<figure style='display:inline-block;margin:4px'>{img_tag(uri, iid)}"
                         f"<figcaption style='font-size:11px'>{html.escape(iid)}</figcaption></figure>")
        parts.append(f"<h3>{title}</h3>" + ("".join(cells) or "<p>none</p>"))
    return (f"<p>Working threshold {thr:.3f} (1 false positive per image). Green: truth; coloured: detections "
            "(class, score).</p>" + "".join(parts))


def detection_section(ev: DetectionEvaluation, store: ArrayStore | None = None, per_kind: int = 4) -> str:
    """HTML of the detection section (to embed in a report)."""
    t1 = ev.table1[[c for c in ev.table1.columns if c not in ("lower", "upper", "se", "auc")]]
    parts = ["<h2>Detection</h2>", img_tag(froc_figure(ev), "FROC curves"),
             "<h3>FROC (sensitivity at FP/image) and AP@0.5</h3>", html_table(ev.froc_table),
             "<h3>Table 1. Image- and breast-level performance</h3>", html_table(t1)]
    if ev.notes:
        parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in ev.notes) + "</ul>")
    if store is not None:
        parts.append("<h3>Gallery</h3>" + gallery(ev, store, per_kind=per_kind))
    return "\n".join(parts)


def write_detection_report(ev: DetectionEvaluation, path: str | os.PathLike, store: ArrayStore | None = None,
                           title: str = "breastlab detection report") -> Path:
    body = detection_section(ev, store)
    doc = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
           f"<style>{REPORT_CSS}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")
    return write_text(doc, path)


__all__ = ["detection_section", "froc_figure", "gallery", "working_threshold", "write_detection_report"]
