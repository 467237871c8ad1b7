"""The batched input pipeline against torchvision's per-image transforms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats
from torchvision.transforms import RandomResizedCrop
from torchvision.transforms.v2 import functional as TF

from breastlab.errors import BreastlabInputError
from breastlab.train.data import preprocess_eval, preprocess_train
from breastlab.transforms import random_resized_crop_boxes


def test_crop_boxes_follow_torchvision_distribution():
    """Box area share and log aspect ratio have the distribution of RandomResizedCrop.get_params (KS tests)."""
    h, w, n = 256, 300, 3000
    ours = random_resized_crop_boxes(n, h, w, torch.Generator().manual_seed(0)).numpy()
    torch.manual_seed(1)
    img = torch.zeros(1, h, w)
    ref = np.array([RandomResizedCrop.get_params(img, (0.08, 1.0), (3 / 4, 4 / 3)) for _ in range(n)], float)
    for col in range(4):
        assert (ours[:, col] == np.round(ours[:, col])).all()  # integer boxes, as torchvision
    assert (ours[:, 0] >= 0).all() and (ours[:, 0] + ours[:, 2] <= h).all()
    assert (ours[:, 1] >= 0).all() and (ours[:, 1] + ours[:, 3] <= w).all()
    area = lambda b: b[:, 2] * b[:, 3] / (h * w)  # noqa: E731
    logr = lambda b: np.log(b[:, 3] / b[:, 2])  # noqa: E731
    ks = [
        stats.ks_2samp(area(ours), area(ref)).pvalue,
        stats.ks_2samp(logr(ours), logr(ref)).pvalue,
        stats.ks_2samp(ours[:, 0] / h, ref[:, 0] / h).pvalue,
    ]
    print("KS p-values (area, log ratio, top):", ks)
    assert min(ks) > 1e-3


def test_crop_boxes_fallback_is_torchvisions_central_crop():
    """A scale range that can never fit forces the fallback: the central crop clamped to the ratio range."""
    boxes = random_resized_crop_boxes(5, 100, 400, torch.Generator().manual_seed(0), scale=(5.0, 6.0))
    assert (boxes == torch.tensor([0.0, 133.0, 100.0, 133.0], dtype=torch.float64)).all()  # w = round(100 * 4/3)


def test_eval_resize_upsampling_equals_bilinear():
    img = torch.randint(0, 256, (3, 16, 20), dtype=torch.uint8)
    ours = preprocess_eval(img, image_size=40)
    ref = F.interpolate(img[:, None].float() / 255, size=(40, 40), mode="bilinear", align_corners=False)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)


def test_eval_resize_equals_torchvision_resize():
    img = torch.randint(0, 256, (2, 1, 60, 64), dtype=torch.uint8)
    ours = preprocess_eval(img, image_size=28)
    ref = TF.to_dtype(TF.resize(img, [28, 28], antialias=True), torch.float32, scale=True)  # resize on uint8
    torch.testing.assert_close(ours, ref, atol=1 / 255 + 1e-6, rtol=0)
    ref = TF.resize(img.float() / 255, [28, 28], antialias=True)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)


def test_train_crop_equals_torchvision_resized_crop():
    """Each sample is torchvision's resized_crop of its own box (enlarged and reduced boxes)."""
    size, out = 40, 24
    img = torch.randint(0, 256, (4, size, size), dtype=torch.uint8)
    boxes = torch.tensor([[0, 0, 20, 25], [5, 7, 30, 16], [10, 3, 12, 12], [0, 0, 40, 40]], dtype=torch.float64)
    ours = preprocess_train(img, boxes, image_size=out)
    for i, (t, l, h, w) in enumerate(boxes.long().tolist()):
        ref = TF.resized_crop(img[i : i + 1], t, l, h, w, [out, out], antialias=True)  # uint8, as PIL
        torch.testing.assert_close(ours[i], ref.float() / 255, atol=1e-6, rtol=0)
        exact = TF.resized_crop(img[i : i + 1].float(), t, l, h, w, [out, out], antialias=True) / 255
        torch.testing.assert_close(ours[i], exact, atol=1 / 255 + 1e-6, rtol=0)
    # float input (the GPU path) differs from the uint8 path by rounding only
    ours_f = preprocess_train(img.float() / 255, boxes, image_size=out)
    torch.testing.assert_close(ours_f, ours, atol=1 / 255 + 1e-6, rtol=0)


def test_transforms_flip_pixels_at_load_and_channels_repeat():
    img = torch.randint(0, 256, (2, 24, 24), dtype=torch.uint8)
    flipped = preprocess_eval(img, 24, transforms=["vflip", ""])
    plain = preprocess_eval(img, 24)
    torch.testing.assert_close(flipped[0], plain[0].flip(-2))
    torch.testing.assert_close(flipped[1], plain[1])
    rgb = preprocess_eval(img, 24, in_channels=3)
    assert rgb.shape == (2, 3, 24, 24) and torch.equal(rgb[:, 0], rgb[:, 2])
    assert img.dtype == torch.uint8 and math.isclose(float(plain.max()), float(img.max()) / 255, abs_tol=1e-6)
    with pytest.raises(BreastlabInputError, match="rot45"):
        preprocess_eval(img, 24, transforms=["rot45", ""])


def test_transform_registered_with_curation_reaches_the_input_path():
    from breastlab.train.data import apply_transforms
    from breastlab.transforms import TRANSFORMS, register_transform

    register_transform("rot180_test", lambda a: a[..., ::-1, ::-1], "rotated")
    try:
        x = torch.arange(2 * 1 * 3 * 4, dtype=torch.uint8).reshape(2, 1, 3, 4)
        out = apply_transforms(x, ["rot180_test", ""])
        np.testing.assert_array_equal(out[0, 0].numpy(), np.rot90(x[0, 0].numpy(), 2))
        assert torch.equal(out[1], x[1]) and not torch.equal(out[0], x[0])
        with pytest.raises(BreastlabInputError, match="register_transform"):
            apply_transforms(x, ["warp", ""])
    finally:
        TRANSFORMS.pop("rot180_test")


@pytest.mark.parametrize("size", [24, 30])  # 30: no 4-column packing, the direct kernel
def test_uint8_crops_at_edges_and_threads_agree_with_torchvision(size):
    """Boxes touching every border, widths not a multiple of 4, 1 vs 3 threads: same pixels."""
    img = torch.randint(0, 256, (6, 37, 42), dtype=torch.uint8)
    boxes = torch.tensor(
        [[0, 0, 37, 42], [0, 39, 10, 3], [30, 35, 7, 7], [3, 40, 20, 2], [0, 1, 37, 41], [17, 0, 9, 41]],
        dtype=torch.float64,
    )
    one = preprocess_train(img, boxes, image_size=size, threads=1)
    three = preprocess_train(img, boxes, image_size=size, threads=3)
    assert torch.equal(one, three)
    for i, (t, l, h, w) in enumerate(boxes.long().tolist()):
        ref = TF.resized_crop(img[i : i + 1], t, l, h, w, [size, size], antialias=True)  # uint8, as PIL
        torch.testing.assert_close(one[i], ref.float() / 255, atol=1e-6, rtol=0)


def test_mapped_batch_equals_gathered_batch(tmp_path):
    """Crops read straight from the store's memory map (with flips) equal the gathered-tensor path bit for bit."""
    import pandas as pd

    from breastlab.data.store import ArrayStore, write_store
    from breastlab.train.data import ImageSource, MappedBatch

    imgs = np.random.default_rng(3).integers(0, 256, (7, 33, 41), dtype=np.uint8)
    write_store(tmp_path / "s", imgs, pd.DataFrame({"image_id": [str(i) for i in range(7)], "patient_id": "p"}))
    source = ImageSource(ArrayStore(tmp_path / "s"), np.arange(7)[::-1].copy(), torch.device("cpu"))
    positions = np.array([0, 2, 3, 5, 6])
    boxes = random_resized_crop_boxes(5, 33, 41, torch.Generator().manual_seed(1))
    flips = ["", "vflip", "hflip", "", "vflip"]
    mapped = source.for_training(positions)
    assert isinstance(mapped, MappedBatch)
    ours = preprocess_train(mapped, boxes, 20, 3, flips, threads=2)
    ref = preprocess_train(source.get(positions), boxes, 20, 3, flips, threads=1)
    assert torch.equal(ours, ref)
    assert torch.equal(torch.from_numpy(mapped.gather()), torch.from_numpy(imgs[[6, 4, 3, 1, 0]]))


def test_uint8_crops_shipped_then_expanded_equal_the_float_path(tmp_path):
    """Grey uint8 crops + scaling on the device give the float RGB batch bit for bit; the crops match torchvision."""
    import pandas as pd

    from breastlab.data.store import ArrayStore, write_store
    from breastlab.train.data import ImageSource, crop_uint8, to_model_input

    imgs = np.random.default_rng(5).integers(0, 256, (6, 40, 36), dtype=np.uint8)
    write_store(tmp_path / "s", imgs, pd.DataFrame({"image_id": [str(i) for i in range(6)], "patient_id": "p"}))
    source = ImageSource(ArrayStore(tmp_path / "s"), np.arange(6), torch.device("cpu"))
    boxes = random_resized_crop_boxes(6, 40, 36, torch.Generator().manual_seed(2))
    flips = ["", "hflip", "", "vflip", "", ""]
    crops = crop_uint8(source.for_training(np.arange(6)), boxes, 24, flips, threads=2)
    assert crops.dtype == torch.uint8 and crops.shape == (6, 1, 24, 24)
    full = preprocess_train(source.get(np.arange(6)), boxes, 24, 3, flips, threads=1)
    assert torch.equal(to_model_input(crops, 3, "cpu"), full)
    t, l, h, w = boxes[0].long().tolist()
    ref = TF.resized_crop(torch.from_numpy(imgs[:1]), t, l, h, w, [24, 24], antialias=True)
    assert torch.equal(crops[0], ref)
    with pytest.raises(BreastlabInputError, match="crop_uint8 applies only"):
        crop_uint8(source.for_training(np.arange(6)), boxes, 24, ["rot90"] * 6)
    # a gathered batch (a preloaded or GPU source's) has no memory map to cut from: named, not an AttributeError
    gathered = source.get(np.arange(6))
    with pytest.raises(BreastlabInputError, match="batch is a Tensor on cpu; it takes a MappedBatch"):
        crop_uint8(gathered, boxes, 24)
    with pytest.raises(BreastlabInputError, match="batch is a Tensor on meta; it takes a MappedBatch"):
        crop_uint8(gathered.to("meta"), boxes, 24)
