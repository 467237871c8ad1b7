"""`breastlab mammo preprocess` on the five real mini-MIAS films (truth from the data pack's README)."""

from __future__ import annotations

from breastlab.cli import main
from breastlab.data.store import ArrayStore


def test_preprocess_cli_on_real_mini_mias(mammo_dir, tmp_path, capsys):
    out = tmp_path / "store"
    rc = main(
        ["mammo", "preprocess", "--mias", str(mammo_dir / "mini-mias"), "--out", str(out), "--fallback-spacing", "0.2"]
    )
    assert rc == 0
    store = ArrayStore(out)
    print(capsys.readouterr().out)
    # README: mdb027 NORM, mdb028 CIRC M, mdb104 ASYM B, mdb115 ARCH M, mdb223 CALC B (two rows)
    assert sorted(store.manifest["image_id"].str.extract(r"(mdb\d{3})")[0]) == [
        "mdb027",
        "mdb028",
        "mdb104",
        "mdb115",
        "mdb223",
    ]
    classes = store.findings["finding_class"].value_counts().to_dict()
    assert classes == {"calcification": 2, "mass": 1, "asymmetry": 1, "architectural_distortion": 1}
    assert store.meta["dtype"] == "uint16" and all(store[i].ndim == 2 for i in range(len(store)))


def test_preprocess_cli_fixed_canvas_height_width(mammo_dir, tmp_path):
    out = tmp_path / "fixed"
    rc = main(
        [
            "mammo",
            "preprocess",
            "--mias",
            str(mammo_dir / "mini-mias"),
            "--out",
            str(out),
            "--fallback-spacing",
            "0.2",
            "--spacing",
            "1.6",
            "--layout",
            "fixed",
            "--size",
            "128",
            "96",
        ]
    )
    assert rc == 0
    store = ArrayStore(out)
    assert store.shape == (128, 96) and store.images.shape == (5, 128, 96)
    # the chest wall is at column 0 and the breast reaches into the canvas (not an empty image)
    assert all((store[i][:, 0] > 0).sum() > 10 for i in range(len(store)))
