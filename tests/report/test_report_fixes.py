"""The shortcut section's labels and figures: no shortcut claim without a rule, missing groups shown as
missing, no negative zero, a gallery title clear of the captions."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest

from breastlab._html import html_table, pyplot
from breastlab.evaluate.metrics import evaluate_run
from breastlab.train.report import (
    NO_RULE_ERROR,
    SHORTCUT_ERROR,
    draw_group_bars,
    gallery_grid,
    gallery_selection,
    runs_section,
)


@pytest.fixture(scope="module")
def ev(fake_sweep):
    return evaluate_run(fake_sweep / "rho0.9", n_boot=0)


def test_without_a_rule_no_error_is_called_shortcut_driven(ev):
    assert ev.rule  # the fixture's strongly correlated run has a rule ...
    assert SHORTCUT_ERROR in set(gallery_selection(ev, per_kind=4)["kind"])
    no_rule = dataclasses.replace(ev, rule=[])  # ... the baseline has none
    sel = gallery_selection(no_rule, per_kind=4)
    assert SHORTCUT_ERROR not in set(sel["kind"])
    errors = sel[sel["kind"] == NO_RULE_ERROR]
    assert len(errors) > 0 and (errors["pred"] != errors["label"]).all()


def test_section_without_a_rule_says_so(fake_sweep, model_loader, monkeypatch):
    import breastlab.train.report as rep

    real = rep.evaluate_run
    monkeypatch.setattr(rep, "evaluate_run", lambda *a, **k: dataclasses.replace(real(*a, **k), rule=[]))
    text = runs_section([fake_sweep / "rho0.9"], n_boot=20, model_loader=model_loader, per_kind=2)
    assert "no error can be called shortcut-driven" in text
    assert "A shortcut-driven error is wrong" not in text


def test_missing_group_differs_from_zero_accuracy(ev):
    # The strongly correlated train split has no image of two groups; some groups score 0 elsewhere.
    g = ev.groups
    n_missing = g["group"].nunique() * g["split"].nunique() - len(g)
    n_zero = int((g["accuracy"] == 0).sum())
    assert n_missing >= 1 and n_zero >= 1
    fig, ax = pyplot().subplots()
    draw_group_bars(ax, ev)
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("n/a") == n_missing and texts.count("0") == n_zero
    hatched = [p for p in ax.patches if p.get_hatch()]
    assert len(hatched) == n_missing and all(p.get_height() == pytest.approx(1.0) for p in hatched)
    assert any("no images" in t.get_text() for t in ax.texts)
    pyplot().close(fig)


def test_no_negative_zero_in_tables():
    df = pd.DataFrame({"kappa": [-1e-17, -0.0, 0.25], "n": [3.0, 20130.0, 1.0]})
    text = html_table(df) + html_table(df, decimals=3)
    assert "-0" not in text
    assert "<td>20130</td>" in text and "<td>0.000</td>" in text


@pytest.mark.parametrize("n", [2, 4, 6, 8])  # a plain suptitle overlapped the middle captions for 2 to 6 columns
def test_gallery_title_clear_of_captions(n):
    sel = pd.DataFrame(
        {"kind": [SHORTCUT_ERROR] * n, "label": [1] * n, "pred": [0] * n, "attribute": ["1.5"] * n, "score": [0.3] * n}
    )
    imgs = np.random.default_rng(0).random((n, 16, 16))
    fig = gallery_grid(imgs, imgs, sel, "Test slices: a run")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    for ax in fig.axes:
        assert not title.overlaps(ax.title.get_window_extent(renderer)), ax.title.get_text()
        assert not title.overlaps(ax.get_window_extent(renderer))
    pyplot().close(fig)


def test_report_prints_no_negative_zero(report):
    text = re.sub(r'src="data:[^"]*"', "", report.read_text())
    assert "rule_kappa" in text  # the shortcut table, where a kappa near 0 once read "-0.000"
    assert re.findall(r"(?<![\w.])-0(?:\.0+)?(?![\d.])", text) == []


def test_gallery_runs_grad_cam_on_the_device_of_the_users_model(ev, model_loader):
    """A model a user's loader put on a GPU gets its input there. Here the model's first parameter sits on
    the meta device (the stand-in GPU): moved there, the input is a CPU copy marked as moved, and the
    model refuses an unmarked input as PyTorch refuses tensors on two devices."""
    import torch
    from torch import nn
    from torch.overrides import TorchFunctionMode

    from breastlab.train.report import gallery_figure

    class ToStandIn(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            meta = [a for a in (*args[1:], kwargs.get("device")) if isinstance(a, torch.device) and a.type == "meta"]
            if func is torch.Tensor.to and meta:
                out = args[0].clone()
                out.on_stand_in = True
                return out
            if func is torch.tensor and kwargs.get("device") == torch.device("meta"):
                return func(*args, **{**kwargs, "device": None})
            out = func(*args, **kwargs)
            if func is torch.Tensor.detach and getattr(args[0], "on_stand_in", False):
                out.on_stand_in = True  # Grad-CAM detaches its input: still on the same device
            return out

    class OnStandIn(nn.Module):
        def __init__(self, net: nn.Module) -> None:
            super().__init__()
            self.anchor = nn.Parameter(torch.empty(0, device="meta"))  # where the model "is"
            self.net = net

        def forward(self, x):
            if not getattr(x, "on_stand_in", False):
                raise RuntimeError("Expected all tensors to be on the same device, but found at least two devices")
            return self.net(x)

    def loader(run_dir):
        model, cfg = model_loader(run_dir)
        return OnStandIn(model), cfg

    uri, sel = gallery_figure(ev, loader=model_loader, per_kind=2)
    with ToStandIn():
        moved, sel2 = gallery_figure(ev, loader=loader, per_kind=2)
    assert moved == uri and sel2.equals(sel)  # the same Grad-CAM maps as on the CPU
