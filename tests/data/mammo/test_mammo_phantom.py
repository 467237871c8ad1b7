"""Phantom mammography cohort: determinism, layout, proportions, two-view consistency, densities, findings."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from scipy import ndimage

from breastlab.cli import main
from breastlab.data.phantom.mammo import make_mammo_cohort, plan_mammo_cohort, render_view
from breastlab.errors import BreastlabInputError


def _tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file() and ".breastlab" not in str(p)):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def test_cli_byte_identical_for_a_seed(tmp_path: Path, capsys) -> None:
    args = ["--patients", "3", "--seed", "4", "--matrix", "96"]
    assert main(["phantom", "mammo", str(tmp_path / "a"), *args]) == 0
    assert "3 patients, 12 images" in capsys.readouterr().out
    assert main(["phantom", "mammo", str(tmp_path / "b"), *args, "--workers", "2"]) == 0
    assert _tree_hash(tmp_path / "a") == _tree_hash(tmp_path / "b")
    make_mammo_cohort(tmp_path / "c", 3, seed=5, matrix=96, progress=False)
    assert _tree_hash(tmp_path / "a") != _tree_hash(tmp_path / "c")
    with pytest.raises(BreastlabInputError, match="made with"):
        make_mammo_cohort(tmp_path / "a", 3, seed=6, matrix=96, progress=False)
    # layout: CRLF tables, DICOM tags a reader relies on
    raw = (tmp_path / "a" / "normal_case_description_train_set.csv").read_bytes()
    assert raw.count(b"\r\n") >= 1 and raw.startswith(b"patient_id,breast density")
    truth = pd.read_csv(tmp_path / "a" / "phantom_truth.csv")
    ds = pydicom.dcmread(tmp_path / "a" / truth["path"].iloc[0])
    assert ds.Modality == "MG" and ds.ViewPosition in ("CC", "MLO") and ds.ImageLaterality in ("L", "R")
    assert ("PixelSpacing" in ds) != ("ImagerPixelSpacing" in ds)


def test_plan_proportions_sites_splits() -> None:
    plan = plan_mammo_cohort(40, seed=1, proportions=(0.5, 0.25, 0.25), film_fraction=0.25, test_fraction=0.2)
    outcomes = pd.Series([p.outcome for p in plan]).value_counts().to_dict()
    assert outcomes == {"negative": 20, "recalled-benign": 10, "malignant": 10}
    assert sum(p.site == "film" for p in plan) == 10 and sum(p.split == "test" for p in plan) == 8
    assert all((p.finding is None) == (p.outcome == "negative") for p in plan)
    for bad in (dict(proportions=(1, -1, 1)), dict(film_fraction=2.0), dict(matrix=8)):
        with pytest.raises(BreastlabInputError):
            plan_mammo_cohort(4, seed=0, **bad)


def test_two_views_same_depth_and_density_levels() -> None:
    plan = plan_mammo_cohort(12, seed=3, matrix=160, proportions=(0, 1, 1), film_fraction=0.0)
    for p in plan[:6]:
        depths = []
        for view in ("CC", "MLO"):
            v = render_view(p, p.finding.side, view)
            ys, xs = np.nonzero(v.lesion)
            sp = p.geometry()[2]
            x = xs.mean() if p.finding.side == "LEFT" else v.lesion.shape[1] - 1 - xs.mean()
            depths.append(x * sp)  # distance from the chest wall (mm)
        assert abs(depths[0] - depths[1]) < 0.15 * max(depths)
    # dense-tissue fraction rises with the BI-RADS density drawn
    import dataclasses

    base = plan_mammo_cohort(1, seed=9, matrix=256, proportions=(1, 0, 0), film_fraction=0.0)[0]
    bright = []
    for density in (1, 2, 3, 4):
        v = render_view(dataclasses.replace(base, density=density), "LEFT", "CC")
        inner = ndimage.binary_erosion(v.breast, iterations=8)
        bright.append(float(v.image[inner].mean()))
    print("mean breast grey level by density a-d:", [round(b) for b in bright])
    assert bright == sorted(bright) and bright[3] - bright[0] > 200


@pytest.mark.parametrize("finding_class", ["mass", "calcification", "asymmetry", "architectural_distortion"])
def test_benign_and_malignant_differ(finding_class: str) -> None:
    """A simple hand feature separates the variants: high-frequency detail for masses and AD, speck
    count for calcifications, peak contrast for asymmetry (measured on the rendered lesion neighbourhood)."""
    import dataclasses

    plan = plan_mammo_cohort(
        8,
        seed=21,
        matrix=512,
        proportions=(0, 1, 1),
        film_fraction=0.0,
        class_weights=tuple(
            float(c == finding_class) for c in ("mass", "calcification", "asymmetry", "architectural_distortion")
        ),
    )
    scores = {False: [], True: []}
    for p in plan:
        for malignant in (False, True):
            q = dataclasses.replace(p, density=1, finding=dataclasses.replace(p.finding, malignant=malignant))
            v = render_view(q, q.finding.side, "CC")
            ys, xs = np.nonzero(v.lesion)
            patch = v.image[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(float)
            if finding_class == "asymmetry":
                score = np.percentile(patch, 90) - np.percentile(patch, 10)
            elif finding_class == "calcification":  # number of bright specks
                top = ndimage.white_tophat(patch, size=5)
                score = ndimage.label(top > 0.5 * top.max())[1]
            else:
                score = np.abs(ndimage.laplace(ndimage.gaussian_filter(patch, 1.0))).sum()
            scores[malignant].append(score)
    benign, malignant = np.array(scores[False]), np.array(scores[True])
    print(finding_class, "benign", benign.round(0), "malignant", malignant.round(0))
    assert (malignant > benign).mean() >= 0.75
