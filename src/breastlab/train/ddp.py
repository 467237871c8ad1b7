"""Multi-process training on one machine without torchrun (gloo on CPUs; used by tests and small jobs).

On GPUs launch ``torchrun --nproc-per-node N -m breastlab.cli train ...`` (or the ``breastlab``
script); :func:`breastlab.train.train` reads torchrun's environment (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``) and joins the process group itself.
"""

from __future__ import annotations

import dataclasses
import os
import socket

import torch

from breastlab.train.loop import TrainConfig, train


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, cfg: dict, resume: bool, threads: int) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(threads)
    train(TrainConfig(**cfg), resume=resume)


def launch_local(cfg: TrainConfig, nprocs: int = 2, resume: bool = False, threads: int = 1) -> None:
    """Run ``train(cfg)`` as ``nprocs`` processes joined by the gloo backend on this machine (CPU)."""
    cfg = dataclasses.replace(cfg, device="cpu")
    torch.multiprocessing.spawn(
        _worker, args=(nprocs, _free_port(), dataclasses.asdict(cfg), resume, threads), nprocs=nprocs, join=True
    )
