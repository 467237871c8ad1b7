"""Images/s of breastlab's training input path vs the SpurBreast loader's pipeline, same slices, same run.

Reference (the official SpurBreast loader): a torch ``DataLoader`` over PNG files, each sample
``PIL.Image.open(path).convert("RGB")`` -> ``Resize(256)`` -> ``RandomResizedCrop(224)`` ->
``ToTensor()``, batch 32. Ours: rows of the array store (memory map; each crop read straight from it) ->
:func:`breastlab.train.data.preprocess_train` (per-sample random boxes, batched resampling),
output (32, 3, 224, 224) float in [0, 1] like the reference; and the loader as training uses it on an
accelerator: :func:`~breastlab.train.data.crop_uint8` ships grey uint8 crops (32, 1, 224, 224) and
:func:`~breastlab.train.data.to_model_input` scales (and repeats to RGB) on the device -- on a machine
without a GPU that last step is left out of the timing (it runs on the accelerator in training), and the
table says so. Goal: >= 20x.

Timing: each pipeline is timed ``--repeats`` times, the pipelines taking turns, so that a slow spell of
a shared machine falls on all of them; a timing of breastlab's path runs whole epochs for at least
``--seconds`` (one epoch of 256 slices takes a few tens of ms, too short to time alone). The ratio is
of the medians, with the range of the timing-by-timing ratios beside it.

Usage: python benchmarks/bench_dataloader.py [--n 256] [--size 320] [--workers 0 2] [--repeats 5] [--seconds 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from breastlab.data.store import ArrayStore, write_store
from breastlab.train.data import ImageSource, crop_uint8, preprocess_train, to_model_input
from breastlab.transforms import random_resized_crop_boxes


def slices(n: int, size: int, seed: int = 0) -> np.ndarray:
    """MRI-like uint8 slices: smooth anatomy-sized blobs plus noise (PNG-compressible like real slices)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    out = np.empty((n, size, size), np.uint8)
    for i in range(n):
        c = rng.random((3, 2))
        img = sum(np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) * 20) for cy, cx in c) * 120
        out[i] = np.clip(img + rng.normal(20, 6, img.shape), 0, 255).astype(np.uint8)
    return out


class PngDataset(Dataset):
    """The reference pipeline (SpurBreast's loader)."""

    def __init__(self, files: list[Path]) -> None:
        self.files = files
        self.tf = transforms.Compose([transforms.Resize(256), transforms.RandomResizedCrop(224), transforms.ToTensor()])

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        return self.tf(Image.open(self.files[i]).convert("RGB")), 0


def reference_loader(files: list[Path], workers: int) -> DataLoader:
    """The SpurBreast loader, its workers started and its files read once (warm, as in an epoch after the first)."""
    loader = DataLoader(
        PngDataset(files), batch_size=32, shuffle=True, num_workers=workers, persistent_workers=workers > 0
    )
    for _ in loader:
        pass
    return loader


def time_reference(loader: DataLoader, epochs: int) -> float:
    t = time.perf_counter()
    n = 0
    for _ in range(epochs):
        for x, _ in loader:
            assert x.shape[1:] == (3, 224, 224)
            n += len(x)
    return n / (time.perf_counter() - t)


def our_epoch(
    source: ImageSource, shape: tuple[int, int], seed: int, threads: int, ship_uint8: bool, device: torch.device
) -> int:
    """One epoch of breastlab's training input path: shuffled rows, random boxes, batches of 32."""
    n = len(source.rows)
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=gen).numpy()
    boxes = random_resized_crop_boxes(n, *shape, gen)
    done = 0
    for s in range(0, n, 32):
        batch = source.for_training(order[s : s + 32])
        if ship_uint8:
            crops = crop_uint8(batch, boxes[s : s + 32], 224, threads=threads)
            assert crops.shape[1:] == (1, 224, 224) and crops.dtype == torch.uint8
            if device.type == "cuda":
                assert to_model_input(crops, 3, device).shape[1:] == (3, 224, 224)
            done += len(crops)
            continue
        x = preprocess_train(batch, boxes[s : s + 32], 224, in_channels=3, device=device, threads=threads)
        assert x.shape[1:] == (3, 224, 224)
        done += len(x)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return done


def time_ours(source: ImageSource, shape, threads: int, ship_uint8: bool, device, seconds: float) -> float:
    """Images/s over whole epochs until at least ``seconds`` have passed (one epoch is a few tens of ms)."""
    our_epoch(source, shape, -1, threads, ship_uint8, device)
    t = time.perf_counter()
    done = epoch = 0
    while epoch == 0 or time.perf_counter() - t < seconds:
        done += our_epoch(source, shape, epoch, threads, ship_uint8, device)
        epoch += 1
    return done / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--epochs", type=int, default=2, help="epochs of the reference per timing")
    ap.add_argument("--seconds", type=float, default=1.0, help="least time of each timing of breastlab's path")
    ap.add_argument("--repeats", type=int, default=5, help="timings of each pipeline, interleaved")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the main process (both pipelines)")
    ap.add_argument(
        "--our-threads",
        type=int,
        nargs="+",
        default=[1, 2],
        help="threads of our resize (the reference's best uses 2 worker processes)",
    )
    args = ap.parse_args()
    # One thread: on a shared 2-core machine OpenMP threads that wait for each other slow everything down;
    # DataLoader workers run one thread each anyway.
    torch.set_num_threads(args.threads)
    imgs = slices(args.n, args.size)
    gpu = torch.device("cuda") if torch.cuda.is_available() else None
    no_gpu = "" if gpu is not None else ", no GPU: expansion not timed"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = []
        for i, img in enumerate(imgs):
            files.append(tmp / "png" / f"{i:05d}.png")
            files[-1].parent.mkdir(exist_ok=True)
            Image.fromarray(img).save(files[-1])
        man = pd.DataFrame({"image_id": [str(i) for i in range(args.n)], "patient_id": "p"})
        write_store(tmp / "store", imgs, man)
        store = ArrayStore(tmp / "store")
        cpu_source = ImageSource(store, np.arange(args.n), torch.device("cpu"))
        shape = store.shape
        reference = "SpurBreast loader (PIL + torchvision, DataLoader)"
        pipelines = {}  # (pipeline, loader, device) -> a timing function
        for w in args.workers:
            loader = reference_loader(files, w)
            pipelines[(reference, f"workers={w}", "cpu")] = lambda loader=loader: time_reference(loader, args.epochs)
        for k in args.our_threads:
            pipelines[("breastlab store + batched preprocess_train", "-", f"cpu ({k} threads)")] = lambda k=k: (
                time_ours(cpu_source, shape, k, False, torch.device("cpu"), args.seconds)
            )
        # The crops are cut on the CPU from the memory map; only the expansion runs on the GPU.
        expand_on = gpu if gpu is not None else torch.device("cpu")
        for k in args.our_threads:
            pipelines[
                ("breastlab store + grey uint8 crops (expanded on the device)", "-", f"cpu ({k} threads){no_gpu}")
            ] = lambda k=k: time_ours(cpu_source, shape, k, True, expand_on, args.seconds)
        if gpu is not None:
            gpu_source = ImageSource(store, np.arange(args.n), gpu)
            pipelines[("breastlab store + batched preprocess_train", "-", torch.cuda.get_device_name())] = lambda: (
                time_ours(gpu_source, shape, 1, False, gpu, args.seconds)
            )
        # Interleaved repeats: a slow spell of a shared machine falls on every pipeline alike.
        runs = {key: [] for key in pipelines}
        for _ in range(args.repeats):
            for key, timing in pipelines.items():
                runs[key].append(timing())
    keys = list(runs)
    ref_keys = keys[: len(args.workers)]
    best_ref = max(ref_keys, key=lambda key: float(np.median(runs[key])))
    table = pd.DataFrame(
        [
            (*key, float(np.median(v)), min(v), max(v), float(np.median(v)) / float(np.median(runs[best_ref])))
            for key, v in runs.items()
        ],
        columns=["pipeline", "loader", "device", "median_images_per_s", "min", "max", "x_reference_best"],
    )
    print(
        f"{args.n} slices of {args.size}x{args.size}, output (32, 3, 224, 224); {args.repeats} interleaved timings "
        f"of each pipeline (reference {args.epochs} epochs, breastlab at least {args.seconds:g} s each)"
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    for key in keys[len(args.workers) :]:
        median = np.median(runs[key]) / np.median(runs[best_ref])
        per_run = np.array(runs[key]) / np.array(runs[best_ref])
        what = "uint8 crops" if "uint8" in key[0] else "float RGB"
        print(
            f"ratio ours ({what}, {key[2].split(',')[0]}) / best reference ({best_ref[1]}): median {median:.1f}x, "
            f"timing by timing {per_run.min():.1f}-{per_run.max():.1f}x (goal >= 20x)"
        )


if __name__ == "__main__":
    main()
