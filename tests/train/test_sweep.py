"""Sweeps: the paper's grid, local runs that resume, Ray Tune with 2 tiny trials."""

from __future__ import annotations

import pytest
import yaml

from breastlab.cli import main
from breastlab.errors import BreastlabInputError
from breastlab.train.sweep import expand_grid, load_sweep_config, run_sweep


def _config(toy_split, out, **kw):
    store, split = toy_split
    return {
        "store": str(store),
        "split": str(split),
        "model": "small_cnn",
        "optimizers": ["adamw"],
        "lrs": [1e-2, 1e-3],
        "wds": [0.0],
        "epochs": 1,
        "out": str(out),
        "train": {"batch_size": 16, "image_size": 24, "progress": False},
        **kw,
    }


def test_default_grid_is_the_papers_36_configurations(toy_split, tmp_path):
    spec = load_sweep_config(
        {"store": str(toy_split[0]), "split": str(toy_split[1]), "model": "resnet50", "out": str(tmp_path)}
    )
    trials = expand_grid(spec)
    assert len(trials) == 36
    combos = {(c.optimizer, c.lr, c.wd) for _, c in trials}
    assert combos == {
        (o, lr, wd) for o in ("sgd", "adam", "adamw") for lr in (1e-5, 1e-4, 1e-3, 1e-2) for wd in (1e-4, 1e-5, 0.0)
    }
    with pytest.raises(BreastlabInputError, match="unknown keys"):
        load_sweep_config({"store": "s", "split": "x", "model": "m", "out": "o", "learning_rate": 1})


def test_local_sweep_runs_then_skips_finished_trials(toy_split, tmp_path, capsys):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(_config(toy_split, tmp_path / "out")))
    assert main(["sweep", str(path)]) == 0
    table = (tmp_path / "out" / "summary.csv").read_text()
    assert table.count("done") == 2
    stamp = {p: p.stat().st_mtime_ns for p in (tmp_path / "out" / "trials").rglob("best.pt")}
    capsys.readouterr()
    table = run_sweep(path)
    assert set(table["status"]) == {"done (skipped)"}
    assert {p: p.stat().st_mtime_ns for p in stamp} == stamp
    assert table["selected"].sum() == 1
    assert table.loc[table["selected"], "best_score"].iloc[0] == table["best_score"].max()


def test_ray_backend_two_tiny_trials(toy_split, tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        table = run_sweep(_config(toy_split, tmp_path / "ray"), backend="ray", cpus_per_trial=1)
    finally:
        ray.shutdown()
    print(table[["trial", "status", "best_score"]])
    assert list(table["status"]) == ["done", "done"]
    for run in table["run_dir"]:
        assert (tmp_path / "ray" / "trials").exists() and run.startswith(str(tmp_path / "ray" / "trials"))
