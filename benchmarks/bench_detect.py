"""Detector speed: training and inference images/s, and the share of a step spent waiting for data.

CPU at a reduced size (phantom-like synthetic store, 1 mm pixels, ~200 x 150): the
``small`` arch and, as the reference measured in the same run, torchvision's
Faster R-CNN ResNet-50 FPN v2 (the study's arch, random weights) on the same images.
On a GPU (when present; the device is named) the study preset at 0.15 mm-like sizes
with bf16 and several loader workers. Goal: data wait under 10 % of a step.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from breastlab.data.store import write_store
from breastlab.detect.model import build_model, predict, preset, train_detector


def synthetic_store(path: Path, n: int, h: int, w: int, spacing: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    images, man, fin = [], [], []
    for i in range(n):
        breast = (xx / (0.9 * w)) ** 2 + ((yy - h / 2) / (0.45 * h)) ** 2 < 1
        img = 1500 + 300 * rng.standard_normal((h, w))
        x, y, r = rng.uniform(0.2 * w, 0.6 * w), rng.uniform(0.35 * h, 0.65 * h), rng.uniform(0.03, 0.06) * w
        img += 1800 * (((xx - x) ** 2 + (yy - y) ** 2) < r * r)
        images.append(np.where(breast, np.clip(img, 1, 65535), 0).astype(np.uint16))
        man.append(
            {
                "image_id": f"i{i}",
                "patient_id": f"p{i // 4}",
                "spacing_mm": spacing,
                "map_low": 1000.0,
                "map_high": 3500.0,
            }
        )
        fin.append(
            {
                "image_id": f"i{i}",
                "finding_id": f"i{i}_1",
                "finding_class": "mass",
                "x0": int(x - r),
                "y0": int(y - r),
                "x1": int(x + r) + 1,
                "y1": int(y + r) + 1,
            }
        )
    return write_store(path, images, pd.DataFrame(man), pd.DataFrame(fin), layout="ragged")


def measure(store, cfg, tmp: Path, name: str, iterations: int) -> dict:
    run = tmp / f"run_{name}"
    t = time.perf_counter()
    train_detector(store, run, dataclasses.replace(cfg, iterations=iterations, checkpoint_every=10**6), progress=False)
    m = pd.read_csv(run / "metrics.csv").iloc[1:]  # first step: warm-up
    train_ips = cfg.batch_size * len(m) / m["step_s"].sum()
    model = build_model(cfg).to(next(iter([torch.device("cuda" if cfg.device == "cuda" else "cpu")])))
    n = min(len(store), 16)
    t = time.perf_counter()
    predict(model, dataclasses.replace(cfg, tta="none"), store, rows=np.arange(n), progress=False)
    infer_ips = n / (time.perf_counter() - t)
    return {
        "config": name,
        "train_img_s": train_ips,
        "infer_img_s": infer_ips,
        "data_wait_share": m["data_s"].sum() / m["step_s"].sum(),
    }


def main() -> None:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        store = synthetic_store(tmp / "cpu", 24, 200, 150, 1.0)
        small = preset("cpu-small", spacing_mm=1.0, batch_size=2, device="cpu")
        rows.append(measure(store, small, tmp, "small (cpu)", 8))
        ref = dataclasses.replace(
            preset("study"),
            spacing_mm=1.0,
            backbone_weights=None,
            batch_size=2,
            workers=0,
            device="cpu",
            anchor_sizes=(8, 16, 32, 64, 128),
            tta="none",
        )
        rows.append(measure(store, ref, tmp, "resnet50_fpn_v2 (cpu, reference)", 3))
        if torch.cuda.is_available():
            big = synthetic_store(tmp / "gpu", 64, 2000, 1300, 0.15)
            gpu = dataclasses.replace(preset("study"), backbone_weights=None, device="cuda", tta="none")
            rows.append(measure(big, gpu, tmp, f"study ({torch.cuda.get_device_name()})", 30))
    df = pd.DataFrame(rows)
    print(df.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(
        f"small / reference training speed: {df['train_img_s'].iloc[0] / df['train_img_s'].iloc[1]:.1f}x; "
        f"inference: {df['infer_img_s'].iloc[0] / df['infer_img_s'].iloc[1]:.1f}x"
    )
    print("no GPU here: the GPU data-path goal (wait < 10 %) is not measured" if not torch.cuda.is_available() else "")


if __name__ == "__main__":
    main()
