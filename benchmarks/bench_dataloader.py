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

Usage: python benchmarks/bench_dataloader.py [--n 256] [--size 320] [--workers 0 2]
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

from breastlab.data.store import write_store
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


def bench_reference(files: list[Path], workers: int, epochs: int) -> float:
    loader = DataLoader(
        PngDataset(files), batch_size=32, shuffle=True, num_workers=workers, persistent_workers=workers > 0
    )
    for _ in loader:  # warm-up (worker start, file cache)
        pass
    t = time.perf_counter()
    n = 0
    for _ in range(epochs):
        for x, _ in loader:
            assert x.shape[1:] == (3, 224, 224)
            n += len(x)
    return n / (time.perf_counter() - t)


def bench_ours(
    store_path: Path, n: int, epochs: int, device: torch.device, threads: int = 1, ship_uint8: bool = False
) -> float:
    from breastlab.data.store import ArrayStore

    store = ArrayStore(store_path)
    source = ImageSource(store, np.arange(n), device)

    def epoch(e: int) -> int:
        gen = torch.Generator().manual_seed(e)
        order = torch.randperm(n, generator=gen).numpy()
        boxes = random_resized_crop_boxes(n, *store.shape, gen)
        done = 0
        for s in range(0, n, 32):
            if ship_uint8:
                crops = crop_uint8(source.for_training(order[s : s + 32]), boxes[s : s + 32], 224, threads=threads)
                assert crops.shape[1:] == (1, 224, 224) and crops.dtype == torch.uint8
                if device.type == "cuda":
                    assert to_model_input(crops, 3, device).shape[1:] == (3, 224, 224)
                done += len(crops)
                continue
            x = preprocess_train(
                source.for_training(order[s : s + 32]),
                boxes[s : s + 32],
                224,
                in_channels=3,
                device=device,
                threads=threads,
            )
            assert x.shape[1:] == (3, 224, 224)
            done += len(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return done

    epoch(-1)
    t = time.perf_counter()
    done = sum(epoch(e) for e in range(epochs))
    return done / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--epochs", type=int, default=2)
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
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = []
        for i, img in enumerate(imgs):
            files.append(tmp / "png" / f"{i:05d}.png")
            files[-1].parent.mkdir(exist_ok=True)
            Image.fromarray(img).save(files[-1])
        man = pd.DataFrame({"image_id": [str(i) for i in range(args.n)], "patient_id": "p"})
        write_store(tmp / "store", imgs, man)
        rows = []
        for w in args.workers:
            rows.append(
                (
                    "SpurBreast loader (PIL + torchvision, DataLoader)",
                    f"workers={w}",
                    "cpu",
                    bench_reference(files, w, args.epochs),
                )
            )
        for k in args.our_threads:
            rows.append(
                (
                    "breastlab store + batched preprocess_train",
                    "-",
                    f"cpu ({k} threads)",
                    bench_ours(tmp / "store", args.n, args.epochs, torch.device("cpu"), k),
                )
            )
        for k in args.our_threads:
            rows.append(
                (
                    "breastlab store + grey uint8 crops (expanded on the device)",
                    "-",
                    f"cpu ({k} threads)" + ("" if torch.cuda.is_available() else ", no GPU: expansion not timed"),
                    bench_ours(
                        tmp / "store",
                        args.n,
                        args.epochs,
                        torch.device("cuda" if torch.cuda.is_available() else "cpu"),
                        k,
                        True,
                    ),
                )
            )
        if torch.cuda.is_available():
            rows.append(
                (
                    "breastlab store + batched preprocess_train",
                    "-",
                    torch.cuda.get_device_name(),
                    bench_ours(tmp / "store", args.n, args.epochs, torch.device("cuda")),
                )
            )
    table = pd.DataFrame(rows, columns=["pipeline", "loader", "device", "images_per_s"])
    best_ref = table["images_per_s"][: len(args.workers)].max()
    table["x_reference_best"] = table["images_per_s"] / best_ref
    print(f"{args.n} slices of {args.size}x{args.size}, output (32, 3, 224, 224), {args.epochs} epochs")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    ours = table.iloc[len(args.workers) :]
    for (_, r), k in zip(ours.iterrows(), list(args.our_threads) * 2, strict=False):
        what = "uint8 crops" if "uint8" in r["pipeline"] else "float RGB on the CPU"
        print(f"ratio ours ({what}, {k} thread(s)) / best reference: {r['images_per_s'] / best_ref:.1f}x (goal >= 20x)")


if __name__ == "__main__":
    main()
