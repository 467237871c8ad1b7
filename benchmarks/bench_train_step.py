"""Share of a ResNet-50 training step (batch 32) spent waiting for data, with breastlab's input path.

Each step: read the batch from the store's memory map, draw crop boxes, preprocess
(``preprocess_train``) -- the "data" time -- then forward, backward and SGD step.
Reference in the same run: the step time without data (the same batch reused).
On a GPU the data path and the model run on it (bf16 autocast, channels-last), times
are taken after ``torch.cuda.synchronize()``; images/s and the device name are printed.
Goal: data share < 10%.

Usage: python benchmarks/bench_train_step.py [--steps 3] [--n 96] [--model resnet50]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from breastlab.data.store import ArrayStore, write_store
from breastlab.models import get_model
from breastlab.train.data import ImageSource, preprocess_train
from breastlab.transforms import random_resized_crop_boxes

sys.path.insert(0, str(Path(__file__).parent))
from bench_dataloader import slices  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--n", type=int, default=96)
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    with tempfile.TemporaryDirectory() as tmp:
        imgs = slices(args.n, 320)
        write_store(
            Path(tmp) / "s", imgs, pd.DataFrame({"image_id": [str(i) for i in range(args.n)], "patient_id": "p"})
        )
        store = ArrayStore(Path(tmp) / "s")
        source = ImageSource(store, np.arange(args.n), device, preload=cuda)
        model = get_model(args.model, 2, 1).to(device)
        if cuda:
            model = model.to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        amp = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else contextlib.nullcontext()
        gen = torch.Generator().manual_seed(0)

        def data(step: int) -> tuple[torch.Tensor, torch.Tensor]:
            pos = np.random.default_rng(step + 1).choice(args.n, args.batch, replace=False)
            boxes = random_resized_crop_boxes(args.batch, *store.shape, gen)
            x = preprocess_train(source.for_training(pos), boxes, 224, 1, device=device, channels_last=cuda)
            return x, torch.randint(0, 2, (args.batch,), device=device)

        def step(x: torch.Tensor, y: torch.Tensor) -> None:
            with amp:
                loss = F.cross_entropy(model(x).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        x, y = data(-1)
        step(x, y)  # warm-up
        sync()
        t_data = t_step = 0.0
        for s in range(args.steps):
            t0 = time.perf_counter()
            x, y = data(s)
            sync()
            t1 = time.perf_counter()
            step(x, y)
            sync()
            t_data += t1 - t0
            t_step += time.perf_counter() - t1
    name = torch.cuda.get_device_name(device) if cuda else f"cpu ({torch.get_num_threads()} threads)"
    total = t_data + t_step
    print(f"{args.model}, batch {args.batch}, {args.steps} steps on {name}")
    print(
        f"data {1000 * t_data / args.steps:.1f} ms/step, model {1000 * t_step / args.steps:.1f} ms/step, "
        f"data share {100 * t_data / total:.2f}% (goal < 10%)"
    )
    print(f"throughput {args.batch * args.steps / total:.1f} images/s")


if __name__ == "__main__":
    main()
