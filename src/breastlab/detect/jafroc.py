"""The detector as one more reader of a free-response (FROC) study: its marks as JAFROC tables.

:func:`jafroc_marks` turns detections and the true findings into the TRUTH / NL / LL tables of
the JAFROC format (:mod:`breastlab.evaluate.froc`), with the AI as reader ``reader`` under
modality ``modality``; :func:`combine_jafroc` puts them beside the readers' tables, and
:func:`breastlab.evaluate.froc.write_jafroc` / ``froc_from_tables`` take it from there.

* **Cases**: images (``level="image"``), breasts or patients; every image of the manifest
  rows given is a case, so cases the AI leaves unmarked are in the study.
* **Lesions**: the true findings with a box (a finding without a location cannot be
  localised by anyone and is left out), numbered 1, 2, ... within each case in the order of
  ``truth``, equal weights.
* **Marks**: matched to findings by :func:`breastlab.detect.froc.match_detections` (its hit
  rule; class-agnostic by default, since a JAFROC mark scores the location, not the label). A
  mark that hits a finding is that lesion's LL rating (its score); a second mark on an already
  found lesion is ignored (JAFROC allows one LL per lesion, and the first, highest-rated mark
  is what counts); a mark that hits nothing is an NL.
"""

from __future__ import annotations

import pandas as pd

from breastlab.errors import BreastlabInputError

_LEVEL_KEYS = {"image": ["image_id"], "breast": ["patient_id", "laterality"], "patient": ["patient_id"]}


def jafroc_marks(
    detections: pd.DataFrame,
    images: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    level: str = "image",
    reader: str = "AI",
    modality: str = "AI",
    min_score: float = 0.0,
    match_class: bool = False,
    hit: str = "iou_or_centre",
    iou_threshold: float = 0.5,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """TRUTH, NL and LL tables (JAFROC columns) of the detector's marks on ``images``.

    ``detections``: image_id, finding_class, score, x0, y0, x1, y1 (``predict``'s output);
    ``truth``: the store's findings (image_id, finding_class, x0..y1); ``images``: the manifest
    rows (image_id and the ``level`` keys). Detections scoring below ``min_score`` are dropped.
    """
    from breastlab.detect.froc import match_detections

    keys = _LEVEL_KEYS.get(level)
    if keys is None:
        raise BreastlabInputError(f"level={level!r}: valid levels are {list(_LEVEL_KEYS)}")
    missing = [k for k in ["image_id", *keys] if k not in images.columns]
    if missing:
        raise BreastlabInputError(f"images: lacks column(s) {missing} needed for level={level!r}")
    img = images[list(dict.fromkeys(["image_id", *keys]))].astype(str)
    case_of = dict(zip(img["image_id"], img[keys].agg(":".join, axis=1), strict=True))
    cases = list(dict.fromkeys(case_of.values()))

    tru = truth[truth["image_id"].astype(str).isin(case_of)].copy()
    tru["image_id"] = tru["image_id"].astype(str)
    box = ["x0", "y0", "x1", "y1"]
    located = tru[box].notna().all(axis=1) if set(box) <= set(tru.columns) else pd.Series(False, index=tru.index)
    tru = tru[located].reset_index(drop=True)
    tru["CaseID"] = tru["image_id"].map(case_of)
    tru["LesionID"] = tru.groupby("CaseID").cumcount() + 1

    det = detections[detections["image_id"].astype(str).isin(case_of) & (detections["score"] >= min_score)].copy()
    det["image_id"] = det["image_id"].astype(str)
    if not match_class:
        det["finding_class"] = tru["finding_class"] = "lesion"
    matched, _ = match_detections(tru, det, hit=hit, iou_threshold=iou_threshold)
    matched["CaseID"] = matched["image_id"].map(case_of)

    n_per_case = tru.groupby("CaseID").size()
    rows = []
    for c in cases:
        k = int(n_per_case.get(c, 0))
        rows += [(c, 0, 0.0)] if k == 0 else [(c, les, 1.0 / k) for les in range(1, k + 1)]
    truth_table = pd.DataFrame(rows, columns=["CaseID", "LesionID", "Weight"])

    nl = matched[matched["outcome"] == "fp"]
    nl_table = pd.DataFrame(
        {"ReaderID": reader, "ModalityID": modality, "CaseID": nl["CaseID"], "NL_Rating": nl["score"].astype(float)}
    )
    tp = matched[matched["outcome"] == "tp"]
    ll_table = pd.DataFrame(
        {
            "ReaderID": reader,
            "ModalityID": modality,
            "CaseID": tp["CaseID"],
            "LesionID": tru["LesionID"].to_numpy()[tp["finding_index"].to_numpy(int)],
            "LL_Rating": tp["score"].astype(float),
        }
    )
    return truth_table, nl_table.reset_index(drop=True), ll_table.reset_index(drop=True)


def combine_jafroc(*studies: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]):
    """One study from several readers' (TRUTH, NL, LL) tables on the same cases (the TRUTH tables must agree)."""
    if not studies:
        raise BreastlabInputError("combine_jafroc needs at least one (TRUTH, NL, LL) triple")
    cols = ["CaseID", "LesionID", "Weight"]

    def key(t):
        return t[cols].astype({"CaseID": str}).sort_values(cols[:2]).reset_index(drop=True)

    ref = key(studies[0][0])
    for k, (truth, _, _) in enumerate(studies[1:], start=2):
        other = key(truth)
        if not (other[cols[:2]].equals(ref[cols[:2]]) and (other.Weight - ref.Weight).abs().max() < 1e-9):
            raise BreastlabInputError(f"study {k}: its TRUTH table (cases, lesions, weights) differs from study 1's")
    nl = pd.concat([s[1] for s in studies], ignore_index=True)
    ll = pd.concat([s[2] for s in studies], ignore_index=True)
    return studies[0][0][cols].copy(), nl, ll


def write_ai_reader(detections: pd.DataFrame, images: pd.DataFrame, truth: pd.DataFrame, folder, **kwargs):
    """Write :func:`jafroc_marks` as TRUTH.csv, NL.csv, LL.csv in ``folder`` (atomically, file by file)."""
    from pathlib import Path

    from breastlab._io import write_table

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in zip(("TRUTH", "NL", "LL"), jafroc_marks(detections, images, truth, **kwargs), strict=True):
        write_table(table, folder / f"{name}.csv")
    return folder
