"""A labelled slice table, indexed once for fast split building.

The input of curation is a *slice table*: one row per candidate slice with
``patient_id``, ``slice_index``, ``label`` (1 tumour, 0 non-tumour; buffer
slices are simply absent) and the decoded patient-level clinical columns;
optionally ``row`` (address in an :class:`~breastlab.data.store.ArrayStore`)
and ``image_id``. It comes from an exported store's manifest or, on metadata
only, from :func:`duke_slice_table`.

:class:`Cohort` sorts the table once and keeps, per patient, CSR pointers to
its tumour and non-tumour slices, so every split is built with array
operations on a few thousand patients instead of a scan of the whole table.
"""

from __future__ import annotations

import hashlib
import os
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from breastlab.errors import BreastlabInputError

REQUIRED = ("patient_id", "slice_index", "label")
# Columns that describe a slice, not a patient: never offered as a clinical feature.
SLICE_COLUMNS = {
    "row",
    "image_id",
    "slice_index",
    "label",
    "sequence",
    "series",
    "transform",
    "split",
    "group",
    "attribute",
    "offset",
    "height",
    "width",
    "distance",
    "phase",
    "slice_location",
    # the tumour box is patient-level but it defines the labels: not a candidate spurious feature
    "start_row",
    "end_row",
    "start_column",
    "end_column",
    "start_slice",
    "end_slice",
}


class Cohort:
    """Per-patient index of a labelled slice table (see module docstring).

    Parameters
    ----------
    slices : the slice table.
    sequence : when the table holds several sequences (column ``sequence``), the one to use.
    source : provenance saved in split configs (e.g. the store path or the Duke folder).
    store_checksum : checksum of the array store the ``row`` values address, if any.
    """

    def __init__(
        self,
        slices: pd.DataFrame,
        sequence: str | None = None,
        source: str | None = None,
        store_checksum: str | None = None,
    ) -> None:
        missing = [c for c in REQUIRED if c not in slices.columns]
        if missing:
            raise BreastlabInputError(
                f"slice table lacks columns {missing}; it needs {list(REQUIRED)} (one row per candidate slice)"
            )
        df = _select_sequence(slices, sequence)
        label = pd.to_numeric(df["label"], errors="coerce")
        bad = ~label.isin([0, 1])
        if bad.any():
            first = df.loc[bad].iloc[0]
            raise BreastlabInputError(
                f"patient {first['patient_id']}, slice {first['slice_index']}: label {first['label']!r}; "
                "labels must be 1 (tumour) or 0 (non-tumour); drop buffer slices instead of labelling them"
            )
        df = df.assign(label=label.astype(np.int8), patient_id=df["patient_id"].astype(str))
        df = df.sort_values(["patient_id", "slice_index"], kind="stable").reset_index(drop=True)
        dup = df.duplicated(["patient_id", "slice_index"])
        if dup.any():
            first = df.loc[dup].iloc[0]
            raise BreastlabInputError(
                f"patient {first['patient_id']}: slice {first['slice_index']} occurs twice in the slice table; "
                "pass sequence= to pick one sequence, or deduplicate the table"
            )
        self.table = df
        self.source = source
        self.store_checksum = store_checksum
        self.patients, first, pcode = np.unique(df["patient_id"].to_numpy(), return_index=True, return_inverse=True)
        self.first_row = first
        self.slice_patient = pcode.astype(np.int64)
        lab = df["label"].to_numpy()
        self.label = lab
        self.slice_index = df["slice_index"].to_numpy(np.int64)
        self.n_pos = np.bincount(pcode, weights=lab == 1, minlength=len(self.patients)).astype(np.int64)
        self.n_neg = np.bincount(pcode, weights=lab == 0, minlength=len(self.patients)).astype(np.int64)
        no_box = self.patients[self.n_pos == 0]
        if len(no_box):
            raise BreastlabInputError(
                f"{len(no_box)} patient(s) have no tumour slice (no annotation box?): "
                f"{', '.join(map(str, no_box[:5]))}{' ...' if len(no_box) > 5 else ''}; "
                "drop them from the slice table (every curated patient needs a tumour box)"
            )
        # Stable order: tumour rows of patient 0, ..., then non-tumour rows, each by slice.
        self.pos_rows = np.flatnonzero(lab == 1)
        self.neg_rows = np.flatnonzero(lab == 0)
        self.pos_ptr = np.concatenate([[0], np.cumsum(self.n_pos)])
        self.neg_ptr = np.concatenate([[0], np.cumsum(self.n_neg)])
        pos_sum = np.bincount(pcode, weights=np.where(lab == 1, self.slice_index, 0), minlength=len(self.patients))
        self.centre = pos_sum / self.n_pos  # tumour centre (slice units), for "nearest" rules
        # Per-patient balance k = min(tumour, non-tumour): the slices each class gets from a patient
        # that contributes both (the SpurBreast-like one-to-one rule, see splits.py).
        self.k_match = np.minimum(self.n_pos, self.n_neg)
        self.row = df["row"].to_numpy(np.int64) if "row" in df.columns else np.full(len(df), -1, np.int64)

    # -------------------------------------------------------------------- helpers
    def __len__(self) -> int:
        return len(self.patients)

    @cached_property
    def image_id(self) -> pd.Series:
        """Image IDs as an Arrow-backed text column (``"<patient_id>:<slice_index>"`` without a store)."""
        if "image_id" in self.table.columns:
            return self.table["image_id"].astype("str").reset_index(drop=True)
        return (self.patient_id + ":" + pd.Series(self.slice_index).astype("str")).astype("str")

    @cached_property
    def patient_id(self) -> pd.Series:
        return self.table["patient_id"].astype("str").reset_index(drop=True)

    @cached_property
    def patient_table(self) -> pd.DataFrame:
        """One row per patient: first value of every column, plus slice counts."""
        cols = [c for c in self.table.columns if c not in SLICE_COLUMNS]
        pt = self.table.iloc[self.first_row][cols].reset_index(drop=True)
        pt["n_tumour"] = self.n_pos
        pt["n_nontumour"] = self.n_neg
        return pt

    def clinical_columns(self) -> list[str]:
        return [c for c in self.patient_table.columns if c not in ("patient_id", "n_tumour", "n_nontumour")]

    def patient_values(self, column: str) -> pd.Series:
        """Values of a patient-level column, one per patient; checks it is constant within patients."""
        cache = self.__dict__.setdefault("_values_cache", {})
        if column not in cache:
            cache[column] = self._patient_values(column)
        return cache[column]

    def _patient_values(self, column: str) -> pd.Series:
        if column not in self.table.columns:
            raise BreastlabInputError(
                f"column {column!r} is not in the slice table; clinical columns are: "
                f"{', '.join(self.clinical_columns()[:40])}{' ...' if len(self.clinical_columns()) > 40 else ''}"
            )
        if column in SLICE_COLUMNS:
            raise BreastlabInputError(f"column {column!r} describes slices, not patients; pick a clinical column")
        col = self.table[column]
        first = col.iloc[self.first_row].reset_index(drop=True)
        # Factorised codes compare missing values alike (NA != NA otherwise) and are fast.
        codes = pd.factorize(col, use_na_sentinel=True)[0]
        same = codes == codes[self.first_row][self.slice_patient]
        if not same.all():
            p = self.table["patient_id"].iloc[int(np.flatnonzero(~same)[0])]
            raise BreastlabInputError(
                f"column {column!r} varies between the slices of patient {p}; "
                "a spurious feature must be a patient-level column"
            )
        return first

    @cached_property
    def checksum(self) -> str:
        """SHA-256 of the slice table (patients, slices, labels, rows, patient-level columns)."""
        h = hashlib.sha256()
        core = self.table[["patient_id", "slice_index", "label"]].assign(row=self.row)
        h.update(pd.util.hash_pandas_object(core, index=False).to_numpy().tobytes())
        pt = self.patient_table.astype(str)
        h.update(",".join(pt.columns).encode())
        h.update(pd.util.hash_pandas_object(pt, index=False).to_numpy().tobytes())
        return h.hexdigest()

    def provenance(self) -> dict:
        return {
            "source": self.source,
            "data_checksum": self.checksum,
            "store_checksum": self.store_checksum,
            "n_patients": len(self),
            "n_slices": len(self.table),
        }


def _select_sequence(df: pd.DataFrame, sequence: str | None) -> pd.DataFrame:
    if "sequence" not in df.columns:
        if sequence is not None:
            raise BreastlabInputError(f"sequence={sequence!r} given but the slice table has no 'sequence' column")
        return df
    present = sorted(map(str, df["sequence"].dropna().unique()))
    if sequence is None:
        if len(present) > 1:
            raise BreastlabInputError(f"the slice table holds sequences {present}; pass sequence= to choose one")
        return df
    if sequence not in present:
        raise BreastlabInputError(f"sequence={sequence!r} not in the slice table; present: {present}")
    return df[df["sequence"].astype(str) == sequence]


def as_cohort(data: Cohort | pd.DataFrame | str | os.PathLike, sequence: str | None = None) -> Cohort:
    """A :class:`Cohort` from a cohort, a slice table, or a store folder (its manifest)."""
    if isinstance(data, Cohort):
        return data
    if isinstance(data, pd.DataFrame):
        return Cohort(data, sequence=sequence)
    from breastlab.data.store import ArrayStore

    store = ArrayStore(data)
    return Cohort(store.manifest, sequence=sequence, source=str(Path(data).resolve()), store_checksum=store.checksum)


def duke_slice_table(duke_dir: str | os.PathLike, buffer: int = 5) -> pd.DataFrame:
    """Slice table of the real Duke metadata (no images): every labelled slice of every countable patient.

    Uses :func:`breastlab.data.duke.labels.real_slice_table` (boxes + slice
    counts, tumour slices = box range, ``buffer`` slices on each side dropped,
    all other slices non-tumour, decoded clinical columns joined). Patients
    without a slice count (``Breast_MRI_258``, ``_282``) are not countable and
    absent; the labeller lists them in its problems log.
    """
    from breastlab.data.duke import labels

    duke_dir = Path(duke_dir)
    table, _problems = labels.real_slice_table(duke_dir, buffer=buffer, negatives="all")
    if "field_strength_t" not in table.columns:
        from breastlab.data.duke.clinical import read_clinical

        clinical = read_clinical(duke_dir / "Clinical_and_Other_Features.xlsx")
        table = table.merge(clinical, on="patient_id", how="left", validate="many_to_one")
    return table


def duke_cohort(duke_dir: str | os.PathLike, buffer: int = 5) -> Cohort:
    """:class:`Cohort` of the real Duke metadata (see :func:`duke_slice_table`)."""
    return Cohort(duke_slice_table(duke_dir, buffer), source=f"duke:{Path(duke_dir).resolve().name}:buffer={buffer}")
