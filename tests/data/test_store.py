import numpy as np
import pandas as pd
import pytest

from breastlab.data.store import ArrayStore, StoreWriter, write_store
from breastlab.problems import BreastlabInputError


def _rows(pid, n):
    return pd.DataFrame({"image_id": [f"{pid}:{i}" for i in range(n)], "patient_id": pid, "label": np.arange(n) % 2})


def test_fixed_store_roundtrip_and_resume(tmp_path):
    rng = np.random.default_rng(0)
    imgs = {p: rng.integers(0, 255, (n, 8, 6), dtype=np.uint8) for p, n in [("B", 3), ("A", 2), ("C", 4)]}
    w = StoreWriter(tmp_path / "s", shape=(8, 6), meta={"modality": "mri-slice"})
    w.write_shard("A", imgs["A"], _rows("A", 2))
    # a restarted writer sees the finished key and only writes the others
    w2 = StoreWriter(tmp_path / "s", shape=(8, 6))
    assert w2.done_keys() == {"A"}
    for p in ("B", "C"):
        w2.write_shard(p, imgs[p], _rows(p, len(imgs[p])))
    store = w2.finalize(key_order=["A", "B", "C"])
    assert len(store) == 9
    assert store.manifest["row"].tolist() == list(range(9))
    np.testing.assert_array_equal(store.images[2:5], imgs["B"])
    expected = np.stack([imgs["C"][3], imgs["A"][0], imgs["B"][1]])
    np.testing.assert_array_equal(store.batch([8, 0, 3]), expected)
    reopened = ArrayStore(tmp_path / "s")
    assert reopened.meta["modality"] == "mri-slice" and reopened.checksum == store.checksum
    assert not (tmp_path / "s" / ".shards").exists()


def test_ragged_store_with_findings(tmp_path):
    a = np.arange(12, dtype=np.uint16).reshape(3, 4)
    b = np.arange(30, dtype=np.uint16).reshape(6, 5)
    man = pd.DataFrame({"image_id": ["x", "y"], "patient_id": ["p1", "p2"], "view": ["CC", "MLO"]})
    fnd = pd.DataFrame({"image_id": ["y"], "finding_id": ["y:0"], "finding_class": ["mass"],
                        "x0": [1], "y0": [2], "x1": [3], "y1": [5]})
    store = write_store(tmp_path / "m", [a, b], man, fnd, layout="ragged")
    np.testing.assert_array_equal(store[0], a)
    np.testing.assert_array_equal(store[1], b)
    assert store.findings_for("y")["finding_class"].tolist() == ["mass"]
    with pytest.raises(BreastlabInputError, match="ragged store"):
        _ = store.images


def test_shape_mismatch_names_the_shard(tmp_path):
    w = StoreWriter(tmp_path / "s", shape=(4, 4))
    with pytest.raises(BreastlabInputError, match="shard 'P7'.*differs"):
        w.write_shard("P7", np.zeros((1, 5, 4), np.uint8), _rows("P7", 1))
    assert w.done_keys() == set()


def test_not_a_store(tmp_path):
    with pytest.raises(BreastlabInputError, match="not a breastlab store"):
        ArrayStore(tmp_path)


def test_finalize_reads_shards_of_other_writers_and_older_versions(tmp_path):
    """A resumed job finalizes shards another writer (process) wrote, and parquet shards of older versions."""
    rng = np.random.default_rng(1)
    imgs = {p: rng.integers(0, 255, (2, 4, 4), dtype=np.uint8) for p in "ABC"}
    StoreWriter(tmp_path / "s", shape=(4, 4)).write_shard("A", imgs["A"], _rows("A", 2))  # another writer
    shards = tmp_path / "s" / ".shards"  # an old-format shard, as earlier versions wrote it
    np.save(shards / "B.npy", imgs["B"].reshape(-1))
    _rows("B", 2).assign(height=4, width=4).to_parquet(shards / "B.manifest.parquet", index=False)
    pd.DataFrame({"image_id": ["B:1"], "finding_id": ["B:1:0"], "finding_class": ["x"], "x0": [0], "y0": [0],
                  "x1": [2], "y1": [2]}).to_parquet(shards / "B.findings.parquet", index=False)
    (shards / "B.done").write_text("B")
    w = StoreWriter(tmp_path / "s", shape=(4, 4))
    w.write_shard("C", imgs["C"], _rows("C", 2))
    store = w.finalize(key_order=["A", "B", "C"])
    np.testing.assert_array_equal(store.images, np.concatenate([imgs[p] for p in "ABC"]))
    assert store.manifest["image_id"].tolist() == ["A:0", "A:1", "B:0", "B:1", "C:0", "C:1"]
    assert store.manifest["label"].tolist() == [0, 1] * 3
    assert store.findings["image_id"].tolist() == ["B:1"]
