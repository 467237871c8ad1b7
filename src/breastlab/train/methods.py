"""Mitigation baselines: ERM, group-balanced reweighting / resampling, GroupDRO, DFR.

Every method except DFR changes the training objective, written for a global
batch ``B`` with per-sample cross-entropy losses ``l_i`` and groups ``g_i`` as
``L = sum_i c_i l_i`` with detached coefficients ``c_i``:

* ``erm``: ``c_i = 1 / |B|`` (empirical risk minimisation).
* ``reweight``: ``c_i = w_{g_i} / sum_{j in B} w_{g_j}`` with ``w_g = 1 / n_g`` (``n_g``: training
  images of group ``g``), so every group carries the same total weight over an epoch.
* ``resample``: ERM on batches drawn with replacement with probability proportional to ``1 / n_{g_i}``.
* ``groupdro``: online GroupDRO (Sagawa et al., ICLR 2020, Algorithm 1): group weights
  ``q_g <- q_g exp(eta * L_g)``, normalised, with ``L_g`` the batch mean loss of group ``g``; the objective
  is ``sum_g q_g L_g``, i.e. ``c_i = q_{g_i} / |B_{g_i}|``.
* ``dfr``: Deep Feature Reweighting (Kirichenko, Izmailov & Wilson, ICLR 2023): ERM training, then
  the last layer is refitted by L1-regularised logistic regression on the embeddings of the
  group-balanced tuning split (:func:`dfr_refit`).

Writing the objective through ``c_i`` makes distributed training exact: each rank
knows the whole global batch's groups, so ``c_i`` needs no communication except
GroupDRO's group losses (one all-reduce of ``G`` numbers).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from breastlab.errors import BreastlabInputError

METHODS = ("erm", "reweight", "resample", "groupdro", "dfr")
DFR_CS = (1.0, 0.7, 0.3, 0.1, 0.07, 0.03, 0.01)  # the C grid of Kirichenko et al.


class Objective:
    """Per-sample loss coefficients ``c_i`` of a method (see module docstring)."""

    def __init__(self, method: str, train_groups: np.ndarray, n_groups: int, eta: float = 0.01) -> None:
        if method not in METHODS:
            raise BreastlabInputError(f"method {method!r}: valid methods are {', '.join(METHODS)}")
        self.method = method
        self.n_groups = n_groups
        self.eta = float(eta)
        counts = np.bincount(train_groups, minlength=n_groups).astype(np.float64)
        self.group_weight = torch.tensor(np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0))
        self.q = torch.full((n_groups,), 1.0 / n_groups, dtype=torch.float64)

    @property
    def needs_group_losses(self) -> bool:
        return self.method == "groupdro"

    def sample_order(self, train_groups: np.ndarray, generator: torch.Generator) -> np.ndarray:
        """Positions of one epoch: a permutation, or a group-balanced draw with replacement (``resample``)."""
        n = len(train_groups)
        if self.method == "resample":
            w = self.group_weight[torch.from_numpy(train_groups)]
            return torch.multinomial(w, n, replacement=True, generator=generator).numpy()
        return torch.randperm(n, generator=generator).numpy()

    def coefficients(self, groups: torch.Tensor, group_loss_sums: torch.Tensor | None = None) -> torch.Tensor:
        """``c_i`` for the global batch's ``groups``; GroupDRO updates ``q`` from ``group_loss_sums`` first."""
        groups = groups.cpu()
        if self.method in ("erm", "resample", "dfr"):
            return torch.full((len(groups),), 1.0 / len(groups), dtype=torch.float64)
        if self.method == "reweight":
            w = self.group_weight[groups]
            return w / w.sum()
        counts = torch.bincount(groups, minlength=self.n_groups).double()
        if group_loss_sums is None:
            raise ValueError("groupdro needs the batch's per-group loss sums")
        mean = group_loss_sums.double().cpu() / counts.clamp(min=1)
        self.q = self.q * torch.exp(self.eta * mean)  # absent groups: mean 0, weight unchanged
        self.q = self.q / self.q.sum()
        return self.q[groups] / counts[groups]

    def state_dict(self) -> dict:
        return {"q": self.q.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.q = state["q"].clone().double()


def _balanced_subsample(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices with every present group subsampled to the smallest group's size."""
    present = np.unique(groups)
    n_min = min(int((groups == g).sum()) for g in present)
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(groups == g), n_min, replace=False) for g in present]))


def _worst_group_accuracy(pred: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> float:
    return float(min((pred[groups == g] == labels[groups == g]).mean() for g in np.unique(groups)))


def dfr_refit(
    classifier: nn.Linear,
    features: Callable[[str], tuple[np.ndarray, np.ndarray, np.ndarray]],
    n_repeats: int = 10,
    cs: tuple[float, ...] = DFR_CS,
    seed: int = 0,
) -> dict:
    """Deep Feature Reweighting: refit ``classifier`` (2 outputs) on group-balanced tuning embeddings.

    ``features(part)`` returns (embeddings, labels, group ids) of split part "tune" or
    "val". Embeddings are standardised with the tuning set's mean and s.d.; for each C in
    ``cs``, ``n_repeats`` L1 logistic regressions are fitted on group-balanced
    subsamples of the tuning set and their coefficients averaged; the C with the best
    worst-group validation accuracy is kept (ties: larger C). The linear layer is set so that
    ``logit_1 - logit_0`` equals the averaged decision function
    ``w . (x - mu) / sigma + b`` on the raw embedding ``x``.
    """
    from sklearn.linear_model import LogisticRegression

    xt, yt, gt = features("tune")
    xv, yv, gv = features("val")
    if len(xt) == 0:
        raise BreastlabInputError("method 'dfr' needs a 'tune' part in the split (the group-balanced tuning set)")
    if len(np.unique(yt)) < 2:
        raise BreastlabInputError("method 'dfr': the tuning split holds one class only")
    mu, sd = xt.mean(0), xt.std(0) + 1e-8
    zt = (xt - mu) / sd
    zv = (xv - mu) / sd if len(xv) else None
    rng = np.random.default_rng(seed)
    subsamples = [_balanced_subsample(gt, rng) for _ in range(n_repeats)]
    best: tuple[float, float, np.ndarray, float] | None = None
    for c in cs:
        coefs, intercepts = [], []
        for idx in subsamples:
            if len(np.unique(yt[idx])) < 2:
                continue
            lr = LogisticRegression(C=c, l1_ratio=1.0, solver="liblinear", max_iter=1000, random_state=seed)
            lr.fit(zt[idx], yt[idx])
            coefs.append(lr.coef_[0])
            intercepts.append(lr.intercept_[0])
        if not coefs:
            raise BreastlabInputError("method 'dfr': no group-balanced tuning subsample holds both classes")
        w, b = np.mean(coefs, 0), float(np.mean(intercepts))
        score = _worst_group_accuracy(((zv @ w + b) > 0).astype(int), yv, gv) if zv is not None else 0.0
        if best is None or score > best[0]:
            best = (score, c, w, b)
    score, c, w, b = best
    with torch.no_grad():
        weight = torch.zeros_like(classifier.weight)
        bias = torch.zeros_like(classifier.bias)
        weight[1] = torch.as_tensor(w / sd, dtype=weight.dtype)
        bias[1] = float(b - np.sum(w * mu / sd))
        classifier.weight.copy_(weight)
        classifier.bias.copy_(bias)
    return {
        "dfr_C": c,
        "dfr_val_worst_group_acc": score,
        "dfr_repeats": n_repeats,
        "dfr_tune_balanced_size": int(len(subsamples[0])),
    }
