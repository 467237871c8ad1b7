"""Reader for the published SpurBreast layout, on a small PNG tree written here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from breastlab.curate import check_split, load_split, read_spurbreast_release
from breastlab.curate.release import parse_release_name
from breastlab.data.store import ArrayStore
from breastlab.errors import BreastlabInputError

FS = {1: 1.5, 2: 3.0, 3: 1.5, 4: 3.0, 5: 1.5, 6: 3.0}
TEST = {1: [(5, 10), (6, 10)], 0: [(5, 1), (6, 1)]}


def _pixels(p: int, s: int) -> np.ndarray:
    return np.random.default_rng(p * 1000 + s).integers(0, 256, (16, 16), dtype=np.uint8)


def _tree(root):
    layout = {
        "field_strength": {
            "training": {1: [(1, 10), (1, 11)], 0: [(2, 1), (2, 2)]},
            "validation": {1: [(3, 10)], 0: [(4, 1)]},
        },
        "vertical_flip": {
            "training": {1: [(1, 10), (1, 11)], 0: [(2, 1), (2, 2)]},
            "validation": {1: [(3, 10)], 0: [(4, 1)]},
        },
        "baseline_low": {
            "training": {1: [(1, 10), (1, 11)], 0: [(1, 1), (1, 2)]},
            "validation": {1: [(3, 10)], 0: [(3, 1)]},
        },
    }
    for feature, splits in layout.items():
        for folder, by_label in {**splits, "test": TEST}.items():
            for label, items in by_label.items():
                d = root / feature / folder / str(label)
                d.mkdir(parents=True, exist_ok=True)
                for p, s in items:
                    img = _pixels(p, s)
                    if feature == "vertical_flip" and folder != "test" and label == 1:
                        img = img[::-1]
                    Image.fromarray(img).save(d / f"duke-{s}-Breast_MRI_{p:03d}.png")
    return root


def test_import_release(tmp_path):
    root = _tree(tmp_path / "release")
    clinical = pd.DataFrame({"patient_id": [f"Breast_MRI_{p:03d}" for p in FS], "field_strength_t": list(FS.values())})
    res = read_spurbreast_release(root, tmp_path / "out", clinical=clinical, progress=False)
    store = ArrayStore(res.store)
    # 13 distinct original slices + 3 flipped ones, each stored once
    assert len(store) == 16
    for rec in res.files.itertuples():  # every PNG's pixels are at its row
        np.testing.assert_array_equal(store[rec.row], np.asarray(Image.open(rec.path)))
    fs = load_split(res.splits["field_strength"])
    assert set(fs["split"]) == {"train", "val", "test"}
    tr = fs[fs["split"] == "train"]
    assert set(tr.loc[tr["label"] == 1, "attribute"]) == {"1.5"}
    assert set(tr.loc[tr["label"] == 0, "attribute"]) == {"3.0"}
    report = check_split(res.splits["field_strength"])
    assert report.ok, report.to_frame()
    assert {c.name: c.passed for c in report.checks}["store_rows"] is True
    vf = load_split(res.splits["vertical_flip"])
    t = vf[vf["split"] == "train"]
    assert set(t.loc[t["label"] == 1, "attribute"]) == {"flipped"}
    assert set(t.loc[t["label"] == 0, "attribute"]) == {"original"}
    assert check_split(res.splits["vertical_flip"]).ok
    assert (load_split(res.splits["baseline_low"])["attribute"] == "all").all()
    # the release's test set is shared: the same rows in every feature
    rows = [set(load_split(d).query("split == 'test'")["row"]) for d in res.splits.values()]
    assert rows[0] == rows[1] == rows[2]


def test_release_names_and_errors(tmp_path):
    assert parse_release_name("img-57-Breast_MRI_012.png") == ("Breast_MRI_012", 57)
    assert parse_release_name("x-3-7.png") == ("Breast_MRI_007", 3)
    with pytest.raises(BreastlabInputError, match="expected '<prefix>-<slice>-<patient>.png'"):
        parse_release_name("scan.png")
    (tmp_path / "field_strength" / "training" / "0").mkdir(parents=True)
    with pytest.raises(BreastlabInputError, match="missing"):
        read_spurbreast_release(tmp_path, tmp_path / "out", progress=False)
    with pytest.raises(BreastlabInputError, match="no SpurBreast feature folder"):
        read_spurbreast_release(tmp_path / "field_strength", tmp_path / "out", progress=False)
