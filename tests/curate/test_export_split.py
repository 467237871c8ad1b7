"""export_split: PNG folders in the release layout that read back to the store's pixels and the split's rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from breastlab._io import write_table
from breastlab.cli import main
from breastlab.curate import load_split, read_spurbreast_release
from breastlab.curate.release import export_split
from breastlab.data.store import ArrayStore, write_store
from breastlab.errors import BreastlabInputError


def _pngs(folder):
    return {p.relative_to(folder).as_posix(): np.asarray(Image.open(p)) for p in sorted(folder.rglob("*.png"))}


def test_export_round_trips_the_release(small_release, tmp_path):
    root, imported = small_release
    split = imported.splits["baseline_low"]
    out = tmp_path / "again" / "baseline_low"
    res = export_split(imported.store, split, out, prefix="duke")
    # the same files, names and pixels as the release the store was read from
    original, exported = _pngs(root / "baseline_low"), _pngs(out)
    assert sorted(exported) == sorted(original) and len(exported) == 12
    for name, pixels in exported.items():
        assert pixels.dtype == np.uint8
        np.testing.assert_array_equal(pixels, original[name])
    store = ArrayStore(imported.store)
    labels = pd.read_csv(out / "labels.csv")
    for rec in labels.itertuples():
        np.testing.assert_array_equal(exported[rec.file], store[rec.row])
    # labels.csv holds the split's rows
    man = load_split(split)
    cols = ["image_id", "patient_id", "label", "split", "attribute", "group", "row"]
    pd.testing.assert_frame_equal(labels[cols], man[cols].astype(labels[cols].dtypes.to_dict()))
    assert res.labels["file"].tolist() == labels["file"].tolist()
    # and the release reader reads the export as the same split
    again = read_spurbreast_release(tmp_path / "again", tmp_path / "reimported", progress=False)
    key = ["patient_id", "slice_index", "label", "split"]
    back = load_split(again.splits["baseline_low"])[key].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(back, man[key].sort_values(key).reset_index(drop=True))
    with pytest.raises(BreastlabInputError, match="not empty"):
        export_split(imported.store, split, out)


def test_uint16_transforms_and_row_names(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 65536, (4, 10, 8), dtype=np.uint16)
    manifest = pd.DataFrame({"image_id": [f"m{i}" for i in range(4)], "patient_id": ["A-1", "A-1", "B", "B"]})
    store = write_store(tmp_path / "store", images, manifest)
    split = tmp_path / "split"
    split.mkdir()
    man = pd.DataFrame(
        {
            "row": [0, 1, 2, 3],
            "image_id": [f"m{i}" for i in range(4)],
            "patient_id": ["A-1", "A-1", "B", "B"],
            "label": [1, 0, 1, 0],
            "split": ["train", "train", "tune", "test"],
            "attribute": ["x", "y", "x", "y"],
            "group": ["1|x", "0|y", "1|x", "0|y"],
            "transform": ["vflip", "", "", "hflip"],
        }
    )
    write_table(man, split / "manifest.parquet")
    res = export_split(store, split, tmp_path / "out", subsets=["train", "tune", "test"])
    files = res.labels["file"].tolist()
    # no slice index: the store row numbers the file; '-' in a patient id becomes '_'
    assert files == [
        "training/1/img-0-A_1.png",
        "training/0/img-1-A_1.png",
        "tuning/1/img-2-B.png",
        "test/0/img-3-B.png",
    ]
    assert (tmp_path / "out" / "validation" / "0").is_dir()  # the release's folders exist even when empty
    want = [images[0][::-1], images[1], images[2], images[3][:, ::-1]]
    for f, w in zip(files, want, strict=True):
        back = np.asarray(Image.open(tmp_path / "out" / f))
        assert back.dtype == np.uint16
        np.testing.assert_array_equal(back, w)
    assert res.labels["transform"].tolist() == ["vflip", "", "", "hflip"]
    only = export_split(store, split, tmp_path / "only_test", subsets=["test"])
    assert only.labels["image_id"].tolist() == ["m3"]


def test_cli_export_split(small_release, tmp_path, capsys):
    _, imported = small_release
    split = str(imported.splits["baseline_low"])
    out = tmp_path / "png"
    assert main(["curate", "export-split", split, "--store", str(imported.store), "--out", str(out)]) == 0
    assert len(pd.read_csv(out / "labels.csv")) == len(list(out.rglob("*.png"))) == 12
    assert "wrote 12 PNG images" in capsys.readouterr().out
    bad = ["curate", "export-split", split, "--store", str(imported.store), "--out", str(tmp_path / "x")]
    assert main([*bad, "--subset", "training"]) == 2
    assert "valid parts" in capsys.readouterr().err
