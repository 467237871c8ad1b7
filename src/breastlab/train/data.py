"""Training input pipeline on tensors from the array store (no image files decoded).

SpurBreast's loader opens a PNG per sample and runs ``Resize(256)``,
``RandomResizedCrop(224)``, ``ToTensor()`` (evaluation: ``Resize(224)``). Here a
whole batch is read from the store's memory map as uint8, moved to the device
(GPU when there is one) and transformed there:

* the crop box of every sample is drawn exactly as torchvision's
  ``RandomResizedCrop.get_params`` draws it (area share ~ U(0.08, 1), log aspect
  ratio ~ U(log 3/4, log 4/3), 10 attempts, central-crop fallback), vectorised over
  the batch, directly in the stored image's frame. ``Resize(256)`` only changes the
  scale and the box distribution is scale-invariant (area share, aspect ratio and
  relative offset), so this equals Resize(256) + RandomResizedCrop up to the integer
  rounding of the box, with one resampling instead of two;
* each box is resized to 224 x 224 with anti-aliased bilinear interpolation
  (torchvision's ``resized_crop``; on the CPU on the uint8 pixels, as PIL does);
* values are scaled to [0, 1] like ``ToTensor``; no mean/std normalisation (as the
  paper's loader);
* evaluation is torchvision's ``Resize((224, 224))`` (anti-aliased bilinear).

The split's ``transform`` column ("vflip", "hflip") is applied to the pixels at
load time; the store is never modified.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from breastlab.curate.split_store import (
    SPLIT_COLUMNS,
    SPLIT_NAMES,
    check_split_store,
)
from breastlab.data.store import ArrayStore, manifest_checksum
from breastlab.errors import BreastlabInputError
from breastlab.transforms import apply_transforms


# --------------------------------------------------------------------------- split + store
def check_split_matches_store(man: pd.DataFrame, split_dir: str | os.PathLike, store: ArrayStore) -> None:
    """The split must address this store (:func:`breastlab.curate.split_store.check_split_store`), a
    fixed-layout one (the batches are slices of one array)."""
    check_split_store(man, split_dir, store)
    if store.layout != "fixed":
        raise BreastlabInputError(f"{store.path}: training needs a fixed-layout store (one image size)")


def split_checksum(man: pd.DataFrame) -> str:
    return manifest_checksum(man[SPLIT_COLUMNS])


# --------------------------------------------------------------------------- image source
class ImageSource:
    """Batches of stored images as uint8 tensors on ``device``.

    ``preload=True`` copies the addressed images to the device once (GPU: no host
    traffic per batch); otherwise each batch is read from the memory map.
    """

    def __init__(self, store: ArrayStore, rows: np.ndarray, device: torch.device, preload: bool = False) -> None:
        self.store = store
        self.rows = np.asarray(rows, dtype=np.int64)
        self.device = device
        self._cache: torch.Tensor | None = None
        if preload:
            self._cache = torch.from_numpy(store.batch(self.rows)).to(device)

    def get(self, positions: np.ndarray) -> torch.Tensor:
        positions = np.asarray(positions, dtype=np.int64)
        if self._cache is not None:
            return self._cache[torch.from_numpy(positions).to(self.device)]
        batch = torch.from_numpy(self.store.batch(self.rows[positions]))
        if self.device.type == "cuda":
            batch = batch.pin_memory().to(self.device, non_blocking=True)
        return batch

    def for_training(self, positions: np.ndarray) -> MappedBatch | torch.Tensor:
        """A batch for :func:`preprocess_train`: on the CPU left in the memory map (crops are read from it)."""
        if self._cache is not None or self.device.type != "cpu":
            return self.get(positions)
        return MappedBatch(self.store.images, self.rows[np.asarray(positions, dtype=np.int64)])


@dataclass(frozen=True)
class MappedBatch:
    """Images of a fixed-layout store, addressed by row and not yet copied out of its memory map.

    The CPU path of :func:`preprocess_train` cuts each crop straight from the map (in its
    threads), so whole images are never gathered; every other use gathers the batch first.
    """

    images: np.ndarray  # (N, H, W) memory map
    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def gather(self) -> np.ndarray:
        return np.ascontiguousarray(self.images[self.rows])


# --------------------------------------------------------------------------- transforms
def _as_batch(images: torch.Tensor | np.ndarray, device: torch.device | None) -> tuple[torch.Tensor, float]:
    """(B, 1, H, W) tensor in its own dtype on ``device`` and the value that maps to 1.0 (255 for uint8)."""
    t = torch.as_tensor(images)
    if device is not None:
        t = t.to(device, non_blocking=True)
    if t.ndim == 2:
        t = t[None]
    if t.ndim == 3:
        t = t[:, None]
    if t.ndim != 4 or t.shape[1] != 1:
        raise BreastlabInputError(f"images: expected (B, H, W) or (B, 1, H, W), got {tuple(t.shape)}")
    if t.dtype.is_floating_point:
        return t.float(), 1.0
    scale = float(torch.iinfo(t.dtype).max)  # ToTensor's 1/255 for uint8
    return (t if t.dtype == torch.uint8 else t.float()), scale  # few kernels take uint16


def _to_float(images: torch.Tensor | np.ndarray, device: torch.device | None) -> torch.Tensor:
    t, scale = _as_batch(images, device)
    return t.float().div_(scale) if scale != 1.0 else t


_TENSOR_FLIPS = {"vflip": -2, "hflip": -1}  # built-ins done as tensor flips on the device


def random_resized_crop_boxes(
    n: int,
    height: int,
    width: int,
    generator: torch.Generator,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    attempts: int = 10,
) -> torch.Tensor:
    """``n`` crop boxes (top, left, h, w) drawn as torchvision's ``RandomResizedCrop.get_params``, vectorised.

    Each sample gets ``attempts`` candidate boxes (area ~ U(scale) * H * W, log aspect
    ratio ~ U(log ratio)); the first that fits is taken, else the central crop
    clamped to ``ratio``. Integer sizes and offsets as torchvision.
    """
    u = torch.rand(n, attempts, 4, generator=generator, dtype=torch.float64)
    area = height * width
    target = area * (scale[0] + u[..., 0] * (scale[1] - scale[0]))
    lo, hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(lo + u[..., 1] * (hi - lo))
    w = torch.round(torch.sqrt(target * aspect))
    h = torch.round(torch.sqrt(target / aspect))
    ok = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    top = torch.floor(u[..., 2] * (height - h + 1))
    left = torch.floor(u[..., 3] * (width - w + 1))
    first = ok.to(torch.int8).argmax(dim=1, keepdim=True)
    pick = lambda t: t.gather(1, first)[:, 0]  # noqa: E731
    boxes = torch.stack([pick(top), pick(left), pick(h), pick(w)], dim=1)
    # Fallback: central crop with the aspect ratio clamped to ``ratio``.
    in_ratio = width / height
    if in_ratio < min(ratio):
        fw, fh = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        fh, fw = height, int(round(height * max(ratio)))
    else:
        fw, fh = width, height
    fallback = torch.tensor([(height - fh) // 2, (width - fw) // 2, fh, fw], dtype=torch.float64)
    none = ~ok.any(dim=1)
    boxes[none] = fallback
    return boxes


def _finish(x: torch.Tensor, in_channels: int, channels_last: bool) -> torch.Tensor:
    if in_channels == 3:
        x = x.expand(-1, 3, -1, -1)  # the SpurBreast loader's convert("RGB"): a view, no copy
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def preprocess_train(
    images: torch.Tensor | np.ndarray | MappedBatch,
    boxes: torch.Tensor,
    image_size: int = 224,
    in_channels: int = 1,
    transforms: Sequence[str] | None = None,
    device: torch.device | str | None = None,
    channels_last: bool = False,
    threads: int | None = None,
) -> torch.Tensor:
    """Training transform (RandomResizedCrop(image_size) -> [0, 1]) of a batch with given crop boxes.

    ``boxes`` are (top, left, h, w) in the stored image's frame, from
    :func:`random_resized_crop_boxes`. Each box is cut out and resized to ``image_size``
    with anti-aliased bilinear interpolation (torchvision's ``resized_crop``); on the CPU
    this runs on the uint8 pixels (:func:`resize_uint8`, SIMD kernels like PIL) split over
    ``threads`` threads (default: torch's intra-op thread count), on a GPU in float.
    A :class:`MappedBatch` (``ImageSource.for_training``) has its crops read straight from
    the store's memory map.
    """
    device = torch.device(device) if device is not None else None
    if isinstance(images, MappedBatch):
        names = ["" if t is None else str(t) for t in transforms] if transforms is not None else [""] * len(images)
        on_cpu = device is None or device.type == "cpu"
        if on_cpu and images.images.dtype == np.uint8 and set(names) <= {"", *_TENSOR_FLIPS}:
            return _preprocess_mapped(images, names, boxes, image_size, in_channels, channels_last, threads)
        images = images.gather()
    x, scale = _as_batch(images, device)
    x = apply_transforms(x, transforms)
    on_cpu_uint8 = x.dtype == torch.uint8 and x.device.type == "cpu"
    if not on_cpu_uint8:
        x = x.float()
    out = torch.empty((len(x), 1, image_size, image_size), dtype=x.dtype, device=x.device)
    box_list = boxes.to(torch.int64).tolist()
    if len(box_list) != len(x):
        raise BreastlabInputError(f"boxes: {len(box_list)} crop boxes for {len(x)} images")

    def resize(i: int) -> None:
        t, l, h, w = box_list[i]
        if on_cpu_uint8:
            out[i, 0] = resize_uint8(x[i, 0], (t, l, h, w), image_size)
        else:
            out[i] = F.interpolate(
                x[i : i + 1, :, t : t + h, l : l + w],
                size=(image_size, image_size),
                mode="bilinear",
                align_corners=False,
                antialias=True,
            )[0]

    _run_parallel(resize, len(x), threads if on_cpu_uint8 else 1)
    return _finish(out.float().mul_(1.0 / scale), in_channels, channels_last)


def _preprocess_mapped(
    batch: MappedBatch,
    transforms: list[str],
    boxes: torch.Tensor,
    image_size: int,
    in_channels: int,
    channels_last: bool,
    threads: int | None,
) -> torch.Tensor:
    """:func:`preprocess_train` of images still in a memory map: flips are negative-stride views, crops copied once."""
    crops = crop_uint8(batch, boxes, image_size, transforms, threads)
    return to_model_input(crops, in_channels, None, channels_last)


def crop_uint8(
    batch: MappedBatch,
    boxes: torch.Tensor,
    image_size: int = 224,
    transforms: Sequence[str] | None = None,
    threads: int | None = None,
) -> torch.Tensor:
    """The training crops of a uint8 batch as grey uint8 (B, 1, S, S): the smallest thing a loader can ship.

    Same pixels as :func:`preprocess_train` before its scaling to [0, 1]; :func:`to_model_input` finishes
    the job on the device (a quarter of the bytes of float, a twelfth of float RGB, cross the bus).
    """
    box_list = boxes.to(torch.int64).tolist()
    if len(box_list) != len(batch):
        raise BreastlabInputError(f"boxes: {len(box_list)} crop boxes for {len(batch)} images")
    names = ["" if t is None else str(t) for t in transforms] if transforms is not None else [""] * len(batch)
    bad = sorted(set(names) - {"", *_TENSOR_FLIPS})
    if bad:
        raise BreastlabInputError(f"transforms {bad}: crop_uint8 applies only {sorted(_TENSOR_FLIPS)}")
    out = torch.empty((len(batch), 1, image_size, image_size), dtype=torch.uint8)

    def resize(i: int) -> None:
        image = batch.images[batch.rows[i]]
        if names[i]:
            image = np.flip(image, _TENSOR_FLIPS[names[i]])
        out[i, 0] = resize_uint8(image, box_list[i], image_size)

    _run_parallel(resize, len(batch), threads)
    return out


def to_model_input(
    crops: torch.Tensor, in_channels: int = 1, device: torch.device | str | None = None, channels_last: bool = False
) -> torch.Tensor:
    """uint8 crops (B, 1, S, S) -> float in [0, 1] on ``device`` (``v / 255``), grey repeated to ``in_channels``.

    The copy to the device happens before the conversion, so only uint8 crosses the bus; three
    channels are a view of one (as the SpurBreast loader's ``convert("RGB")``, without the copies).
    """
    if device is not None:
        crops = crops.to(device, non_blocking=True)
    return _finish(crops.float().mul_(1.0 / 255), in_channels, channels_last)


_POOLS: dict[int, ThreadPoolExecutor] = {}


def _run_parallel(fn: Callable[[int], None], n: int, threads: int | None) -> None:
    """``fn(i)`` for i < n, on ``threads`` threads (torch kernels release the GIL; default: torch's thread count)."""
    threads = max(1, min(n, torch.get_num_threads() if threads is None else int(threads)))
    if threads == 1:
        for i in range(n):
            fn(i)
        return
    pool = _POOLS.get(threads) or _POOLS.setdefault(threads, ThreadPoolExecutor(threads, "breastlab-resize"))
    list(pool.map(lambda k: [fn(i) for i in range(k, n, threads)], range(threads)))


def _resize_rows_uint8(a: torch.Tensor, rows: int) -> torch.Tensor:
    """Anti-aliased bilinear resize of a contiguous (h, w) uint8 image along its rows to (rows, w); w % 4 == 0.

    Four neighbouring columns travel as the four channels of a channels-last image, so the
    resize runs in torch's vectorised 4-channel uint8 kernel (the 1-channel one is ~2x slower);
    the columns never mix because only the row axis is resized.
    """
    h, w = a.shape
    packed = a.view(1, h, w // 4, 4).permute(0, 3, 1, 2)
    r = F.interpolate(packed, size=(rows, w // 4), mode="bilinear", align_corners=False, antialias=True)
    return r.permute(0, 2, 3, 1).reshape(rows, w)


def _transposed_copy(a: torch.Tensor | np.ndarray) -> torch.Tensor:
    """A contiguous, writable copy of the transpose of a 2-D uint8 view (NumPy's transposing copy is ~2x torch's)."""
    arr = a.numpy() if isinstance(a, torch.Tensor) else a
    return torch.from_numpy(np.array(arr.T, order="C"))


def resize_uint8(image: torch.Tensor | np.ndarray, box: tuple[int, int, int, int], size: int) -> torch.Tensor:
    """Crop ``box`` = (top, left, h, w) of a (H, W) uint8 image and resize it to (size, size), anti-aliased bilinear.

    The result equals ``torchvision.transforms.functional.resized_crop(..., antialias=True)``
    on the uint8 image (PIL's filter; horizontal pass, rounding, vertical pass), computed as
    two row passes of :func:`_resize_rows_uint8`: the first on the transposed crop (its
    columns), the second on the transposed result. ``image`` may be a tensor or a NumPy
    view (a memory map, a flipped view): only the crop is copied. Falls back to the direct
    call when ``size`` or the image height does not allow 4-way packing.
    """
    t, l, h, w = box
    height = image.shape[0]
    h4 = -(-h // 4) * 4
    if size % 4 or h4 > height:
        crop = image[t : t + h, l : l + w]
        crop = torch.from_numpy(np.array(crop, order="C")) if isinstance(crop, np.ndarray) else crop.contiguous()
        return F.interpolate(crop[None, None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)[
            0, 0
        ]
    t0 = min(t, height - h4)  # widen the crop to a multiple of 4 rows with real neighbours (dropped below)
    columns_done = _resize_rows_uint8(_transposed_copy(image[t0 : t0 + h4, l : l + w]), size)  # (size, h4)
    return _resize_rows_uint8(_transposed_copy(columns_done[:, t - t0 : t - t0 + h]), size)


def preprocess_eval(
    images: torch.Tensor | np.ndarray,
    image_size: int = 224,
    in_channels: int = 1,
    transforms: Sequence[str] | None = None,
    device: torch.device | str | None = None,
    channels_last: bool = False,
) -> torch.Tensor:
    """Evaluation transform: uint8 (B, H, W) -> float (B, C, image_size, image_size) in [0, 1].

    ``Resize((image_size, image_size))`` (anti-aliased), the per-image ``transforms``
    ("vflip"/"hflip", the split's ``transform`` column) applied first. Use the run's
    ``config["image_size"]`` and ``config["in_channels"]`` (see ``load_run_model``).
    """
    device = torch.device(device) if device is not None else None
    x = apply_transforms(_to_float(images, device), transforms)
    x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True)
    return _finish(x, in_channels, channels_last)


# --------------------------------------------------------------------------- split tensors
@dataclass
class SplitPart:
    """One part (train/val/test/tune) of a split: positions into the split manifest and per-image arrays."""

    name: str
    index: np.ndarray  # positions in the split manifest
    rows: np.ndarray
    labels: np.ndarray
    groups: np.ndarray  # integer group ids
    transforms: list[str]

    def __len__(self) -> int:
        return len(self.index)


def split_parts(man: pd.DataFrame, group_names: list[str]) -> dict[str, SplitPart]:
    gid = {g: i for i, g in enumerate(group_names)}
    parts = {}
    for name in SPLIT_NAMES:
        sel = np.flatnonzero(man["split"].to_numpy() == name)
        sub = man.iloc[sel]
        parts[name] = SplitPart(
            name=name,
            index=sel,
            rows=sub["row"].to_numpy(np.int64),
            labels=sub["label"].to_numpy(np.int64),
            groups=np.array([gid[g] for g in sub["group"]], dtype=np.int64),
            transforms=sub["transform"].tolist(),
        )
    return parts
