"""Faster R-CNN smoke path: empty targets, training + resume, prediction, TTA, bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from breastlab.detect.model import (
    DetectionData,
    build_model,
    load_detector,
    predict,
    predict_images,
    preset,
    store_targets,
    train_detector,
)
from breastlab.errors import BreastlabInputError

CFG = preset("cpu-small", iterations=2, batch_size=2, checkpoint_every=1, warmup_iters=1)


def test_empty_targets_train_as_negatives():
    torch.manual_seed(0)
    model = build_model(CFG).train()
    imgs = [torch.rand(3, 64, 64), torch.rand(3, 64, 64)]
    tgts = [
        {"boxes": torch.zeros((0, 4)), "labels": torch.zeros(0, dtype=torch.int64)},
        {"boxes": torch.tensor([[10.0, 10.0, 30.0, 30.0]]), "labels": torch.tensor([1])},
    ]
    losses = model(imgs, tgts)
    assert all(torch.isfinite(v) for v in losses.values())
    # a batch of negatives only: finite, and no box-regression loss to learn from
    neg = model(imgs, [tgts[0], tgts[0]])
    assert all(torch.isfinite(v) for v in neg.values())
    assert neg["loss_box_reg"].item() == 0.0 and neg["loss_rpn_box_reg"].item() == 0.0
    sum(neg.values()).backward()


def test_augmentation_keeps_boxes_on_the_finding(tiny_store):
    cfg = dataclasses.replace(CFG, rescale=(1.2, 1.2), hflip=True)
    data = DetectionData(tiny_store, cfg, store_targets(tiny_store, cfg))
    img0, t0 = data[(0, -1)]
    for seed in range(4):
        img, t = data[(0, seed)]
        x0, y0, x1, y1 = t["boxes"][0].round().int().tolist()
        # the brightest pixels of the disk stay inside the moved box
        inside = img[0, y0:y1, x0:x1].max()
        assert inside >= img[0].max() - 1e-6
        assert img.shape[1] == round(img0.shape[1] * 1.2)


def test_train_resume_predict(tiny_store, tmp_path):
    run = tmp_path / "run"
    train_detector(tiny_store, run, CFG, stop_after=1, progress=False)
    assert (run / "checkpoint.pt").exists() and not (run / "model.pt").exists()
    with pytest.raises(BreastlabInputError, match="resume"):
        train_detector(tiny_store, run, CFG, progress=False)
    train_detector(tiny_store, run, CFG, resume=True, progress=False)
    metrics = pd.read_csv(run / "metrics.csv")
    assert metrics["iteration"].tolist() == [1, 2]
    assert (run / "model.pt").exists()
    model, cfg = load_detector(run)
    det = predict(model, dataclasses.replace(cfg, score_threshold=0.0), tiny_store, rows=[0, 1], progress=False)
    assert set(det.columns) >= {"image_id", "finding_class", "score", "x0", "y0", "x1", "y1"}
    assert (det["x1"] > det["x0"]).all() and det["x1"].max() <= 80 and det["y1"].max() <= 96
    with pytest.raises(BreastlabInputError, match="trained with classes"):
        load_detector(run, classes=("mass",))


def test_run_records_its_store_relative_and_earlier_runs_still_resume(tiny_store, tmp_path):
    """config.json names the store relative to the run (no local path); a run of an earlier version,
    whose fingerprint holds the store as it was given, still resumes."""
    import json
    import os

    from breastlab.runtime import load_torch, save_torch

    run = tmp_path / "run"
    train_detector(tiny_store, run, CFG, stop_after=1, progress=False)
    saved = json.loads((run / "config.json").read_text())
    assert saved["store"] == os.path.relpath(tiny_store.path.resolve(), run.resolve())
    assert str(tmp_path) not in json.dumps(saved)
    given = str(tiny_store.path)  # what an earlier version recorded, in config.json and the checkpoint
    (run / "config.json").write_text(json.dumps({**saved, "store": given}))
    ck = load_torch(run / "checkpoint.pt")
    save_torch({**ck, "fingerprint": {**ck["fingerprint"], "store": given}}, run / "checkpoint.pt")
    train_detector(tiny_store, run, CFG, resume=True, progress=False)
    assert pd.read_csv(run / "metrics.csv")["iteration"].tolist() == [1, 2] and (run / "model.pt").exists()


def test_tta_flips_map_back():
    """A model whose output follows the image content: WBF of flips gives the identity box back."""

    class Bright(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))

        def forward(self, images):
            out = []
            for x in images:
                ys, xs = torch.nonzero(x[0] > 0.5, as_tuple=True)
                box = torch.stack([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]).float()[None]
                out.append({"boxes": box, "scores": torch.tensor([0.8]), "labels": torch.tensor([1])})
            return out

    img = np.zeros((40, 30), np.float32)
    img[5:12, 3:9] = 1.0
    for tta in ("none", "wbf", "nms"):
        ((b, s, lab),) = predict_images(Bright(), CFG, [img], tta=tta)
        np.testing.assert_allclose(b, [[3, 5, 9, 12]])
        assert lab.tolist() == [0] and s[0] == pytest.approx(0.8)


def test_store_without_spacing_or_other_spacing(tiny_store, store_factory, tmp_path):
    with pytest.raises(BreastlabInputError, match="at 1 mm but the detector works at 0.15 mm"):
        train_detector(tiny_store, tmp_path / "r", preset("study", iterations=1), progress=False)
    nospacing = store_factory(tmp_path / "s", n=2, spacing=np.nan)
    with pytest.raises(BreastlabInputError, match="img0 has no pixel spacing"):
        predict(build_model(CFG), CFG, nospacing, progress=False)
    assert not (tmp_path / "r").exists()
