"""Venkatraman's permutation tests of two whole ROC curves (paired and unpaired), vectorised.

Venkatraman ES, Begg CB. A distribution-free procedure for comparing receiver
operating characteristic curves from a paired experiment. Biometrika 1996;83:835-848.
Venkatraman ES. A permutation test to compare receiver operating
characteristic curves. Biometrics 2000;56:1134-1138.
Robin X, et al. pROC. BMC Bioinformatics 2011;12:77 (``roc.test(method = "venkatraman")``).

Scores are replaced by their ranks (ties broken by order of appearance, pROC's
``ties.method = "first"``).

Paired (same N cases, ranks R and S): with ``c_i = +1`` for a positive and
``-1`` for a negative and ``F_R(x)`` the sum of ``c`` over the x lowest ranks of R,
the number of errors at rank cut-off x differs between the tests by
``F_S(x) - F_R(x)``, and

    E = sum_{x=1}^{N} |F_S(x) - F_R(x)|.

A permutation swaps the two ranks of each case with probability 1/2; the kept
rank is jittered by U(-1/2, 1/2) so that it falls before or after an equal
swapped-in rank with probability 1/2 each (pROC's scheme). The permuted
statistics come from a counting sort (a bucket per integer rank holds at most
two values), so no sort per replicate is needed.

Unpaired (pROC's statistic): each curve is written in terms of
``p(x) = mp F(x) + (1 - mp) G(x)`` and ``e(x) = mp F(x) + (1 - mp)(1 - G(x))``
(F, G: empirical distributions of the ranks of positives and negatives), and
``E`` is the trapezoidal integral of ``|e_R(p) - e_S(p)|`` over the merged knots
where both are defined. As in pROC, ``mp = (m1 + m2) / (2 N1)`` (pROC divides by
the length of the first sample twice). A permutation jitters all ranks by
U(-1/2, 1/2), pools the negatives' and the positives' jittered ranks of both
samples and deals them out again at random.

The p-value is ``#{E* >= E} / n_perm`` (pROC's, without the +1 correction).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

_CHUNK_ELEMENTS = 1 << 16


def _first_ranks(scores: np.ndarray) -> np.ndarray:
    """Ranks 0..N-1, ties broken by order of appearance (R's ``rank(ties.method = "first")`` minus 1)."""
    return rankdata(scores, method="ordinal").astype(np.int64) - 1


def paired_statistic(r: np.ndarray, s: np.ndarray, c: np.ndarray) -> float:
    """E for rank vectors r, s (permutations of 0..N-1) and signs c."""
    n = r.size
    fr = np.zeros(n)
    fs = np.zeros(n)
    fr[r] = c
    fs[s] = c
    return float(np.abs(np.cumsum(fs) - np.cumsum(fr)).sum())


def _permuted_cumsums(own, swapped, coin, c_own, c_swapped) -> np.ndarray:
    """Cumulative sums ``F(x)`` of c in the order of one test's permuted values, for a chunk of permutations.

    Column k is bucket k (integer rank k of this test): ``own`` marks that the case
    with this rank kept it (jittered value), ``swapped`` that the case whose other
    rank is k swapped it in (exact value). With both present, the jittered one
    comes first when ``coin``. Counting sort: an element's position is the number
    of elements in lower buckets plus its place in its bucket. Returns (b, N).
    """
    b, n = own.shape
    count = own.view(np.int8) + swapped.view(np.int8)
    start = np.cumsum(count, axis=1, dtype=np.int32) - count
    rows = (np.arange(b, dtype=np.int32) * (n + 1))[:, None]
    pos_own = np.where(own, start + (swapped & ~coin), n) + rows  # absent: a spare last column
    pos_swapped = np.where(swapped, start + (own & coin), n) + rows
    dense = np.zeros(b * (n + 1), dtype=np.int32)
    dense[pos_own] = c_own
    dense[pos_swapped] = c_swapped
    return np.cumsum(dense.reshape(b, n + 1)[:, :n], axis=1, dtype=np.int32)


def _random_bits(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Fair coins as a bool array (8 per random byte)."""
    size = shape[0] * shape[1]
    bits = np.unpackbits(np.frombuffer(rng.bytes((size + 7) // 8), dtype=np.uint8), count=size)
    return bits.view(bool).reshape(shape)


def paired_permutations(r: np.ndarray, s: np.ndarray, c: np.ndarray, n_perm: int, rng: np.random.Generator):
    """E of ``n_perm`` permutations (vectorised over chunks of permutations).

    Coins are drawn per rank of the first test (``keep_r[k]``: the case with R-rank k
    keeps its ranks); one gather gives them per rank of the second test.
    """
    n = r.size
    out = np.empty(n_perm)
    c = c.astype(np.int32)
    inv_r, inv_s = np.argsort(r), np.argsort(s)  # the case holding each rank
    r_of_s = r[inv_s]  # R-rank of the case with S-rank k
    c_r, c_s = c[inv_r], c[inv_s]
    chunk = max(1, _CHUNK_ELEMENTS // n)
    if chunk * (n + 1) >= 2**31:
        raise ValueError("too many cases for int32 positions")
    for start in range(0, n_perm, chunk):
        b = min(chunk, n_perm - start)
        keep_r = _random_bits(rng, (b, n))
        keep_s = keep_r[:, r_of_s]
        fr = _permuted_cumsums(keep_r, ~keep_s, _random_bits(rng, (b, n)), c_r, c_s)
        fs = _permuted_cumsums(keep_s, ~keep_r, _random_bits(rng, (b, n)), c_s, c_r)
        out[start : start + b] = np.abs(fs - fr).sum(axis=1)
    return out


# ----------------------------------------------------------------------------- unpaired
def _curve(labels_in_order: np.ndarray, m: int, n: int, mp: float) -> tuple[np.ndarray, np.ndarray]:
    """(p, e) at x = 1..N for 0/1 labels ordered by rank."""
    f = np.cumsum(labels_in_order) / m
    g = np.cumsum(1 - labels_in_order) / n
    return mp * f + (1.0 - mp) * g, mp * f + (1.0 - mp) * (1.0 - g)


def unpaired_statistic(labels_r: np.ndarray, labels_s: np.ndarray, mp: float) -> float:
    """pROC's unpaired E from each sample's 0/1 labels ordered by rank."""
    pr, er = _curve(labels_r, int(labels_r.sum()), int((1 - labels_r).sum()), mp)
    ps, es = _curve(labels_s, int(labels_s.sum()), int((1 - labels_s).sum()), mp)
    x = np.sort(np.r_[pr, ps])
    nan = np.nan
    fr = np.interp(x, pr, er, left=nan, right=nan)
    fs = np.interp(x, ps, es, left=nan, right=nan)
    y = np.abs(fr - fs)
    seg = (y[1:] + y[:-1]) * (x[1:] - x[:-1]) / 2.0
    return float(np.nansum(seg))


def unpaired_permutations(
    r: np.ndarray, t1: np.ndarray, s: np.ndarray, t2: np.ndarray, mp: float, n_perm: int, rng: np.random.Generator
) -> np.ndarray:
    """E of ``n_perm`` label-preserving permutations of the pooled jittered ranks (one sort per replicate)."""
    out = np.empty(n_perm)
    neg = np.r_[r[~t1], s[~t2]].astype(np.float64)
    pos = np.r_[r[t1], s[t2]].astype(np.float64)
    n_neg1, n_pos1 = int((~t1).sum()), int(t1.sum())
    lab_r = np.r_[np.zeros(n_neg1), np.ones(n_pos1)]
    lab_s = np.r_[np.zeros(neg.size - n_neg1), np.ones(pos.size - n_pos1)]
    for k in range(n_perm):
        jn = rng.permutation(neg + rng.random(neg.size) - 0.5)
        jp = rng.permutation(pos + rng.random(pos.size) - 0.5)
        vr = np.r_[jn[:n_neg1], jp[:n_pos1]]
        vs = np.r_[jn[n_neg1:], jp[n_pos1:]]
        out[k] = unpaired_statistic(lab_r[np.argsort(vr, kind="stable")], lab_s[np.argsort(vs, kind="stable")], mp)
    return out
