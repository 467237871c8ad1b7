import numpy as np
import pandas as pd
import pytest

from breastlab.data.store import ArrayStore, StoreWriter, empty_findings, write_store
from breastlab.errors import BreastlabInputError


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
    fnd = pd.DataFrame(
        {
            "image_id": ["y"],
            "finding_id": ["y:0"],
            "finding_class": ["mass"],
            "x0": [1],
            "y0": [2],
            "x1": [3],
            "y1": [5],
        }
    )
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
    pd.DataFrame(
        {
            "image_id": ["B:1"],
            "finding_id": ["B:1:0"],
            "finding_class": ["x"],
            "x0": [0],
            "y0": [0],
            "x1": [2],
            "y1": [2],
        }
    ).to_parquet(shards / "B.findings.parquet", index=False)
    (shards / "B.done").write_text("B")
    w = StoreWriter(tmp_path / "s", shape=(4, 4))
    w.write_shard("C", imgs["C"], _rows("C", 2))
    store = w.finalize(key_order=["A", "B", "C"])
    np.testing.assert_array_equal(store.images, np.concatenate([imgs[p] for p in "ABC"]))
    assert store.manifest["image_id"].tolist() == ["A:0", "A:1", "B:0", "B:1", "C:0", "C:1"]
    assert store.manifest["label"].tolist() == [0, 1] * 3
    assert store.findings["image_id"].tolist() == ["B:1"]


def test_added_keys_checkpoint_in_batches_and_resume(tmp_path):
    """add() keeps keys in memory and writes them as batches at checkpoints; a restarted writer sees
    the batched keys (with their extras) and finalize combines batches, shards and keys in memory."""
    rng = np.random.default_rng(2)
    imgs = {p: rng.integers(0, 255, (n, 4, 4), dtype=np.uint8) for p, n in [("A", 2), ("B", 1), ("C", 2), ("D", 3)]}
    fnd = pd.DataFrame(
        {
            "image_id": ["B:0"],
            "finding_id": ["B:0:0"],
            "finding_class": ["x"],
            "x0": [0],
            "y0": [0],
            "x1": [2],
            "y1": [2],
        }
    )
    w = StoreWriter(tmp_path / "s", shape=(4, 4), checkpoint_s=3600)
    w.add("A", imgs["A"], _rows("A", 2), extra=["a note"])
    w.add("B", list(imgs["B"]), _rows("B", 1), fnd)
    assert w.done_keys() == {"A", "B"} and not (tmp_path / "s" / ".shards" / "batches").exists()
    w.checkpoint()  # as after checkpoint_s seconds; then the job is interrupted with C in memory only
    w.add("C", imgs["C"], _rows("C", 2))
    w2 = StoreWriter(tmp_path / "s", shape=(4, 4), checkpoint_bytes=0)  # every add is a checkpoint
    assert w2.done_keys() == {"A", "B"} and w2.extras() == {"A": ["a note"]}
    w2.add("C", imgs["C"], _rows("C", 2), extra=["c"])
    w2.write_shard("D", imgs["D"], _rows("D", 3))
    w3 = StoreWriter(tmp_path / "s", shape=(4, 4))
    w3.add("E", np.zeros((0, 4, 4), np.uint8), _rows("E", 0))
    assert w3.done_keys() == {"A", "B", "C", "D", "E"} and w3.extras() == {"A": ["a note"], "C": ["c"]}
    store = w3.finalize(key_order=["D", "A", "E", "B", "C"])
    np.testing.assert_array_equal(store.images, np.concatenate([imgs[p] for p in "DABC"]))
    assert store.manifest["image_id"].tolist() == ["D:0", "D:1", "D:2", "A:0", "A:1", "B:0", "C:0", "C:1"]
    assert store.manifest.columns.tolist() == ["row", "image_id", "patient_id", "label"]
    assert store.findings["image_id"].tolist() == ["B:0"]
    assert not (tmp_path / "s" / ".shards").exists()
    # the same store written shard by shard
    w4 = StoreWriter(tmp_path / "t", shape=(4, 4))
    for p in "DABC":
        w4.write_shard(p, imgs[p], _rows(p, len(imgs[p])), fnd if p == "B" else None)
    other = w4.finalize(key_order=list("DABC"))
    pd.testing.assert_frame_equal(other.manifest, store.manifest)
    pd.testing.assert_frame_equal(other.findings, store.findings)
    assert other.checksum == store.checksum


def test_ragged_keys_added_in_memory(tmp_path):
    a = np.arange(12, dtype=np.uint16).reshape(3, 4)
    b = np.arange(30, dtype=np.uint16).reshape(6, 5)
    man = pd.DataFrame({"image_id": ["x", "y"], "patient_id": ["p1", "p2"]})
    w = StoreWriter(tmp_path / "m", layout="ragged", dtype="uint16")
    w.add("p2", [b], man.iloc[[1]])
    w.checkpoint()
    w.add("p1", [a], man.iloc[[0]])
    store = w.finalize(key_order=["p1", "p2"])
    np.testing.assert_array_equal(store[0], a)
    np.testing.assert_array_equal(store[1], b)
    assert store.manifest[["height", "width", "offset"]].values.tolist() == [[3, 4, 0], [6, 5, 12]]


def test_manifest_checksum_is_pandas_row_hash():
    """The checksum hashes rows as pd.util.hash_pandas_object(index=False) does, object columns included
    (missing values, numbers and strings in object columns, nullable and plain dtypes)."""
    import hashlib

    from breastlab.data.store import manifest_checksum

    def reference(m: pd.DataFrame) -> str:
        h = hashlib.sha256()
        h.update(",".join(map(str, m.columns)).encode())
        h.update(pd.util.hash_pandas_object(m, index=False).to_numpy().tobytes())
        return h.hexdigest()

    def o(v):
        return pd.Series(v, dtype=object)

    frames = [
        pd.DataFrame(
            {
                "a": o([1, 2, None]),
                "b": o([1.5, np.nan, 2.0]),
                "c": o(["x", None, "y"]),
                "d": o([True, False, None]),
                "e": o([pd.NA, 1, 1.0]),
                "f": o([1, "1", 1.0]),
                "g": o([None, None, None]),
                "h": [1, 2, 3],
                "i": pd.array([1, None, 3], dtype="Int64"),
                "j": ["a", "b", None],
                "k": [0.5, np.nan, -0.0],
                "m": o([np.int64(3), 3, 4]),
                "n": o([-0.0, 0.0, np.nan]),
            }
        ),
        pd.DataFrame(
            {
                "a": o([2**70, None, 1]),
                "b": o([np.int32(1), 1, None]),
                "c": o([True, np.bool_(False), pd.NA]),
                "d": o(["x", pd.NA, np.nan]),
                "e": o([1, True, None]),
                "f": o([0.0, -0.0, 1.0]),
                "g": o([np.float32(0.5), 0.5, None]),
                "h": o([b"x", "x", None]),
                "i": o([(1, 2), None, "a"]),
                "j": o([pd.Timestamp("2020-01-01"), None, pd.NaT]),
                "k": o([1, 2**63, None]),
            }
        ),
        pd.DataFrame({"a": o([])}),
        pd.DataFrame(),
        pd.DataFrame(index=range(3)),
    ]
    for frame in frames:
        assert manifest_checksum(frame) == reference(frame)


class _Payload:
    """Unpickling this object creates the file ``path``: the proof that a pickle was loaded."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_planted_pickles_in_a_store_folder_are_never_loaded(tmp_path, monkeypatch):
    """Shard tables, batch headers and pixel files that are pickles: a resume and finalize never
    unpickle them (the keys they claim are redone or refused), so nothing in a data folder runs."""
    import pickle

    rng = np.random.default_rng(3)
    imgs = {p: rng.integers(0, 255, (2, 4, 4), dtype=np.uint8) for p in "AB"}
    w = StoreWriter(tmp_path / "s", shape=(4, 4))
    w.write_shard("A", imgs["A"], _rows("A", 2))
    shards = tmp_path / "s" / ".shards"
    proof = tmp_path / "unpickled"
    # a shard of an older layout whose tables are a pickle
    np.save(shards / "EVIL.npy", np.zeros(32, np.uint8))
    (shards / "EVIL.tables.pkl").write_bytes(pickle.dumps((_Payload(proof), _Payload(proof))))
    (shards / "EVIL.done").write_text("EVIL")
    # a batch whose header is a pickle
    (shards / "batches").mkdir()
    np.save(shards / "batches" / "000001.npy", np.zeros(16, np.uint8))
    (shards / "batches" / "000001.keys.pkl").write_bytes(pickle.dumps({"keys": [_Payload(proof)]}))

    def refuse(*args, **kwargs):
        raise AssertionError("a pickle from the store folder was loaded")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    w2 = StoreWriter(tmp_path / "s", shape=(4, 4))
    assert w2.done_keys() == {"A"}
    w2.write_shard("B", imgs["B"], _rows("B", 2))
    store = w2.finalize()
    assert store.manifest["patient_id"].tolist() == ["A", "A", "B", "B"]
    np.testing.assert_array_equal(store.images, np.concatenate([imgs["A"], imgs["B"]]))
    assert not proof.exists()


def test_pixel_file_that_is_a_pickle_is_refused(tmp_path):
    """A shard whose pixel file holds an object array (a pickle inside .npy) is refused by name."""
    w = StoreWriter(tmp_path / "s", shape=(4, 4))
    w.write_shard("A", np.zeros((1, 4, 4), np.uint8), _rows("A", 1))
    proof = tmp_path / "unpickled"
    np.save(tmp_path / "s" / ".shards" / "A.npy", np.array([_Payload(proof)], dtype=object), allow_pickle=True)
    with pytest.raises(BreastlabInputError, match=r"A\.npy: not a pixel file"):
        StoreWriter(tmp_path / "s", shape=(4, 4)).finalize()
    assert not proof.exists()


def test_shard_tables_keep_their_dtypes(tmp_path):
    """The JSON shard tables give back the frames that were written (dtypes and object cells)."""
    man = pd.DataFrame(
        {
            "image_id": ["a", "b", "c"],
            "patient_id": "P",
            "n": pd.array([1, None, 3], dtype="Int64"),
            "x": [0.1, np.nan, np.inf],
            "mixed": pd.Series([1, None, np.float32(0.5)], dtype=object),
            "when": pd.to_datetime(["2020-01-01", None, "2021-02-03"]),
            "flag": [True, False, True],
        }
    )
    StoreWriter(tmp_path / "s", shape=(2, 2)).write_shard("P", np.zeros((3, 2, 2), np.uint8), man)
    w = StoreWriter(tmp_path / "s", shape=(2, 2))  # a new writer reads the shard back from disk
    back, findings = w._shard_tables("P", tmp_path / "s" / ".shards" / "P")
    pd.testing.assert_frame_equal(back, man.assign(height=2, width=2))
    assert [type(v) for v in back["mixed"]] == [int, type(None), np.float32]
    assert findings.empty and list(findings.columns) == list(empty_findings().columns)


def test_reserved_slots_write_pixels_once(tmp_path):
    """With the counts known up front, shards write straight into the final file, which finalize renames
    (same inode, no second copy); the store equals one built from ordinary shards."""
    import os

    rng = np.random.default_rng(4)
    imgs = {p: rng.integers(0, 255, (n, 5, 3), dtype=np.uint8) for p, n in [("A", 2), ("B", 3), ("C", 1)]}
    ref = StoreWriter(tmp_path / "ref", shape=(5, 3))
    for p in "ABC":
        ref.write_shard(p, imgs[p], _rows(p, len(imgs[p])))
    ref = ref.finalize()

    w = StoreWriter(tmp_path / "s", shape=(5, 3))
    w.reserve(["A", "B", "C"], [2, 3, 1])
    inode = os.stat(tmp_path / "s" / ".shards" / "images.npy").st_ino
    StoreWriter.open(tmp_path / "s").write_shard("C", imgs["C"], _rows("C", 1))  # another process's writer
    w.write_shard("A", imgs["A"], _rows("A", 2))
    w2 = StoreWriter(tmp_path / "s", shape=(5, 3))  # a resumed job reserves the same slots again
    w2.reserve(["A", "B", "C"], [2, 3, 1])
    assert w2.done_keys() == {"A", "C"}
    w2.write_shard("B", imgs["B"], _rows("B", 3))
    store = w2.finalize(key_order=["A", "B", "C"])
    assert os.stat(tmp_path / "s" / "images.npy").st_ino == inode
    assert (tmp_path / "s" / "images.npy").read_bytes() == (tmp_path / "ref" / "images.npy").read_bytes()
    pd.testing.assert_frame_equal(store.manifest, ref.manifest)


def test_reserved_slots_with_a_failed_key_and_another_count(tmp_path):
    """A key that fails leaves its slot empty and a key with another count than planned goes to its own
    shard: finalize then builds the file from slots and shards, in key order."""
    rng = np.random.default_rng(5)
    imgs = {p: rng.integers(0, 255, (n, 2, 2), dtype=np.uint8) for p, n in [("A", 2), ("B", 4), ("C", 1)]}
    w = StoreWriter(tmp_path / "s", shape=(2, 2))
    w.reserve(["A", "B", "C", "D"], [2, 3, 1, 5])  # B turns out to have 4 images, D fails
    for p in "CBA":
        w.write_shard(p, imgs[p], _rows(p, len(imgs[p])))
    assert (tmp_path / "s" / ".shards" / "B.npy").exists() and not (tmp_path / "s" / ".shards" / "A.npy").exists()
    store = w.finalize(key_order=["A", "B", "C", "D"])
    np.testing.assert_array_equal(store.images, np.concatenate([imgs[p] for p in "ABC"]))
    assert store.manifest["image_id"].tolist() == ["A:0", "A:1", "B:0", "B:1", "B:2", "B:3", "C:0"]
    assert not (tmp_path / "s" / ".shards").exists()
