"""The CC-MLO pair model: fitted on detections with known truth, saved, loaded, used for the marks."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from breastlab.cli import main
from breastlab.detect.localise import PAIR_FEATURES, load_pair_model, save_pair_model
from breastlab.detect.marks import annotate, fit_pair_model_on
from breastlab.errors import BreastlabInputError


@pytest.fixture(scope="module")
def paired_store(tmp_path_factory, store_factory):
    # per patient an MLO then a CC image of the same finding class (one lesion seen in both views)
    kinds = ("mass", "mass", None, None, "calcification", "calcification")
    return store_factory(tmp_path_factory.mktemp("pairs") / "store", n=24, seed=3, kinds=kinds)


def _detections(store) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [
        (f.image_id, f.finding_class, rng.uniform(0.6, 0.95), f.x0, f.y0, f.x1, f.y1)
        for f in store.findings.itertuples()
    ]
    rows += [(iid, "mass", rng.uniform(0.15, 0.5), 60, 44, 68, 52) for iid in store.manifest["image_id"]]
    return pd.DataFrame(rows, columns=["image_id", "finding_class", "score", "x0", "y0", "x1", "y1"])


def test_fit_save_load_and_pair(paired_store, tmp_path):
    det = _detections(paired_store)
    model, pairs = fit_pair_model_on(det, paired_store, min_score=0.1)
    assert set(pairs["same_lesion"]) == {0, 1}
    # truth of the pairs: same lesion iff both detections hit the true boxes of one breast's finding
    hits = pairs[pairs["same_lesion"] == 1]
    assert len(hits) == len(paired_store.findings) // 2
    path = save_pair_model(model, tmp_path / "pairs.json")
    loaded = load_pair_model(path)
    X = pairs[list(PAIR_FEATURES)].to_numpy(float)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    marks = annotate(det, paired_store, min_score=0.1, pair_model=loaded)
    man = paired_store.manifest.set_index("image_id")
    findings = paired_store.findings.set_index("image_id")
    true_marks = marks[marks["image_id"].isin(findings.index) & (marks["score"] >= 0.6)].set_index("detection_id")
    for did, r in true_marks.iterrows():  # each true-lesion mark is paired with the other view's true-lesion mark
        assert r["partner"] in true_marks.index, did
        other = true_marks.loc[r["partner"], "image_id"]
        assert man.loc[other, "patient_id"] == man.loc[r["image_id"], "patient_id"]
        assert man.loc[other, "view"] != man.loc[r["image_id"], "view"]


def test_load_refuses_other_files(tmp_path):
    with pytest.raises(BreastlabInputError, match="fit-pairs"):
        load_pair_model(tmp_path / "missing.json")
    (tmp_path / "other.json").write_text(json.dumps({"model": 1}))
    with pytest.raises(BreastlabInputError, match="not a pair model"):
        load_pair_model(tmp_path / "other.json")
    old = {"kind": "breastlab pair model", "version": 2, "features": ["a"], "seed": 0, "pairs": [], "same_lesion": []}
    (tmp_path / "old.json").write_text(json.dumps(old))
    with pytest.raises(BreastlabInputError, match="fit it again"):
        load_pair_model(tmp_path / "old.json")
    (tmp_path / "junk.json").write_bytes(b"junk")
    with pytest.raises(BreastlabInputError, match="not a pair model"):
        load_pair_model(tmp_path / "junk.json")


class _Planted:
    """Unpickling this object would create a file: a pair model file must never be unpickled."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_pair_model_is_never_executed(tmp_path):
    marker = tmp_path / "executed"
    blob = {"kind": "breastlab pair model", "features": list(PAIR_FEATURES), "model": _Planted(str(marker))}
    (tmp_path / "pairs.pkl").write_bytes(pickle.dumps(blob))
    with pytest.raises(BreastlabInputError, match="not a pair model"):
        load_pair_model(tmp_path / "pairs.pkl")
    assert not marker.exists()


def test_cli_fit_pairs(paired_store, tmp_path, capsys):
    _detections(paired_store).to_csv(tmp_path / "det.csv", index=False)
    out = tmp_path / "pm.json"
    assert (
        main(["mammo", "detect", "fit-pairs", str(paired_store.path), str(tmp_path / "det.csv"), "--out", str(out)])
        == 0
    )
    assert "same lesion" in capsys.readouterr().out
    assert hasattr(load_pair_model(out), "predict_proba")
