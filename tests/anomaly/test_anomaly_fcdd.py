"""FCDD core against hand-computed values: pseudo-Huber, loss, HSC, receptive field, Gaussian upsampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from breastlab.anomaly.fcdd import (
    ConvTrunk,
    FCDDNet,
    ReceptiveField,
    confetti_noise,
    fcdd_loss,
    gaussian_kernel,
    hsc_loss,
    hsc_score,
    pseudo_huber,
    receptive_field,
    receptive_upsample,
)
from breastlab.errors import BreastlabInputError


def test_pseudo_huber_hand_values():
    x = torch.tensor([0.0, 1.0, -3.0])
    expected = [0.0, math.sqrt(2) - 1, math.sqrt(10) - 1]
    assert pseudo_huber(x).tolist() == pytest.approx(expected, abs=1e-7)


def test_fcdd_loss_hand_computed():
    # image 0 normal with mean A = 1.0; image 1 anomalous with mean A = 2.0
    a = torch.tensor([[[[0.5, 1.5], [1.0, 1.0]]], [[[2.0, 2.0], [1.0, 3.0]]]], dtype=torch.float64)
    y = torch.tensor([0, 1])
    per = fcdd_loss(a, y, reduction="none")
    expected = [1.0, -math.log(1 - math.exp(-2.0))]  # 0.14541...
    assert per.tolist() == pytest.approx(expected, rel=1e-12)
    assert float(fcdd_loss(a, y)) == pytest.approx(sum(expected) / 2, rel=1e-12)
    # a tiny anomalous mean stays finite (log(1 - exp(-a)) ~ log(a))
    tiny = fcdd_loss(torch.full((1, 1, 2, 2), 1e-6, dtype=torch.float64), torch.tensor([1]))
    assert float(tiny) == pytest.approx(-math.log(1e-6), rel=1e-5)


def test_hsc_score_and_loss_hand_computed():
    z = torch.tensor([[3.0, 4.0], [0.0, 0.0]], dtype=torch.float64)
    s = math.sqrt(26) - 1
    assert hsc_score(z).tolist() == pytest.approx([s, 0.0])
    assert hsc_loss(z, torch.tensor([1, 0]), reduction="none").tolist() == pytest.approx(
        [-math.log(1 - math.exp(-s)), 0.0]
    )


def test_loss_rejects_bad_labels():
    with pytest.raises(BreastlabInputError, match="labels"):
        fcdd_loss(torch.zeros(2, 1, 2, 2), torch.tensor([0, 1, 1]))


def test_gaussian_upsampling_hand_computed():
    # receptive field 3, stride 2, unit (p, q) centred on pixel (1 + 2p, 1 + 2q); sigma 1
    rf = ReceptiveField(r=3, j=2, start=1.0)
    a = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=torch.float64)
    out = receptive_upsample(a, rf, (4, 4), sigma=1.0)[0, 0]
    z = 1 + 2 * math.exp(-0.5)
    g0, g1 = 1 / z, math.exp(-0.5) / z  # 1-D weights at distance 0 and 1
    assert out[1, 1] == pytest.approx(1 * g0 * g0)  # centre of unit (0, 0) only
    assert out[1, 2] == pytest.approx(1 * g0 * g1 + 2 * g0 * g1)  # between units (0, 0) and (0, 1)
    assert out[2, 2] == pytest.approx((1 + 2 + 3 + 4) * g1 * g1)
    assert out[3, 3] == pytest.approx(4 * g0 * g0)
    assert out[0, 0] == pytest.approx(1 * g1 * g1)
    assert out[3, 0] == pytest.approx(3 * g0 * g1)  # centre row of unit (1, 0), one column left of it


def test_gaussian_kernel_sums_to_one_and_is_separable():
    k = gaussian_kernel(5, 1.3).numpy()
    assert k.sum() == pytest.approx(1.0)
    t = np.arange(5) - 2.0
    g = np.exp(-(t**2) / (2 * 1.3**2))
    assert np.allclose(k, np.outer(g, g) / g.sum() ** 2)


def _empirical_field(trunk: nn.Module, size: int, unit: tuple[int, int]) -> tuple[int, int, int, int]:
    """Rows/cols of input pixels that influence one output unit (gradient support)."""
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    out = trunk(x)
    out[0, :, unit[0], unit[1]].sum().backward()
    nz = (x.grad[0, 0].abs() > 0).numpy()
    rows, cols = np.flatnonzero(nz.any(1)), np.flatnonzero(nz.any(0))
    return rows[0], rows[-1], cols[0], cols[-1]


def test_receptive_field_matches_gradient_support():
    torch.manual_seed(0)
    trunk = ConvTrunk(1, width=4, depth=4)
    rf = receptive_field(trunk)
    assert (rf.r, rf.j, rf.start) == (38, 8, 3.5)
    # same geometry with average pooling and positive weights: the gradient reaches every pixel of the field
    probe = nn.Sequential(*[nn.AvgPool2d(2) if isinstance(m, nn.MaxPool2d) else m for m in trunk]).eval()
    with torch.no_grad():
        for m in probe.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.abs_()
    r0, r1, c0, c1 = _empirical_field(probe, 96, (5, 6))
    half = (rf.r - 1) / 2
    assert (r0, r1) == (rf.start + 5 * rf.j - half, rf.start + 5 * rf.j + half)
    assert (c0, c1) == (rf.start + 6 * rf.j - half, rf.start + 6 * rf.j + half)


def test_upsampled_unit_is_centred_on_its_field():
    net = FCDDNet(width=4)
    rf = net.receptive_field
    a = torch.zeros(1, 1, 8, 8, dtype=torch.float64)
    a[0, 0, 3, 5] = 1.0
    out = receptive_upsample(a, rf, (64, 64))[0, 0].numpy()
    ys, xs = np.mgrid[:64, :64]
    assert (out * ys).sum() / out.sum() == pytest.approx(rf.start + 3 * rf.j)
    assert (out * xs).sum() / out.sum() == pytest.approx(rf.start + 5 * rf.j)
    assert out.sum() == pytest.approx(1.0)  # the whole kernel lies inside the image


def test_fcdd_net_shapes_and_confetti():
    net = FCDDNet(width=4).eval()
    x = torch.rand(3, 1, 64, 64)
    assert net(x).shape == (3, 1, 8, 8) and (net(x) >= 0).all()
    assert net.heatmap(x).shape == (3, 64, 64)
    g = torch.Generator().manual_seed(0)
    noisy = confetti_noise(x * 0.2, g)
    assert noisy.min() >= 0 and noisy.max() <= 1 and (noisy != x * 0.2).any(dim=(1, 2, 3)).all()


def test_pseudo_huber_of_half_precision_values_is_float32():
    """``sqrt(x^2 + 1) - 1`` of bf16 inputs: in bf16 the small values all cancel to 0."""
    x = torch.tensor([0.01, 0.05, -0.03, 2.0], dtype=torch.bfloat16)
    xd = x.double()
    expected = (torch.sqrt(xd * xd + 1) - 1).tolist()  # of the same bf16 inputs, in float64
    for a in (pseudo_huber(x), hsc_score(x[:, None])):
        assert a.dtype == torch.float32 and torch.equal(a, pseudo_huber(x.float()))
        # float32's own cancellation: 1 + x^2 is rounded to float32's spacing near 1 (2**-23)
        np.testing.assert_allclose(a.tolist(), expected, rtol=0, atol=2**-23)
    assert pseudo_huber(x.double()).dtype == torch.float64  # float64 stays float64


def test_fcdd_scores_under_bf16_autocast_follow_float32():
    """Under autocast (bf16 on a GPU; the CPU's bf16 autocast here) the network's phi is bf16; the
    heatmap A(X) and its mean, the anomaly score, must not lose the small values of normal images."""
    torch.manual_seed(0)
    net = FCDDNet("small", width=8, depth=3).eval()
    with torch.no_grad():
        net.head.weight.mul_(0.2)  # small phi, as a trained FCDD gives normal images
        x = torch.rand(4, 1, 64, 64)
        a32 = net(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            a16 = net(x)
    assert a16.dtype == torch.float32 and bool((a16 > 0).all())
    # phi carries bf16's relative error (2**-9); A ~ phi^2 / 2 about twice that
    np.testing.assert_allclose(a16.flatten(1).mean(1), a32.flatten(1).mean(1), rtol=2e-2)
