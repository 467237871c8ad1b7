"""The runtime layer: seeds, devices, checkpoints that never execute what they read."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

from breastlab.errors import BreastlabInputError
from breastlab.runtime import DistInfo, derive_seed, init_dist, load_torch, resolve_device, save_torch


class _Planted:
    """An object whose unpickling would write a file (what a planted checkpoint could do)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_load_torch_refuses_pickled_objects_and_runs_nothing(tmp_path):
    planted = tmp_path / "checkpoint.pt"
    marker = tmp_path / "executed"
    torch.save({"model": {}, "payload": _Planted(str(marker))}, planted)
    with pytest.raises(BreastlabInputError, match="checkpoint.pt"):
        load_torch(planted)
    assert not marker.exists()
    with pytest.raises(BreastlabInputError, match="no such checkpoint"):
        load_torch(tmp_path / "missing.pt")


def test_save_and_load_plain_checkpoint(tmp_path):
    state = {"model": {"w": torch.arange(3.0)}, "history": [{"epoch": 1, "loss": 0.5, "selected": True}], "name": "x"}
    save_torch(state, tmp_path / "c.pt")
    back = load_torch(tmp_path / "c.pt")
    assert torch.equal(back["model"]["w"], state["model"]["w"]) and back["history"] == state["history"]
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left


def test_derive_seed_streams_are_distinct_and_stable():
    seeds = {derive_seed(0, e, k) for e in range(50) for k in range(3)}
    assert len(seeds) == 150 and all(0 <= s < 2**31 for s in seeds)
    assert derive_seed(1, 2) == derive_seed(1, 2) != derive_seed(2, 1)
    # the value is SeedSequence's first 32-bit word shifted right by one (computed here independently)
    state = np.random.SeedSequence([1, 2]).generate_state(1, np.uint32)[0]
    assert derive_seed(1, 2) == int(state) >> 1


def test_resolve_device_names_valid_values():
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(BreastlabInputError, match="valid values are auto, cpu"):
        resolve_device("tpu")


def test_resolve_device_checks_the_cuda_index(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    assert resolve_device("cuda") == torch.device("cuda")
    with pytest.raises(BreastlabInputError, match=r"1 CUDA device\(s\), cuda:0 to cuda:0"):
        resolve_device("cuda:1")
    with pytest.raises(BreastlabInputError, match="valid values are auto, cpu, cuda, cuda:N"):
        resolve_device("cudax")
    assert resolve_device("cuda:3", DistInfo(rank=1, world=2, local_rank=1)) == torch.device("cuda", 1)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(BreastlabInputError, match="no CUDA device is available"):
        resolve_device("cuda:0")


def _fake_launch(monkeypatch, cuda: bool) -> dict:
    """torchrun's environment of rank 1 of 2 and a process-group API that records what it is asked."""
    import torch.distributed as dist

    seen: dict = {}
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: seen.setdefault("set_device", d))
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda backend: seen.setdefault("backend", backend))
    monkeypatch.setattr(dist, "get_backend", lambda *a: seen["backend"])
    monkeypatch.setattr(dist, "get_rank", lambda *a: 1)
    monkeypatch.setattr(dist, "get_world_size", lambda *a: 2)
    return seen


@pytest.mark.parametrize("pref", ["auto", "cuda", "cuda:0"])
def test_init_dist_on_gpus_joins_nccl_on_the_local_gpu(monkeypatch, pref):
    seen = _fake_launch(monkeypatch, cuda=True)
    info = init_dist(pref)
    # every rank on its own GPU: all_gather_object and barrier use the current device
    assert seen == {"backend": "nccl", "set_device": 1}
    assert (info.rank, info.world, info.local_rank, info.device) == (1, 2, 1, torch.device("cuda", 1))


def test_init_dist_on_cpus_joins_gloo(monkeypatch):
    seen = _fake_launch(monkeypatch, cuda=False)
    info = init_dist("auto")
    assert seen == {"backend": "gloo"} and info.device is None and info.world == 2


class _FakeGPU(TorchFunctionMode):
    """``Tensor.to(cuda)`` gives a CPU copy marked as a GPU tensor (the test machine has no GPU)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        targets = [*args[1:], kwargs.get("device")]
        if func is torch.Tensor.to and any(isinstance(a, torch.device) and a.type == "cuda" for a in targets):
            out = args[0].clone()
            out.on_fake_gpu = True
            return out
        return func(*args, **kwargs)


def test_all_reduce_under_nccl_reduces_cpu_tensors_on_the_gpu(monkeypatch):
    """NCCL refuses CPU tensors; the trainers' statistics live on the CPU, so they travel to the GPU and back."""
    import torch.distributed as dist

    def nccl_all_reduce(t):
        if not getattr(t, "on_fake_gpu", False):
            raise ValueError("Tensors must be CUDA and dense")  # what NCCL says to a CPU tensor
        t.mul_(2)  # two ranks that hold the same values

    monkeypatch.setattr(dist, "all_reduce", nccl_all_reduce)
    stats = torch.tensor([1.5, 3.0, 32.0], dtype=torch.float64)
    with _FakeGPU():
        out = DistInfo(rank=0, world=2, device=torch.device("cuda", 0)).all_reduce(stats)
    assert out is stats and stats.tolist() == [3.0, 6.0, 64.0] and stats.dtype == torch.float64

    seen = []
    monkeypatch.setattr(dist, "all_reduce", lambda t: seen.append(t))
    cpu = torch.zeros(2)
    DistInfo(rank=0, world=2).all_reduce(cpu)  # gloo: the tensor itself, no copy
    assert seen[0] is cpu
    DistInfo(rank=0, world=1, device=torch.device("cuda", 0)).all_reduce(cpu)  # one rank: nothing to reduce
    assert len(seen) == 1


def test_cublas_workspace_is_set_before_cuda_or_a_warning_says_it_came_late(monkeypatch):
    """cuBLAS reads CUBLAS_WORKSPACE_CONFIG once, at its first use: importing breastlab.runtime sets it;
    when CUDA was initialised before it was set, deterministic mode warns instead of trusting it."""
    import warnings

    from breastlab import runtime

    cuda = torch.device("cuda", 0)
    # importing the module set it (the test process has not initialised CUDA)
    assert runtime.os.environ.get("CUBLAS_WORKSPACE_CONFIG") is not None
    # set before CUDA: deterministic mode is silent
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.setattr(runtime, "_cublas_late", False)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    runtime._ask_deterministic_cublas()
    assert runtime.os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)  # another study used the GPU since
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with runtime.deterministic_kernels(cuda):
            assert torch.are_deterministic_algorithms_enabled()
    # a value the environment gives is kept, and trusted
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with runtime.deterministic_kernels(cuda):
            pass
    assert runtime.os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"
    # unset while a CUDA context exists (e.g. the demo's earlier study): set now, with a warning
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG")
    late = "CUDA was initialised in this process before CUBLAS_WORKSPACE_CONFIG"
    with pytest.warns(RuntimeWarning, match=late), runtime.deterministic_kernels(cuda):
        pass
    assert runtime.os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    with pytest.warns(RuntimeWarning, match="CUBLAS_WORKSPACE_CONFIG=:4096:8"), runtime.deterministic_kernels(cuda):
        pass  # and every later time
    # the CPU needs no cuBLAS: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with runtime.deterministic_kernels(torch.device("cpu")):
            pass


@pytest.mark.parametrize("pref,gpu", [("cuda:2", 2), ("cuda", 0), ("auto", 0)])
def test_one_process_nccl_group_stays_on_the_chosen_gpu(monkeypatch, pref, gpu):
    """A process group of one (created by the caller, as the benchmark does): ``cuda:N`` keeps GPU N for the
    collectives and the current device, as resolve_device keeps it for the model; otherwise LOCAL_RANK's."""
    import torch.distributed as dist

    seen: dict = {}
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: seen.setdefault("set_device", d))
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_backend", lambda *a: "nccl")
    monkeypatch.setattr(dist, "get_rank", lambda *a: 0)
    monkeypatch.setattr(dist, "get_world_size", lambda *a: 1)
    info = init_dist(pref)
    assert seen == {"set_device": gpu} and info.device == torch.device("cuda", gpu) and info.group
    device = resolve_device(pref, info)
    assert device.index in (None, gpu)  # the model's device: cuda:N, or plain cuda (the current device)


def test_ddp_of_a_one_process_group_gets_the_models_gpu(monkeypatch):
    """DDP's device_ids: the chosen GPU of ``cuda:N``; for plain ``cuda`` the current device, where
    ``Harness.place`` put the model (GPU 0 before, whatever the current device was)."""
    from torch import nn

    from breastlab.train import harness as harness_mod

    asked = []

    class Stop(Exception):
        pass

    def fake_ddp(module, device_ids=None):
        asked.append(device_ids)
        raise Stop

    monkeypatch.setattr(harness_mod.nn.parallel, "DistributedDataParallel", fake_ddp)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 3)
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for device in (torch.device("cuda", 2), torch.device("cuda"), torch.device("cpu")):
        h = harness_mod.Harness(
            model, opt, None, harness_mod.Schedule(), device, dist=DistInfo(group=True), progress=False
        )
        with pytest.raises(Stop):
            h.fit(study=None)
    assert asked == [[2], [3], None]
