"""Mitigation objectives against hand computations and scikit-learn."""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from breastlab.train.methods import Objective, dfr_refit

TRAIN_GROUPS = np.array([0] * 6 + [1] * 3 + [2] * 1)  # n_g = 6, 3, 1


def test_erm_and_reweight_coefficients():
    g = torch.tensor([0, 0, 1, 2])
    erm = Objective("erm", TRAIN_GROUPS, 3).coefficients(g)
    np.testing.assert_allclose(erm.numpy(), [0.25] * 4)
    rw = Objective("reweight", TRAIN_GROUPS, 3).coefficients(g)
    w = np.array([1 / 6, 1 / 6, 1 / 3, 1.0])  # 1 / n_g
    np.testing.assert_allclose(rw.numpy(), w / w.sum())


def test_groupdro_follows_sagawa_algorithm_1():
    """q <- q * exp(eta * L_g), normalised, then loss = sum_g q_g L_g (hand computation in NumPy)."""
    obj = Objective("groupdro", TRAIN_GROUPS, 3, eta=0.5)
    q = np.full(3, 1 / 3)
    rng = np.random.default_rng(0)
    for _ in range(3):
        groups = np.array([0, 0, 1, 0, 1])  # group 2 absent: its weight only renormalised
        losses = rng.random(5)
        sums = np.bincount(groups, losses, minlength=3)
        counts = np.bincount(groups, minlength=3)
        mean = np.divide(sums, counts, out=np.zeros(3), where=counts > 0)
        q = q * np.exp(0.5 * mean)
        q /= q.sum()
        coef = obj.coefficients(torch.as_tensor(groups), torch.as_tensor(sums)).numpy()
        np.testing.assert_allclose(obj.q.numpy(), q)
        np.testing.assert_allclose(coef @ losses, q @ mean)


def test_resample_draws_groups_evenly():
    obj = Objective("resample", TRAIN_GROUPS, 3)
    order = np.concatenate([obj.sample_order(TRAIN_GROUPS, torch.Generator().manual_seed(s)) for s in range(300)])
    counts = np.bincount(TRAIN_GROUPS[order], minlength=3)
    p = stats.chisquare(counts).pvalue
    print("group draws", counts, "chi-square p", p)
    assert p > 1e-3


def test_dfr_head_equals_sklearn_standardised_l1_logistic_regression():
    rng = np.random.default_rng(0)
    n = 80
    y = np.repeat([0, 1], n // 2)
    a = np.tile([0, 1], n // 2)  # balanced groups: the subsample is the whole tuning set
    x = rng.normal(size=(n, 6)) * [1, 2, 3, 1, 1, 5] + 3
    x[:, 0] += 2.0 * y
    x[:, 1] += 3.0 * a
    groups = 2 * y + a
    parts = {"tune": (x, y, groups), "val": (x[:20], y[:20], groups[:20])}
    head = nn.Linear(6, 2)
    dfr_refit(head, lambda p: parts[p], n_repeats=1, cs=(0.3,), seed=0)
    ref = make_pipeline(StandardScaler(), LogisticRegression(C=0.3, l1_ratio=1.0, solver="liblinear")).fit(x, y)
    with torch.no_grad():
        logits = head(torch.as_tensor(x, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(logits[:, 1] - logits[:, 0], ref.decision_function(x), atol=1e-3)


def test_dfr_refit_is_reproducible_for_a_seed():
    """liblinear shuffles with its own generator: the refit passes the seed, so two refits give the same head."""
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 40)
    a = rng.integers(0, 2, 80)
    x = rng.normal(size=(80, 5)) + y[:, None] * [1.0, 0, 0, 0.5, 0] + a[:, None] * [0, 2.0, 0, 0, 0]
    parts = {"tune": (x, y, 2 * y + a), "val": (x[:30], y[:30], (2 * y + a)[:30])}
    heads = [nn.Linear(5, 2), nn.Linear(5, 2)]
    for h in heads:
        dfr_refit(h, lambda p: parts[p], n_repeats=3, seed=4)
    assert torch.equal(heads[0].weight, heads[1].weight) and torch.equal(heads[0].bias, heads[1].bias)
