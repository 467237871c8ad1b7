"""Read the published SpurBreast release into a breastlab store and split directories.

The release (https://github.com/utkuozbulak/spurbreast) ships fixed PNG folders::

    ROOT/<feature>/<training|validation|test>/<0|1>/<prefix>-<slice>-<patient>.png

with ``<feature>`` one of field_strength, menopause, race_and_ethnicity,
surgery_type, vertical_flip, baseline_high, baseline_mid, baseline_low, and
320x320 grayscale images. :func:`read_spurbreast_release` writes

- ``OUT/store/``: one array store (through :class:`~breastlab.data.store.StoreWriter`,
  one resumable shard per patient) holding each distinct image once: the same
  slice appears in several features (the shared test set), identical pixels are
  stored once; ``image_id`` is ``"<patient>:<slice>"`` (plus ``":<hash>"`` when a
  slice occurs with different pixels, e.g. flipped);
- ``OUT/splits/<feature>/``: a split folder (:data:`breastlab.schemas.SPLIT`) per feature, whose
  ``attribute`` comes from the clinical table joined on the patient ID (so
  ``breastlab curate check`` can measure the correlation the release claims); its
  ``config.json`` names the store relative to the split folder;
- ``OUT/release_files.csv``: every PNG read (``path`` within the release folder) and its store row.
  For ``vertical_flip`` the attribute is recovered from the pixels: "flipped"
  when the image equals the vertical mirror of the same slice elsewhere in the
  release, "original" when it equals it, "unknown" without a counterpart.

Slice numbers are kept as written in the file names (``slice_index``).

:func:`export_split` goes the other way: the images of any split of a store written as
PNG folders in the release's layout (``OUT/<training|validation|test>/<0|1>/``; a
``tune`` part goes to ``tuning/``), for code that reads the release, with
``OUT/labels.csv`` listing every file and its split row.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from breastlab._io import record_path, write_json, write_table
from breastlab.curate.features import display
from breastlab.curate.splits import LAYOUT, summarize
from breastlab.curate.spurbreast import SPURBREAST_FEATURES
from breastlab.errors import BreastlabInputError
from breastlab.schemas import SPLIT

RELEASE_FEATURES = (
    "field_strength",
    "menopause",
    "race_and_ethnicity",
    "surgery_type",
    "vertical_flip",
    "baseline_high",
    "baseline_mid",
    "baseline_low",
)
SPLIT_FOLDERS = {"training": "train", "validation": "val", "test": "test"}
_NAME = re.compile(r"^(?P<prefix>.+)-(?P<slice>\d+)-(?P<patient>[^-]+)\.png$", re.IGNORECASE)


@dataclasses.dataclass
class ReleaseImport:
    store: Path
    splits: dict[str, Path]
    files: pd.DataFrame  # one row per PNG: feature, split, label, path, patient_id, slice_index, image_id


def parse_release_name(name: str) -> tuple[str, int]:
    """``"<prefix>-<slice>-<patient>.png"`` -> (patient ID, slice); a bare number N means Breast_MRI_NNN."""
    m = _NAME.match(name)
    if not m:
        raise BreastlabInputError(f"{name}: not a SpurBreast image name; expected '<prefix>-<slice>-<patient>.png'")
    patient = m["patient"]
    if patient.isdigit():
        patient = f"Breast_MRI_{int(patient):03d}"
    return patient, int(m["slice"])


def list_release(root: str | os.PathLike, features: list[str] | None = None) -> pd.DataFrame:
    """Every PNG of the release layout under ``root`` (one row per file)."""
    root = Path(root)
    present = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    wanted = features or [f for f in RELEASE_FEATURES if f in present]
    unknown = sorted(set(wanted) - set(RELEASE_FEATURES))
    if unknown:
        raise BreastlabInputError(f"unknown SpurBreast feature folder(s) {unknown}; valid: {list(RELEASE_FEATURES)}")
    if not wanted:
        raise BreastlabInputError(f"{root}: no SpurBreast feature folder ({', '.join(RELEASE_FEATURES)}) in it")
    recs = []
    for feature in wanted:
        fdir = root / feature
        if not fdir.is_dir():
            raise BreastlabInputError(f"{fdir}: feature folder missing")
        for folder, split in SPLIT_FOLDERS.items():
            for label in (0, 1):
                d = fdir / folder / str(label)
                if not d.is_dir():
                    raise BreastlabInputError(
                        f"{d}: missing; each feature needs <training|validation|test>/<0|1>/ folders"
                    )
                for path in sorted(d.glob("*.png")):
                    pid, sl = parse_release_name(path.name)
                    recs.append(
                        {
                            "feature": feature,
                            "split": split,
                            "label": label,
                            "path": str(path),
                            "patient_id": pid,
                            "slice_index": sl,
                        }
                    )
    return pd.DataFrame(recs)


def _load_png(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("L"), dtype=np.uint8)


def _digest(a: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(a).tobytes() + str(a.shape).encode()).hexdigest()


def read_spurbreast_release(
    root: str | os.PathLike,
    out: str | os.PathLike,
    clinical: pd.DataFrame | str | os.PathLike | None = None,
    features: list[str] | None = None,
    progress: bool = True,
) -> ReleaseImport:
    """Import the release under ``root`` into ``OUT/store`` and ``OUT/splits/<feature>`` (see module doc).

    ``clinical``: the decoded clinical table (or the path of
    Clinical_and_Other_Features.xlsx) to recover each patient's group; without
    it the attribute of clinical features is "unknown".
    """
    from breastlab.data.store import StoreWriter

    files = list_release(root, features)
    if files.empty:
        raise BreastlabInputError(f"{root}: the release folders hold no PNG images")
    if clinical is not None and not isinstance(clinical, pd.DataFrame):
        from breastlab.data.duke.clinical import read_clinical

        clinical = read_clinical(clinical)
    out = Path(out)
    shape = _load_png(files["path"].iloc[0]).shape
    writer = StoreWriter(
        out / "store",
        shape=shape,
        meta={"modality": "mri-slice", "source": "spurbreast-release", "release": Path(root).resolve().name},
    )
    done = writer.done_keys()
    patients = sorted(files["patient_id"].unique())
    it = patients
    if progress:
        from breastlab.progress import progress as progress_bar

        it = progress_bar(patients, desc="release patients", unit="patient")
    ids, digests, mirror = {}, {}, {}
    for pid in it:
        sub = files[files["patient_id"] == pid].sort_values(["slice_index", "path"])
        images, man = [], []
        seen: dict[str, str] = {}
        for rec in sub.itertuples():
            img = _load_png(rec.path)
            if img.shape != shape:
                raise BreastlabInputError(
                    f"{rec.path}: image is {img.shape[1]}x{img.shape[0]} but the release's "
                    f"first image is {shape[1]}x{shape[0]}; all images must share one size"
                )
            d = _digest(img)
            digests[rec.path], mirror[rec.path] = d, _digest(img[::-1])
            if d not in seen:
                base = f"{pid}:{rec.slice_index}"
                iid = base if base not in seen.values() else f"{base}:{d[:8]}"
                seen[d] = iid
                images.append(img)
                man.append(
                    {"image_id": iid, "patient_id": pid, "slice_index": int(rec.slice_index), "label": int(rec.label)}
                )
            ids[rec.path] = seen[d]
        if pid not in done:
            writer.write_shard(pid, np.stack(images), pd.DataFrame(man))
    store = writer.finalize(key_order=patients)
    files = files.assign(
        image_id=files["path"].map(ids), digest=files["path"].map(digests), mirror=files["path"].map(mirror)
    )
    row_of = pd.Series(store.manifest["row"].to_numpy(), index=store.manifest["image_id"].astype(str))
    files["row"] = files["image_id"].map(row_of).astype(np.int64)
    splits = {}
    for feature, g in files.groupby("feature", sort=False):
        splits[feature] = _write_feature(out / "splits" / feature, feature, g, files, clinical, store)
    within = [Path(os.path.relpath(p, root)).as_posix() for p in files["path"]]  # no local path in the table
    write_table(files.drop(columns=["digest", "mirror"]).assign(path=within), out / "release_files.csv")
    return ReleaseImport(out / "store", splits, files)


def _write_feature(
    target: Path, feature: str, g: pd.DataFrame, allfiles: pd.DataFrame, clinical: pd.DataFrame | None, store
) -> Path:
    if feature.startswith("baseline"):
        kind, column = "baseline", None
        attribute = pd.Series("all", index=g.index)
    elif feature == "vertical_flip":
        kind, column = "transform", None
        attribute = _flip_state(g, allfiles)
    else:
        kind, column = "spurious", SPURBREAST_FEATURES[feature][0]
        attribute = _clinical_attribute(g, clinical, column)
    m = pd.DataFrame(
        {
            "row": g["row"].to_numpy(np.int64),
            "image_id": g["image_id"].to_numpy(),
            "patient_id": g["patient_id"].to_numpy(),
            "slice_index": g["slice_index"].to_numpy(np.int64),
            "label": g["label"].to_numpy(np.int64),
            "split": g["split"].to_numpy(),
            "attribute": attribute.to_numpy(),
        }
    )
    m["group"] = m["label"].astype(str) + "|" + m["attribute"].astype(str)
    m["transform"] = ""  # the release's pixels are already transformed
    order = {"train": 0, "val": 1, "test": 2}
    m = m.sort_values(["split", "patient_id", "slice_index"], key=lambda s: s.map(order) if s.name == "split" else s)
    m = m.reset_index(drop=True)
    from breastlab.curate.check import _infer_groups

    a, b = _infer_groups(m) if kind != "baseline" else (None, None)
    summary = summarize(m, a, b)
    summary.update(
        {
            "name": feature,
            "kind": kind,
            "feature": column or feature,
            "groups": {"A": a, "B": b} if a else None,
            "rho": 1.0 if kind != "baseline" else None,
        }
    )
    target.mkdir(parents=True, exist_ok=True)
    write_table(m, target / SPLIT.manifest)
    write_json(summary, target / SPLIT.summary)
    write_json(
        {
            "layout": LAYOUT,
            "source": "spurbreast-release",
            "feature": feature,
            "kind": kind,
            "column": column,
            "rho": 1.0 if kind != "baseline" else None,
            "groups": {"A": a, "B": b} if a else None,
            "store": record_path(store.path, target),
            "store_checksum": store.checksum,
        },
        target / SPLIT.config,
    )
    return target


def _clinical_attribute(g: pd.DataFrame, clinical: pd.DataFrame | None, column: str) -> pd.Series:
    if clinical is None:
        return pd.Series("unknown", index=g.index)
    if column not in clinical.columns:
        raise BreastlabInputError(f"clinical table lacks column {column!r} needed for the release's groups")
    values = clinical.set_index(clinical["patient_id"].astype(str))[column]
    missing = sorted(set(g["patient_id"]) - set(values.index))
    if missing:
        raise BreastlabInputError(f"release patients {missing[:5]} are not in the clinical table")
    return g["patient_id"].map(lambda p: "missing" if pd.isna(values[p]) else display(values[p]))


def _flip_state(g: pd.DataFrame, allfiles: pd.DataFrame) -> pd.Series:
    """'flipped' / 'original' by comparing pixels with the same slice in the other features."""
    others = allfiles[allfiles["feature"] != "vertical_flip"]
    known = others.groupby(["patient_id", "slice_index"])["digest"].agg(set)
    out = []
    for rec in g.itertuples():
        ref = known.get((rec.patient_id, rec.slice_index), set())
        out.append("original" if rec.digest in ref else "flipped" if rec.mirror in ref else "unknown")
    return pd.Series(out, index=g.index)


RELEASE_FOLDERS = {**{v: k for k, v in SPLIT_FOLDERS.items()}, "tune": "tuning"}
LABEL_COLUMNS = ["file", "image_id", "patient_id", "label", "split", "attribute", "group", "transform", "row"]


@dataclasses.dataclass
class ExportedSplit:
    out: Path
    labels: pd.DataFrame  # LABEL_COLUMNS (+ slice_index when known): one row per PNG


def _file_names(man: pd.DataFrame, store_manifest: pd.DataFrame, prefix: str) -> pd.Series:
    """``<prefix>-<n>-<patient>.png`` per row: n the slice index when it names every file of a folder
    apart, else the store row; patient ids keep letters, digits, '_' and '.' (others become '_')."""
    from breastlab.data.export import png_name

    patient = man["patient_id"].astype(str).str.replace(r"[^A-Za-z0-9_.]", "_", regex=True)
    folder = man["split"].map(RELEASE_FOLDERS) + "/" + man["label"].astype(str) + "/"
    slices = man["slice_index"] if "slice_index" in man.columns else None
    if slices is None and "slice_index" in store_manifest.columns:
        slices = store_manifest["slice_index"].to_numpy()[man["row"].to_numpy()]
    for number in ([] if slices is None else [pd.Series(slices, index=man.index)]) + [man["row"]]:
        names = folder + [png_name(prefix, n, p) for n, p in zip(number, patient, strict=True)]
        if not names.duplicated().any():
            return names
    dup = names[names.duplicated()].iloc[0]
    raise BreastlabInputError(
        f"split: two rows would both be written as {dup} (the same store row twice in one part and label); "
        "a release folder holds each image once"
    )


def export_split(
    store: str | os.PathLike,
    split: str | os.PathLike,
    out: str | os.PathLike,
    *,
    prefix: str = "img",
    subsets: list[str] | None = None,
) -> ExportedSplit:
    """Write the images of ``split`` (all parts, or ``subsets``) as PNG folders in the release layout.

    Each image is the stored pixels with the split's per-image transform applied (what a
    trainer sees), as 8-bit (uint8 stores) or 16-bit (uint16 stores) grayscale PNG, so
    reading a file back gives the pixels exactly. The three release parts get both label
    folders even when empty (so :func:`read_spurbreast_release` reads the export of a
    feature folder). ``OUT/labels.csv`` (written last): ``file`` (relative path),
    ``image_id``, ``patient_id``, ``label``, ``split``, ``attribute``, ``group``,
    ``transform``, ``row`` (store row) and ``slice_index`` when the split has it.
    ``out`` must be empty or new: files of an earlier export are never mixed in.
    """
    from PIL import Image

    from breastlab._io import atomic_path
    from breastlab._lock import LOCK_NAME
    from breastlab.curate.split_store import check_split_store, load_split_manifest, split_subset, transformed_pixels
    from breastlab.data.store import ArrayStore, check_output_folder

    if not prefix or "/" in prefix or not re.fullmatch(r"[A-Za-z0-9_.-]+", prefix):
        raise BreastlabInputError(f"prefix={prefix!r}: use letters, digits, '_', '.' or '-' (e.g. 'img' or 'pre')")
    out = Path(out)
    check_output_folder(out)
    if out.is_dir() and any(p.name != LOCK_NAME for p in out.iterdir()):  # the lock of a command writing it
        raise BreastlabInputError(f"{out}: not empty; export into a new or empty folder")
    st = store if isinstance(store, ArrayStore) else ArrayStore(store)
    man = load_split_manifest(split)
    check_split_store(man, split, st)
    if subsets:
        man = pd.concat([split_subset(man, s, str(split)) for s in subsets], ignore_index=True)
    names = _file_names(man, st.manifest, prefix)
    for folder in sorted({*SPLIT_FOLDERS, *(RELEASE_FOLDERS[s] for s in man["split"])}):
        for label in (0, 1):
            (out / folder / str(label)).mkdir(parents=True, exist_ok=True)
    for name, rec in zip(names, man.itertuples(), strict=True):
        pixels = np.ascontiguousarray(transformed_pixels(st, rec.row, rec.transform))
        if pixels.ndim != 2 or pixels.dtype not in (np.uint8, np.uint16):
            raise BreastlabInputError(
                f"{st.path.name}: row {rec.row} is {pixels.dtype} of shape {pixels.shape}; PNG export needs "
                "2-D uint8 or uint16 images"
            )
        with atomic_path(out / name) as tmp:
            Image.fromarray(pixels).save(tmp, format="PNG")
    labels = man.assign(file=names.to_numpy())
    cols = LABEL_COLUMNS + (["slice_index"] if "slice_index" in labels.columns else [])
    labels = labels[cols].reset_index(drop=True)
    write_table(labels, out / "labels.csv")
    return ExportedSplit(out, labels)
