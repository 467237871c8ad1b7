"""The pixel transforms of every study: named flips, crops, resizes and intensity mappings.

One module holds what curation, the trainers and the studies do to pixels, so that one kernel
serves each operation (its numbers are the contract: a seed gives the same crops everywhere):

* crops: :func:`random_resized_crop_boxes` (torchvision's ``RandomResizedCrop`` boxes) and
  :func:`resized_crop_uint8` / :func:`resized_crops_uint8` (a box cut and resized with the
  anti-aliased bilinear filter on uint8 pixels, in torch's SIMD kernel);
* resizes of float batches: :func:`resize_bilinear` (anti-aliased bilinear, torchvision's
  ``Resize``) and :func:`resize_area` (box average);
* intensity mappings: :func:`percentile_window` and :func:`window_to_uint8` (a window of the
  intensities to 0..255), :func:`scale_to_unit` ([0, 1] scaling as ``ToTensor``) and
  :func:`grey_to_channels` (grey repeated to RGB as ``convert("RGB")``, a view);
* named transforms, applied per image by the name a split's manifest gives it (below).

torch is imported inside the functions that need it: curation and the command line's help
import this module without loading torch.

Named transforms
----------------

An image-transform feature of a split (SpurBreast's "vertical alignment": ``"vflip"``) is a
pixel operation that the loaders apply at load time to the rows whose manifest ``transform``
column names it; the array store is never modified. Curation builds splits from these names,
the trainers and the report apply them, and a new one is added with :func:`register_transform`.

A transform maps an array whose last two axes are (rows, columns) to one of the same shape.
The built-in flips also carry the axis they reverse, so that a batch on a GPU is flipped there.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np

from breastlab.errors import BreastlabInputError


@dataclasses.dataclass(frozen=True)
class ImageTransform:
    """A pixel operation applied at load time to the rows that name it.

    ``fn`` maps an array whose last two axes are (rows, columns) to one of the same shape;
    ``attribute`` is the manifest attribute of transformed rows ("flipped"), untransformed rows
    get ``"original"``. ``flip_axis``: the axis a flip reverses (-2 rows, -1 columns), else None.
    """

    name: str
    attribute: str
    fn: Callable[[np.ndarray], np.ndarray]
    description: str = ""
    flip_axis: int | None = None


TRANSFORMS: dict[str, ImageTransform] = {}


def register_transform(
    name: str,
    fn: Callable[[np.ndarray], np.ndarray],
    attribute: str,
    description: str = "",
    flip_axis: int | None = None,
) -> None:
    """Make a new image-transform feature available to the split builder and the loaders."""
    if not name or "|" in name or "," in name:
        raise BreastlabInputError(f"transform name {name!r}: use a short identifier without '|' or ','")
    TRANSFORMS[name] = ImageTransform(name, attribute, fn, description, flip_axis)


def get_transform(name: str) -> ImageTransform:
    """The registered transform ``name``."""
    if name not in TRANSFORMS:
        raise BreastlabInputError(f"transform {name!r} is not registered; known transforms: {sorted(TRANSFORMS)}")
    return TRANSFORMS[name]


register_transform(
    "vflip",
    lambda a: a[..., ::-1, :],
    "flipped",
    "vertical flip (rows reversed): SpurBreast's 'vertical alignment' feature",
    flip_axis=-2,
)
register_transform("hflip", lambda a: a[..., :, ::-1], "mirrored", "horizontal flip (columns reversed)", flip_axis=-1)


def apply_transforms(images, transforms: Sequence[str | None] | np.ndarray | None):
    """Apply each image's transform (the manifest's ``transform`` column; "" or None: none) to a batch.

    ``images``: a numpy array (N, H, W) or (N, C, H, W), or a torch tensor (N, C, H, W) on any
    device; the result is a new array or tensor of the same kind (the input, often a read-only
    memory map, is not modified). Flips run on the tensor's device; any other transform runs its
    array function per image.
    """
    if transforms is None:
        return images
    names = ["" if t is None else str(t) for t in transforms]
    if len(names) != len(images):
        raise BreastlabInputError(f"transforms: {len(names)} values for {len(images)} images")
    wanted = sorted(set(names) - {""})
    unknown = [n for n in wanted if n not in TRANSFORMS]
    if unknown:
        raise BreastlabInputError(
            f"transform values {unknown} unknown; valid: {sorted(TRANSFORMS)} "
            "(register new ones with breastlab.transforms.register_transform)"
        )
    if isinstance(images, np.ndarray) or not hasattr(images, "clone"):
        return _apply_arrays(np.asarray(images), names, wanted)
    return _apply_tensor(images, names, wanted)


def _apply_arrays(images: np.ndarray, names: list[str], wanted: list[str]) -> np.ndarray:
    out = np.array(images, copy=True)
    for name in wanted:
        idx = np.flatnonzero(np.asarray(names, dtype=object) == name)
        out[idx] = TRANSFORMS[name].fn(images[idx])
    return out


def _apply_tensor(x, names: list[str], wanted: list[str]):
    import torch

    if not wanted:
        return x
    x = x.clone()
    for name in wanted:
        idx = [i for i, t in enumerate(names) if t == name]
        sel = torch.tensor(idx, device=x.device)
        transform = TRANSFORMS[name]
        if transform.flip_axis is not None:
            x[sel] = x[sel].flip(transform.flip_axis)
        else:
            done = [torch.from_numpy(np.ascontiguousarray(transform.fn(x[i].cpu().numpy()))) for i in idx]
            x[sel] = torch.stack(done).to(device=x.device, dtype=x.dtype)
    return x


# ----------------------------------------------------------------------------- crops
def flip_axes() -> dict[str, int]:
    """The registered transforms that are flips, with the axis each reverses ({"vflip": -2, "hflip": -1})."""
    return {name: t.flip_axis for name, t in TRANSFORMS.items() if t.flip_axis is not None}


def random_resized_crop_boxes(
    n: int,
    height: int,
    width: int,
    generator,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    attempts: int = 10,
):
    """``n`` crop boxes (top, left, h, w) drawn as torchvision's ``RandomResizedCrop.get_params``, vectorised.

    Each sample gets ``attempts`` candidate boxes (area ~ U(scale) * H * W, log aspect
    ratio ~ U(log ratio)); the first that fits is taken, else the central crop
    clamped to ``ratio``. Integer sizes and offsets as torchvision. ``generator``: a
    ``torch.Generator``; the result is a float64 tensor (n, 4).
    """
    import torch

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


def resized_crop_uint8(image, box: tuple[int, int, int, int], size: int, out=None):
    """Crop ``box`` = (top, left, h, w) of a (H, W) uint8 image and resize it to (size, size), anti-aliased bilinear.

    The result equals ``torchvision.transforms.v2.functional.resized_crop(..., antialias=True)``
    on the uint8 image: PIL's algorithm (a separable triangle filter widened by the scale factor;
    horizontal pass, rounding to uint8, vertical pass) in torch's fixed-point arithmetic, which
    differs from today's Pillow by one grey level in about 5 % of the pixels. ``image``
    may be a tensor or a NumPy view (a memory map, a flipped view): only the crop is copied.
    ``out``: a contiguous (size, size) uint8 tensor the result is written to (and returned).
    See :func:`_crop_into` for how it runs in torch's fastest kernel.
    """
    import torch

    if isinstance(image, torch.Tensor):
        image = _cpu_pixels(image, "image")
    if out is None:
        out = torch.empty((size, size), dtype=torch.uint8)
    batch = out[None, None]
    _crop_into(image, box, size, batch, 0, _packed_rows(batch) if size % 4 == 0 else None)
    return out


def resized_crops_uint8(
    images,
    boxes,
    size: int,
    rows: Sequence[int] | np.ndarray | None = None,
    flips: Sequence[int | None] | None = None,
    threads: int | None = None,
):
    """:func:`resized_crop_uint8` of box ``i`` of image ``rows[i]`` (default: image i), as uint8 (B, 1, size, size).

    ``images``: (N, H, W) uint8, a NumPy array (a memory map: only the crops are read) or a CPU
    tensor; ``boxes``: (B, 4) (top, left, h, w), e.g. from :func:`random_resized_crop_boxes`;
    ``flips``: per crop the axis (-2 rows, -1 columns) the image is flipped along before its
    box is cut, or None. The crops are split over ``threads`` threads (torch's kernels release
    the GIL; default: torch's intra-op thread count).
    """
    import torch

    box_list = torch.as_tensor(boxes).to(torch.int64).tolist()
    pixels = _cpu_pixels(images, "images") if isinstance(images, torch.Tensor) else np.asarray(images)
    rows = list(range(len(box_list))) if rows is None else np.asarray(rows, dtype=np.int64).tolist()
    if len(rows) != len(box_list):
        raise BreastlabInputError(f"boxes: {len(box_list)} crop boxes for {len(rows)} images")
    if flips is not None and len(flips) != len(rows):
        raise BreastlabInputError(f"flips: {len(flips)} values for {len(rows)} images")
    bad = sorted({f for f in flips or () if f not in (None, -2, -1)})
    if bad:
        raise BreastlabInputError(f"flips: axes {bad}; valid: -2 (rows), -1 (columns) or None")
    out = torch.empty((len(rows), 1, size, size), dtype=torch.uint8)
    packed = _packed_rows(out) if size % 4 == 0 else None

    def crop(i: int) -> None:
        image = pixels[rows[i]]
        if flips is not None and flips[i] is not None:  # a reversed view (np.flip's, at a tenth of its cost)
            image = image[::-1] if flips[i] == -2 else image[:, ::-1]
        _crop_into(image, box_list[i], size, out, i, packed)

    run_parallel(crop, len(rows), threads)
    return out


def _cpu_pixels(t, name: str) -> np.ndarray:
    """A CPU tensor's pixels as an array (a view); a tensor on another device is refused."""
    if t.device.type != "cpu":
        raise BreastlabInputError(
            f"{name} on {t.device}: the uint8 crops are cut on the CPU (a NumPy array or a CPU tensor); "
            "on a GPU resize float tensors with resize_bilinear"
        )
    return t.numpy()


_POOLS: dict = {}


def run_parallel(fn: Callable[[int], None], n: int, threads: int | None) -> None:
    """``fn(i)`` for i < n, on ``threads`` threads (torch kernels release the GIL; default: torch's thread count)."""
    import torch

    threads = max(1, min(n, torch.get_num_threads() if threads is None else int(threads)))
    if threads == 1:
        for i in range(n):
            fn(i)
        return
    from concurrent.futures import ThreadPoolExecutor

    pool = _POOLS.get(threads) or _POOLS.setdefault(threads, ThreadPoolExecutor(threads, "breastlab-resize"))
    list(pool.map(lambda k: [fn(i) for i in range(k, n, threads)], range(threads)))


def _packed_rows(x):
    """A (B, 1, R, C) uint8 tensor, C % 4 == 0, as (B, 4, R, C / 4) in channels-last memory: a view, no copy.

    Four neighbouring columns become the four channels of one pixel. Resized along its rows,
    such an image runs in torch's vectorised 4-channel uint8 kernel (the 1-channel one is
    several times slower), and the columns never mix because only the row axis is resized.
    """
    b, _, r, c = x.shape
    return x.view(b, r, c // 4, 4).permute(0, 3, 1, 2)


def _crop_into(image: np.ndarray, box: tuple[int, int, int, int], size: int, out, i: int, packed) -> None:
    """Write the resized crop ``box`` of the (H, W) uint8 array ``image`` into ``out[i, 0]`` ((B, 1, size, size)).

    Two row passes in torch's 4-channel kernel (:func:`_packed_rows`): the first resizes the
    columns of the transposed crop (PIL's horizontal pass; rows widened to a multiple of 4 with
    their real neighbours, dropped after), the second the rows of the transposed result (PIL's
    vertical pass), written straight into ``packed[i]`` (``out`` as :func:`_packed_rows`; None
    when ``size % 4``). NumPy makes the transposing copies (about twice as fast as torch's) and
    the packed views (a tenth of the time of torch's ``view``/``permute`` dispatch); the kernel
    is called as ``F.interpolate(..., mode="bilinear", antialias=True)`` calls it, without that
    function's argument checks. A crop whose padded rows do not fit, or a ``size`` not divisible
    by 4, takes the direct 1-channel call (same pixels, slower).
    """
    import torch

    t, l, h, w = box
    height = image.shape[0]
    h4 = (h + 3) // 4 * 4
    if packed is None or h4 > height:
        crop = torch.from_numpy(np.array(image[t : t + h, l : l + w], order="C"))
        out[i, 0] = resize_bilinear(crop[None, None], size)[0, 0]
        return
    kernel = torch._C._nn._upsample_bilinear2d_aa
    t0 = min(t, height - h4)
    columns = np.array(image[t0 : t0 + h4, l : l + w].T, order="C").reshape(1, w, h4 // 4, 4)
    columns_done = kernel(torch.from_numpy(columns.transpose(0, 3, 1, 2)), [size, h4 // 4], False, None)
    rows = columns_done.numpy().transpose(0, 2, 3, 1).reshape(size, h4)[:, t - t0 : t - t0 + h]
    rows = np.array(rows.T, order="C").reshape(1, h, size // 4, 4)
    kernel(torch.from_numpy(rows.transpose(0, 3, 1, 2)), [size, size // 4], False, None, out=packed[i : i + 1])


# ----------------------------------------------------------------------------- resizes of float batches
def resize_bilinear(x, size: int | tuple[int, int]):
    """Anti-aliased bilinear resize of a (N, C, H, W) tensor to ``size`` (torchvision's ``Resize(antialias=True)``).

    Pixel centres aligned (``align_corners=False``); when shrinking, the triangle filter is widened
    by the scale factor so that every input pixel contributes (PIL's ``Image.resize(BILINEAR)``).
    """
    import torch.nn.functional as F

    size = (size, size) if isinstance(size, int) else tuple(size)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def resize_area(x, size: int | tuple[int, int]):
    """Resize of a (N, C, H, W) float tensor to ``size`` by box averaging (``F.interpolate(mode="area")``)."""
    import torch.nn.functional as F

    size = (size, size) if isinstance(size, int) else tuple(size)
    return F.interpolate(x, size=size, mode="area")


# ----------------------------------------------------------------------------- intensity mappings
def scale_to_unit(x, max_value: float = 255.0, *, reciprocal: bool = False, dtype=np.float32):
    """Integer pixels as floats in [0, 1]: ``v / max_value`` (``ToTensor``'s ``v / 255`` for uint8).

    A tensor gives float32 (torch's ``float().div_``), an array ``dtype`` (NumPy's division in that
    type; float64 keeps the quotients of a mean taken later exact). ``reciprocal=True`` multiplies by
    ``1 / max_value`` instead (one multiplication; it differs from the division in the last bit of
    126 of the 256 uint8 values): the SpurBreast trainer's crops are scaled that way.
    """
    if isinstance(x, np.ndarray):
        if reciprocal:
            return np.multiply(x, 1.0 / max_value, dtype=dtype)
        return np.divide(x, max_value, dtype=dtype)
    x = x.float()
    return x.mul_(1.0 / max_value) if reciprocal else x.div_(max_value)


def grey_to_channels(x, channels: int, channels_last: bool = False):
    """A grey (N, 1, H, W) tensor repeated to ``channels`` channels (PIL's ``convert("RGB")``) as a view, no copy.

    ``channels_last``: the result in channels-last memory (a copy), the layout convolutions on a GPU prefer.
    """
    if channels != 1:
        if x.shape[1] != 1:
            raise BreastlabInputError(f"grey_to_channels: expected one channel, got {x.shape[1]}")
        x = x.expand(-1, channels, -1, -1)
    if channels_last:
        import torch

        x = x.contiguous(memory_format=torch.channels_last)
    return x


def percentile_window(values: np.ndarray, percentiles: tuple[float, float]) -> tuple[float, float]:
    """(lo, hi): the ``percentiles`` (0..100, NumPy's linear rule) of ``values``; a constant sample gets hi = lo + 1."""
    lo, hi = np.percentile(values, percentiles)
    if not hi > lo:  # constant volume: any window maps it to 0
        hi = lo + 1.0
    return float(lo), float(hi)


def window_to_uint8(images: np.ndarray, lo: float, hi: float, out: np.ndarray | None = None) -> np.ndarray:
    """``round(255 * clip((v - lo) / (hi - lo), 0, 1))`` as uint8 (``images`` is left as it is).

    Computed in float32 as ``clip((v - lo) * (255 / (hi - lo)), 0, 255)`` rounded half to even;
    ``out``: a uint8 array the result is written to (and returned).
    """
    scaled = np.subtract(images, np.float32(lo), dtype=np.float32)
    scaled *= np.float32(255.0 / (hi - lo))
    np.clip(scaled, 0, 255, out=scaled)
    np.rint(scaled, out=scaled)
    if out is None:
        return scaled.astype(np.uint8)
    np.copyto(out, scaled, casting="unsafe")
    return out


__all__ = [
    "TRANSFORMS",
    "ImageTransform",
    "apply_transforms",
    "flip_axes",
    "get_transform",
    "grey_to_channels",
    "percentile_window",
    "random_resized_crop_boxes",
    "register_transform",
    "resize_area",
    "resize_bilinear",
    "resized_crop_uint8",
    "resized_crops_uint8",
    "run_parallel",
    "scale_to_unit",
    "window_to_uint8",
]
