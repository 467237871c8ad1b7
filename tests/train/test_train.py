"""Training runs on tiny synthetic splits: learning, resume, run-folder layout, bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import accuracy_score

from breastlab._io import write_json
from breastlab.cli import main
from breastlab.errors import BreastlabInputError
from breastlab.runtime import load_torch
from breastlab.train import TrainConfig, TrainingDivergedError, load_run_model, preprocess_eval, train
from breastlab.train import loop as loop_mod
from breastlab.train._synthetic import make_toy_split


def _cfg(split_pair, out, **kw):
    store, split = split_pair
    base = dict(
        store=str(store),
        split=str(split),
        out=str(out),
        model="small_cnn",
        optimizer="adamw",
        lr=1e-2,
        epochs=6,
        batch_size=16,
        image_size=24,
        progress=False,
    )
    return TrainConfig(**{**base, **kw})


def _bytes(path):
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()}


def test_training_learns_and_writes_the_run_folder(toy_split, tmp_path):
    result = train(_cfg(toy_split, tmp_path / "run"))
    run = tmp_path / "run"
    for name in ("config.json", "metrics.csv", "checkpoint.pt", "best.pt", "predictions.parquet", "summary.json"):
        assert (run / name).exists(), name
    metrics = pd.read_csv(run / "metrics.csv")
    assert list(metrics["epoch"]) == list(range(1, 7))
    # best.pt is the epoch with the highest validation accuracy (first one on ties).
    assert result.best_epoch == int(metrics["epoch"][metrics["val_acc"].idxmax()])
    pred = pd.read_parquet(run / "predictions.parquet")
    man = pd.read_parquet(toy_split[1] / "manifest.parquet")
    assert len(pred) == len(man) and set(pred["split"]) == {"train", "val", "test", "tune"}
    assert list(pred.columns) == [
        "row",
        "image_id",
        "patient_id",
        "split",
        "label",
        "group",
        "attribute",
        "transform",
        "score",
        "pred",
    ]
    test = pred[pred["split"] == "test"]
    acc = accuracy_score(test["label"], test["pred"])
    print("toy baseline test accuracy", acc)
    assert acc >= 0.8 and result.summary["test_acc"] == pytest.approx(acc)
    # Evaluation's path (load_run_model + preprocess_eval) reproduces the scores.
    model, cfg = load_run_model(run)
    store = loop_mod.ArrayStore(toy_split[0])
    with torch.no_grad():
        x = preprocess_eval(
            store.batch(test["row"].to_numpy()), cfg["image_size"], cfg["in_channels"], test["transform"].tolist()
        )
        p = torch.softmax(model(x), 1)[:, 1].numpy()
    np.testing.assert_allclose(p, test["score"].to_numpy(), atol=1e-5)


def test_resume_equals_uninterrupted_run(toy_split, tmp_path):
    for method in ("erm", "groupdro"):
        straight = train(_cfg(toy_split, tmp_path / f"a{method}", epochs=2, optimizer="sgd", lr=3e-2, method=method))
        part = train(
            _cfg(toy_split, tmp_path / f"b{method}", epochs=2, optimizer="sgd", lr=3e-2, method=method), stop_after=1
        )
        assert not part.finished and len(part.metrics) == 1
        resumed = train(
            _cfg(toy_split, tmp_path / f"b{method}", epochs=2, optimizer="sgd", lr=3e-2, method=method), resume=True
        )
        a = load_torch(tmp_path / f"a{method}" / "checkpoint.pt")
        b = load_torch(tmp_path / f"b{method}" / "checkpoint.pt")
        for k in a["model"]:
            assert torch.equal(a["model"][k], b["model"][k]), k
        torch.testing.assert_close(a["objective"]["q"], b["objective"]["q"], rtol=0, atol=0)
        cols = ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc"]
        pd.testing.assert_frame_equal(straight.metrics[cols], resumed.metrics[cols])
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / f"a{method}" / "predictions.parquet"),
            pd.read_parquet(tmp_path / f"b{method}" / "predictions.parquet"),
        )


def test_existing_run_other_configuration_and_unknown_model_overwrite_nothing(toy_split, tmp_path):
    run = tmp_path / "run"
    train(_cfg(toy_split, run, epochs=1))
    before = _bytes(run)
    with pytest.raises(BreastlabInputError, match="--resume"):
        train(_cfg(toy_split, run, epochs=1))
    with pytest.raises(BreastlabInputError, match="another configuration.*lr"):
        train(_cfg(toy_split, run, epochs=1, lr=1e-3), resume=True)
    assert _bytes(run) == before
    with pytest.raises(BreastlabInputError, match="not in the registry"):
        train(_cfg(toy_split, tmp_path / "new", model="resnet51"))
    assert not (tmp_path / "new").exists()


def test_split_not_matching_store_is_refused(toy_split, tmp_path):
    other_store, _ = make_toy_split(tmp_path / "other", n_patients=26, per_patient=4, size=24, seed=5)
    with pytest.raises(BreastlabInputError, match="checksum"):
        train(_cfg((other_store, toy_split[1]), tmp_path / "run"))
    # Without a recorded checksum the image_id at each row is still checked.
    split = tmp_path / "split"
    shutil.copytree(toy_split[1], split)
    write_json({}, split / "config.json")
    man = pd.read_parquet(split / "manifest.parquet")
    man["row"] = man["row"].to_numpy()[::-1]
    man.to_parquet(split / "manifest.parquet")
    with pytest.raises(BreastlabInputError, match="does not match"):
        train(_cfg((toy_split[0], split), tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_nan_loss_stops_naming_epoch_and_batch_and_keeps_last_checkpoint(toy_split, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = loop_mod.preprocess_train

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        x = real(*args, **kwargs)
        return x * float("nan") if calls["n"] == 5 else x  # 3 batches per epoch: epoch 2, batch 2

    monkeypatch.setattr(loop_mod, "preprocess_train", poisoned)
    run = tmp_path / "run"
    with pytest.raises(TrainingDivergedError, match="epoch 2, batch 2") as err:
        train(_cfg(toy_split, run, epochs=3))
    assert "checkpoint" in str(err.value)
    ckpt = load_torch(run / "checkpoint.pt")
    assert ckpt["epoch"] == 1 and (run / "best.pt").exists()
    assert len(pd.read_csv(run / "metrics.csv")) == 1
    assert not (run / "predictions.parquet").exists()


def test_select_by_worst_group_accuracy(spurious_split, tmp_path):
    res = train(_cfg(spurious_split, tmp_path / "run", epochs=4, select_by="worst_group_acc"))
    m = res.metrics
    assert res.best_epoch == int(m["epoch"][m["val_worst_group_acc"].idxmax()])
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["select_by"] == "worst_group_acc"


@pytest.mark.parametrize("method", ["reweight", "resample", "dfr"])
def test_methods_run_on_a_split(spurious_split, tmp_path, method):
    res = train(_cfg(spurious_split, tmp_path / method, epochs=2, method=method))
    assert res.finished and (tmp_path / method / "predictions.parquet").exists()
    if method == "dfr":
        assert res.summary["dfr_C"] in (1.0, 0.7, 0.3, 0.1, 0.07, 0.03, 0.01)


def test_cli_train_and_bad_model(toy_split, tmp_path, capsys):
    store, split = toy_split
    args = [
        "train",
        "--store",
        str(store),
        "--split",
        str(split),
        "--model",
        "small_cnn",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--image-size",
        "24",
        "--optimizer",
        "adam",
        "--no-progress",
    ]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    assert "test_acc" in capsys.readouterr().out
    assert main([*args[:5], "--model", "lenet", *args[7:], "--out", str(tmp_path / "bad")]) == 2
    assert "lenet" in capsys.readouterr().err
