"""Verify a split directory: ours, or the published SpurBreast release read by :mod:`.release`.

Checks (each passes, fails, or does not apply):

- ``columns``: the split-manifest columns exist, ``split`` and ``label`` hold valid
  values, ``group`` equals ``"<label>|<attribute>"``, transforms are registered;
- ``unique_images``: no image twice within a split;
- ``patients_disjoint``: no patient in two splits;
- ``one_class_per_patient``: spurious splits only, train/validation: no patient
  on both sides of the label (otherwise patient identity leaks the label);
- ``class_balance``: tumour and non-tumour images per split differ by at most
  ``balance_tol`` x images (0 by default: our splits are exactly balanced);
- ``rho``: in train and validation the measured share of tumour images from
  group A and of non-tumour images from group B equal the claimed rho within
  ``rho_tol``;
- ``test_uncorrelated``: in the test split both classes have the same group mix
  (share of every attribute among tumour and among non-tumour images differ by
  at most ``test_tol``);
- ``summary_counts``: patients, images, classes and groups match ``summary.json``;
- ``store_rows``: with a store, every ``row`` exists and its ``image_id`` matches.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from breastlab._io import record_path, recorded_path
from breastlab.curate.splits import MANIFEST_COLUMNS, SPLITS, measured_rho, summarize
from breastlab.errors import BreastlabInputError
from breastlab.schemas import SPLIT
from breastlab.transforms import TRANSFORMS


@dataclasses.dataclass
class Check:
    name: str
    passed: bool | None  # None: does not apply
    detail: str


@dataclasses.dataclass
class CheckReport:
    path: str
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.passed is not False for c in self.checks)

    def to_frame(self, relative_to: str | os.PathLike | None = None) -> pd.DataFrame:
        """One row per check; ``relative_to``: the folder of the file the rows go to, which then names the
        split folder relative to itself (no absolute local path in a shared table)."""
        status = {True: "pass", False: "FAIL", None: "n/a"}
        where = self.path if relative_to is None else record_path(self.path, relative_to)
        return pd.DataFrame(
            [{"split_dir": where, "check": c.name, "status": status[c.passed], "detail": c.detail} for c in self.checks]
        )


def _store_named(split_dir: Path, value: Any) -> Path | None:
    """The store a split's config.json names (relative to the split folder; absolute in older splits)."""
    if not isinstance(value, str) or not value:
        return None
    return recorded_path(value, split_dir)


def _split_meta(split_dir: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    cfg_path, sum_path = split_dir / SPLIT.config, split_dir / SPLIT.summary
    saved = json.loads(cfg_path.read_text()) if cfg_path.exists() else {}
    summary = json.loads(sum_path.read_text()) if sum_path.exists() else None
    cfg = saved.get("config") or {}
    groups = (summary or {}).get("groups") or saved.get("groups")
    meta = {
        "kind": cfg.get("kind") or saved.get("kind"),
        "rho": cfg.get("rho", saved.get("rho")),
        "a": groups.get("A") if groups else None,
        "b": groups.get("B") if groups else None,
        "store": _store_named(split_dir, (saved.get("data") or {}).get("source") or saved.get("store")),
    }
    return meta, summary


def check_split(
    split: str | os.PathLike | pd.DataFrame,
    kind: str | None = None,
    rho: float | None = None,
    groups: tuple[str, str] | None = None,
    summary: dict | None = None,
    store: str | os.PathLike | None = None,
    balance_tol: float = 0.0,
    rho_tol: float = 0.01,
    test_tol: float = 0.05,
) -> CheckReport:
    """Run every check on a split directory (or a manifest with explicit ``kind``/``rho``/``groups``).

    For a directory, kind, rho and the group names come from its
    ``config.json``/``summary.json`` unless given; without group names the
    groups are inferred (A = commonest attribute of tumour images in train).
    """
    if isinstance(split, pd.DataFrame):
        manifest, path, meta = split, "<manifest>", {"kind": None, "rho": None, "a": None, "b": None, "store": None}
    else:
        path = str(split)
        from breastlab.curate.splits import load_split

        manifest = load_split(split)
        meta, saved_summary = _split_meta(Path(split))
        summary = summary if summary is not None else saved_summary
    if store is None and meta["store"] and (meta["store"] / "store.json").exists():
        store = meta["store"]
    kind = kind or meta["kind"]
    rho = rho if rho is not None else meta["rho"]
    a_name, b_name = groups or (meta["a"], meta["b"])
    checks = [_columns(manifest)]
    if checks[0].passed is False:
        return CheckReport(path, checks)
    checks += [_unique(manifest), _disjoint(manifest), _one_class(manifest, kind), _balance(manifest, balance_tol)]
    if kind in ("spurious", "transform") and (a_name is None or b_name is None):
        a_name, b_name = _infer_groups(manifest)
    checks.append(_rho_check(manifest, kind, rho, a_name, b_name, rho_tol))
    checks.append(_test_check(manifest, kind, a_name, b_name, test_tol))
    checks.append(_summary_check(manifest, summary))
    checks.append(_store_check(manifest, store))
    return CheckReport(path, checks)


def find_split_dirs(root: str | os.PathLike) -> list[Path]:
    """``root`` itself if it is a split directory, else every split directory below it."""
    root = Path(root)
    if (root / SPLIT.manifest).exists():
        return [root]
    found = sorted(
        p.parent
        for p in root.rglob(SPLIT.manifest)
        if (p.parent / SPLIT.summary).exists() or (p.parent / SPLIT.config).exists()
    )
    if not found:
        raise BreastlabInputError(
            f"{root}: no split directory (manifest.parquet with summary.json/config.json) in it or below it"
        )
    return found


def check_splits(root: str | os.PathLike, **kwargs: Any) -> list[CheckReport]:
    """:func:`check_split` on every split directory at or below ``root``."""
    return [check_split(d, **kwargs) for d in find_split_dirs(root)]


# ----------------------------------------------------------------------------- single checks
def _columns(m: pd.DataFrame) -> Check:
    missing = [c for c in MANIFEST_COLUMNS if c not in m.columns and c != "slice_index"]
    if missing:
        return Check("columns", False, f"missing columns {missing}")
    problems = []
    bad_split = sorted(set(m["split"].astype(str)) - set(SPLITS))
    if bad_split:
        problems.append(f"unknown split values {bad_split} (valid: {list(SPLITS)})")
    if not m["label"].isin([0, 1]).all():
        problems.append("labels other than 0/1")
    want = m["label"].astype(str) + "|" + m["attribute"].astype(str)
    if not (want == m["group"].astype(str)).all():
        problems.append(f"{int((want != m['group'].astype(str)).sum())} rows whose group is not '<label>|<attribute>'")
    bad_tr = sorted(set(m["transform"].fillna("").astype(str)) - set(TRANSFORMS) - {""})
    if bad_tr:
        problems.append(f"unregistered transforms {bad_tr}")
    return Check("columns", not problems, "; ".join(problems) or f"{len(m)} rows, split-manifest columns valid")


def _unique(m: pd.DataFrame) -> Check:
    key = m["split"].astype(str) + "\x00" + m["image_id"].astype(str) + "\x00" + m["transform"].fillna("").astype(str)
    dup = key.duplicated()
    if dup.any():
        first = m.loc[dup].iloc[0]
        return Check(
            "unique_images",
            False,
            f"{int(dup.sum())} duplicate rows, e.g. {first['image_id']} twice in {first['split']}",
        )
    return Check("unique_images", True, "no image twice within a split")


def _disjoint(m: pd.DataFrame) -> Check:
    n = m.groupby("patient_id")["split"].nunique()
    bad = n[n > 1]
    if len(bad):
        p = bad.index[0]
        where = sorted(m.loc[m["patient_id"] == p, "split"].astype(str).unique())
        return Check("patients_disjoint", False, f"{len(bad)} patients in several splits, e.g. {p} in {where}")
    return Check("patients_disjoint", True, f"{m['patient_id'].nunique()} patients, each in one split")


def _one_class(m: pd.DataFrame, kind: str | None) -> Check:
    if kind != "spurious":
        return Check("one_class_per_patient", None, f"applies to spurious splits (kind={kind})")
    tv = m[m["split"].isin(["train", "val"])]
    n = tv.groupby("patient_id")["label"].nunique()
    bad = n[n > 1]
    if len(bad):
        return Check(
            "one_class_per_patient",
            False,
            f"{len(bad)} train/val patients give both tumour and non-tumour images, e.g. {bad.index[0]}",
        )
    return Check("one_class_per_patient", True, f"{len(n)} train/val patients, one class each")


def _balance(m: pd.DataFrame, tol: float) -> Check:
    bad, parts = [], []
    for split, g in m.groupby("split", sort=False):
        n1, n0 = int((g["label"] == 1).sum()), int((g["label"] == 0).sum())
        parts.append(f"{split} {n1}/{n0}")
        if abs(n1 - n0) > tol * len(g):
            bad.append(f"{split}: {n1} tumour vs {n0} non-tumour")
    return Check("class_balance", not bad, "; ".join(bad) if bad else "tumour/non-tumour " + ", ".join(parts))


def _infer_groups(m: pd.DataFrame) -> tuple[str | None, str | None]:
    train = m[m["split"] == "train"]
    if train.empty:
        return None, None
    a = train.loc[train["label"] == 1, "attribute"].astype(str).mode()
    b = train.loc[train["label"] == 0, "attribute"].astype(str).mode()
    return (a.iloc[0] if len(a) else None), (b.iloc[0] if len(b) else None)


def _rho_check(m: pd.DataFrame, kind: str | None, rho: float | None, a: str | None, b: str | None, tol: float) -> Check:
    if kind not in ("spurious", "transform"):
        return Check("rho", None, f"no correlation claimed (kind={kind})")
    if rho is None or a is None:
        return Check("rho", None, "no claimed rho or groups")
    bad, parts = [], []
    for split in ("train", "val"):
        g = m[m["split"] == split]
        if g.empty:
            continue
        r = measured_rho(g, a, b)
        parts.append(f"{split} {r['tumour']:.4f}/{r['non_tumour']:.4f}")
        for name in ("tumour", "non_tumour"):
            if r[name] is None or abs(r[name] - float(rho)) > tol:
                bad.append(f"{split} {name}: measured {r[name]} vs claimed {rho}")
    detail = "; ".join(bad) if bad else f"claimed {rho} (A={a}, B={b}); measured tumour/non-tumour " + ", ".join(parts)
    return Check("rho", not bad, detail)


def _test_check(m: pd.DataFrame, kind: str | None, a: str | None, b: str | None, tol: float) -> Check:
    test = m[m["split"] == "test"]
    if test.empty or kind not in ("spurious", "transform"):
        return Check("test_uncorrelated", None, "no test split or no groups claimed")
    # Same group mix in both classes: P(attribute | tumour) = P(attribute | non-tumour) for every attribute.
    mix = pd.crosstab(test["attribute"].astype(str), test["label"], normalize="columns")
    if mix.shape[1] < 2:
        return Check("test_uncorrelated", False, "the test split lacks one class")
    diff = (mix[1] - mix[0]).abs()
    worst = diff.idxmax()
    return Check(
        "test_uncorrelated",
        bool(diff.max() <= tol),
        f"largest difference in attribute share between classes {diff.max():.4f} ({worst}); tolerance {tol}",
    )


def _summary_check(m: pd.DataFrame, summary: dict | None) -> Check:
    if not summary:
        return Check("summary_counts", None, "no summary.json")
    mine = summarize(m)["splits"]
    bad = []
    for split, e in summary.get("splits", {}).items():
        got = mine.get(split)
        if got is None:
            bad.append(f"{split} in summary.json but not in the manifest")
            continue
        for key in ("patients", "images", "tumour", "non_tumour", "groups"):
            if key in e and e[key] != got[key]:
                bad.append(f"{split} {key}: summary {e[key]} vs manifest {got[key]}")
    extra = sorted(set(mine) - set(summary.get("splits", {})))
    if extra:
        bad.append(f"splits {extra} in the manifest but not in summary.json")
    return Check("summary_counts", not bad, "; ".join(bad) or "manifest counts equal summary.json")


def _store_check(m: pd.DataFrame, store: str | os.PathLike | None) -> Check:
    if store is None:
        return Check("store_rows", None, "no store given")
    from breastlab.data.store import ArrayStore

    st = ArrayStore(store)
    name = Path(store).name  # the folder's name: the table is shared, the local path is not
    rows = m["row"].to_numpy(np.int64)
    if (rows < 0).any() or (rows >= len(st)).any():
        return Check("store_rows", False, f"rows outside 0..{len(st) - 1} of store {name}")
    ids = st.manifest["image_id"].astype(str).to_numpy()[rows]
    bad = ids != m["image_id"].astype(str).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        return Check(
            "store_rows",
            False,
            f"{int(bad.sum())} rows address another image, e.g. row {rows[i]} is "
            f"{ids[i]} in the store but {m['image_id'].iloc[i]} in the split",
        )
    return Check("store_rows", True, f"all {len(m)} rows address their image in store {name}")
