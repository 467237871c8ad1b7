"""Speed of mammogram preprocessing against a straightforward pydicom + scikit-image pipeline.

Both pipelines do the same steps on the same phantom mammograms of real size (digital
site 4096 x 3328, film site 3000 x 2400, 16-bit DICOM), one process each, same run:

* read the DICOM; segment (histogram, triangle threshold, largest 8-connected component,
  bounding rectangle); crop; orient (chest wall left); resample to 0.15 mm (antialiased
  linear); 5th / 95th percentile grey-level mapping of the breast pixels.
* reference: ``pydicom.dcmread().pixel_array``, ``skimage.filters.threshold_triangle``,
  ``skimage.measure.label`` + ``regionprops``, ``skimage.transform.rescale(order=1,
  anti_aliasing=True)``, ``np.percentile``.
* breastlab: :func:`breastlab.data.mammo.read_mammogram` + :func:`preprocess_mammogram`
  (segmentation on every 4th row/column, Pillow resampling in float32, quantiles by counting).

Prints seconds per image, the ratio (target >= 5), agreement of the outputs (box, mapped
pixels) and the peak Python-heap memory of the breastlab pipeline (tracemalloc) as a
multiple of one source image (target: a few images).

Usage: ``.venv/bin/python benchmarks/bench_mammo.py [--patients 2]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
from skimage.filters import threshold_triangle
from skimage.measure import label, regionprops
from skimage.transform import rescale, resize

from breastlab.data.mammo import read_mammogram
from breastlab.data.mammo.preprocess import PreprocessSettings, apply_mapping, preprocess_mammogram
from breastlab.data.phantom.mammo import make_mammo_cohort

TARGET = 0.15


def reference(path: Path) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    ds = pydicom.dcmread(path)
    img = ds.pixel_array
    spacing = float((ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing"))[0])
    t = threshold_triangle(img.astype(np.float64), nbins=256)
    lab = label(img > t, connectivity=2)
    region = max(regionprops(lab), key=lambda r: r.area)
    y0, x0, y1, x1 = region.bbox
    crop = img[y0:y1, x0:x1].astype(np.float64)
    mask = lab[y0:y1, x0:x1] == region.label
    half = mask.shape[1] // 2
    if mask[:, -half:].sum() > mask[:, :half].sum():
        crop, mask = crop[:, ::-1], mask[:, ::-1]
    out = rescale(crop, spacing / TARGET, order=1, anti_aliasing=True, preserve_range=True)
    mask = resize(mask, out.shape, order=0, anti_aliasing=False) & (out > t)
    lo, hi = np.percentile(out[mask], [5, 95])
    mapped = (out - lo) / (hi - lo)
    mapped[~mask] = 0
    return mapped, (x0, y0, x1, y1)


def ours(path: Path) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    m = read_mammogram(path)
    p = preprocess_mammogram(m.pixels, m.spacing, m.meta["view"], PreprocessSettings(spacing=TARGET))
    mapped = apply_mapping(p.image, p.map_low, p.map_high)
    mapped[p.image == 0] = 0
    return mapped, p.crop


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=2, help="phantom patients (4 images each; sites alternate)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        out = make_mammo_cohort(Path(tmp) / "c", args.patients, seed=0, film_fraction=0.5, progress=False)
        truth = pd.read_csv(out / "phantom_truth.csv")
        paths = [out / p for p in truth["path"]]
        print(
            f"{len(paths)} phantom mammograms of real size in {time.perf_counter() - t:.1f} s "
            f"({', '.join(sorted({f'{r}x{c}' for r, c in zip(truth['rows'], truth['columns'], strict=True)}))})"
        )
        ours(paths[0])  # warm-up (imports)
        reference(paths[0])
        t_ref, t_ours, diffs, box_err = 0.0, 0.0, [], 0
        for path in paths:
            t = time.perf_counter()
            a, box_a = reference(path)
            t_ref += time.perf_counter() - t
            t = time.perf_counter()
            b, box_b = ours(path)
            t_ours += time.perf_counter() - t
            box_err = max(box_err, max(abs(u - v) for u, v in zip(box_a, box_b, strict=True)))
            b_rs = resize(b, a.shape, order=0) if b.shape != a.shape else b
            inside = (a != 0) & (b_rs != 0)
            diffs.append(float(np.median(np.abs(a[inside] - b_rs[inside]))))
        tracemalloc.start()
        ours(paths[0])
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        one = max(read_mammogram(p).pixels.nbytes for p in paths)
    n = len(paths)
    print(f"reference (pydicom + scikit-image): {t_ref / n:.3f} s/image")
    print(f"breastlab:                          {t_ours / n:.3f} s/image")
    print(f"ratio: {t_ref / t_ours:.1f}x (target >= 5)")
    print(f"agreement: box within {box_err} px; median |mapped difference| {np.median(diffs):.4f} (of a 0-1 range)")
    print(f"breastlab peak heap: {peak / 2**20:.0f} MiB = {peak / one:.1f} x one 16-bit source image")


if __name__ == "__main__":
    main()
