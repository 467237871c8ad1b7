"""breastlab.transforms: one registry of named image transforms for arrays and tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from breastlab.errors import BreastlabInputError
from breastlab.transforms import TRANSFORMS, apply_transforms, register_transform


@pytest.fixture
def rotate180():
    register_transform("rot180_probe", lambda a: np.rot90(a, 2, axes=(-2, -1)), "rotated")
    yield "rot180_probe"
    TRANSFORMS.pop("rot180_probe")


def test_arrays_and_tensors_give_the_same_pixels(rotate180):
    imgs = np.arange(4 * 3 * 5, dtype=np.float32).reshape(4, 1, 3, 5)
    names = ["vflip", "", rotate180, "hflip"]
    expected = np.stack([imgs[0, :, ::-1, :], imgs[1], imgs[2, :, ::-1, ::-1], imgs[3, :, :, ::-1]])
    out = apply_transforms(imgs, names)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(apply_transforms(torch.from_numpy(imgs), names).numpy(), expected)


def test_the_input_is_not_modified():
    imgs = np.arange(8, dtype=np.uint8).reshape(2, 2, 2)
    imgs.setflags(write=False)  # a read-only memory map, as a store hands out
    out = apply_transforms(imgs, ["vflip", None])
    assert out is not imgs and out[0, 0, 0] == 2 and imgs[0, 0, 0] == 0
    x = torch.zeros(1, 1, 2, 2)
    x[0, 0, 0, 0] = 1
    y = apply_transforms(x, ["vflip"])
    assert x[0, 0, 0, 0] == 1 and y[0, 0, 1, 0] == 1


def test_bad_names_and_lengths_are_clear_errors():
    with pytest.raises(BreastlabInputError, match=r"transform values \['warp'\] unknown; valid: .*'hflip', 'vflip'"):
        apply_transforms(np.zeros((1, 2, 2)), ["warp"])
    with pytest.raises(BreastlabInputError, match="2 values for 1 images"):
        apply_transforms(np.zeros((1, 2, 2)), ["vflip", ""])
    with pytest.raises(BreastlabInputError, match="without '|'"):
        register_transform("a|b", lambda a: a, "x")


# ----------------------------------------------------------------------------- crops, resizes, intensities
def _boxes(rng, n, height, width):
    out = []
    for _ in range(n):
        h, w = int(rng.integers(1, height + 1)), int(rng.integers(1, width + 1))
        out.append((int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w))
    return out


@pytest.mark.parametrize("size", [24, 22, 60])  # 22: no 4-way packing (the direct kernel call)
def test_resized_crop_uint8_equals_torchvision_resized_crop(size):
    from torchvision.transforms.v2 import functional as TF

    from breastlab.transforms import resized_crop_uint8

    rng = np.random.default_rng(size)
    image = rng.integers(0, 256, (50, 46), dtype=np.uint8)
    for box in [*_boxes(rng, 40, 50, 46), (0, 0, 50, 46), (47, 0, 3, 46)]:  # the last: a crop at the bottom edge
        ref = TF.resized_crop(torch.from_numpy(image)[None], *box, [size, size], antialias=True)[0]
        assert torch.equal(resized_crop_uint8(image, box, size), ref), box
        assert torch.equal(resized_crop_uint8(torch.from_numpy(image), box, size), ref), box
        out = torch.empty(size, size, dtype=torch.uint8)
        assert resized_crop_uint8(np.flip(image, -2), box, size, out) is out
        assert torch.equal(out, TF.resized_crop(torch.from_numpy(image).flip(-2)[None], *box, [size, size])[0])


def test_resized_crops_uint8_reads_rows_with_flips_on_any_thread_count():
    from torchvision.transforms.v2 import functional as TF

    from breastlab.transforms import resized_crops_uint8

    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (5, 40, 36), dtype=np.uint8)
    rows, flips = [4, 0, 4, 2], [None, -2, -1, None]
    boxes = torch.tensor(_boxes(rng, 4, 40, 36), dtype=torch.float64)
    one = resized_crops_uint8(images, boxes, 16, rows, flips, threads=1)
    three = resized_crops_uint8(images, boxes, 16, rows, flips, threads=3)
    assert one.shape == (4, 1, 16, 16) and one.dtype == torch.uint8 and torch.equal(one, three)
    elsewhere = torch.from_numpy(images).to("meta")  # a tensor off the CPU (a GPU's, on a GPU machine)
    with pytest.raises(BreastlabInputError, match="images on meta: the uint8 crops are cut on the CPU"):
        resized_crops_uint8(elsewhere, boxes, 16, rows, flips)
    for i, (r, f) in enumerate(zip(rows, flips, strict=True)):
        image = torch.from_numpy(images[r]) if f is None else torch.from_numpy(images[r]).flip(f)
        box = [int(v) for v in boxes[i]]
        assert torch.equal(one[i], TF.resized_crop(image[None], *box, [16, 16], antialias=True))
    with pytest.raises(BreastlabInputError, match="3 crop boxes for 4 images"):
        resized_crops_uint8(images, boxes[:3], 16, rows)
    with pytest.raises(BreastlabInputError, match="flips: 1 values for 4 images"):
        resized_crops_uint8(images, boxes, 16, rows, [None])
    with pytest.raises(BreastlabInputError, match=r"flips: axes \[0\]; valid: -2 \(rows\), -1"):
        resized_crops_uint8(images, boxes, 16, rows, [0, None, None, None])


def test_resizes_of_float_batches_match_pil_and_block_means():
    from PIL import Image

    from breastlab.transforms import resize_area, resize_bilinear

    rng = np.random.default_rng(2)
    image = rng.random((37, 29)).astype(np.float32)
    pil = np.asarray(Image.fromarray(image, mode="F").resize((13, 17), Image.BILINEAR))
    ours = resize_bilinear(torch.from_numpy(image)[None, None], (17, 13))[0, 0].numpy()
    np.testing.assert_allclose(ours, pil, atol=1e-5)
    blocks = rng.random((2, 1, 12, 8)).astype(np.float32)
    means = blocks.reshape(2, 1, 3, 4, 2, 4).mean(axis=(3, 5))
    np.testing.assert_allclose(resize_area(torch.from_numpy(blocks), (3, 2)).numpy(), means, rtol=1e-6)
    assert resize_bilinear(torch.zeros(1, 1, 5, 7), 4).shape == (1, 1, 4, 4)


def test_scale_to_unit_divides_as_to_tensor_or_multiplies_by_the_reciprocal():
    from torchvision.transforms import functional as TF

    from breastlab.transforms import scale_to_unit

    values = np.arange(256, dtype=np.uint8)
    exact = TF.to_tensor(values.reshape(16, 16, 1))[0].ravel()  # ToTensor: v / 255
    assert torch.equal(scale_to_unit(torch.from_numpy(values)), exact)
    assert np.array_equal(scale_to_unit(values), exact.numpy())
    assert scale_to_unit(values, dtype=np.float64).dtype == np.float64
    np.testing.assert_array_equal(scale_to_unit(values, dtype=np.float64), values / 255.0)
    by_reciprocal = scale_to_unit(torch.from_numpy(values), reciprocal=True)
    assert torch.equal(by_reciprocal, torch.from_numpy(values.astype(np.float32) * np.float32(1 / 255)))
    assert 0 < int((by_reciprocal != exact).sum()) < 256  # the two roundings really differ
    assert scale_to_unit(torch.tensor([65535], dtype=torch.int32), 65535.0).item() == 1.0


def test_grey_to_channels_is_a_view_equal_to_pil_convert_rgb():
    from PIL import Image

    from breastlab.transforms import grey_to_channels

    grey = np.random.default_rng(3).integers(0, 256, (6, 5), dtype=np.uint8)
    x = torch.from_numpy(grey)[None, None]
    rgb = grey_to_channels(x, 3)
    assert rgb.data_ptr() == x.data_ptr()
    assert np.array_equal(rgb[0].permute(1, 2, 0).numpy(), np.asarray(Image.fromarray(grey).convert("RGB")))
    assert grey_to_channels(x.float(), 3, channels_last=True).is_contiguous(memory_format=torch.channels_last)
    assert grey_to_channels(x, 1) is x
    with pytest.raises(BreastlabInputError, match="expected one channel, got 3"):
        grey_to_channels(rgb, 3)


def test_percentile_window_and_window_to_uint8():
    from breastlab.transforms import percentile_window, window_to_uint8

    values = np.random.default_rng(4).normal(100, 30, 1000)
    assert percentile_window(values, (0.5, 99.5)) == tuple(np.percentile(values, [0.5, 99.5]))
    assert percentile_window(np.full(10, 7.0), (1, 99)) == (7.0, 8.0)  # a constant sample: a window of width 1
    v = np.array([[-5.0, 10.0, 137.4, 137.5, 138.5, 265.0, 400.0]], np.float32)
    expected = np.array([[0, 0, 127, 128, 128, 255, 255]], np.uint8)  # window of width 255: v - 10, halves to even
    np.testing.assert_array_equal(window_to_uint8(v, 10.0, 265.0), expected)
    out = np.zeros_like(expected)
    assert window_to_uint8(v, 10.0, 265.0, out=out) is out and np.array_equal(out, expected)
    assert v[0, 2] == np.float32(137.4)  # the input is left as it is
