"""Fake run folders in the layouts of breastlab.schemas (store, split, config, predictions), a tiny model, the
report of them (the layout probe of a page in headless Chromium is in tests/conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from breastlab._io import write_json, write_table
from breastlab.data.store import StoreWriter
from breastlab.report import write_report
from breastlab.schemas import SPLIT

SIZE = 32


def _tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )


def tiny_loader(run_dir: Path):
    """Stand-in for breastlab.train.load_run_model: a fixed tiny CNN and the run's config."""
    return _tiny_model().eval(), json.loads((Path(run_dir) / "config.json").read_text())


def _make_store(root: Path, n_patients: int = 24, slices: int = 4) -> tuple[Path, pd.DataFrame]:
    rng = np.random.default_rng(0)
    writer = StoreWriter(root / "store", shape=(SIZE, SIZE))
    for i in range(n_patients):
        pid = f"Breast_MRI_{i:03d}"
        imgs, rows = [], []
        for k in range(slices):
            label = k % 2
            img = (rng.random((SIZE, SIZE)) * 60).astype(np.uint8)
            if label:
                r, c = rng.integers(2, SIZE - 10, 2)
                img[r : r + 8, c : c + 8] = 250
            imgs.append(img)
            rows.append({"image_id": f"{pid}:{k}", "patient_id": pid, "slice_index": k, "label": label})
        writer.write_shard(pid, np.stack(imgs), pd.DataFrame(rows))
    store = writer.finalize()
    return store.path, store.manifest


def make_run(root: Path, store_dir: Path, manifest: pd.DataFrame, rho: float, name: str, seed: int) -> Path:
    """A split with correlation ``rho`` between label and attribute on train/val (none on test) and a run on it."""
    rng = np.random.default_rng(seed)
    man = manifest[["row", "image_id", "patient_id", "label"]].copy()
    patients = sorted(man["patient_id"].unique())
    split_of = {p: ("train" if i % 3 == 0 else "val" if i % 3 == 1 else "test") for i, p in enumerate(patients)}
    man["split"] = man["patient_id"].map(split_of)
    aligned = rng.random(len(man)) < np.where(man["split"] == "test", 0.5, (1 + rho) / 2)
    pos_attr = np.where(man["label"] == 1, "1.5", "3.0")
    neg_attr = np.where(man["label"] == 1, "3.0", "1.5")
    man["attribute"] = np.where(aligned, pos_attr, neg_attr)
    man["group"] = man["label"].astype(str) + "|" + man["attribute"]
    man["transform"] = np.where(rng.random(len(man)) < 0.3, "vflip", "")
    split_dir = root / f"split_{name}"
    write_table(man, split_dir / "manifest.parquet")
    write_json({SPLIT.rho: rho}, split_dir / SPLIT.summary)
    write_json(
        {
            "layout": SPLIT.layout,
            "store": str(store_dir),
            "config": {"feature": "field_strength", "rho": rho, "seed": seed},
        },
        split_dir / SPLIT.config,
    )
    run = root / "sweep" / name
    # A model that leans on the attribute more when rho is large.
    w = 0.2 + 0.7 * rho
    score = np.clip(w * (man["attribute"] == "1.5") + (1 - w) * man["label"] + rng.normal(0, 0.2, len(man)), 0, 1)
    pred = man.assign(score=score.astype(float), pred=(score >= 0.5).astype(int))
    write_table(
        pred[["row", "image_id", "patient_id", "split", "label", "group", "attribute", "transform", "score", "pred"]],
        run / "predictions.parquet",
    )
    write_json(
        {
            "model": "tiny_cnn",
            "method": "erm",
            "optimizer": "adam",
            "lr": 1e-3,
            "wd": 0,
            "epochs": 1,
            "seed": seed,
            "store": str(store_dir),
            "split": str(split_dir),
            "image_size": SIZE,
            "in_channels": 1,
        },
        run / "config.json",
    )
    return run


@pytest.fixture(scope="session")
def fake_sweep(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sweep_root")
    store_dir, manifest = _make_store(root)
    for i, rho in enumerate((0.0, 0.5, 0.9)):
        make_run(root, store_dir, manifest, rho, f"rho{rho:g}", seed=i)
    return root / "sweep"


@pytest.fixture(scope="session")
def model_loader():
    return tiny_loader


@pytest.fixture(scope="session")
def report(fake_sweep, model_loader, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    return write_report(fake_sweep, out, n_boot=100, seed=0, model_loader=model_loader, per_kind=4)


@pytest.fixture(scope="session")
def report_with_reader_study(fake_sweep, model_loader, tmp_path_factory) -> Path:
    """The shortcut runs and a reader study (its tables and MRMC analysis) on one page."""
    from breastlab.evaluate.stats import reader_study, simulate_reader_study

    root = tmp_path_factory.mktemp("report_rs")
    study = reader_study(simulate_reader_study(n_cases=80, readers_per_group=3, seed=2, ai_skill=2.2))
    folder = study.write(root / "reader_study", heading="AI-assisted reader study", description="simulated readers")
    return write_report(
        [fake_sweep, folder], root / "report.html", n_boot=100, seed=0, model_loader=model_loader, per_kind=4
    )
