"""The training harness: resume, NaN stop, best-model selection, run-folder checks, against a hand-written loop."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from torch import nn

from breastlab.errors import BreastlabInputError
from breastlab.runtime import derive_seed, load_torch
from breastlab.train.harness import (
    Harness,
    Schedule,
    Step,
    TrainingDivergedError,
    check_run_folder,
    config_fingerprint,
)

X = torch.linspace(-1, 1, 40)[:, None] * torch.tensor([[1.0, -2.0, 0.5]])
Y = X @ torch.tensor([1.5, 0.3, -2.0]) + 0.25


class Regression:
    """Least squares on (X, Y); iteration k's batch is drawn from a (seed, k) stream."""

    def __init__(self, poison_at: int | None = None) -> None:
        self.poison_at, self.calls = poison_at, 0

    def rows(self, k: int) -> torch.Tensor:
        return torch.randperm(len(X), generator=torch.Generator().manual_seed(derive_seed(3, k)))[:8]

    def batches(self, span):
        if isinstance(span, range):
            return (self.rows(k) for k in span)
        return [self.rows(100 * span + b) for b in range(3)]

    def step(self, net, rows, amp):
        self.calls += 1
        with amp():
            pred = net(X[rows])[:, 0]
        if self.calls == self.poison_at:
            pred = pred * float("nan")
        loss = ((pred - Y[rows]) ** 2).mean()
        return Step(loss, n=float(len(rows)))

    def evaluate(self, model, span):
        with torch.no_grad():
            return {"val_score": -float(((model(X)[:, 0] - Y) ** 2).mean()) + (0.5 if span == 2 else 0.0)}


def _harness(tmp_path, schedule, **kw):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, 5, 0.5)
    return Harness(
        model,
        opt,
        sched,
        schedule,
        torch.device("cpu"),
        checkpoint=tmp_path / "checkpoint.pt",
        run=tmp_path,
        fingerprint={"lr": 0.1},
        progress=False,
        **kw,
    )


def test_iteration_schedule_equals_a_hand_written_loop_and_resumes_exactly(tmp_path):
    sched = Schedule("iteration", 12, checkpoint_every=4, scheduler_step="iteration")
    h = _harness(tmp_path / "a", sched)
    res = h.fit(Regression())
    assert res.finished and res.done == 12 and [r["iteration"] for r in res.history] == [4, 8, 12]
    # the same optimisation written out by hand
    torch.manual_seed(0)
    ref = nn.Linear(3, 1)
    opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    lr = torch.optim.lr_scheduler.StepLR(opt, 5, 0.5)
    losses = []
    for k in range(12):
        rows = Regression().rows(k)
        loss = ((ref(X[rows])[:, 0] - Y[rows]) ** 2).mean()
        losses.append(float(loss.detach()))
        opt.zero_grad()
        loss.backward()
        opt.step()
        lr.step()
    for a, b in zip(h.model.parameters(), ref.parameters(), strict=True):
        assert torch.equal(a, b)
    assert res.history[0]["train_loss"] == pytest.approx(sum(losses[:4]) / 4, rel=1e-12)
    # cut after 6 iterations (between two checkpoints), resumed: the same weights bit for bit
    cut = _harness(tmp_path / "b", sched)
    part = cut.fit(Regression(), stop_after=6)
    assert not part.finished and load_torch(tmp_path / "b" / "checkpoint.pt")["iteration"] == 6
    again = _harness(tmp_path / "b", sched)
    assert again.resume() and again.done == 6
    again.fit(Regression())
    for a, b in zip(h.model.parameters(), again.model.parameters(), strict=True):
        assert torch.equal(a, b)
    other = _harness(tmp_path / "b", sched)
    other.fingerprint = {"lr": 0.2}
    with pytest.raises(BreastlabInputError, match="another configuration"):
        other.resume()


def test_epoch_schedule_selects_the_best_epoch_and_logs_it(tmp_path):
    h = _harness(tmp_path, Schedule("epoch", 3), select_metric="val_score", select_name="score")
    res = h.fit(Regression())
    m = pd.read_csv(tmp_path / "metrics.csv")
    assert list(m["epoch"]) == [1, 2, 3] and res.best_round == int(m["epoch"][m["val_score"].idxmax()]) == 2
    best = load_torch(tmp_path / "best.pt")
    assert best["epoch"] == 2 and best["select_by"] == "score" and m["selected"].tolist()[1]


def test_nan_names_epoch_and_batch_and_keeps_the_last_checkpoint(tmp_path):
    h = _harness(tmp_path, Schedule("epoch", 3), hint="try a smaller lr")
    with pytest.raises(TrainingDivergedError, match=r"epoch 2, batch 2 of 3.*checkpoint.pt \(epoch 1\).*smaller lr"):
        h.fit(Regression(poison_at=5))
    assert load_torch(tmp_path / "checkpoint.pt")["epoch"] == 1
    h2 = _harness(tmp_path / "it", Schedule("iteration", 10, 4))
    with pytest.raises(TrainingDivergedError, match="iteration 7"):
        h2.fit(Regression(poison_at=7))


def test_run_folder_is_never_overwritten_and_differences_are_named(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    fp = config_fingerprint(Schedule("epoch", 3), exclude={"log"}, data="abc")
    assert fp == {"unit": "epoch", "total": 3, "checkpoint_every": 1, "scheduler_step": "round", "data": "abc"}
    check_run_folder(run, fp, resume=False)
    (run / "config.json").write_text(json.dumps({"fingerprint": fp}))
    with pytest.raises(BreastlabInputError, match="--resume"):
        check_run_folder(run, fp, resume=False)
    check_run_folder(run, fp, resume=True)
    with pytest.raises(BreastlabInputError, match="total: run 3 vs now 4"):
        check_run_folder(run, {**fp, "total": 4}, resume=True)


@pytest.mark.parametrize("unit", ["epoch", "iteration"])
def test_progress_in_a_log_is_whole_lines_per_stage(tmp_path, capsys, monkeypatch, unit):
    monkeypatch.delenv("BREASTLAB_PROGRESS", raising=False)
    h = _harness(tmp_path, Schedule(unit, 3, checkpoint_every=1), select_metric="val_score", select_name="score")
    h.progress = True
    h.fit(Regression())
    err = capsys.readouterr().err
    assert "\r" not in err
    counted = "epoch" if unit == "epoch" else "it"
    assert err.splitlines()[0] == f"train: started, 0/3 {counted}"
    assert err.splitlines()[-1].startswith(f"train: done, 3/3 {counted} in ")
    assert len(err.splitlines()) == 2  # the epochs' batch bars are transient: no lines for short ones
