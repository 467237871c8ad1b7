"""Two gloo processes on the CPU give the single-process result (global batch split across ranks)."""

from __future__ import annotations

import pandas as pd
import torch

from breastlab.runtime import load_torch
from breastlab.train import TrainConfig, train
from breastlab.train.ddp import launch_local


def test_two_process_training_equals_single_process(toy_split, tmp_path):
    store, split = toy_split

    def cfg(out, method):
        # GroupNorm: no per-rank batch statistics, so the two runs compute the same function.
        return TrainConfig(
            store=str(store),
            split=str(split),
            out=str(tmp_path / out),
            model="small_cnn",
            model_kwargs={"norm": "group"},
            optimizer="sgd",
            lr=3e-2,
            epochs=2,
            batch_size=16,
            image_size=24,
            method=method,
            device="cpu",
            progress=False,
        )

    train(cfg("single", "groupdro"))
    launch_local(cfg("ddp", "groupdro"), nprocs=2)
    a = load_torch(tmp_path / "single" / "best.pt")["model"]
    b = load_torch(tmp_path / "ddp" / "best.pt")["model"]
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    print("max weight difference single vs 2 ranks:", diff)
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-4, rtol=1e-4)
    ma = pd.read_csv(tmp_path / "single" / "metrics.csv")
    mb = pd.read_csv(tmp_path / "ddp" / "metrics.csv")
    pd.testing.assert_series_equal(ma["val_acc"], mb["val_acc"])
    pd.testing.assert_series_equal(ma["train_loss"], mb["train_loss"], atol=1e-4, rtol=1e-4)
    assert (tmp_path / "ddp" / "predictions.parquet").exists()


def test_one_process_group_trains_through_ddp_with_the_single_process_result(toy_split, tmp_path, monkeypatch):
    """A process group of one rank (one GPU under torchrun) still goes through the DDP wrapper."""
    import socket

    import torch.distributed as dist
    from torch import nn

    from breastlab.train import harness

    store, split = toy_split
    wrapped = []

    class Counting(nn.parallel.DistributedDataParallel):
        def __init__(self, *a, **kw):
            wrapped.append(True)
            super().__init__(*a, **kw)

    def cfg(out):
        return TrainConfig(store=str(store), split=str(split), out=str(tmp_path / out), model="small_cnn",
                           model_kwargs={"norm": "group"}, optimizer="sgd", lr=3e-2, epochs=1, batch_size=16,
                           image_size=24, device="cpu", progress=False)  # fmt: skip

    train(cfg("single"))
    assert not wrapped
    monkeypatch.setattr(harness.nn.parallel, "DistributedDataParallel", Counting)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        train(cfg("group"))
    finally:
        dist.destroy_process_group()
    assert wrapped == [True]
    a = load_torch(tmp_path / "single" / "best.pt")["model"]
    b = load_torch(tmp_path / "group" / "best.pt")["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=1e-6)
