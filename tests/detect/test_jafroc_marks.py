"""The detector as a JAFROC reader: marks -> TRUTH / NL / LL, and the seed-style pipeline end to end.

Pipeline: phantom mammograms -> store -> detector (1 training iteration) -> ``mammo detect predict``
(writes the AI's marks as a JAFROC reader) + simulated reader marks -> JAFROC workbook ->
``stats froc`` for the readers (aided versus unaided) and for the AI as a standalone reader.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from breastlab.detect.jafroc import combine_jafroc, jafroc_marks
from breastlab.errors import BreastlabInputError
from breastlab.evaluate.froc import froc_fom, froc_from_tables, write_jafroc


def _boxes(rows):
    return pd.DataFrame(rows, columns=["image_id", "finding_class", "score", "x0", "y0", "x1", "y1"])


def test_marks_become_nl_and_ll_rows():
    images = pd.DataFrame({"image_id": ["a", "b", "c"], "patient_id": ["p1", "p1", "p2"]})
    truth = pd.DataFrame(
        {
            "image_id": ["a", "a", "b", "b"],
            "finding_class": ["mass", "calcification", "mass", "mass"],
            "x0": [10, 50, 10, np.nan],
            "y0": [10, 50, 10, np.nan],
            "x1": [20, 60, 20, np.nan],
            "y1": [20, 60, 20, np.nan],
        }
    )
    det = _boxes(
        [
            ("a", "calcification", 0.9, 11, 11, 19, 19),  # hits lesion 1 of a (class-agnostic)
            ("a", "mass", 0.4, 12, 12, 18, 18),  # second mark on the same lesion: ignored
            ("a", "mass", 0.7, 80, 80, 90, 90),  # hits nothing: NL
            ("c", "mass", 0.3, 5, 5, 9, 9),  # normal image: NL
            ("b", "mass", 0.01, 10, 10, 20, 20),  # below min_score
        ]
    )
    truth_t, nl, ll = jafroc_marks(det, images, truth, min_score=0.05)
    assert truth_t.values.tolist() == [["a", 1, 0.5], ["a", 2, 0.5], ["b", 1, 1.0], ["c", 0, 0.0]]  # b's unlocated
    assert sorted(zip(nl.CaseID, nl.NL_Rating, strict=True)) == [("a", 0.7), ("c", 0.3)]
    assert ll[["CaseID", "LesionID", "LL_Rating"]].values.tolist() == [["a", 1, 0.9]]
    assert set(nl.ReaderID) == set(ll.ReaderID) == {"AI"}
    by_class = jafroc_marks(det, images, truth, min_score=0.05, match_class=True)[2]
    assert by_class.LL_Rating.tolist() == [0.4]  # the mass mark now finds the mass; the calcification mark does not
    patient = jafroc_marks(det, images, truth, level="patient", min_score=0.05)[0]
    assert patient.CaseID.tolist() == ["p1", "p1", "p1", "p2"]
    with pytest.raises(BreastlabInputError, match="level='lesion'"):
        jafroc_marks(det, images, truth, level="lesion")


def test_combine_checks_the_truth_tables():
    t1 = pd.DataFrame({"CaseID": ["1", "2"], "LesionID": [0, 1], "Weight": [0.0, 1.0]})
    nl = pd.DataFrame(columns=["ReaderID", "ModalityID", "CaseID", "NL_Rating"])
    ll = pd.DataFrame(columns=["ReaderID", "ModalityID", "CaseID", "LesionID", "LL_Rating"])
    with pytest.raises(BreastlabInputError, match="study 2: its TRUTH table"):
        combine_jafroc((t1, nl, ll), (t1.assign(LesionID=[0, 2]), nl, ll))


def _simulated_readers(truth: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """4 readers x (unaided, aided): each lesion found with p 0.55 / 0.8, rated N(1.5, 1) / N(2.5, 1); NL ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    cases = truth.CaseID.unique()
    lesions = truth[truth.LesionID > 0]
    nl_rows, ll_rows = [], []
    for r in range(1, 5):
        for trt, p_find, mu in (("unaided", 0.55, 1.5), ("aided", 0.8, 2.5)):
            for c in cases:
                for _ in range(rng.poisson(0.5)):
                    nl_rows.append((f"R{r}", trt, c, round(float(rng.normal()), 2)))
            for c, les in zip(lesions.CaseID, lesions.LesionID, strict=True):
                if rng.random() < p_find:
                    ll_rows.append((f"R{r}", trt, c, int(les), round(float(rng.normal(mu)), 2)))
    return (
        pd.DataFrame(nl_rows, columns=["ReaderID", "ModalityID", "CaseID", "NL_Rating"]),
        pd.DataFrame(ll_rows, columns=["ReaderID", "ModalityID", "CaseID", "LesionID", "LL_Rating"]),
    )


def test_phantom_detector_and_readers_to_stats_froc(tmp_path, capsys):
    from breastlab.cli import main
    from breastlab.data.mammo import read_cbis_ddsm
    from breastlab.data.mammo.preprocess import build_mammo_store
    from breastlab.data.phantom.mammo import make_mammo_cohort

    cohort = make_mammo_cohort(tmp_path / "c", 6, seed=5, matrix=128, proportions=(0.34, 0.33, 0.33), progress=False)
    store = tmp_path / "store"
    build_mammo_store(read_cbis_ddsm(cohort, cohort / "CBIS-DDSM"), store, spacing=1.0, progress=False)
    run, pred = tmp_path / "run", tmp_path / "pred"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        args = ["--split", "all"]
        assert main(["mammo", "detect", "train", str(store), "--out", str(run), *args, "--iterations", "1"]) == 0
        assert main(["mammo", "detect", "predict", str(run), str(store), "--out", str(pred), "--min-score", "0"]) == 0
    tables = [pd.read_csv(pred / "jafroc" / f"{n}.csv", dtype={"CaseID": str}) for n in ("TRUTH", "NL", "LL")]
    truth, ai_nl, ai_ll = tables
    det = pd.read_csv(pred / "detections.csv")
    assert len(ai_nl) + len(ai_ll) <= len(det)  # each detection is one NL, one LL or an ignored second mark
    assert truth.CaseID.nunique() == len(pd.read_parquet(store / "manifest.parquet"))
    assert (truth.LesionID > 0).any() and (truth.LesionID == 0).any()

    ai_nl["ModalityID"] = ai_ll["ModalityID"] = "unaided"
    r_nl, r_ll = _simulated_readers(truth, seed=1)
    study = froc_from_tables(*combine_jafroc((truth, ai_nl, ai_ll), (truth, r_nl, r_ll)))
    assert study.readers == ("AI", "R1", "R2", "R3", "R4") and study.treatments == ("aided", "unaided")
    np.testing.assert_array_equal(study.subset(["aided"], ["AI"]).nl, -np.inf)  # the AI reads without aid only
    book = write_jafroc(study, tmp_path / "study.xlsx")

    out = tmp_path / "froc"
    rdrs = ["--readers", "R1,R2,R3,R4"]
    assert main(["stats", "froc", str(book), "--treatments", "aided,unaided", *rdrs, "--out", str(out)]) == 0
    result = json.loads((out / "froc.json").read_text())
    assert result["treatments"] == ["aided", "unaided"] and result["readers"] == ["R1", "R2", "R3", "R4"]
    diff = result["random_readers_random_cases"]["differences"][0]
    assert diff["comparison"] == "aided - unaided" and diff["estimate"] > 0  # the simulated aid helps
    foms = froc_fom(study.subset(["aided", "unaided"], ["R1", "R2", "R3", "R4"]))
    assert diff["estimate"] == pytest.approx(foms.mean(axis=1)[0] - foms.mean(axis=1)[1])

    alone = tmp_path / "alone"
    assert main(["stats", "froc", str(book), "--standalone", "AI", "--treatments", "unaided", "--out", str(alone)]) == 0
    text = capsys.readouterr().out
    assert "Standalone AI versus 4 readers" in text and "AI - readers" in text
    res = json.loads((alone / "standalone.json").read_text())
    assert res["ai_fom"] == pytest.approx(froc_fom(study.subset(["unaided"], ["AI"]))[0, 0])
