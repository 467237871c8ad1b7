"""The common result of every mammography reader: manifest + findings + problems."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pandas as pd

from breastlab._io import write_table
from breastlab.data.store import check_output_folder
from breastlab.errors import BreastlabInputError
from breastlab.problems import ProblemLog

# The one local file mapping image ids to the source files on this machine: outputs a user
# shares never hold local paths (their folder names are DICOM UIDs, dates ...); this file does.
SOURCES_FILE = "sources.local.csv"
# Columns holding local file paths: kept in the reader's frames (to read the files), written
# only to SOURCES_FILE
LOCAL_COLUMNS = ("path", "roi_path")
# Manifest columns every reader fills (more may follow, source-specific).
MANIFEST_COLUMNS = ["image_id", "patient_id", "source", "laterality", "view", "density", "split", "label", "path"]
# Findings columns every reader fills; boxes are in pixels of the ORIGINAL image, 0-based, half-open,
# nullable (pd.NA when the source gives no location).
FINDING_COLUMNS = [
    "image_id",
    "finding_id",
    "finding_class",
    "x0",
    "y0",
    "x1",
    "y1",
    "source_label",
    "pathology",
    "birads",
    "label",
]


@dataclasses.dataclass
class MammoDataset:
    """What a reader returns.

    ``manifest``: one row per image (:data:`MANIFEST_COLUMNS` first): ``laterality`` "L"/"R",
    ``view`` "CC"/"MLO", ``density`` BI-RADS 1-4 (nullable), ``split`` as the source gives it
    ("train"/"test") or NA, ``label`` the image label (negative / recalled-benign / malignant,
    see :mod:`breastlab.data.mammo.vocabulary`), ``path`` the image file (NA when not located).
    ``findings``: one row per finding (:data:`FINDING_COLUMNS` first), box in original pixels.
    ``problems``: what was skipped or doubtful, one row per item (file and row named).
    """

    source: str
    manifest: pd.DataFrame
    findings: pd.DataFrame
    problems: ProblemLog

    def summary(self) -> pd.DataFrame:
        """Images per image label and findings per class (a readable overview)."""
        rows = [{"what": f"images {k}", "count": int(v)} for k, v in self.manifest["label"].value_counts().items()]
        rows += [
            {"what": f"findings {k}", "count": int(v)} for k, v in self.findings["finding_class"].value_counts().items()
        ]
        rows.append({"what": "problems", "count": len(self.problems)})
        return pd.DataFrame(rows)

    def write(self, out: str | os.PathLike) -> Path:
        """manifest.csv, findings.csv and problems.csv into ``out`` (shareable: no local paths),
        and the image id -> source file mapping into ``out/sources.local.csv`` (local only)."""
        out = Path(out)
        check_output_folder(out)
        write_table(shareable(self.manifest), out / "manifest.csv")
        write_table(shareable(self.findings), out / "findings.csv")
        self.problems.write(out / "problems.csv")
        write_sources(self, out / SOURCES_FILE)
        return out

    def check_located(self, folder: str | os.PathLike | None = None) -> None:
        """Refuse a dataset none of whose images has a file: a wrong image folder would otherwise give an
        empty store or table and no error. The message names ``folder`` (where the images were looked for,
        when known) and the first problem (which file was missing)."""
        man = self.manifest
        if len(man) and man["path"].notna().any():
            return
        where = f" {folder}" if folder is not None else ""
        if not len(man):
            why = f"no image left to read ({len(self.problems)} problem(s))"
        else:
            why = f"no image file found for any of its {len(man)} image(s)"
        if len(self.problems):
            why += f"; first problem: {self.problems.problems[0].message}"
        raise BreastlabInputError(f"{self.source}: {why}; check the image folder{where}")


def shareable(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without the columns of local file paths (:data:`LOCAL_COLUMNS`)."""
    return frame.drop(columns=[c for c in LOCAL_COLUMNS if c in frame.columns])


def shareable_record(record: dict) -> dict:
    """A manifest or findings row (a dict) without local file paths."""
    return {k: v for k, v in record.items() if k not in LOCAL_COLUMNS}


def write_sources(dataset: MammoDataset, path: str | os.PathLike) -> Path:
    """The local file ``sources.local.csv``: one row per located file (``image_id``, ``finding_id``
    for ROI masks, ``kind`` "image" or "roi_mask", ``path``). It stays on this machine: it names
    local folders (DICOM UIDs, dates); shared outputs refer to images by ``image_id`` only."""
    man, fin = dataset.manifest, dataset.findings
    parts = [pd.DataFrame({"image_id": man["image_id"], "finding_id": pd.NA, "kind": "image", "path": man["path"]})]
    if "roi_path" in fin.columns:
        parts.append(
            pd.DataFrame(
                {
                    "image_id": fin["image_id"],
                    "finding_id": fin["finding_id"],
                    "kind": "roi_mask",
                    "path": fin["roi_path"],
                }  # fmt: skip
            )
        )
    sources = pd.concat(parts, ignore_index=True)
    return write_table(sources[sources["path"].notna()].reset_index(drop=True), path)


def finalize_tables(
    manifest: list[dict], findings: list[dict], extra_manifest: list[str], extra_findings: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the two frames with the standard columns first and nullable integer dtypes."""
    man = pd.DataFrame(manifest, columns=[*MANIFEST_COLUMNS, *extra_manifest])
    fin = pd.DataFrame(findings, columns=[*FINDING_COLUMNS, *extra_findings])
    for frame, cols in ((man, ("density", "height", "width")), (fin, ("x0", "y0", "x1", "y1", "birads"))):
        for col in cols:
            if col in frame.columns:
                frame[col] = pd.array([None if pd.isna(v) else int(v) for v in frame[col].tolist()], dtype="Int64")
    return man.reset_index(drop=True), fin.reset_index(drop=True)
