"""The runtime layer: seeds, devices, checkpoints that never execute what they read."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from breastlab.errors import BreastlabInputError
from breastlab.runtime import derive_seed, load_torch, resolve_device, save_torch


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
