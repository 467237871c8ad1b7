"""mini-MIAS reader: the PGM images and the truth listing (``Info.txt`` / ``README``).

Truth rows are ``REFNUM BG CLASS [SEVERITY X Y RADIUS]`` (only lines starting with
``mdb``; one row per abnormality, so an image can have several). The legend puts the
**coordinate origin at the bottom-left corner**: the centre's pixel row is
``row = (height - 1) - y`` (``1023 - y`` for the 1024 x 1024 images), its column ``x``.
Each finding's box is the square around the circle, clipped to the image
(0-based, half-open): ``[x - r, x + r + 1) x [row - r, row + r + 1)``. Rows without
coordinates (``mdb059``, and the three ``*NOTE 3*`` calcification rows: spread through
the breast) give a finding without box.

Manifest: ``patient_id`` pairs the films (legend note 1: consecutive numbers are the
left (even) and right (odd) breast of one woman, ``mias_NNN`` with NNN = (number + 1) // 2),
``view`` MLO (the MIAS films are medio-lateral oblique), ``density`` NA (MIAS gives the
background tissue F / G / D instead, column ``background``), pixel spacing 0.2 mm.

Cite: Suckling J et al., The Mammographic Image Analysis Society Digital Mammogram
Database, Excerpta Medica International Congress Series 1069:375-378 (1994).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from breastlab.data.mammo import vocabulary as vocab
from breastlab.data.mammo._dataset import MammoDataset, finalize_tables
from breastlab.errors import BreastlabInputError
from breastlab.problems import ProblemLog

SOURCE = "mini-MIAS"
STAGE = "read_mini_mias"
SPACING_MM = 0.2
INFO_NAMES = ("Info.txt", "README", "info.txt")


def read_pgm(path: str | os.PathLike) -> np.ndarray:
    """Read a binary (P5) or plain (P2) PGM; ``#`` comments in the header are skipped.

    Returns uint8 for maxval < 256, else uint16 (P5 16-bit samples are big-endian).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BreastlabInputError(f"{path}: cannot read the PGM file ({exc.strerror or exc})") from None
    tokens: list[bytes] = []
    pos = 0
    while len(tokens) < 4:
        while pos < len(data) and data[pos : pos + 1].isspace():
            pos += 1
        if pos >= len(data):
            raise BreastlabInputError(f"{path}: truncated PGM header")
        if data[pos : pos + 1] == b"#":
            end = data.find(b"\n", pos)
            pos = len(data) if end < 0 else end + 1
            continue
        start = pos
        while pos < len(data) and not data[pos : pos + 1].isspace() and data[pos : pos + 1] != b"#":
            pos += 1
        tokens.append(data[start:pos])
    magic = tokens[0]
    try:
        width, height, maxval = (int(t) for t in tokens[1:])
    except ValueError:
        raise BreastlabInputError(f"{path}: bad PGM header {tokens!r}") from None
    if magic not in (b"P5", b"P2") or not 0 < maxval < 65536:
        raise BreastlabInputError(f"{path}: not a grey-level PGM (magic {magic!r}, maxval {maxval}); expected P5 or P2")
    dtype = np.uint8 if maxval < 256 else np.dtype(">u2")
    if width < 1 or height < 1:
        raise BreastlabInputError(f"{path}: PGM size {width}x{height}; expected positive width and height")
    if magic == b"P2":  # plain PGM: decimal samples separated by whitespace, '#' comments allowed
        words = b" ".join(line.split(b"#", 1)[0] for line in data[pos:].splitlines()).split()
        if not all(w.isdigit() for w in words):
            bad = next(w for w in words if not w.isdigit())
            raise BreastlabInputError(f"{path}: plain (P2) PGM sample {bad[:20]!r} is not a non-negative integer")
        if len(words) != width * height:
            raise BreastlabInputError(
                f"{path}: plain (P2) PGM holds {len(words)} samples, expected {width * height} ({width}x{height})"
            )
        values = np.array([int(w) for w in words], dtype=np.int64)
        if values.size and int(values.max()) > maxval:
            raise BreastlabInputError(f"{path}: PGM sample {int(values.max())} exceeds the header's maxval {maxval}")
        return values.astype(np.uint8 if maxval < 256 else np.uint16).reshape(height, width)
    pos += 1  # exactly one whitespace byte ends the header
    n = width * height * np.dtype(dtype).itemsize
    if len(data) - pos < n:
        raise BreastlabInputError(f"{path}: {len(data) - pos} pixel bytes, expected {n} ({width}x{height})")
    image = np.frombuffer(data, dtype=dtype, count=width * height, offset=pos).reshape(height, width)
    if int(image.max()) > maxval:
        raise BreastlabInputError(f"{path}: PGM sample {int(image.max())} exceeds the header's maxval {maxval}")
    return image.astype(np.uint16) if maxval >= 256 else image.copy()


def read_mias_info(path: str | os.PathLike, problems: ProblemLog | None = None) -> pd.DataFrame:
    """Truth rows of ``Info.txt``: refnum, background, class, severity, x, y, radius, note, line."""
    path = Path(path)
    rows = []
    for line_no, line in enumerate(path.read_text(encoding="latin-1").splitlines(), start=1):
        parts = line.split()
        if not parts or not parts[0].startswith("mdb"):
            continue
        note = " ".join(p for p in parts if p.startswith("*"))
        fields = [p for p in parts if not p.startswith("*")]
        rec = {
            "refnum": fields[0],
            "background": fields[1] if len(fields) > 1 else None,
            "class": fields[2] if len(fields) > 2 else None,
            "severity": fields[3] if len(fields) > 3 else None,
            "x": None,
            "y": None,
            "radius": None,
            "note": note,
            "line": line_no,
        }
        if len(fields) >= 7:
            try:
                rec["x"], rec["y"], rec["radius"] = (int(v) for v in fields[4:7])
            except ValueError:
                if problems is not None:
                    problems.add(
                        f"{path.name} line {line_no}",
                        STAGE,
                        f"{path.name} line {line_no}: non-integer x/y/radius {fields[4:7]}; no box",
                    )
        rows.append(rec)
    table = pd.DataFrame(
        rows, columns=["refnum", "background", "class", "severity", "x", "y", "radius", "note", "line"]
    )
    for col in ("x", "y", "radius"):
        table[col] = pd.array([None if pd.isna(v) else int(v) for v in table[col]], dtype="Int64")
    return table


def read_mini_mias(
    folder: str | os.PathLike,
    info: str | os.PathLike | None = None,
    *,
    only_present: bool = True,
    problems: ProblemLog | None = None,
) -> MammoDataset:
    """Read mini-MIAS: ``folder`` holds ``mdbNNN.pgm`` files and the truth listing.

    ``only_present``: list only images whose PGM is in ``folder`` (the truth table
    describes all 322); with ``False`` absent images get ``path`` NA.
    """
    folder = Path(folder)
    problems = problems if problems is not None else ProblemLog()
    if info is None:
        found = [folder / n for n in INFO_NAMES if (folder / n).exists()]
        if not found:
            raise BreastlabInputError(f"{folder}: no truth listing ({' or '.join(INFO_NAMES)}) found")
        info = found[0]
    info = Path(info)
    truth = read_mias_info(info, problems)
    images: dict[str, dict] = {}
    findings: list[dict] = []
    for rec in truth.to_dict("records"):
        ref = rec["refnum"]
        where = f"{info.name} line {rec['line']} ({ref})"
        pgm = folder / f"{ref}.pgm"
        if only_present and not pgm.exists():
            continue
        if ref not in images:
            number = int(ref[3:]) if ref[3:].isdigit() else 0
            height = width = None
            if pgm.exists():
                height, width = _pgm_size(pgm)
            images[ref] = {
                "image_id": ref,
                "patient_id": f"mias_{(number + 1) // 2:03d}",
                "source": SOURCE,
                "laterality": "L" if number % 2 == 0 else "R",
                "view": "MLO",
                "density": None,
                "split": None,
                "label": None,
                "path": str(pgm) if pgm.exists() else None,
                "background": rec["background"],
                "height": height,
                "width": width,
                "spacing_row_mm": SPACING_MM,
                "spacing_col_mm": SPACING_MM,
                "_labels": [],
            }
        image = images[ref]
        if rec["class"] == "NORM":
            continue
        try:
            finding_class = vocab.mias_finding_class(rec["class"])
        except vocab.UnknownLabel as exc:
            problems.add(where, STAGE, f"{where}: unknown {exc}; finding skipped")
            continue
        label = vocab.MIAS_SEVERITY_LABEL.get(rec["severity"])
        if label is None:
            problems.add(where, STAGE, f"{where}: severity {rec['severity']!r} is not B or M; finding skipped")
            continue
        image["_labels"].append(label)
        box = {"x0": None, "y0": None, "x1": None, "y1": None, "cx": None, "cy": None, "radius": None}
        if not pd.isna(rec["x"]):
            h = image["height"] or 1024
            w = image["width"] or 1024
            row = (h - 1) - int(rec["y"])  # bottom-left origin -> array row
            x, r = int(rec["x"]), int(rec["radius"])
            box = {
                "x0": max(0, x - r),
                "y0": max(0, row - r),
                "x1": min(w, x + r + 1),
                "y1": min(h, row + r + 1),
                "cx": x,
                "cy": row,
                "radius": r,
            }
        n = sum(f["image_id"] == ref for f in findings) + 1
        findings.append(
            {
                "image_id": ref,
                "finding_id": f"{ref}_{n}",
                "finding_class": finding_class,
                "source_label": rec["class"],
                "pathology": {"B": "BENIGN", "M": "MALIGNANT"}[rec["severity"]],
                "birads": None,
                "label": label,
                "note": rec["note"],
                **box,
            }
        )
    for image in images.values():
        image["label"] = vocab.worst_label(image.pop("_labels"))
    man, fin = finalize_tables(
        list(images.values()),
        findings,
        ["background", "height", "width", "spacing_row_mm", "spacing_col_mm"],
        ["cx", "cy", "radius", "note"],
    )
    return MammoDataset(SOURCE, man, fin, problems)


def _pgm_size(path: Path) -> tuple[int, int]:
    image = read_pgm(path)
    return int(image.shape[0]), int(image.shape[1])
