"""Tiny synthetic mammogram stores: breast-shaped background, bright disks (masses), dot clusters (calcifications)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from breastlab.data.store import write_store


def synthetic_mammo(rng, h=96, w=80, kind=None):
    """A uint16 'mammogram' (chest wall left, background 0) and its finding boxes."""
    yy, xx = np.mgrid[:h, :w]
    cy = h / 2 + rng.uniform(-4, 4)
    depth, half = w * 0.9, h * 0.45
    breast = (xx / depth) ** 2 + ((yy - cy) / half) ** 2 < 1
    img = 1500 + 300 * rng.standard_normal((h, w))
    boxes = []
    if kind == "mass":
        r = rng.uniform(5, 8)
        x, y = rng.uniform(15, depth * 0.6), cy + rng.uniform(-half * 0.4, half * 0.4)
        img += 1800 * (((xx - x) ** 2 + (yy - y) ** 2) < r * r)
        boxes.append(("mass", int(x - r), int(y - r), int(np.ceil(x + r)) + 1, int(np.ceil(y + r)) + 1))
    elif kind == "calcification":
        x, y = rng.uniform(15, depth * 0.6), cy + rng.uniform(-half * 0.4, half * 0.4)
        pts = rng.uniform(-5, 5, (7, 2))
        for dx, dy in pts:
            img[int(y + dy), int(x + dx)] += 4000
        boxes.append(("calcification", int(x - 6), int(y - 6), int(x + 7), int(y + 7)))
    img = np.where(breast, np.clip(img, 1, 65535), 0).astype(np.uint16)
    return img, boxes


def make_store(path, n=8, seed=0, spacing=1.0, kinds=("mass", "calcification", None), layout="ragged"):
    """``layout="fixed"``: the same images (all one size) as one canvas array, the layout of
    ``mammo preprocess --layout fixed`` (whose manifest has no per-image height and width)."""
    rng = np.random.default_rng(seed)
    images, man, fin = [], [], []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        img, boxes = synthetic_mammo(rng, kind=kind)
        iid = f"img{i}"
        images.append(img)
        man.append(
            {
                "image_id": iid,
                "patient_id": f"p{i // 2}",
                "laterality": "L",
                "view": "CC" if i % 2 else "MLO",
                "spacing_mm": spacing,
                "map_low": 1000.0,
                "map_high": 3500.0,
            }
        )
        for k, (c, x0, y0, x1, y1) in enumerate(boxes):
            fin.append(
                {
                    "image_id": iid,
                    "finding_id": f"{iid}_{k}",
                    "finding_class": c,
                    "x0": x0,
                    "y0": y0,
                    "x1": min(x1, 80),
                    "y1": min(y1, 96),
                }
            )
    findings = pd.DataFrame(fin, columns=["image_id", "finding_id", "finding_class", "x0", "y0", "x1", "y1"])
    if layout == "fixed":
        return write_store(path, np.stack(images), pd.DataFrame(man), findings, layout="fixed")
    return write_store(path, images, pd.DataFrame(man), findings, layout="ragged")


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("detect") / "store")


@pytest.fixture(scope="session")
def store_factory():
    return make_store
