"""Hyper-parameter sweeps: SpurBreast's grid (3 optimisers x 4 learning rates x 3 weight decays).

A sweep configuration (YAML or dict)::

    store: exports/duke_store
    splits: [splits/field_strength, splits/baseline]   # or `split: DIR`
    models: [resnet50]                                  # or `model: NAME`
    optimizers: [sgd, adam, adamw]                      # default: the paper's grid
    lrs: [1.0e-5, 1.0e-4, 1.0e-3, 1.0e-2]
    wds: [1.0e-4, 1.0e-5, 0]
    epochs: 50
    out: sweeps/field_strength
    train: {batch_size: 32, seed: 0, method: erm, select_by: val_acc, weights: imagenet}  # any TrainConfig field

Every trial is a run directory ``OUT/trials/<split>/<model>/<optimizer>_lr<lr>_wd<wd>``;
a trial with ``summary.json`` is finished and skipped, an interrupted one is resumed
from its checkpoint, so re-running a sweep continues it. A trial that trains writes
``config.yaml``, the options of ``breastlab train`` that repeat it (paths as the sweep
configuration gives them). ``OUT/summary.csv`` lists
every trial; ``selected`` marks the best validation score per split and model (the
paper's model selection).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import json
import multiprocessing as mp
import os
from pathlib import Path
from typing import Any

import pandas as pd

from breastlab._io import option_path, record_path, write_table, write_text
from breastlab.errors import BreastlabInputError
from breastlab.schemas import RUN
from breastlab.train.loop import TrainConfig, train

PAPER_OPTIMIZERS = ["sgd", "adam", "adamw"]
PAPER_LRS = [1e-5, 1e-4, 1e-3, 1e-2]
PAPER_WDS = [1e-4, 1e-5, 0.0]
_TOP_KEYS = {
    "store",
    "split",
    "splits",
    "model",
    "models",
    "optimizer",
    "optimizers",
    "lr",
    "lrs",
    "wd",
    "wds",
    "epochs",
    "out",
    "train",
}


def load_sweep_config(config: str | os.PathLike | dict[str, Any]) -> dict[str, Any]:
    """Read and validate a sweep configuration (YAML file or dict)."""
    if isinstance(config, dict):
        raw, where = dict(config), "sweep config"
    else:
        import yaml

        path = Path(config)
        if not path.is_file():
            raise BreastlabInputError(f"{path}: no such sweep configuration file")
        try:
            raw, where = yaml.safe_load(path.read_text(encoding="utf-8")) or {}, str(path)
        except UnicodeDecodeError as exc:
            raise BreastlabInputError(f"{path}: not UTF-8 text ({exc})") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f" at line {mark.line + 1}" if mark is not None else ""
            raise BreastlabInputError(f"{path}: not valid YAML{line}; see breastlab.train.sweep for the keys") from None
    if not isinstance(raw, dict):
        raise BreastlabInputError(
            f"{where}: expected a mapping of keys ({sorted(_TOP_KEYS)}), found {type(raw).__name__}"
        )
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise BreastlabInputError(f"{where}: unknown keys {sorted(unknown)}; valid keys: {sorted(_TOP_KEYS)}")
    for key in ("store", "out"):
        if key not in raw:
            raise BreastlabInputError(f"{where}: missing '{key}'")

    def listed(one: str, many: str, default: list | None = None) -> list:
        value = raw.get(many, raw.get(one, default))
        if value is None:
            raise BreastlabInputError(f"{where}: missing '{many}' (or '{one}')")
        return list(value) if isinstance(value, list | tuple) else [value]

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    extra = dict(raw.get("train") or {})
    bad = set(extra) - fields
    if bad:
        raise BreastlabInputError(f"{where}: unknown 'train' settings {sorted(bad)}; valid: {sorted(fields)}")
    return {
        "store": str(raw["store"]),
        "splits": [str(s) for s in listed("split", "splits")],
        "models": listed("model", "models"),
        "optimizers": listed("optimizer", "optimizers", PAPER_OPTIMIZERS),
        "lrs": [float(x) for x in listed("lr", "lrs", PAPER_LRS)],
        "wds": [float(x) for x in listed("wd", "wds", PAPER_WDS)],
        "epochs": int(raw.get("epochs", 50)),
        "out": str(raw["out"]),
        "train": extra,
    }


def expand_grid(spec: dict[str, Any]) -> list[tuple[str, TrainConfig]]:
    """(trial name, TrainConfig) for every split x model x optimiser x lr x wd."""
    names = [Path(s).name or "split" for s in spec["splits"]]
    if len(set(names)) != len(names):
        names = [f"{i}_{n}" for i, n in enumerate(names)]
    out = Path(spec["out"]).resolve()
    trials = []
    for split, sname in zip(spec["splits"], names, strict=True):
        for model in spec["models"]:
            for opt in spec["optimizers"]:
                for lr in spec["lrs"]:
                    for wd in spec["wds"]:
                        name = f"{sname}/{model}/{opt}_lr{lr:g}_wd{wd:g}"
                        cfg = TrainConfig(
                            **{
                                **spec["train"],
                                "store": str(Path(spec["store"]).resolve()),
                                "split": str(Path(split).resolve()),
                                "out": str(out / "trials" / name),
                                "model": model,
                                "optimizer": opt,
                                "lr": lr,
                                "wd": wd,
                                "epochs": spec["epochs"],
                            }
                        )
                        cfg.validate()
                        trials.append((name, cfg))
    return trials


def _trial_row(name: str, cfg: TrainConfig, status: str) -> dict[str, Any]:
    run = Path(cfg.out)
    row: dict[str, Any] = {
        "trial": name,
        "split": Path(cfg.split).name,
        "model": cfg.model,
        "optimizer": cfg.optimizer,
        "lr": cfg.lr,
        "wd": cfg.wd,
        "status": status,
    }
    if (run / RUN.summary).exists():
        s = json.loads((run / RUN.summary).read_text())
        row.update(
            {
                k: s.get(k)
                for k in (
                    "best_epoch",
                    "best_score",
                    "train_acc",
                    "val_acc",
                    "val_worst_group_acc",
                    "test_acc",
                    "test_worst_group_acc",
                )
            }
        )
    elif (run / RUN.metrics).exists():
        m = pd.read_csv(run / RUN.metrics)
        row.update({"epochs_done": int(m["epoch"].max()), "val_acc": float(m["val_acc"].max())})
    row["run_dir"] = str(run)  # OUT/summary.csv records it relative to OUT
    return row


# TrainConfig fields that are options of `breastlab train`, in the order of its --help
_TRAIN_OPTIONS = (
    "store",
    "split",
    "out",
    "model",
    "optimizer",
    "lr",
    "wd",
    "epochs",
    "batch_size",
    "seed",
    "method",
    "select_by",
    "weights",
    "momentum",
    "groupdro_eta",
    "dfr_repeats",
    "in_channels",
    "image_size",
    "device",
)


def train_options(cfg: TrainConfig, store: str, split: str, out: str) -> dict[str, Any]:
    """The options of ``breastlab train`` that repeat the run ``cfg`` (the keys of its ``config.yaml``).

    ``store``, ``split`` and ``out`` are written as given (relative paths are read from the
    working folder, as on the command line; absolute ones are written relative to it);
    ``cfg`` holds them resolved.
    """
    paths = {"store": option_path(store), "split": option_path(split), "out": option_path(out)}
    options = {k: getattr(cfg, k) for k in _TRAIN_OPTIONS} | paths
    return options | {"no_progress": not cfg.progress}


def write_train_options(cfg: TrainConfig, options: dict[str, Any], folder: str | os.PathLike) -> Path:
    """``folder/config.yaml``: ``options`` (:func:`train_options`) as ``breastlab train --config`` reads them."""
    import yaml

    header = "# `breastlab train` options; repeat with: breastlab train --config THIS_FILE --out NEW\n"
    if cfg.model_kwargs:  # no option of the command sets them: say so rather than repeat another run
        header += f"# not repeatable by `breastlab train`: model_kwargs {cfg.model_kwargs} has no option\n"
    body = yaml.safe_dump(options, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return write_text(header + body, Path(folder) / RUN.config_yaml)


def _trial_options(name: str, cfg: TrainConfig, spec: dict[str, Any]) -> dict[str, Any]:
    given = {str(Path(s).resolve()): s for s in spec["splits"]}
    return train_options(cfg, spec["store"], given[cfg.split], str(Path(spec["out"]) / "trials" / name))


def _run_trial(
    name: str, cfg_dict: dict[str, Any], threads: int | None, options: dict[str, Any] | None = None
) -> tuple[str, str]:
    """One trial (also the body of a worker process): finished -> skipped, else trained or resumed;
    a trial that trains writes ``options`` (:func:`train_options`) as its ``config.yaml``."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    cfg = TrainConfig(**cfg_dict)
    if (Path(cfg.out) / RUN.summary).exists():
        return name, "done (skipped)"
    try:
        train(cfg, resume=True)
    except BreastlabInputError as exc:  # e.g. a diverging learning rate: a result of the sweep, not its end
        return name, f"failed: {exc}"
    if options is not None:
        write_train_options(cfg, options, cfg.out)
    return name, "done"


def summarise(trials: list[tuple[str, TrainConfig]], status: dict[str, str], out: str | os.PathLike) -> pd.DataFrame:
    """The sweep table (written to OUT/summary.csv); ``selected`` = best score per split and model."""
    table = pd.DataFrame([_trial_row(n, c, status.get(n, "not run")) for n, c in trials])
    table["selected"] = False
    if "best_score" in table and table["best_score"].notna().any():
        ok = table[table["best_score"].notna()]
        best = ok.loc[ok.groupby(["split", "model"])["best_score"].idxmax()].index
        table.loc[best, "selected"] = True
    shared = table.assign(run_dir=[record_path(r, out) for r in table["run_dir"]])  # no local path in the file
    write_table(shared, Path(out) / "summary.csv")
    return table


def run_sweep(
    config: str | os.PathLike | dict[str, Any],
    backend: str = "local",
    parallel: int = 1,
    address: str | None = None,
    gpus_per_trial: float = 0.0,
    cpus_per_trial: float = 1.0,
    asha: bool = False,
    out: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Run (or continue) a sweep; return the summary table.

    ``out`` (default: the configuration's ``out``) is the sweep folder.

    ``backend="local"`` runs the trials one after another (``parallel=1``) or in
    ``parallel`` worker processes; ``backend="ray"`` through Ray Tune on the cluster at
    ``address`` (None: a local Ray instance), each trial reserving ``cpus_per_trial``
    CPUs and ``gpus_per_trial`` GPUs, optionally with ASHA early stopping on the
    validation score.
    """
    spec = load_sweep_config(config)
    if out is not None:
        spec["out"] = str(out)
    trials = expand_grid(spec)
    progress = parallel == 1 and backend == "local"
    trials = [(n, dataclasses.replace(c, progress=progress and c.progress)) for n, c in trials]
    options = {n: _trial_options(n, c, spec) for n, c in trials}
    if backend == "local":
        status = _run_local(trials, parallel, options)
    elif backend == "ray":
        status = _run_ray(trials, spec, address, gpus_per_trial, cpus_per_trial, asha, options)
    else:
        raise BreastlabInputError(f"backend {backend!r}: valid backends are 'local' and 'ray'")
    return summarise(trials, status, spec["out"])


def _run_local(
    trials: list[tuple[str, TrainConfig]], parallel: int, options: dict[str, dict[str, Any]]
) -> dict[str, str]:
    if parallel < 1:
        raise BreastlabInputError(f"parallel={parallel}: must be >= 1")
    if parallel == 1:
        return dict(_run_trial(n, dataclasses.asdict(c), None, options[n]) for n, c in trials)
    threads = max(1, (os.cpu_count() or 1) // parallel)
    status: dict[str, str] = {}
    with cf.ProcessPoolExecutor(max_workers=parallel, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(_run_trial, n, dataclasses.asdict(c), threads, options[n]) for n, c in trials]
        for f in cf.as_completed(futures):
            name, st = f.result()
            status[name] = st
    return status


def _run_ray(trials, spec, address, gpus_per_trial, cpus_per_trial, asha, options) -> dict[str, str]:
    try:
        import ray
        from ray import tune
    except ImportError as exc:
        raise BreastlabInputError("--backend ray needs Ray Tune: pip install 'ray[tune]'") from exc
    configs = {n: dataclasses.asdict(c) for n, c in trials}
    todo = [n for n, c in trials if not (Path(c.out) / RUN.summary).exists()]
    status = {n: "done (skipped)" for n in configs if n not in todo}
    if not todo:
        return status
    started = False
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
        started = True

    def trainable(params: dict[str, Any]) -> None:
        cfg = TrainConfig(**params["cfg"])
        if gpus_per_trial == 0:
            cfg = dataclasses.replace(cfg, device="cpu")

        def report(row: dict[str, Any]) -> None:
            tune.report(
                {"val_acc": row["val_acc"], "val_worst_group_acc": row["val_worst_group_acc"], "epoch": row["epoch"]}
            )

        train(cfg, resume=True, on_epoch_end=report)

    scheduler = None
    if asha:
        from ray.tune.schedulers import ASHAScheduler

        scheduler = ASHAScheduler(time_attr="epoch", max_t=spec["epochs"], grace_period=max(1, spec["epochs"] // 10))
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": cpus_per_trial, "gpu": gpus_per_trial}),
        param_space={"cfg": tune.grid_search([configs[n] for n in todo])},
        tune_config=tune.TuneConfig(metric="val_acc", mode="max", scheduler=scheduler),
        run_config=tune.RunConfig(name="ray", storage_path=str(Path(spec["out"]).resolve() / "ray"), verbose=0),
    )
    try:
        results = tuner.fit()
        by_out = {configs[n]["out"]: n for n in todo}
        for r in results:
            name = by_out[r.config["cfg"]["out"]]
            done = (Path(configs[name]["out"]) / RUN.summary).exists()
            status[name] = "done" if done else ("failed: " + str(r.error) if r.error else "stopped (ASHA)")
            if not r.error:
                write_train_options(TrainConfig(**configs[name]), options[name], configs[name]["out"])
    finally:
        if started:
            ray.shutdown()
    return status
