"""ci_coords replicates against coords on each resampled data set.

The reference rebuilds every replicate as a plain data set (cases repeated by their bootstrap
weights, drawn from the same generator) and asks ``coords`` for its coordinates (at
``x="best"``: its best thresholds); the vectorised replicates must agree exactly, ties
included (pROC's comparison against R is in test_stats_proc_ci_coords.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from breastlab.errors import BreastlabInputError
from breastlab.evaluate.stats.bootstrap import _chunks, _Resampler, _rng
from breastlab.evaluate.stats.ci_coords import _best_replicates, ci_coords
from breastlab.evaluate.stats.coords import coords

N_BOOT = 200


def _data(seed=3, m=30, n=40):
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.r_[np.ones(m, int), np.zeros(n, int)])
    return y, np.round(y + rng.normal(0, 1, y.size), 1)  # rounded: ties in scores and in the criterion


def _replicate_data(y, s, stratified, seed, direction):
    """Each replicate as (y, s) arrays, with the weights ``_best_replicates`` draws from ``seed``."""
    oriented = s if direction == "<" else -s
    order = np.lexsort((oriented, ~y.astype(bool)))  # the case order the bootstrap weights refer to
    ys, ss = y[order], s[order]
    resampler, rng = _Resampler(ys.astype(bool), stratified, None), _rng(seed)
    weights = np.concatenate([resampler.weights(rng, size) for size in _chunks(N_BOOT, y.size)])
    for w in weights:
        idx = np.repeat(np.arange(y.size), w.astype(int))
        yield ys[idx], ss[idx]


@pytest.mark.parametrize("direction", ["<", ">"])
@pytest.mark.parametrize("stratified", [True, False])
@pytest.mark.parametrize(("method", "weights"), [("youden", (1, 0.5)), ("closest.topleft", (2, 0.3))])
def test_best_replicates_equal_coords_best_on_each_resample(direction, stratified, method, weights):
    y, s = _data()
    s = s if direction == "<" else -s
    _, reps = _best_replicates(y, s, method, weights, "omit", N_BOOT, stratified, 5, direction)
    n_tied = 0
    for i, (yi, si) in enumerate(_replicate_data(y, s, stratified, 5, direction)):
        best = coords(yi, si, "best", best_method=method, best_weights=weights, direction=direction)
        assert reps["ties"][i] == len(best)
        assert (reps["m"][i], reps["n"][i]) == (yi.sum(), (1 - yi).sum())
        got = [reps[k][i] for k in ("threshold", "sensitivity", "specificity")]
        if len(best) == 1:
            assert got == best[["threshold", "sensitivity", "specificity"]].iloc[0].tolist()
        else:
            n_tied += 1
            assert np.isnan(got).all()
    if method == "youden":
        assert n_tied > 0  # m = 30, n = 40: the youden index ties in some replicates


def test_random_policy_picks_one_of_the_tied_points():
    y, s = _data()
    _, reps = _best_replicates(y, s, "youden", (1, 0.5), "random", N_BOOT, True, 5, "<")
    picked = set()
    for i, (yi, si) in enumerate(_replicate_data(y, s, True, 5, "<")):
        best = coords(yi, si, "best").reset_index(drop=True)
        hit = best.index[(best["threshold"] == reps["threshold"][i]) & (best["sensitivity"] == reps["sensitivity"][i])]
        assert len(hit) == 1
        if len(best) > 1:
            picked.add(int(hit[0]))
    assert {0, 1} <= picked  # not always the first of the tied points


def test_ci_coords_best_quantiles_use_each_replicates_class_sizes():
    y, s = _data()
    ours = ci_coords(
        y,
        s,
        "best",
        ret=["ppv", "accuracy", "threshold"],
        n_boot=N_BOOT,
        stratified=False,
        seed=7,
        best_method="closest.topleft",
    )
    ref = []
    for yi, si in _replicate_data(y, s, False, 7, "<"):
        ref.append(coords(yi, si, "best", best_method="closest.topleft")[["ppv", "accuracy", "threshold"]].iloc[0])
    ref = pd.DataFrame(ref)
    for c in ("ppv", "accuracy", "threshold"):
        row = ours[ours["coordinate"] == c].iloc[0]
        np.testing.assert_allclose(
            row[["lower", "median", "upper"]].to_numpy(float), ref[c].quantile([0.025, 0.5, 0.975])
        )
        assert row["value"] == coords(y, s, "best", best_method="closest.topleft")[c].iloc[0]
    assert (ours["x"] == "best").all() and (ours["n_valid"] == N_BOOT).all()


def test_omit_leaves_tied_replicates_out_with_a_warning():
    y, s = _data()
    with pytest.warns(UserWarning, match="replicates without a best point left out"):
        ours = ci_coords(y, s, "best", ret="sensitivity", n_boot=N_BOOT, seed=5, best_policy="omit")
    _, reps = _best_replicates(y, s, "youden", (1, 0.5), "omit", N_BOOT, True, 5, "<")
    assert ours["n_valid"].iloc[0] == np.sum(reps["ties"] == 1) < N_BOOT


def test_stop_refuses_ties_and_bad_arguments_are_named():
    y, s = _data()
    with pytest.raises(BreastlabInputError, match=r"of 200 bootstrap replicates have several best thresholds"):
        ci_coords(y, s, "best", n_boot=N_BOOT, seed=5)
    y2, s2 = np.r_[1, 1, 0, 0], np.r_[0.9, 0.2, 0.1, 0.8]  # se + sp = 1.5 at (1, 0.5) and (0.5, 1)
    with pytest.raises(BreastlabInputError, match="the curve has 2 best thresholds by youden"):
        ci_coords(y2, s2, "best", n_boot=N_BOOT)
    drawn = ci_coords(y2, s2, "best", n_boot=N_BOOT, best_policy="random", ret="sensitivity")
    assert drawn["value"].iloc[0] in (0.5, 1.0)
    for kw, msg in (
        ({"best_policy": "first"}, "best_policy must be one of"),
        ({"best_method": "kappa"}, "best_method must be 'youden' or 'closest.topleft'"),
        ({"best_weights": (1, 1.5)}, "prevalence must be in"),
        ({"ret": ["auc"]}, r"ret \['auc'\] unknown"),
    ):
        with pytest.raises(BreastlabInputError, match=msg):
            ci_coords(y, s, "best", n_boot=N_BOOT, **({"best_policy": "random"} | kw))
    with pytest.raises(BreastlabInputError, match="x must be 'best' or numbers"):
        ci_coords(y, s, "all")


@pytest.mark.parametrize(("x", "given"), [((0.0, 0.6), "threshold"), ((0.85,), "specificity"), ((0.7,), "sensitivity")])
def test_simple_bootstrap_coordinates_use_each_replicates_class_sizes(x, given):
    y, s = _data(seed=11)
    ret = ["ppv", "npv", "accuracy", "fp"]
    ours = ci_coords(y, s, list(x), input=given, ret=ret, n_boot=N_BOOT, stratified=False, seed=9)
    for v in x:
        ref = pd.concat([coords(yi, si, [v], input=given, ret=ret) for yi, si in _replicate_data(y, s, False, 9, "<")])
        for c in ret:
            row = ours[(ours[given] == v) & (ours["coordinate"] == c)].iloc[0]
            want = ref[c].quantile([0.025, 0.5, 0.975]).to_numpy()
            np.testing.assert_allclose(row[["lower", "median", "upper"]].to_numpy(float), want, rtol=1e-12, err_msg=c)
