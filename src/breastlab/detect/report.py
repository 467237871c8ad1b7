"""Report section for detection: FROC curves per class, FROC/AP table, Table 1, gallery.

The gallery shows images with their true boxes (green) and predicted boxes (class
colour, score shown): up to ``per_kind`` images each of hits (a true positive),
misses (a finding not found at the working threshold) and false positives (the
highest-scoring false positives), at ``threshold`` (default: the score reaching
1 FP/image over all classes).

Two ways to the same fragment: :func:`detection_section` from an evaluation in memory
(:func:`write_detection_report` wraps it in a page), and :func:`write_detection_section`
(called by ``breastlab mammo detect evaluate --out``), which saves what the section needs
in a folder -- so that :func:`section_from_dir` rebuilds it from that folder alone (the
store and the detections need not exist any more)::

    detection_section.json   marker (written last): version, settings, working threshold, file names
    froc.csv, table1.csv     the FROC/AP table and Table 1
    froc_curves.csv          finding_class, threshold, sensitivity, fp_per_image (the curves)
    evaluation.json          tables and notes
    gallery.csv              kind, image_id, file -- the gallery's images, drawn: gallery/NN.png
"""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from breastlab._html import html_page, html_table, img_tag, png_uri, pyplot
from breastlab._io import read_table, write_bytes, write_json, write_table, write_text
from breastlab.data.store import ArrayStore
from breastlab.detect.froc import FP_RATES, DetectionEvaluation
from breastlab.schemas import DETECTION_SECTION, SECTION, read_section_marker, section_marker

MARKER = DETECTION_SECTION


def froc_figure(ev: DetectionEvaluation) -> str:
    """FROC curves of every class with findings, as a PNG data URI."""
    curves = [
        (c, cur.fp_per_image, cur.sensitivities, cur.mean_sensitivity)
        for c, cur in ev.froc.items()
        if cur.n_findings > 0
    ]
    return _froc_png(curves, next(iter(ev.froc.values())).rates)


def _froc_png(curves: list[tuple[str, np.ndarray, np.ndarray, float]], rates: tuple[float, ...]) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for c, fpi, sens, mean in curves:
        ax.step(np.maximum(fpi, 1e-3), sens, where="post", label=f"{c} (mean {mean:.2f})")
    for r in rates:
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


GALLERY_KINDS = ("Hits", "Misses", "False positives")


def gallery_items(
    ev: DetectionEvaluation, store: ArrayStore, threshold: float | None = None, per_kind: int = 4
) -> tuple[float, list[tuple[str, str, bytes]]]:
    """(working threshold, [(kind, image_id, PNG bytes)]) of the gallery (module notes)."""
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
    items = []
    for kind, ids in zip(GALLERY_KINDS, (hits, missed, fps), strict=True):
        for iid in ids:
            png = draw_marks(load_image(store, rows[iid]), kept[kept["image_id"] == iid], t[t["image_id"] == iid])
            items.append((kind, str(iid), png))
    return thr, items


def _gallery_html(thr: float, items: list[tuple[str, str, bytes]]) -> str:
    parts = []
    for kind in GALLERY_KINDS:
        cells = []
        for _, iid, png in (it for it in items if it[0] == kind):
            uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
            cells.append(
                f"<figure style='display:inline-block;margin:4px'>{img_tag(uri, iid)}"
                f"<figcaption style='font-size:11px'>{html.escape(iid)}</figcaption></figure>"
            )
        parts.append(f"<h3>{kind}</h3>" + ("".join(cells) or "<p>none</p>"))
    return (
        f"<p>Working threshold {thr:.3f} (1 false positive per image). Green: truth; coloured: detections "
        "(class, score).</p>" + "".join(parts)
    )


def gallery(ev: DetectionEvaluation, store: ArrayStore, threshold: float | None = None, per_kind: int = 4) -> str:
    return _gallery_html(*gallery_items(ev, store, threshold, per_kind))


def _render(
    froc_png: str, froc_table: pd.DataFrame, table1: pd.DataFrame, notes: list[str], gallery_html: str | None
) -> str:
    t1 = table1[[c for c in table1.columns if c not in ("lower", "upper", "se", "auc")]]
    parts = [
        "<h2>Detection</h2>",
        img_tag(froc_png, "FROC curves"),
        "<h3>FROC (sensitivity at FP/image) and AP@0.5</h3>",
        html_table(froc_table),
        "<h3>Table 1. Image- and breast-level performance</h3>",
        html_table(t1),
    ]
    if notes:
        parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    if gallery_html is not None:
        parts.append("<h3>Gallery</h3>" + gallery_html)
    return "\n".join(parts)


def detection_section(ev: DetectionEvaluation, store: ArrayStore | None = None, per_kind: int = 4) -> str:
    """HTML of the detection section (to embed in a report)."""
    gal = gallery(ev, store, per_kind=per_kind) if store is not None else None
    return _render(froc_figure(ev), ev.froc_table, ev.table1, ev.notes, gal)


def write_detection_section(
    ev: DetectionEvaluation,
    folder: str | os.PathLike,
    store: ArrayStore | None = None,
    per_kind: int = 4,
    settings: dict | None = None,
) -> Path:
    """Save what the detection section needs in ``folder`` (module notes); returns the marker path.

    ``store``: where the gallery's images come from (None: no gallery). The marker is
    written last, so a folder holding it is complete.
    """
    folder = Path(folder)
    ev.write(folder)
    entries, thr = [], None
    if store is not None:
        thr, items = gallery_items(ev, store, per_kind=per_kind)
        for k, (kind, iid, png) in enumerate(items):
            name = f"gallery/{k:02d}.png"
            write_bytes(png, folder / name)
            entries.append({"kind": kind, "image_id": iid, "file": name})
        write_table(pd.DataFrame(entries, columns=["kind", "image_id", "file"]), folder / "gallery.csv")
    files = {
        "froc": "froc.csv",
        "table1": "table1.csv",
        "curves": "froc_curves.csv",
        "evaluation": "evaluation.json",
        "gallery": "gallery.csv" if store is not None else None,
    }
    marker = section_marker(
        "detection",
        files,
        settings={**(settings or {}), "per_kind": per_kind},
        store=None if store is None else Path(store.path).name,  # by its name: no local path in the section
        working_threshold=thr,
        rates=list(next(iter(ev.froc.values())).rates) if ev.froc else [],
    )
    return write_json(marker, folder / MARKER)


def section_from_dir(path: str | os.PathLike) -> str:
    """The detection section's HTML fragment (starting with its ``<h2>``), rebuilt from a folder that
    :func:`write_detection_section` (``breastlab mammo detect evaluate --out``) wrote."""
    folder = Path(path)
    remedy = f"write it with `breastlab mammo detect evaluate STORE DETECTIONS --out {folder}`"
    meta = read_section_marker(folder, MARKER, remedy=remedy, version=SECTION.version)
    files = meta["files"]
    froc_table = read_table(folder / files["froc"])
    curves = read_table(folder / files["curves"])
    n_find = dict(zip(froc_table["finding_class"], froc_table["n_findings"], strict=True))
    means = dict(zip(froc_table["finding_class"], froc_table["mean_sensitivity"], strict=True))
    lines = [
        (c, g["fp_per_image"].to_numpy(float), g["sensitivity"].to_numpy(float), float(means[c]))
        for c, g in curves.groupby("finding_class", sort=False)
        if n_find.get(c, 0) > 0
    ]
    notes = json.loads((folder / files["evaluation"]).read_text()).get("notes", [])
    gal = None
    if files["gallery"] is not None:
        g = read_table(folder / files["gallery"])
        items = [(r.kind, str(r.image_id), (folder / r.file).read_bytes()) for r in g.itertuples()]
        gal = _gallery_html(float(meta["working_threshold"]), items)
    return _render(
        _froc_png(lines, tuple(meta.get("rates") or FP_RATES)),
        froc_table,
        read_table(folder / files["table1"]),
        notes,
        gal,
    )


def write_detection_report(
    ev: DetectionEvaluation,
    path: str | os.PathLike,
    store: ArrayStore | None = None,
    title: str = "breastlab detection report",
) -> Path:
    doc = html_page(title, detection_section(ev, store))
    return write_text(doc, path)


__all__ = [
    "MARKER",
    "detection_section",
    "froc_figure",
    "gallery",
    "gallery_items",
    "section_from_dir",
    "working_threshold",
    "write_detection_report",
    "write_detection_section",
]
