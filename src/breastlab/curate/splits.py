"""Split builder: baselines, spurious splits and image-transform splits at any correlation strength.

Every split is patient-level and built in this order (Won et al., *SpurBreast*,
MICCAI 2025, generalised):

1. **Test set first.** ``n_test`` patients drawn at random from the whole cohort
   with a generator seeded by ``(seed, repeat)`` only, so every configuration
   with the same seed and repeat shares it; it carries no built-in correlation.
2. **Train / validation (/ tune)** from the remaining patients, validation
   drawn before train so it does not depend on the train size (the three
   baselines share one validation set and low ⊂ medium ⊂ large).

Slice-sampling rule (the paper does not publish one; this one reproduces its
Table 1 counts, see ``docs/curation.md``):

- A patient that contributes **both classes** (baselines, test, transform
  splits, tune) gives ``k = min(n_tumour, n_non_tumour)`` slices of each class:
  all its tumour slices (the ``k`` most central ones when it has fewer eligible
  non-tumour slices than tumour slices) and ``k`` non-tumour slices drawn at
  random (``negatives="random"``) or the ``k`` nearest the tumour
  (``negatives="nearest"``) among the slices outside the tumour ± buffer.
- In a **spurious** split a patient contributes one class only. Tumour slices:
  all slices of the tumour patients. Non-tumour slices: exactly as many as
  tumour slices (classes balanced), shared equally (±1) between the non-tumour
  patients, capped by what each has.

Correlation strength ``rho`` (in [0.5, 1]) is the share of each class that comes
from its own group: P(group A | tumour) = P(group B | non-tumour) = rho, so the
image-level phi coefficient between label and group is ``2 rho - 1``. With
rho < 1 the minority cells (tumour slices of group-B patients, non-tumour
slices of group-A patients) come from further patients, still one class per
patient; the patients of each class side are split ``round(rho n)`` /
``n - round(rho n)`` between the groups and the tumour slices of the
over-supplied group are trimmed (most central kept) so that the image shares
equal rho exactly (up to rounding).

Non-tumour slices are ranked per patient by one random key drawn per
``(seed, repeat)``, so a patient gets the same non-tumour slices in every
configuration of that seed and repeat.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from breastlab import __version__
from breastlab._io import record_path, write_json, write_table
from breastlab.curate.cohort import Cohort, as_cohort
from breastlab.curate.features import GroupSpec, assign_groups, display
from breastlab.errors import BreastlabInputError
from breastlab.schemas import SPLIT
from breastlab.transforms import get_transform

SPLITS = ("train", "val", "test", "tune")
LAYOUT = SPLIT.layout
Kind = Literal["baseline", "spurious", "transform"]
MANIFEST_COLUMNS = ["row", "image_id", "patient_id", "slice_index", "label", "split", "attribute", "group", "transform"]


# ----------------------------------------------------------------------------- configuration
@dataclasses.dataclass(frozen=True)
class SplitConfig:
    """Everything that determines a split (saved as ``config.json`` beside it).

    Parameters
    ----------
    name : configuration name (folder name), e.g. "field_strength".
    kind : "baseline" (random patients), "spurious" (clinical groups) or "transform".
    n_train, n_val, n_test : patients per split.
    groups : the two groups of a spurious split (group A goes with the tumour class).
    transform : name of a registered image transform (kind "transform").
    attribute : optional column that only *annotates* a baseline's groups (no correlation).
    rho : correlation strength in [0.5, 1] (share of each class from its own group).
    reverse : transform splits: transform the non-tumour slices instead of the tumour slices.
    n_tune : patients of an optional group-balanced, patient-disjoint tuning split.
    test_transform : transform splits: "balanced" (half of each test class transformed) or "none".
    negatives : non-tumour slice choice within a patient, "random" or "nearest" (to the tumour).
    seed, repeat : random state; the test set depends on (seed, repeat) only.
    """

    name: str
    kind: Kind
    n_train: int
    n_val: int
    n_test: int = 150
    groups: GroupSpec | None = None
    transform: str | None = None
    attribute: str | None = None
    rho: float = 1.0
    reverse: bool = False
    n_tune: int = 0
    test_transform: Literal["balanced", "none"] = "balanced"
    negatives: Literal["random", "nearest"] = "random"
    seed: int = 0
    repeat: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("baseline", "spurious", "transform"):
            raise BreastlabInputError(f"kind={self.kind!r}: valid kinds are 'baseline', 'spurious', 'transform'")
        for field in ("n_train", "n_val", "n_test", "n_tune", "seed", "repeat"):
            value = getattr(self, field)
            if not isinstance(value, int | np.integer) or value < 0:
                raise BreastlabInputError(f"{field}={value!r}: must be a non-negative integer")
        if not 0.5 <= float(self.rho) <= 1.0:
            raise BreastlabInputError(
                f"rho={self.rho}: correlation strength must lie in [0.5, 1.0] (0.5 = no correlation, 1.0 = SpurBreast)"
            )
        if self.kind == "spurious" and self.groups is None:
            raise BreastlabInputError(f"{self.name}: a spurious split needs groups (column, values A, values B)")
        if self.kind == "transform":
            if not self.transform:
                raise BreastlabInputError(f"{self.name}: a transform split needs transform= (e.g. 'vflip')")
            get_transform(self.transform)
        if self.test_transform not in ("balanced", "none"):
            raise BreastlabInputError(f"test_transform={self.test_transform!r}: use 'balanced' or 'none'")
        if self.negatives not in ("random", "nearest"):
            raise BreastlabInputError(f"negatives={self.negatives!r}: use 'random' or 'nearest'")

    @property
    def feature(self) -> str | None:
        if self.kind == "spurious":
            return self.groups.column
        if self.kind == "transform":
            return self.transform
        return self.attribute

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["groups"] = self.groups.to_dict() if self.groups else None
        d["rho"] = float(self.rho)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SplitConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        if kw.get("groups"):
            kw["groups"] = GroupSpec.from_dict(kw["groups"])
        return cls(**kw)


@dataclasses.dataclass
class Split:
    """A built split: manifest (split-manifest columns), summary counts and full provenance."""

    config: SplitConfig
    manifest: pd.DataFrame
    summary: dict[str, Any]
    provenance: dict[str, Any]

    def write(self, out: str | os.PathLike) -> Path:
        return write_split(self, out)


# ----------------------------------------------------------------------------- small array tools
def _rng(config: SplitConfig, purpose: str) -> np.random.Generator:
    """Generator for one purpose; crc32 (not hash()) keeps it stable across Python runs."""
    return np.random.default_rng(
        np.random.SeedSequence([int(config.seed), int(config.repeat), zlib.crc32(purpose.encode())])
    )


def allocate(total: int, capacity: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Integers q_i <= capacity_i with sum(q) = total, proportional to weights where possible.

    Water filling: each round gives every patient with room its weighted share
    of what is left, capped by its capacity; the real-valued result is rounded
    by largest remainder, so q_i differs from the ideal share by less than 1.
    """
    capacity = np.asarray(capacity, dtype=np.int64)
    weights = np.ones(len(capacity)) if weights is None else np.asarray(weights, dtype=float)
    total = int(total)
    if total > capacity.sum():
        raise ValueError(f"cannot allocate {total} from capacity {int(capacity.sum())}")
    alloc = np.zeros(len(capacity))
    free = (capacity > 0) & (weights > 0)
    if not free.any() and total:
        free = capacity > 0
        weights = np.ones(len(capacity))
    remaining = float(total)
    while remaining > 1e-9 and free.any():
        share = remaining * weights[free] / weights[free].sum()
        room = capacity[free] - alloc[free]
        add = np.minimum(share, room)
        alloc[free] += add
        remaining -= add.sum()
        free &= alloc < capacity - 1e-9
        if not free.any() and remaining > 1e-9:  # weights exhausted: spread the rest over any room left
            free = alloc < capacity - 1e-9
            weights = np.ones(len(capacity))
    q = np.floor(alloc + 1e-9).astype(np.int64)
    short = total - int(q.sum())
    if short:
        frac = np.where(q < capacity, alloc - q, -np.inf)
        top = np.argsort(-frac, kind="stable")[:short]
        q[top] += 1
    return q


def _gather(ptr: np.ndarray, base: np.ndarray, pats: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All elements of the CSR lists of ``pats``: (positions in base, table rows, owner index)."""
    start = ptr[pats]
    lens = ptr[pats + 1] - start
    owner = np.repeat(np.arange(len(pats)), lens)
    offs = np.cumsum(lens) - lens
    pos = np.arange(int(lens.sum())) - offs[owner] + start[owner]
    return pos, base[pos], owner


def _within_rank(owner: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Rank of each element among those of the same owner, by ascending key (0 = first).

    One argsort of ``owner + key`` with the key squeezed into [0, 0.5): faster
    than a two-key lexsort, exact while owners < 2**20 (float64 keeps 32 key bits).
    """
    span = float(key.max() - key.min()) if len(key) else 0.0
    squeezed = (key - (key.min() if len(key) else 0.0)) / (2.0 * span + 1.0) if span else np.zeros(len(key))
    order = np.argsort(owner + squeezed, kind="stable")
    own = owner[order]
    rank = np.empty(len(owner), np.int64)
    rank[order] = np.arange(len(own)) - np.searchsorted(own, own, side="left")
    return rank


def _ranks(cohort: Cohort, config: SplitConfig) -> tuple[np.ndarray, np.ndarray]:
    """Within-patient ranks of tumour slices (most central first) and non-tumour slices.

    Non-tumour slices are ranked by one random key per (seed, repeat) (or by
    distance to the tumour for ``negatives="nearest"``), so a patient's
    non-tumour slices are the same in every configuration of a seed and
    repeat. Cached on the cohort: many configurations share them.
    """
    c = cohort
    cache = c.__dict__.setdefault("_rank_cache", {})
    if "pos" not in cache:
        rows = c.pos_rows
        dist = np.abs(c.slice_index[rows] - c.centre[c.slice_patient[rows]])
        cache["pos"] = _within_rank(c.slice_patient[rows], dist + 1e-6 * c.slice_index[rows])
    key = ("neg", int(config.seed), int(config.repeat), config.negatives)
    if key not in cache:
        rows = c.neg_rows
        u = _rng(config, "non-tumour-slices").random(len(rows))
        if config.negatives == "nearest":
            u = np.abs(c.slice_index[rows] - c.centre[c.slice_patient[rows]]) + 1e-3 * u
        cache[key] = _within_rank(c.slice_patient[rows], u)
    return cache["pos"], cache[key]


# ----------------------------------------------------------------------------- builder
class _Builder:
    def __init__(self, cohort: Cohort, config: SplitConfig) -> None:
        self.c = cohort
        self.cfg = config
        self.parts: list[tuple[np.ndarray, int, np.ndarray, np.ndarray]] = []  # rows, split, attr code, transform
        self.attr_names: list[str] = []
        self.transform_names: list[str] = [""]
        self.pos_rank, self.neg_rank = _ranks(cohort, config)

    # ---- slices of a set of patients
    def tumour(self, pats: np.ndarray, quota: np.ndarray | None = None) -> np.ndarray:
        """Tumour slices of ``pats``; with a quota, the ``quota[i]`` most central ones of patient i."""
        pos, rows, owner = _gather(self.c.pos_ptr, self.c.pos_rows, pats)
        return rows if quota is None else rows[self.pos_rank[pos] < quota[owner]]

    def nontumour(self, pats: np.ndarray, quota: np.ndarray) -> np.ndarray:
        """``quota[i]`` non-tumour slices of patient i (random, or nearest the tumour)."""
        pos, rows, owner = _gather(self.c.neg_ptr, self.c.neg_rows, pats)
        return rows[self.neg_rank[pos] < quota[owner]]

    def both(self, pats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = self.c.k_match[pats]
        return self.tumour(pats, k), self.nontumour(pats, k)

    # ---- output
    def code(self, name: str) -> int:
        if name not in self.attr_names:
            self.attr_names.append(name)
        return self.attr_names.index(name)

    def patient_codes(self, names: np.ndarray) -> np.ndarray:
        """Attribute code per patient from a per-patient array of attribute names."""
        codes, uniques = pd.factorize(pd.Series(names, dtype=object))
        return np.array([self.code(str(u)) for u in uniques], dtype=np.int64)[codes]

    def add(self, rows: np.ndarray, split: str, attr: int | np.ndarray, transform: int | np.ndarray = 0) -> None:
        n = len(rows)
        attr = np.full(n, attr, np.int64) if np.isscalar(attr) else np.asarray(attr, np.int64)
        transform = np.full(n, transform, np.int64) if np.isscalar(transform) else np.asarray(transform, np.int64)
        self.parts.append((np.asarray(rows, np.int64), SPLITS.index(split), attr, transform))

    def add_patients(self, rows: np.ndarray, split: str, pcodes: np.ndarray) -> None:
        """Rows whose attribute is their patient's (``pcodes`` from :meth:`patient_codes`)."""
        self.add(rows, split, pcodes[self.c.slice_patient[rows]])

    # ---- patient draws
    def test_patients(self) -> np.ndarray:
        n = len(self.c)
        if self.cfg.n_test > n:
            raise BreastlabInputError(
                f"n_test={self.cfg.n_test}: the cohort has only {n} patients; request a smaller test set"
            )
        return np.sort(_rng(self.cfg, "test").permutation(n)[: self.cfg.n_test])

    def pool(self, exclude: np.ndarray, purpose: str, mask: np.ndarray | None = None) -> np.ndarray:
        keep = np.ones(len(self.c), bool) if mask is None else mask.copy()
        keep[exclude] = False
        cand = np.flatnonzero(keep)
        return cand[_rng(self.cfg, purpose).permutation(len(cand))]

    def arrays(self) -> dict[str, np.ndarray]:
        """Concatenated parts in manifest order (split, patient, slice)."""

        def cat(i: int) -> np.ndarray:
            return np.concatenate([p[i] for p in self.parts]) if self.parts else np.empty(0, np.int64)

        rows = cat(0)
        split = np.concatenate([np.full(len(p[0]), p[1], np.int64) for p in self.parts]) if self.parts else rows
        # Table rows are sorted by patient then slice, so (split, row) is the manifest order.
        order = np.lexsort((rows, split))
        return {"rows": rows[order], "split": split[order], "attr": cat(2)[order], "transform": cat(3)[order]}

    def manifest(self, a: dict[str, np.ndarray]) -> pd.DataFrame:
        c, rows = self.c, a["rows"]
        label = c.label[rows]
        n_attr = max(len(self.attr_names), 1)
        groups = [f"{lab}|{name}" for lab in (0, 1) for name in (self.attr_names or [""])]
        return pd.DataFrame(
            {
                "row": c.row[rows],
                "image_id": c.image_id.take(rows).reset_index(drop=True),
                "patient_id": c.patient_id.take(rows).reset_index(drop=True),
                "slice_index": c.slice_index[rows],
                "label": label.astype(np.int64),
                "split": _strings(SPLITS, a["split"]),
                "attribute": _strings(self.attr_names or [""], a["attr"]),
                "group": _strings(groups, label.astype(np.int64) * n_attr + a["attr"]),
                "transform": _strings(self.transform_names, a["transform"]),
            }
        )


def _strings(categories: Sequence[str], codes: np.ndarray) -> pd.Series:
    """Text column from codes (an Arrow take: far faster than building Python strings)."""
    return pd.Series(list(categories), dtype="str").take(np.asarray(codes, np.int64)).reset_index(drop=True)


def _sizes_error(cfg: SplitConfig, what: str, available: int, parts: dict[str, int]) -> BreastlabInputError:
    req = " + ".join(f"{k} {v}" for k, v in parts.items() if v)
    return BreastlabInputError(
        f"{cfg.name}: {what} has {available} eligible patients (outside the {cfg.n_test}-patient test set); "
        f"{sum(parts.values())} requested ({req}); lower the sizes or rho, or merge values into the group"
    )


def _side(n: int, rho: float) -> tuple[int, int, int, int]:
    """Patients of a spurious split: (tumour A, tumour B, non-tumour B, non-tumour A)."""
    n_pos, n_neg = n - n // 2, n // 2
    pos_a = int(round(rho * n_pos))
    neg_b = int(round(rho * n_neg))
    return pos_a, n_pos - pos_a, neg_b, n_neg - neg_b


def build_split(data: Cohort | pd.DataFrame | str | os.PathLike, config: SplitConfig) -> Split:
    """Build one split of ``config`` from a slice table, cohort or store (see module docstring)."""
    cohort = as_cohort(data)
    b = _Builder(cohort, config)
    test = b.test_patients()
    if config.kind == "spurious":
        a_name, b_name = _build_spurious(b, test)
    elif config.kind == "transform":
        a_name, b_name = _build_transform(b, test)
    else:
        a_name, b_name = _build_baseline(b, test)
    arrays = b.arrays()
    manifest = b.manifest(arrays)
    summary = _summary_from_codes(b, arrays, a_name, b_name)
    summary.update(
        {
            "name": config.name,
            "kind": config.kind,
            "feature": config.feature,
            "groups": {"A": a_name, "B": b_name} if a_name else None,
            "rho": float(config.rho),
        }
    )
    provenance = {**cohort.provenance(), "breastlab_version": __version__}
    return Split(config, manifest, summary, provenance)


def _attribute_values(b: _Builder) -> np.ndarray:
    """Per-patient attribute text of a baseline's annotation column ("all" without one)."""
    if not b.cfg.attribute:
        return np.full(len(b.c), "all", dtype=object)
    values = b.c.patient_values(b.cfg.attribute)
    return np.array(["missing" if pd.isna(v) else display(v) for v in values], dtype=object)


def _take_pools(pool: np.ndarray, sizes: Sequence[int]) -> list[np.ndarray]:
    """Consecutive slices of a permuted pool (so earlier draws never depend on later sizes)."""
    ends = np.cumsum(sizes)
    return [pool[e - n : e] for n, e in zip(sizes, ends, strict=True)]


def _draw_val_train_tune(cfg: SplitConfig, pool: np.ndarray) -> list[np.ndarray]:
    """Validation, train and tuning patients from one permuted pool (error if it is too small)."""
    need = {"val": cfg.n_val, "train": cfg.n_train, "tune": cfg.n_tune}
    if sum(need.values()) > len(pool):
        raise _sizes_error(cfg, "the cohort", len(pool), need)
    return _take_pools(pool, list(need.values()))


def _build_baseline(b: _Builder, test: np.ndarray) -> tuple[str | None, str | None]:
    cfg = b.cfg
    pcodes = b.patient_codes(_attribute_values(b))
    pool = b.pool(test, "baseline")
    val, train, tune = _draw_val_train_tune(cfg, pool)
    for split, pats in (("test", test), ("val", val), ("train", train), ("tune", tune)):
        pos, neg = b.both(pats)
        if split == "tune" and cfg.attribute and len(pats):
            pos, neg = _balance_cells(b, pos, neg, pcodes)
        b.add_patients(pos, split, pcodes)
        b.add_patients(neg, split, pcodes)
    return None, None


def _balance_cells(b: _Builder, pos: np.ndarray, neg: np.ndarray, pcodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Trim a tuning split so every (label x attribute) cell has the same number of images.

    Each cell keeps the size of the smallest one, shared between its patients in
    proportion to what they have (tumour: most central slices, non-tumour: by rank).
    """
    c = b.c
    cells = []
    for rows, is_tumour in ((pos, True), (neg, False)):
        a = pcodes[c.slice_patient[rows]]
        cells += [(rows[a == value], is_tumour) for value in np.unique(a)]
    if not cells:
        return pos, neg
    m = min(len(rows) for rows, _ in cells)
    kept: dict[bool, list[np.ndarray]] = {True: [], False: []}
    for rows, is_tumour in cells:
        pats, counts = np.unique(c.slice_patient[rows], return_counts=True)
        quota = allocate(m, counts, counts)
        kept[is_tumour].append(b.tumour(pats, quota) if is_tumour else b.nontumour(pats, quota))
    return np.sort(np.concatenate(kept[True])), np.sort(np.concatenate(kept[False]))


def _build_spurious(b: _Builder, test: np.ndarray) -> tuple[str, str]:
    cfg, c = b.cfg, b.c
    spec = cfg.groups
    group, (a_name, b_name) = assign_groups(c.patient_values(spec.column), spec)
    pcodes = b.patient_codes(np.where(group == 0, a_name, np.where(group == 1, b_name, "other")).astype(object))
    purpose = f"spurious:{spec.column}:{'+'.join(spec.a)}|{'+'.join(spec.b)}"
    pool_a = b.pool(test, purpose + ":A", group == 0)
    pool_b = b.pool(test, purpose + ":B", group == 1)
    rho = float(cfg.rho)
    # Per split: (tumour A, tumour B, non-tumour B, non-tumour A) patients.
    v_pa, v_pb, v_nb, v_na = _side(cfg.n_val, rho)
    t_pa, t_pb, t_nb, t_na = _side(cfg.n_train, rho)
    tune_a, tune_b = cfg.n_tune - cfg.n_tune // 2, cfg.n_tune // 2
    need_a = {"val": v_pa + v_na, "train": t_pa + t_na, "tune": tune_a}
    need_b = {"val": v_pb + v_nb, "train": t_pb + t_nb, "tune": tune_b}
    for pool, need, name in ((pool_a, need_a, a_name), (pool_b, need_b, b_name)):
        if sum(need.values()) > len(pool):
            raise _sizes_error(cfg, f"{spec.column}={name}", len(pool), need)
    va_pos, va_neg, tr_pos, tr_neg, tu_a = _take_pools(pool_a, [v_pa, v_na, t_pa, t_na, tune_a])
    vb_neg, vb_pos, tb_neg, tb_pos, tu_b = _take_pools(pool_b, [v_nb, v_pb, t_nb, t_pb, tune_b])

    for rows in b.both(test):
        b.add_patients(rows, "test", pcodes)
    _add_spurious(b, "val", va_pos, vb_pos, vb_neg, va_neg, a_name, b_name)
    _add_spurious(b, "train", tr_pos, tb_pos, tb_neg, tr_neg, a_name, b_name)
    if cfg.n_tune:
        pos, neg = b.both(np.concatenate([tu_a, tu_b]))
        for rows in _balance_cells(b, pos, neg, pcodes):
            b.add_patients(rows, "tune", pcodes)
    return a_name, b_name


def _add_spurious(
    b: _Builder, split: str, pa: np.ndarray, pb: np.ndarray, nb: np.ndarray, na: np.ndarray, a_name: str, b_name: str
) -> None:
    """Tumour slices from ``pa`` (+ minority ``pb``), non-tumour from ``nb`` (+ minority ``na``)."""
    c, cfg, rho = b.c, b.cfg, float(b.cfg.rho)
    cap_a, cap_b = int(c.n_pos[pa].sum()), int(c.n_pos[pb].sum())
    if len(pb) == 0:
        k_a, k_b = cap_a, 0
    else:
        total = int(np.floor(min(cap_a / rho, cap_b / (1.0 - rho))))
        while True:  # rounding may ask one slice more than a cell has
            k_a = int(round(rho * total))
            k_b = total - k_a
            if k_a <= cap_a and k_b <= cap_b:
                break
            total -= 1
    n_b = int(round(rho * (k_a + k_b)))
    n_a = k_a + k_b - n_b
    b.add(b.tumour(pa, allocate(k_a, c.n_pos[pa], c.n_pos[pa])), split, b.code(a_name))
    if len(pb):
        b.add(b.tumour(pb, allocate(k_b, c.n_pos[pb], c.n_pos[pb])), split, b.code(b_name))
    for pats, n, name in ((nb, n_b, b_name), (na, n_a, a_name)):
        cap = c.n_neg[pats]
        if n > cap.sum():
            raise BreastlabInputError(
                f"{cfg.name} ({split}): the {len(pats)} non-tumour patients of {cfg.groups.column}={name} have "
                f"{int(cap.sum())} non-tumour slices; {n} are needed to balance the tumour slices"
            )
        if n:
            b.add(b.nontumour(pats, allocate(n, cap)), split, b.code(name))


def _build_transform(b: _Builder, test: np.ndarray) -> tuple[str, str]:
    cfg = b.cfg
    t = get_transform(cfg.transform)
    b.transform_names.append(t.name)
    on, off = b.code(t.attribute), b.code("original")
    a_name, b_name = ("original", t.attribute) if cfg.reverse else (t.attribute, "original")
    pool = b.pool(test, f"transform:{t.name}")
    val, train, tune = _draw_val_train_tune(cfg, pool)
    for split, pats in (("test", test), ("val", val), ("train", train), ("tune", tune)):
        pos, neg = b.both(pats)
        if split in ("train", "val"):  # share of each class transformed
            share_pos, share_neg = float(cfg.rho), 1.0 - float(cfg.rho)
            if cfg.reverse:
                share_pos, share_neg = share_neg, share_pos
            purpose = f"transform:{t.name}:{split}"
        elif split == "test" and cfg.test_transform == "none":
            share_pos = share_neg = 0.0
            purpose = "test-transform"
        else:  # test and tune: no correlation, both attributes in each class
            share_pos = share_neg = 0.5
            purpose = f"{split}-transform:{t.name}"
        rng = _rng(cfg, purpose)
        for rows, share in ((pos, share_pos), (neg, share_neg)):
            flip = np.zeros(len(rows), np.int64)
            flip[rng.permutation(len(rows))[: int(round(share * len(rows)))]] = 1
            b.add(rows, split, np.where(flip == 1, on, off), flip)
    return a_name, b_name


# ----------------------------------------------------------------------------- summary
def measured_rho(manifest: pd.DataFrame, a_name: str, b_name: str) -> dict[str, float | None]:
    """Share of tumour images in group A, of non-tumour images in group B, and their mean."""
    lab = manifest["label"].to_numpy()
    attr = manifest["attribute"].astype(str).to_numpy()
    return _rho(lab, attr == a_name, attr == b_name)


def _rho(label: np.ndarray, in_a: np.ndarray, in_b: np.ndarray) -> dict[str, float | None]:
    pos, neg = label == 1, label == 0
    r_pos = float(in_a[pos].mean()) if pos.any() else None
    r_neg = float(in_b[neg].mean()) if neg.any() else None
    mean = None if r_pos is None or r_neg is None else (r_pos + r_neg) / 2
    return {"tumour": r_pos, "non_tumour": r_neg, "mean": mean}


def summarize(manifest: pd.DataFrame, a_name: str | None = None, b_name: str | None = None) -> dict[str, Any]:
    """Counts per split, class and group, patients per split and cell, measured rho (from a manifest)."""
    out: dict[str, Any] = {"splits": {}}
    for split in [s for s in SPLITS if s in set(manifest["split"])] + sorted(set(manifest["split"]) - set(SPLITS)):
        df = manifest[manifest["split"] == split]
        entry = {
            "patients": int(df["patient_id"].nunique()),
            "images": len(df),
            "tumour": int((df["label"] == 1).sum()),
            "non_tumour": int((df["label"] == 0).sum()),
            "groups": {str(k): int(v) for k, v in df["group"].value_counts().sort_index().items()},
            "patients_per_group": {
                str(k): int(v) for k, v in df.groupby("group")["patient_id"].nunique().sort_index().items()
            },
            "transformed": int((df["transform"].fillna("").astype(str) != "").sum()),
        }
        if a_name is not None:
            entry["rho_measured"] = measured_rho(df, a_name, b_name)
        out["splits"][str(split)] = entry
    out["images"] = len(manifest)
    out["patients"] = int(manifest["patient_id"].nunique())
    return out


def _summary_from_codes(b: _Builder, a: dict[str, np.ndarray], a_name: str | None, b_name: str | None) -> dict:
    """Same as :func:`summarize` but from the builder's integer codes (no string grouping)."""
    c = b.c
    rows, split, attr = a["rows"], a["split"], a["attr"]
    label = c.label[rows].astype(np.int64)
    pat = c.slice_patient[rows]
    n_attr = max(len(b.attr_names), 1)
    names = b.attr_names or [""]
    out: dict[str, Any] = {"splits": {}}
    n_pat = len(c)
    for s in np.unique(split):
        m = split == s
        g = label[m] * n_attr + attr[m]
        counts = np.bincount(g, minlength=2 * n_attr)
        # patients per group: occupied (group, patient) cells, counted without sorting
        cells = np.bincount(g * n_pat + pat[m], minlength=2 * n_attr * n_pat).reshape(2 * n_attr, n_pat)
        pcounts = (cells > 0).sum(axis=1)
        gname = [f"{lab}|{n}" for lab in (0, 1) for n in names]
        entry = {
            "patients": int((np.bincount(pat[m], minlength=n_pat) > 0).sum()),
            "images": int(m.sum()),
            "tumour": int((label[m] == 1).sum()),
            "non_tumour": int((label[m] == 0).sum()),
            "groups": {k: int(v) for k, v in sorted(zip(gname, counts, strict=True)) if v},
            "patients_per_group": {k: int(v) for k, v in sorted(zip(gname, pcounts, strict=True)) if v},
            "transformed": int((a["transform"][m] != 0).sum()),
        }
        if a_name is not None:
            attr_text = np.asarray(names, dtype=object)[attr[m]]
            entry["rho_measured"] = _rho(label[m], attr_text == a_name, attr_text == b_name)
        out["splits"][SPLITS[s]] = entry
    out["images"] = len(rows)
    out["patients"] = int((np.bincount(pat, minlength=n_pat) > 0).sum())
    return out


# ----------------------------------------------------------------------------- many splits, I/O
def build_splits(
    data: Cohort | pd.DataFrame | str | os.PathLike,
    configs: Iterable[SplitConfig],
    repeats: int = 1,
    out: str | os.PathLike | None = None,
    progress: bool = False,
) -> list[Split]:
    """Build every configuration ``repeats`` times (repeat r uses ``repeat=r``; the seed stays).

    With ``out``, each split is written to ``OUT/<name>/rep<r>/`` (manifest,
    summary, config); a split whose config.json already matches is read back
    instead of rebuilt, so an interrupted run resumes.
    """
    if repeats < 1:
        raise BreastlabInputError(f"repeats={repeats}: need at least 1")
    cohort = as_cohort(data)
    configs = list(configs)
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise BreastlabInputError(f"configuration names must be unique: {names}")
    jobs = [dataclasses.replace(cfg, repeat=r) for r in range(repeats) for cfg in configs]
    if progress:
        from breastlab.progress import progress as progress_bar

        jobs = progress_bar(jobs, desc="splits", unit="split")
    result = []
    for cfg in jobs:
        target = Path(out) / cfg.name / f"rep{cfg.repeat:02d}" if out is not None else None
        if target is not None and _is_done(target, cfg, cohort):
            result.append(read_split(target))
            continue
        split = build_split(cohort, cfg)
        if target is not None:
            write_split(split, target)
        result.append(split)
    return result


def _is_done(target: Path, cfg: SplitConfig, cohort: Cohort) -> bool:
    path = target / SPLIT.config
    if not path.exists():
        return False
    saved = json.loads(path.read_text())
    return saved.get("config") == cfg.to_dict() and saved.get("data", {}).get("data_checksum") == cohort.checksum


def write_split(split: Split, out: str | os.PathLike) -> Path:
    """Write ``manifest.parquet``, ``summary.json`` and, last (completion marker), ``config.json``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_table(split.manifest, out / SPLIT.manifest)
    write_json(split.summary, out / SPLIT.summary)
    prov = dict(split.provenance)
    store = None
    if prov.get("store_checksum") and prov.get("source"):  # the store the rows address, relative to the split
        store = prov["source"] = record_path(prov["source"], out)
    write_json(
        {
            "layout": LAYOUT,
            "store": store,
            "store_checksum": prov.get("store_checksum"),
            "config": split.config.to_dict(),
            "data": prov,
        },
        out / SPLIT.config,
    )
    return out


def load_split(split_dir: str | os.PathLike) -> pd.DataFrame:
    """The manifest of a split folder (split-manifest columns)."""
    path = Path(split_dir) / SPLIT.manifest
    if not path.exists():
        raise BreastlabInputError(
            f"{split_dir}: not a split directory (no manifest.parquet); build one with `breastlab curate splits`"
        )
    return pd.read_parquet(path)


def read_split(split_dir: str | os.PathLike) -> Split:
    """Manifest, summary and config of a split directory written by :func:`write_split`."""
    split_dir = Path(split_dir)
    manifest = load_split(split_dir)
    saved = json.loads((split_dir / SPLIT.config).read_text())
    summary = json.loads((split_dir / SPLIT.summary).read_text())
    return Split(SplitConfig.from_dict(saved["config"]), manifest, summary, saved.get("data", {}))


def rebuild_split(split_dir: str | os.PathLike, data: Cohort | pd.DataFrame | str | os.PathLike) -> Split:
    """Rebuild a split from its ``config.json``; refuses data whose checksum differs."""
    saved = read_split(split_dir)
    cohort = as_cohort(data)
    want = saved.provenance.get("data_checksum")
    if want and want != cohort.checksum:
        raise BreastlabInputError(
            f"{split_dir}: the split was built from data with checksum {want[:12]}..., "
            f"this slice table has {cohort.checksum[:12]}...; use the same data to rebuild it"
        )
    return build_split(cohort, saved.config)


def splits_table(splits: Sequence[Split]) -> pd.DataFrame:
    """One row per (configuration, repeat, split): patients and images per class."""
    rows = []
    for s in splits:
        for split, e in s.summary["splits"].items():
            rows.append(
                {
                    "config": s.config.name,
                    "repeat": s.config.repeat,
                    "split": split,
                    "patients": e["patients"],
                    "images": e["images"],
                    "tumour": e["tumour"],
                    "non_tumour": e["non_tumour"],
                    "rho": (e.get("rho_measured") or {}).get("mean"),
                }
            )
    return pd.DataFrame(rows)


def splits_overview(splits: Sequence[Split]) -> pd.DataFrame:
    """One row per (configuration, split) over the repeats: patients, mean / min / max images, mean rho."""
    return (
        splits_table(splits)
        .groupby(["config", "split"], sort=False)
        .agg(
            patients=("patients", "first"),
            images_mean=("images", "mean"),
            images_min=("images", "min"),
            images_max=("images", "max"),
            rho=("rho", "mean"),
        )
        .reset_index()
    )
