"""Readers aided by a real model's case scores (simulate_aided_reader_study), and the reader-study
folder as a report section (written, read back, rendered)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st
from sklearn.metrics import roc_auc_score

from breastlab.errors import BreastlabInputError
from breastlab.evaluate.stats import ReaderStudyResult, reader_study, simulate_aided_reader_study


def _ai_cases(n: int, separation: float, seed: int) -> pd.DataFrame:
    """A model's case scores: binormal with ``separation`` between cases with and without a finding."""
    rng = np.random.default_rng(seed)
    truth = (np.arange(n) % 3 == 0).astype(int)
    return pd.DataFrame(
        {
            "case_id": [f"P{i:03d}:L" for i in range(n)],
            "truth": truth,
            "finding": np.where(truth == 1, "mass", ""),
            "score": 1 / (1 + np.exp(-(separation * truth + rng.normal(size=n)))),
        }
    )


def _reader_mean_auc(readings: pd.DataFrame) -> dict[str, float]:
    humans = readings[readings["reader_group"] != "AI"]
    aucs = humans.groupby(["condition", "reader"]).apply(lambda g: roc_auc_score(g["truth"], g["score"]))
    return aucs.groupby(level="condition").mean().to_dict()


def test_readers_gain_from_an_informative_model_and_lose_with_noise():
    good = simulate_aided_reader_study(_ai_cases(300, 3.0, 1), seed=2)
    noise = simulate_aided_reader_study(_ai_cases(300, 0.0, 1), seed=2)
    g, n = _reader_mean_auc(good), _reader_mean_auc(noise)
    print(f"informative model {g}; noise {n}")
    assert g["aided"] > g["unaided"] + 0.05
    assert n["aided"] < n["unaided"]
    assert g["unaided"] == pytest.approx(n["unaided"])  # unaided readings do not depend on the model
    # design: every reader reads every case in both conditions; the AI reads alone with its own scores
    assert len(good) == 300 * 6 * 2 + 300
    ai = good[good["reader_group"] == "AI"].set_index("case_id")
    cases = _ai_cases(300, 3.0, 1).set_index("case_id")
    np.testing.assert_array_equal(ai.loc[cases.index, "score"], cases["score"])
    assert set(ai["condition"]) == {"standalone"}
    assert set(good.loc[good["reader_group"] != "AI", "score"]) <= {1, 2, 3, 4, 5}


def test_aided_shift_is_reliance_times_the_models_normal_scores():
    cases = _ai_cases(200, 2.0, 3)
    args = {"readers_per_group": 1, "groups": ("g",), "skill": {"g": 1.0}, "score": "probability", "seed": 5}
    z = st.norm.ppf(st.rankdata(cases["score"]) / (len(cases) + 1))
    latent, scores = {}, {}
    for w in (0.0, 0.7):
        r = simulate_aided_reader_study(cases, reliance={"g": w}, include_ai=False, **args)
        scores[w] = r[r["condition"] == "aided"].set_index("case_id").loc[cases["case_id"], "score"].to_numpy()
        latent[w] = (np.log(scores[w] / (1 - scores[w])) + 0.8) / 1.2  # the probability score's logistic, inverted
    # scores are rounded to 4 digits: compared where the rounding moves the inverted logistic by < 1e-3
    ok = np.all([(s > 0.05) & (s < 0.95) for s in scores.values()], axis=0)
    assert ok.sum() > 100
    np.testing.assert_allclose((latent[0.7] - latent[0.0])[ok], 0.7 * z[ok], atol=2e-3)


def test_aided_simulation_refuses_bad_cases():
    cases = _ai_cases(30, 2.0, 0)
    with pytest.raises(BreastlabInputError, match=r"lacks column\(s\) \['score'\]"):
        simulate_aided_reader_study(cases.drop(columns="score"))
    with pytest.raises(BreastlabInputError, match="more than once"):
        simulate_aided_reader_study(pd.concat([cases, cases.iloc[:1]]))
    with pytest.raises(BreastlabInputError, match="both kinds"):
        simulate_aided_reader_study(cases.assign(truth=1))
    with pytest.raises(BreastlabInputError, match="finite model score"):
        simulate_aided_reader_study(cases.assign(score=np.where(cases.index == 4, np.nan, cases["score"])))
    with pytest.raises(BreastlabInputError, match="reliance has no value"):
        simulate_aided_reader_study(cases, reliance={"junior": 0.5})


@pytest.fixture(scope="module")
def study_folder(tmp_path_factory):
    readings = simulate_aided_reader_study(_ai_cases(90, 2.5, 4), seed=1)
    res = reader_study(readings)
    out = res.write(tmp_path_factory.mktemp("rs") / "study", heading="Aided reading", description="six readers")
    return res, out


def test_written_study_reads_back(study_folder):
    res, out = study_folder
    again = ReaderStudyResult.read(out)
    for name, table in res.tables().items():
        pd.testing.assert_frame_equal(again.tables()[name], table, check_dtype=False)
    assert (again.groups, again.conditions, again.findings, again.notes) == (
        res.groups,
        res.conditions,
        res.findings,
        res.notes,
    )
    with pytest.raises(BreastlabInputError, match="not a readable reader_study.json"):
        ReaderStudyResult.read(out / "performance.csv")


def test_reader_study_folder_is_a_report_section(study_folder, tmp_path):
    from breastlab.evaluate.stats.reader_study_report import section_from_dir
    from breastlab.report import write_report

    res, out = study_folder
    page = write_report(out, tmp_path / "report.html").read_text()
    assert "<h2>Aided reading</h2>" in page and "six readers" in page
    assert "MRMC analysis" in page and page.count("<table") == 6 and "data:image/png;base64," in page
    overall = res.mrmc[res.mrmc["readers"] == "all readers"].iloc[0]
    assert overall["auc_first_ci"] in page and overall["diff_ci"] in page
    (out / "reader_study_section.json").unlink()
    with pytest.raises(BreastlabInputError, match="stats reader-study"):
        section_from_dir(out)
    res.write(out)  # rewrites the marker
