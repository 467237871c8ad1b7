"""Problems report: long jobs go on past bad input and list what they skipped.

A job collects one :class:`Problem` per failing item (patient, file, row) and
writes them as ``problems.csv`` beside its output. Messages always name the
file, patient or column and say what would be valid.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pandas as pd

from breastlab._io import write_table
from breastlab.errors import BreastlabInputError


@dataclasses.dataclass(frozen=True)
class Problem:
    item: str  # patient ID, file or row the problem belongs to
    stage: str  # e.g. "read_dicom", "label_slices"
    message: str


class ProblemLog:
    """Collects problems of a job and writes them atomically as CSV."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, item: str, stage: str, message: str | BaseException) -> None:
        self.problems.append(Problem(str(item), stage, str(message)))

    def __len__(self) -> int:
        return len(self.problems)

    def __bool__(self) -> bool:  # an empty log is still a log
        return True

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([dataclasses.asdict(p) for p in self.problems], columns=["item", "stage", "message"])

    def write(self, path: str | os.PathLike) -> Path:
        """problems.csv, shareable: DICOM UIDs in items and messages (CBIS-DDSM's folders, files
        named by UID) are written as ``<UID>``; the messages name files without local paths."""
        frame = self.to_frame()
        for col in ("item", "message"):
            frame[col] = frame[col].map(mask_uids)
        return write_table(frame, path)


# A DICOM UID (PS3.5 9.1): numeric components separated by dots, at least three, 12+ characters; also
# where a file suffix follows it (``<SOPInstanceUID>.dcm``, as PACS exports name files)
_UID = re.compile(r"(?<![\w.])[0-2](?:\.(?:0|[1-9][0-9]*)){2,}(?=\.[A-Za-z]|[^\w.]|$)")
# A date in a name: TCIA's study folders (``01-01-1990-NA-...``) and ``20230115`` / ``2023-01-15`` (the scans
# write such folder names as wildcards, shared outputs as pseudonyms)
DATE_IN_NAME = re.compile(r"(?<!\d)(?:\d{2}-\d{2}-(?:19|20)\d{2}|(?:19|20)\d{2}-?[01]\d-?[0-3]\d)(?!\d)")


def mask_uids(text: str) -> str:
    """``text`` with every DICOM UID replaced by ``<UID>`` (short dotted numbers, e.g. versions, kept)."""
    return _UID.sub(lambda m: "<UID>" if len(m.group()) >= 12 else m.group(), str(text))


def holds_uid(text: str) -> bool:
    """Whether ``text`` holds a DICOM UID (12+ characters; a file suffix may follow it)."""
    return any(len(m.group()) >= 12 for m in _UID.finditer(str(text)))


def shareable_name(name: str, prefix: str) -> str:
    """``name`` (a folder or file name written into a shared output) as it is where it holds no DICOM
    UID and no date; else the pseudonym ``prefix`` + the first 12 hex digits of its SHA-256, the same
    for the same name, so series and files stay distinguishable without naming their UIDs."""
    import hashlib

    if not holds_uid(name) and not DATE_IN_NAME.search(str(name)):
        return str(name)
    return prefix + hashlib.sha256(str(name).encode("utf-8")).hexdigest()[:12]


def check_workers(workers: object) -> int:
    """Validate a ``workers`` argument (number of processes): an integer >= 1."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise BreastlabInputError(f"workers={workers!r}: expected an integer >= 1")
    return workers
