"""Images per second of each study's training and inference on one GPU, through breastlab's own code paths.

Every study trains through the shared harness (bf16 autocast, channels-last, deterministic kernels
where the study asks for them) on synthetic data written to a temporary store:

* SpurBreast (``breastlab.train.train``): ResNet-50, 224 px, batch 64 -- once as a single process and
  once under DDP (a one-process NCCL group, so the DistributedDataParallel wrapper and its gradient
  all-reduce are on the path); inference: ``predict_part`` of the selected model;
* mammogram classification (``train_classifier``): AlexNet at the study's 227 px, batch 50;
  inference: ``predict_proba``;
* anomaly detection (``train_anomaly``): FCDD, 256 px MIPs, batch 32; inference: score + heatmap;
* finding detection (``train_detector``): Faster R-CNN ResNet-50 FPN v2 (random weights: the
  machine may be offline), 1024 x 832 px mammograms, batch 4; inference: ``predict_images``.

Inference precision on the GPU: bf16 autocast with the final layer in float32 (float32 logits and
scores) for SpurBreast's ``predict_part``, the classifier's ``predict_proba`` and the anomaly scores
(as ``train_anomaly`` scores; FCDD's heatmaps in float32), bf16 autocast around the detector's
``predict_images`` here (``predict`` itself runs in float32).

Training images/s are the harness's measure (the training loop only, after ``cuda.synchronize``);
the first round of each run includes kernel warm-up, so runs are two rounds or more. The whole script
stops starting new studies after ``--budget`` seconds (default 420, to end within 8 minutes).

A study that fails prints its traceback and the others are still measured (exit status 1).
Without a CUDA GPU it says so and exits 0; ``--cpu-smoke`` runs the same code on the CPU at toy sizes
(small models, a few steps) to check that the script works -- its figures mean nothing.

Usage: python benchmarks/bench_gpu.py [--cpu-smoke] [--budget 420] [--only spurbreast,mammo,anomaly,detect]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

STUDIES = ("spurbreast", "mammo", "anomaly", "detect")


@dataclasses.dataclass
class Sizes:
    """Data and model sizes of one benchmark profile (GPU or CPU smoke)."""

    spur_model: str
    spur_px: int
    spur_patients: int
    spur_batch: int
    mammo_model: str
    mammo_px: int
    mammo_images: int
    mammo_iters: int
    mammo_batch: int
    anomaly_px: int
    anomaly_patients: int
    anomaly_width: int
    anomaly_batch: int
    detect_arch: str
    detect_hw: tuple[int, int]
    detect_images: int
    detect_iters: int
    detect_batch: int


GPU = Sizes("resnet50", 256, 96, 64, "alexnet", 227, 400, 40, 50, 256, 64, 32, 32,
            "fasterrcnn_resnet50_fpn_v2", (1024, 832), 16, 12, 4)  # fmt: skip
SMOKE = Sizes("small_cnn", 32, 12, 16, "small_cnn", 32, 48, 4, 8, 32, 8, 8, 8, "small", (96, 80), 6, 2, 2)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], int], device: torch.device) -> float:
    """Images per second of ``fn`` (which returns how many images it processed)."""
    _sync(device)
    t0 = time.perf_counter()
    n = fn()
    _sync(device)
    return n / (time.perf_counter() - t0)


# --------------------------------------------------------------------------- SpurBreast
def bench_spurbreast(tmp: Path, device: torch.device, sz: Sizes) -> list[tuple[str, float, float]]:
    from breastlab.curate.split_store import load_split_manifest
    from breastlab.data.store import ArrayStore
    from breastlab.train import TrainConfig, train
    from breastlab.train._synthetic import make_toy_split
    from breastlab.train.data import ImageSource, split_parts
    from breastlab.train.loop import load_run_model, predict_part

    store, split = make_toy_split(tmp / "spur", n_patients=sz.spur_patients, per_patient=8, size=sz.spur_px)
    image_size = 224 if device.type == "cuda" else sz.spur_px
    rows = []
    for label, ddp in (("SpurBreast train (1 process)", False), ("SpurBreast train (DDP, 1 rank)", True)):
        cfg = TrainConfig(
            store=str(store), split=str(split), out=str(tmp / f"spur_run{int(ddp)}"), model=sz.spur_model,
            image_size=image_size, batch_size=sz.spur_batch, epochs=2, lr=1e-3, device=str(device), progress=False,
        )  # fmt: skip
        if ddp:
            _init_group(device)
        try:
            res = train(cfg)
        finally:
            if ddp:
                torch.distributed.destroy_process_group()
        infer = float("nan")
        if not ddp:
            model, saved = load_run_model(res.run_dir, device)
            if device.type == "cuda":
                model = model.to(memory_format=torch.channels_last)
            man = load_split_manifest(split)
            names = sorted(man["group"].unique())
            part = split_parts(man, names)["test"]
            source = ImageSource(ArrayStore(store), man["row"].to_numpy(), device, preload=device.type == "cuda")
            predict_part(model, source, part, cfg, device)  # warm-up
            infer = _timed(lambda m=model, s=source, p=part, c=cfg: len(predict_part(m, s, p, c, device)[0]), device)
        rows.append((label, res.images_per_second, infer))
    return rows


def _init_group(device: torch.device) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = "nccl" if device.type == "cuda" else "gloo"
    torch.distributed.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)


# --------------------------------------------------------------------------- mammography classification
def bench_mammo(tmp: Path, device: torch.device, sz: Sizes) -> list[tuple[str, float, float]]:
    from breastlab.data.store import write_store
    from breastlab.mammo import ClassifierConfig, TrainPart, load_images, predict_proba, train_classifier

    rng = np.random.default_rng(0)
    n = sz.mammo_images
    imgs = rng.integers(0, 255, (n, sz.mammo_px, sz.mammo_px), dtype=np.uint8)
    labels = np.array(["negative", "recalled-benign", "malignant"])[np.arange(n) % 3]
    man = pd.DataFrame({"image_id": [f"I{i}" for i in range(n)], "patient_id": [f"P{i // 2}" for i in range(n)]})
    write_store(tmp / "mammo", imgs, man.assign(label=labels), meta={"pixel_mean": 0.5})
    images = load_images(tmp / "mammo")
    y = np.arange(n) % 3
    cfg = ClassifierConfig(
        model=sz.mammo_model, weights=None, iterations=sz.mammo_iters, batch_size=sz.mammo_batch,
        image_size=sz.mammo_px, checkpoint_every=max(1, sz.mammo_iters // 2), device=str(device),
        model_kwargs={"width": 8} if sz.mammo_model == "small_cnn" else {},
    )  # fmt: skip
    run = train_classifier(TrainPart(images, np.arange(n), y), 3, cfg, tmp / "mammo_run", progress=False)
    pos = np.arange(n)
    predict_proba(run.model, images, pos[: cfg.eval_batch_size], cfg.image_size)  # warm-up
    infer = _timed(lambda: len(predict_proba(run.model, images, pos, cfg.image_size, cfg.eval_batch_size)), device)
    return [("mammogram classifier", run.images_per_second, infer)]


# --------------------------------------------------------------------------- anomaly detection
def bench_anomaly(tmp: Path, device: torch.device, sz: Sizes) -> list[tuple[str, float, float]]:
    from breastlab.anomaly.train import AnomalyConfig, _scores, build_model, explain, load_images, train_anomaly
    from breastlab.data.store import write_store

    rng = np.random.default_rng(0)
    n = 2 * sz.anomaly_patients
    imgs = (rng.random((n, sz.anomaly_px, sz.anomaly_px)) * 80).astype(np.uint8)
    label = np.arange(n) % 2
    for i in np.flatnonzero(label):
        y0, x0 = rng.integers(0, sz.anomaly_px - 16, 2)
        imgs[i, y0 : y0 + 12, x0 : x0 + 12] = 240
    man = pd.DataFrame(
        {
            "image_id": [f"P{i // 2}:{'RL'[i % 2]}" for i in range(n)],
            "patient_id": [f"P{i // 2}" for i in range(n)],
            "side": ["RL"[i % 2] for i in range(n)],
            "label": label,
        }
    )
    store = write_store(tmp / "mips", imgs, man)
    cfg = AnomalyConfig(
        store=str(store.path), out=str(tmp / "anomaly_run"), width=sz.anomaly_width, epochs=2, folds=2,
        batch_size=sz.anomaly_batch, device=str(device), progress=False,
    )  # fmt: skip
    run = train_anomaly(cfg)
    net = build_model(cfg).to(device).eval()
    rows = np.arange(n)

    def infer() -> int:
        for i in range(0, n, 64):
            xb = load_images(store, rows[i : i + 64], None).to(device)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
                _scores("fcdd", net, xb)
            explain("fcdd", net, xb)
        return n

    infer()  # warm-up
    return [("anomaly FCDD", run.images_per_second, _timed(infer, device))]


# --------------------------------------------------------------------------- finding detection
def bench_detect(tmp: Path, device: torch.device, sz: Sizes) -> list[tuple[str, float, float]]:
    from breastlab.data.store import write_store
    from breastlab.detect.model import load_detector, load_image, predict_images, preset, train_detector

    rng = np.random.default_rng(0)
    h, w = sz.detect_hw
    yy, xx = np.mgrid[:h, :w]
    images, man, fin = [], [], []
    spacing = 0.15 if device.type == "cuda" else 1.0
    for i in range(sz.detect_images):
        img = 1500 + 300 * rng.standard_normal((h, w))
        r = h / 20
        cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.2, 0.6) * w
        img += 1800 * (((yy - cy) ** 2 + (xx - cx) ** 2) < r * r)
        images.append(np.clip(img, 1, 65535).astype(np.uint16))
        iid = f"img{i}"
        man.append({"image_id": iid, "patient_id": f"p{i // 2}", "spacing_mm": spacing,
                    "map_low": 1000.0, "map_high": 3500.0})  # fmt: skip
        fin.append({"image_id": iid, "finding_id": f"{iid}_0", "finding_class": "mass",
                    "x0": int(cx - r), "y0": int(cy - r), "x1": int(cx + r) + 1, "y1": int(cy + r) + 1})  # fmt: skip
    store = write_store(tmp / "det", images, pd.DataFrame(man), pd.DataFrame(fin), layout="ragged")
    name = "study" if sz.detect_arch != "small" else "cpu-small"
    cfg = preset(
        name, arch=sz.detect_arch, weights=None, backbone_weights=None, spacing_mm=spacing,
        iterations=sz.detect_iters, batch_size=sz.detect_batch, checkpoint_every=sz.detect_iters, warmup_iters=1,
        workers=min(4, os.cpu_count() or 1) if device.type == "cuda" else 0, tta="none", device=str(device),
    )  # fmt: skip
    run = train_detector(store, tmp / "det_run", cfg, progress=False)
    steps = pd.read_csv(run / "metrics.csv")["step_s"].to_numpy()[1:]  # the first step warms the kernels up
    train_ips = cfg.batch_size / float(np.median(steps)) if len(steps) else float("nan")
    model, _ = load_detector(run, device=str(device))
    imgs = [load_image(store, r) for r in range(len(store))]
    predict_images(model, cfg, imgs[: cfg.batch_size], batch_size=cfg.batch_size)  # warm-up

    def infer() -> int:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            predict_images(model, cfg, imgs, batch_size=cfg.batch_size)
        return len(imgs)

    return [("finding detector", train_ips, _timed(infer, device))]


BENCHES = {"spurbreast": bench_spurbreast, "mammo": bench_mammo, "anomaly": bench_anomaly, "detect": bench_detect}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu-smoke", action="store_true", help="run at toy sizes on the CPU (checks the script only)")
    ap.add_argument("--budget", type=float, default=420.0, help="seconds after which no further study is started")
    ap.add_argument("--only", default=",".join(STUDIES), help=f"comma-separated subset of {', '.join(STUDIES)}")
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in only if s not in STUDIES]
    if bad:
        print(f"--only {bad}: valid studies are {', '.join(STUDIES)}", file=sys.stderr)
        return 2
    if args.cpu_smoke:
        device, sizes = torch.device("cpu"), SMOKE
        name = f"CPU ({torch.get_num_threads()} threads)"
        print("CPU smoke run (toy sizes, small models): checks the code paths; the figures are not GPU figures")
    elif torch.cuda.is_available():
        device, sizes = torch.device("cuda", 0), GPU
        props = torch.cuda.get_device_properties(0)
        name = f"{torch.cuda.get_device_name(0)} ({props.total_memory / 2**30:.0f} GiB)"
        print(f"device: {name}, torch {torch.__version__}")
    else:
        print("no CUDA GPU present: nothing measured (run this on a machine with a GPU; --cpu-smoke checks the script)")
        return 0
    start = time.perf_counter()
    results: list[tuple[str, float, float]] = []
    failed: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for study in only:
            if time.perf_counter() - start > args.budget:
                print(f"{study}: skipped (budget of {args.budget:.0f} s spent)")
                continue
            t0 = time.perf_counter()
            try:
                rows = BENCHES[study](Path(tmp) / study, device, sizes)
            except Exception:  # noqa: BLE001 - the other studies are still measured; the traceback is shown
                traceback.print_exc()
                print(f"{study}: FAILED after {time.perf_counter() - t0:.0f} s (traceback above)")
                failed.append(study)
                continue
            results += rows
            for label, tr, inf in rows:
                took = time.perf_counter() - t0
                print(f"{label:32s} train {tr:9.1f} img/s   inference {inf:9.1f} img/s   ({took:.0f} s)")
    print(f"\n{'study':32s} {'train img/s':>12s} {'infer img/s':>12s}   on {name}")
    for label, tr, inf in results:
        print(f"{label:32s} {tr:12.1f} {inf:12.1f}")
    for study in failed:
        print(f"{study:32s} {'failed':>12s} {'failed':>12s}")
    print(f"total {time.perf_counter() - start:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
