"""Faster R-CNN smoke path: empty targets, training + resume, prediction, TTA, bad input."""

from __future__ import annotations

import contextlib
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


def _pinned_like_cuda(t: torch.Tensor) -> torch.Tensor:
    """What ``Tensor.pin_memory()`` does on a CUDA machine (``_pin_memory_cuda``): a buffer of the tensor's
    extent with its strides, filled by ``copy_``. Here the buffer is ordinary memory: the test machine has
    no GPU, and without one the DataLoader's ``pin_memory=True`` is skipped."""
    extent = 1 + sum((n - 1) * s for n, s in zip(t.shape, t.stride(), strict=True)) if t.numel() else 0
    buf = torch.empty(extent, dtype=t.dtype)
    return torch.empty(0, dtype=t.dtype).set_(buf.untyped_storage(), 0, t.shape, t.stride()).copy_(t)


def test_loader_batches_can_be_pinned_and_train_with_three_channels(tiny_store):
    """On a GPU the detector's DataLoader pins every batch; an image expanded to three channels (three
    rows of one memory) cannot be pinned, so the loader ships one grey channel and the step expands it."""
    from breastlab.detect.model import DetectorStudy
    from breastlab.train.harness import Step

    cfg = dataclasses.replace(CFG, rescale=(0.9, 1.1), hflip=True)
    data = DetectionData(tiny_store, cfg, store_targets(tiny_store, cfg))
    study = DetectorStudy(data, np.arange(4), cfg, torch.device("cpu"))
    images, targets = next(iter(study.batches(range(0, 1))))
    for x in images:
        assert torch.equal(_pinned_like_cuda(x), x) and x.shape[0] == 1
    for t in targets:
        assert torch.equal(_pinned_like_cuda(t["boxes"]), t["boxes"])
    with pytest.raises(RuntimeError, match="single memory location"):  # what an expanded image met
        _pinned_like_cuda(images[0].expand(3, -1, -1))

    seen = []

    class Recording(torch.nn.Module):
        def forward(self, imgs, tgts):
            seen.extend(imgs)
            return {"loss": sum(x.sum() for x in imgs)}

    out = study.step(Recording(), (images, targets), contextlib.nullcontext)
    assert isinstance(out, Step) and out.n == len(images)
    for x, y in zip(images, seen, strict=True):
        assert y.shape == (3, *x.shape[1:]) and all(torch.equal(y[c], x[0]) for c in range(3))


def test_box_coordinates_stay_float32_under_bf16_autocast():
    """bf16 autocast (the GPU's; the CPU's here) runs the convolutions in bf16; anchors, proposals and
    boxes stay float32 (in bf16 a coordinate above 1024 px is a multiple of 8 px)."""
    torch.manual_seed(0)
    model = build_model(dataclasses.replace(CFG, score_threshold=0.0)).eval()
    seen: dict[str, list] = {"anchors": [], "proposals": []}
    model.rpn.anchor_generator.register_forward_hook(lambda m, a, out: seen["anchors"].append(out))
    model.rpn.register_forward_hook(lambda m, a, out: seen["proposals"].append(out[0]))
    x = [torch.rand(3, 1216, 1000)]
    with torch.no_grad():
        ref = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = model(x)
        again = model(x)
    (a32,), (a16,), (a32_after,) = seen["anchors"]
    assert a16[0].dtype == torch.float32 and torch.equal(a16[0], a32[0])  # anchors depend on shapes only
    assert torch.equal(a32_after[0], a32[0])  # the generator's cell anchors were not rounded in place
    assert seen["proposals"][1][0].dtype == torch.float32
    boxes = half[0]["boxes"]
    assert boxes.dtype == torch.float32 and len(boxes) > 0
    far = boxes[boxes > 1024]
    assert len(far) > 0 and bool((far % 8 != 0).any())  # not on bf16's 8 px grid
    assert torch.equal(again[0]["boxes"], ref[0]["boxes"])  # float32 runs unchanged by the bf16 one
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        losses = model(x, [{"boxes": torch.tensor([[1020.0, 300.0, 1100.0, 390.0]]), "labels": torch.tensor([1])}])
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in losses.values())
