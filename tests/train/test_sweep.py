"""Sweeps: the paper's grid, local runs that resume, Ray Tune with 2 tiny trials."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from breastlab.cli import main
from breastlab.cli._args import config_options
from breastlab.errors import BreastlabInputError
from breastlab.train.loop import TrainConfig
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
        out = yaml.safe_load((Path(run) / "config.yaml").read_text())["out"]  # the sweep's out, from the working
        assert not Path(out).is_absolute() and Path(out).resolve() == Path(run).resolve()  # folder: no local path


def _train_parser():
    from breastlab.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["train"]


def test_a_trial_config_yaml_repeats_the_trial_with_breastlab_train(toy_split, tmp_path, monkeypatch, capsys):
    """A trial's config.yaml given to `breastlab train --config` makes the same run (paths as in the YAML)."""
    store, split = toy_split
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").symlink_to(store.parent)
    assert store.parent == split.parent
    given = {"store": f"data/{store.name}", "split": f"data/{split.name}"}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(_config(toy_split, "sw", lrs=[1e-2], **given)))
    assert main(["sweep", str(path)]) == 0
    trial = tmp_path / "sw" / "trials" / split.name / "small_cnn" / "adamw_lr0.01_wd0"
    options = yaml.safe_load((trial / "config.yaml").read_text())
    assert set(options) == set(config_options(_train_parser())) - {"resume", "stop_after"}
    assert (options["store"], options["split"], options["out"]) == (
        given["store"],
        given["split"],
        f"sw/trials/{split.name}/small_cnn/adamw_lr0.01_wd0",
    )
    assert main(["train", "--config", str(trial / "config.yaml"), "--out", "again"]) == 0
    first, again = (json.loads((run / "config.json").read_text()) for run in (trial, tmp_path / "again"))
    assert again["fingerprint"] == first["fingerprint"] and first["fingerprint"]["weights"] == "none"
    pd.testing.assert_frame_equal(
        pd.read_parquet(trial / "predictions.parquet"), pd.read_parquet(tmp_path / "again" / "predictions.parquet")
    )


def test_no_weights_is_one_value_in_the_api_and_on_the_command_line(tmp_path):
    from breastlab.train.loop import _fingerprint

    cli_default = _train_parser().parse_args(["--store", "S", "--split", "D", "--out", "O"]).weights
    runs = [
        TrainConfig("S", "D", str(tmp_path / f"r{k}"), weights=w) for k, w in enumerate([None, "None", cli_default])
    ]
    assert [c.weights for c in runs] == ["none"] * 3
    assert len({json.dumps(_fingerprint(c, "store", "split"), sort_keys=True) for c in runs}) == 1
    assert TrainConfig("S", "D", "O", weights="imagenet").weights == "imagenet"
