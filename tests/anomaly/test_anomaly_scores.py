"""Any model's per-breast scores and .npy heatmaps: figures as scikit-learn's, pixel AUC as breastlab's own path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from breastlab.anomaly.evaluate import low_prevalence_draws, pixel_aucs
from breastlab.anomaly.scores import evaluate_breast_scores
from breastlab.cli import main
from breastlab.data.store import write_store
from breastlab.errors import BreastlabInputError


@pytest.fixture(scope="module")
def mip_store(tmp_path_factory):
    """12 patients x 2 breasts, 24x24, one abnormal breast each with a tumour box; content area inset."""
    rng = np.random.default_rng(3)
    images, rows, finds = [], [], []
    for p in range(12):
        for side in ("R", "L"):
            iid = f"P{p:02d}:{side}"
            label = int(side == ("L" if p % 2 else "R"))
            if label:
                y, x = rng.integers(3, 15, size=2)
                finds.append(
                    {"image_id": iid, "finding_id": f"{iid}:0", "finding_class": "tumour_box"}
                    | {"x0": x, "y0": y, "x1": x + 5, "y1": y + 4}
                )
            images.append((rng.random((24, 24)) * 200).astype(np.uint8))
            rows.append(
                {"image_id": iid, "patient_id": f"P{p:02d}", "side": side, "label": label, "has_box": bool(label)}
                | {"content_x0": 1, "content_y0": 0, "content_x1": 23, "content_y1": 22}
            )
    path = tmp_path_factory.mktemp("mip") / "store"
    return write_store(path, np.stack(images), pd.DataFrame(rows), pd.DataFrame(finds))


def _scores_file(tmp_path, store, seed=0):
    rng = np.random.default_rng(seed)
    man = store.manifest
    y = man["label"].to_numpy()
    df = pd.DataFrame(
        {
            "breast": man["image_id"],
            "pid": man["patient_id"],
            "abnormal": y,
            "p_anomaly": rng.normal(0, 1, len(y)) + 1.2 * y,
        }
    )
    path = tmp_path / "foreign_model.csv"
    df.to_csv(path, index=False)
    return path, df


def test_breast_figures_equal_sklearn(tmp_path, mip_store):
    path, df = _scores_file(tmp_path, mip_store)
    ev = evaluate_breast_scores(
        path, truth="abnormal", score="p_anomaly", patient="pid", image_id="breast", prevalence=0.1, repeats=9
    )
    y, s = df["abnormal"].to_numpy(), df["p_anomaly"].to_numpy()
    b = ev.balanced.iloc[0]
    assert b["auc"] == pytest.approx(roc_auc_score(y, s))
    assert b["auc_lower"] < b["auc"] < b["auc_upper"] and b["n_abnormal"] == y.sum()
    per_draw = [roc_auc_score(y[idx], s[idx]) for idx in low_prevalence_draws(y, 0.1, 9, 0)]
    lp = ev.low_prevalence.iloc[0]
    assert lp["auc"] == pytest.approx(np.mean(per_draw))
    assert lp["auc_p2.5"] == pytest.approx(np.percentile(per_draw, 2.5))
    assert ev.summary()["auc_balanced"] == pytest.approx(roc_auc_score(y, s))
    assert ev.predictions["image_id"].tolist() == df["breast"].tolist() and ev.pixel.empty


def test_npy_heatmaps_equal_breastlab_pixel_auc(tmp_path, mip_store):
    path, df = _scores_file(tmp_path, mip_store)
    rng = np.random.default_rng(4)
    heat = rng.random((len(mip_store), 24, 24)).astype(np.float32)
    boxes = mip_store.findings.set_index("image_id")
    for r, iid in enumerate(mip_store.manifest["image_id"]):
        if iid in boxes.index:  # the lesion a little hotter, so that AUCs spread
            b = boxes.loc[iid]
            heat[r, b["y0"] : b["y1"], b["x0"] : b["x1"]] += rng.uniform(0, 0.6)
    folder = tmp_path / "heat"
    folder.mkdir()
    for r, iid in enumerate(mip_store.manifest["image_id"]):
        np.save(folder / f"{iid}.npy", heat[r])
    own = pixel_aucs(mip_store, heat, mip_store.manifest["row"])
    ev = evaluate_breast_scores(
        path,
        truth="abnormal",
        score="p_anomaly",
        patient="pid",
        image_id="breast",
        heatmaps=folder,
        store=mip_store.path,
        prevalence=0.1,
        repeats=3,
    )
    pd.testing.assert_frame_equal(ev.pixel.drop(columns="seed"), own)
    assert len(own) == 12 and own["pixel_auc"].std() > 0.01
    # independently: the first abnormal breast's AUC within the content area, by scikit-learn
    first = own.iloc[0]
    b = boxes.loc[first["image_id"]]
    mask = np.zeros((24, 24), bool)
    mask[b["y0"] : b["y1"], b["x0"] : b["x1"]] = True
    h = heat[first["row"]]
    assert first["pixel_auc"] == pytest.approx(roc_auc_score(mask[0:22, 1:23].ravel(), h[0:22, 1:23].ravel()))
    # masks instead of a store: the whole image is scored; breasts without a mask file are left out
    masks = tmp_path / "masks"
    masks.mkdir()
    np.save(masks / f"{first['image_id']}.npy", mask.astype(np.uint8))
    ev2 = evaluate_breast_scores(
        path, truth="abnormal", score="p_anomaly", patient="pid", image_id="breast", heatmaps=folder, masks=masks
    )
    assert len(ev2.pixel) == 1
    assert ev2.pixel["pixel_auc"].iloc[0] == pytest.approx(roc_auc_score(mask.ravel(), h.ravel()))


def test_heatmap_files_checked(tmp_path, mip_store):
    path, df = _scores_file(tmp_path, mip_store)
    folder = tmp_path / "heat"
    folder.mkdir()
    kw = dict(truth="abnormal", score="p_anomaly", patient="pid", image_id="breast", store=mip_store.path)
    with pytest.raises(BreastlabInputError, match=r"no P00:R.npy for breast 'P00:R'"):
        evaluate_breast_scores(path, heatmaps=folder, **kw)
    for iid in df["breast"]:
        np.save(folder / f"{iid}.npy", np.zeros((24, 24), np.float32))
    np.save(folder / "P00:R.npy", np.zeros((20, 24)))
    with pytest.raises(BreastlabInputError, match=r"shape \(20, 24\) differs from the image's \(24, 24\)"):
        evaluate_breast_scores(path, heatmaps=folder, **kw)
    # an object array (a pickle inside the .npy) is refused, never unpickled
    np.save(folder / "P00:R.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(BreastlabInputError, match="not a plain .npy array"):
        evaluate_breast_scores(path, heatmaps=folder, **kw)
    bad = df.assign(breast=["../escape", *df["breast"].iloc[1:]])
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(BreastlabInputError, match="cannot name a file"):
        evaluate_breast_scores(tmp_path / "bad.csv", heatmaps=folder, **{**kw, "store": None, "masks": folder})
    with pytest.raises(BreastlabInputError, match="not image_id values of the store"):
        evaluate_breast_scores(tmp_path / "bad.csv", heatmaps=folder, **kw)
    with pytest.raises(BreastlabInputError, match="--id"):
        evaluate_breast_scores(path, heatmaps=folder, **{**kw, "image_id": None})
    with pytest.raises(BreastlabInputError, match=r"column 'abnormal' \(--truth\) must hold only 0 and 1"):
        df.assign(abnormal=2).to_csv(tmp_path / "two.csv", index=False)
        evaluate_breast_scores(tmp_path / "two.csv", **{**kw, "store": None})


def test_cli_scores_beside_nothing(tmp_path, mip_store):
    from breastlab.anomaly.report import section_from_dir

    path, df = _scores_file(tmp_path, mip_store)
    out = tmp_path / "ev"
    args = ["anomaly", "evaluate", "--scores", str(path), "--truth", "abnormal", "--score", "p_anomaly"]
    args += ["--patient", "pid", "--prevalence", "0.1", "--repeats", "3", "--out", str(out)]
    assert main(args) == 0
    table = pd.read_csv(out / "comparison.csv")
    assert table["model"].tolist() == ["foreign_model"]
    assert table["auc_balanced"].iloc[0] == pytest.approx(roc_auc_score(df["abnormal"], df["p_anomaly"]))
    frag = section_from_dir(out)
    assert "Gallery" not in frag and frag.count("<table") == 2
    assert main(["anomaly", "evaluate", "--out", str(tmp_path / "x")]) == 2
