"""Grad-CAM against a hand-computed case and a model trained to find a bright square."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from breastlab.errors import BreastlabInputError
from breastlab.models.gradcam import grad_cam, last_conv_layer


def _identity_model(n_out: int) -> nn.Module:
    """conv 1x1 (weight 1) -> ReLU -> global average pool -> linear."""
    conv = nn.Conv2d(1, 1, 1, bias=False)
    fc = nn.Linear(1, n_out, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        fc.weight.copy_(torch.tensor([[1.0]]) if n_out == 1 else torch.tensor([[-1.0], [1.0]]))
    return nn.Sequential(conv, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), fc)


def test_hand_computed_identity_case():
    # A = x, y = mean(relu(A)): dy/dA_ij = 1[x_ij > 0] / (HW), alpha = (#positive / HW) / (HW) > 0,
    # so L = relu(alpha x) = alpha x and the normalised map is x / max(x).
    torch.manual_seed(0)
    x = torch.rand(3, 1, 8, 8) + 0.01
    for n_out in (1, 2):
        cam = grad_cam(_identity_model(n_out), x, target_class=1)
        torch.testing.assert_close(cam, x[:, 0] / x.amax(dim=(1, 2, 3))[:, None, None])
    # Explaining class 0 of the 2-output model: alpha < 0, so L = relu(-|alpha| x) = 0.
    cam0 = grad_cam(_identity_model(2), x, target_class=0)
    assert torch.count_nonzero(cam0) == 0
    # One output: class 0 is explained by -logit, also all zero.
    assert torch.count_nonzero(grad_cam(_identity_model(1), x, target_class=0)) == 0


def _square_batch(n: int, gen: torch.Generator, size: int = 24, side: int = 5):
    x = torch.rand(n, 1, size, size, generator=gen) * 0.3
    y = torch.randint(0, 2, (n,), generator=gen)
    pos = torch.randint(0, size - side, (n, 2), generator=gen)
    for i in range(n):
        if y[i]:
            r, c = pos[i].tolist()
            x[i, 0, r : r + side, c : c + side] = 1.0
    return x, y, pos


def test_localises_bright_square_model_was_trained_on():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveMaxPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 2),
    )
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(60):
        x, y, _ = _square_batch(32, gen)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    x, y, pos = _square_batch(64, gen)
    assert (model(x).argmax(1) == y).float().mean() > 0.95  # the model did learn the square
    assert last_conv_layer(model) is model[2]
    cam = grad_cam(model, x[y == 1], target_class=1)
    assert cam.shape == (int(y.sum()), 24, 24) and cam.min() >= 0 and cam.max() <= 1
    peaks = cam.flatten(1).argmax(1)
    rows, cols = peaks // 24, peaks % 24
    r0, c0 = pos[y == 1, 0], pos[y == 1, 1]
    # The hottest pixel lies on the square (allowing one pixel of blur from the 3x3 convolutions).
    inside = (rows >= r0 - 1) & (rows <= r0 + 5) & (cols >= c0 - 1) & (cols <= c0 + 5)
    print(f"Grad-CAM peak inside the square for {inside.float().mean():.2f} of {len(inside)} images")
    assert inside.float().mean() >= 0.9


def test_errors():
    with pytest.raises(BreastlabInputError):
        last_conv_layer(nn.Linear(2, 2))
    with pytest.raises(BreastlabInputError):
        grad_cam(_identity_model(2), torch.rand(1, 8, 8))
    with pytest.raises(BreastlabInputError):
        grad_cam(_identity_model(2), torch.rand(1, 1, 8, 8), target_class=3)
