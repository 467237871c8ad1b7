"""Tiny synthetic stores and split directories (the layouts of :mod:`breastlab.schemas`) for tests and benchmarks.

Images are noise with a bright disc for label 1 ("tumour"); the attribute ("A"/"B")
adds a brightness offset to the whole image. ``rho`` is the share of training/validation
images whose attribute agrees with the label ("A" for 1), 0.5 = no correlation; the test
part is always balanced (rho 0.5), as SpurBreast's test sets.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from breastlab._io import record_path, write_json, write_table
from breastlab.data.store import write_store
from breastlab.schemas import SPLIT


def make_toy_split(
    root: str | os.PathLike,
    n_patients: int = 24,
    per_patient: int = 4,
    size: int = 32,
    rho: float = 0.5,
    signal: float = 60.0,
    offset: float = 40.0,
    seed: int = 0,
    tune: bool = True,
    transform: str = "",
) -> tuple[Path, Path]:
    """Write ``ROOT/store`` and ``ROOT/split``; return their paths.

    Patients are assigned to train/val/test/tune (50/17/17/16 %); each patient holds
    ``per_patient`` slices, half of them label 1.
    """
    rng = np.random.default_rng(seed)
    root = Path(root)
    parts = np.array(["train", "val", "test", "tune"] if tune else ["train", "val", "test"])
    weights = np.array([0.5, 0.17, 0.17, 0.16]) if tune else np.array([0.6, 0.2, 0.2])
    n_per = np.maximum(1, np.round(weights * n_patients).astype(int))
    n_per[0] = n_patients - n_per[1:].sum()
    assign = np.repeat(parts, n_per)
    yy, xx = np.mgrid[:size, :size]
    images, rows = [], []
    for p in range(n_patients):
        part = assign[p]
        for k in range(per_patient):
            label = int(k % 2)
            r = rho if part in ("train", "val") else 0.5
            agree = rng.random() < r
            attr = ("A" if label == 1 else "B") if agree else ("B" if label == 1 else "A")
            img = rng.normal(80, 20, (size, size))
            if label:
                cy, cx = rng.integers(size // 4, 3 * size // 4, 2)
                img += signal * (((yy - cy) ** 2 + (xx - cx) ** 2) < (size / 4) ** 2)
            if attr == "A":
                img += offset
            images.append(np.clip(img, 0, 255).astype(np.uint8))
            rows.append(
                {
                    "image_id": f"P{p:03d}:{k}",
                    "patient_id": f"P{p:03d}",
                    "label": label,
                    "split": part,
                    "attribute": attr,
                    "slice_index": k,
                }
            )
    man = pd.DataFrame(rows)
    store = write_store(root / "store", np.stack(images), man[["image_id", "patient_id", "label", "slice_index"]])
    split = man.assign(
        row=np.arange(len(man)), group=man["label"].astype(str) + "|" + man["attribute"], transform=transform
    )
    split = split[["row", "image_id", "patient_id", "label", "split", "attribute", "group", "transform"]]
    write_table(split, root / "split" / SPLIT.manifest)
    write_json(
        {
            "store": record_path(root / "store", root / "split"),
            "store_checksum": store.checksum,
            "rho": rho,
            "seed": seed,
        },
        root / "split" / SPLIT.config,
    )
    write_json(
        {"counts": split.groupby(["split", "group"]).size().rename("n").reset_index().to_dict("records")},
        root / "split" / SPLIT.summary,
    )
    return root / "store", root / "split"
