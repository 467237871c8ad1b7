"""Mammogram classification: scenarios, patient splits, evaluation against scikit-learn, training, end to end."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from breastlab.data.store import write_store
from breastlab.errors import BreastlabInputError
from breastlab.mammo import (
    CLASSES,
    SCENARIOS,
    ClassifierConfig,
    TrainPart,
    classify,
    compare_strategies,
    evaluate_scenario,
    get_scenario,
    load_images,
    parse_scenarios,
    patient_holdout,
    patient_kfold,
    predict_proba,
    train_classifier,
)

LABELS = np.array(["negative", "recalled-benign", "malignant", "negative", "malignant", "recalled-benign"])


# --------------------------------------------------------------------------- scenarios
def test_six_scenarios_select_the_papers_classes() -> None:
    assert len(parse_scenarios("all")) == 6
    expected = {  # hand-written from the study's six tasks: kept labels -> target
        "malignant_vs_rest": [0, 0, 1, 0, 1, 0],
        "malignant_vs_negative": [0, None, 1, 0, 1, None],
        "malignant_vs_recalled": [None, 0, 1, None, 1, 0],
        "recalled_vs_negative": [0, 1, None, 0, None, 1],
        "recalled_vs_rest": [0, 1, 0, 0, 0, 1],
        "three_class": [0, 1, 2, 0, 2, 1],
    }
    for name, want in expected.items():
        keep, y = SCENARIOS[name].select(LABELS)
        assert keep.tolist() == [w is not None for w in want], name
        assert y.tolist() == [w for w in want if w is not None], name
    assert SCENARIOS["three_class"].num_classes == 3 and SCENARIOS["malignant_vs_rest"].num_classes == 2
    with pytest.raises(BreastlabInputError, match="not image classes"):
        SCENARIOS["three_class"].select(["negative", "BENIGN"])
    with pytest.raises(BreastlabInputError, match="valid scenarios"):
        get_scenario("benign_vs_all")


# --------------------------------------------------------------------------- splits
def _cohort_labels(n_patients: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four images per patient: the worst label on two of them (one breast), negative on the others."""
    rng = np.random.default_rng(seed)
    worst = rng.choice(CLASSES, n_patients, p=[0.4, 0.3, 0.3])
    pid = np.repeat([f"P{i:03d}" for i in range(n_patients)], 4)
    lab = np.array([[w, w, "negative", "negative"] for w in worst]).ravel()
    return pid, lab


@pytest.mark.parametrize("fraction", [0.05, 0.10, 0.15])
def test_patient_holdout_keeps_patients_whole_and_stratifies(fraction: float) -> None:
    pid, lab = _cohort_labels(200)
    test = patient_holdout(pid, lab, fraction, seed=3)
    frame = pd.DataFrame({"pid": pid, "test": test, "lab": lab})
    assert (frame.groupby("pid")["test"].nunique() == 1).all()  # no patient on both sides
    worst = frame.groupby("pid")["lab"].agg(lambda s: max(s, key=CLASSES.index))
    in_test = frame.groupby("pid")["test"].first()
    for cls in CLASSES:  # per stratum: round(fraction * n) patients
        n = int((worst == cls).sum())
        assert int(in_test[worst == cls].sum()) == max(round(fraction * n), 1)
    assert not np.array_equal(test, patient_holdout(pid, lab, fraction, seed=4))
    with pytest.raises(BreastlabInputError, match="test_fraction"):
        patient_holdout(pid, lab, 1.5)


def test_patient_kfold_no_patient_in_two_folds() -> None:
    pid, lab = _cohort_labels(61)
    fold = patient_kfold(pid, lab, k=6, seed=1)
    frame = pd.DataFrame({"pid": pid, "fold": fold})
    assert (frame.groupby("pid")["fold"].nunique() == 1).all()
    per_fold = frame.groupby("fold")["pid"].nunique()
    assert sorted(per_fold.index) == list(range(6)) and per_fold.max() - per_fold.min() <= 1
    with pytest.raises(BreastlabInputError, match="cannot fill"):
        patient_kfold(pid[:8], lab[:8], k=6)


# --------------------------------------------------------------------------- evaluation
def test_binary_scenario_auc_matches_sklearn_with_patient_ci() -> None:
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(60, int), np.ones(40, int)]
    score = rng.normal(y * 1.2, 1.0)
    proba = np.c_[1 - 1 / (1 + np.exp(-score)), 1 / (1 + np.exp(-score))]
    pid = np.repeat(np.arange(50), 2).astype(str)
    r = evaluate_scenario("malignant_vs_rest", y, proba, pid, n_boot=300)
    assert r.auc == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert r.ci_lower < r.auc < r.ci_upper and r.n_patients == 50
    curve = r.curves[0]
    assert np.trapezoid(curve["tpr"][::-1], curve["fpr"][::-1]) == pytest.approx(r.auc, abs=1e-12)


def test_three_class_mean_pairwise_auc_matches_sklearn_ovo() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 150)
    logits = rng.normal(0, 1, (150, 3)) + 1.5 * np.eye(3)[y]
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    pid = np.arange(150).astype(str)
    r = evaluate_scenario("three_class", y, proba, pid, n_boot=200)
    assert r.auc == pytest.approx(roc_auc_score(y, proba, multi_class="ovo", average="macro"), abs=1e-12)
    assert r.ci_lower < r.auc < r.ci_upper
    assert len(r.curves) == 3 and list(r.pairwise["class_i"]) == ["negative", "negative", "recalled-benign"]
    for c, (i, j) in zip(r.curves, [(0, 1), (0, 2), (1, 2)], strict=True):
        keep = (y == i) | (y == j)  # per-pair ROC of p_j on classes i and j (A(j|i) of Hand & Till)
        assert c["auc"] == pytest.approx(roc_auc_score(y[keep] == j, proba[keep, j]), abs=1e-12)
        assert np.trapezoid(c["tpr"][::-1], c["fpr"][::-1]) == pytest.approx(c["auc"], abs=1e-12)


def test_delong_comparison_detects_a_better_strategy() -> None:
    rng = np.random.default_rng(2)
    y = np.r_[np.zeros(80, int), np.ones(80, int)]
    good, noise = rng.normal(y * 2.0, 1.0), rng.normal(0, 1, 160)
    t = compare_strategies(y, good, noise)
    assert t.auc1 == pytest.approx(roc_auc_score(y, good)) and t.auc2 == pytest.approx(roc_auc_score(y, noise))
    assert t.p_two_sided < 1e-6
    assert compare_strategies(y, good, good + 1e-3 * noise).p_two_sided > 0.05


# --------------------------------------------------------------------------- training
def _toy_store(path: Path, n: int = 48, size: int = 24, seed: int = 0, shift: float = 0.0) -> Path:
    """A fixed uint8 store whose label is visible: a bright square (recalled-benign) or a bright cross (malignant)."""
    rng = np.random.default_rng(seed)
    labels = np.array(CLASSES)[np.arange(n) % 3]
    imgs = []
    for lab in labels:
        im = rng.normal(90 + shift, 12, (size, size))
        cy, cx = rng.integers(6, size - 6, 2)
        if lab == "recalled-benign":
            im[cy - 3 : cy + 3, cx - 3 : cx + 3] += 120
        elif lab == "malignant":
            im[cy - 5 : cy + 5, cx - 1 : cx + 1] += 120
            im[cy - 1 : cy + 1, cx - 5 : cx + 5] += 120
        imgs.append(np.clip(im, 0, 255).astype(np.uint8))
    man = pd.DataFrame(
        {"image_id": [f"I{i}" for i in range(n)], "patient_id": [f"P{i // 2}" for i in range(n)], "label": labels}
    )
    write_store(path, np.stack(imgs), man, meta={"pixel_mean": float(np.mean(imgs) / 255)})
    return path


def _cfg(**kw) -> ClassifierConfig:
    base = dict(
        model="small_cnn",
        weights=None,
        iterations=40,
        batch_size=16,
        lr=0.05,
        lr_step=30,
        image_size=24,
        checkpoint_every=10,
        device="cpu",
        model_kwargs={"width": 8},
    )
    return ClassifierConfig(**{**base, **kw})


def test_training_learns_resumes_exactly_and_reuses(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    images = load_images(_toy_store(tmp_path / "store", n=60))
    test = patient_holdout(images.table["patient_id"], images.table["label"], 0.3, seed=0)
    keep, y = get_scenario("three_class").select(images.table["label"])
    tr = TrainPart(images, np.flatnonzero(~test), y[~test])
    run = train_classifier(tr, 3, _cfg(), tmp_path / "full", progress=False)
    proba = predict_proba(run.model, images, np.flatnonzero(test), 24)
    r = evaluate_scenario("three_class", y[test], proba, images.table["patient_id"][test], n_boot=50)
    print(f"toy three-class M = {r.auc:.3f}")
    assert r.auc > 0.9
    # interrupted after 15 iterations (checkpoint at 10), resumed: same weights as the uninterrupted run
    part = train_classifier(tr, 3, _cfg(), tmp_path / "cut", progress=False, stop_after=15)
    assert not (tmp_path / "cut" / "model.pt").exists()
    del part
    resumed = train_classifier(tr, 3, _cfg(), tmp_path / "cut", progress=False)
    for (k, a), b in zip(run.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    again = train_classifier(tr, 3, _cfg(), tmp_path / "full", progress=False)
    assert again.reused and again.fingerprint == run.fingerprint
    with pytest.raises(BreastlabInputError, match="other settings"):
        train_classifier(tr, 3, _cfg(lr=0.01), tmp_path / "full", progress=False)


def test_incremental_init_loads_features_and_new_head(tmp_path: Path) -> None:
    images = load_images(_toy_store(tmp_path / "store", n=30))
    keep, y = get_scenario("malignant_vs_rest").select(images.table["label"])
    first = train_classifier(
        TrainPart(images, np.arange(len(y)), y), 2, _cfg(iterations=5), tmp_path / "a", progress=False
    )
    _, y3 = get_scenario("three_class").select(images.table["label"])
    # lr ~ 0: the fine-tuned run keeps the pretrained features exactly; the head is new (3 outputs)
    second = train_classifier(
        TrainPart(images, np.arange(len(y3)), y3),
        3,
        _cfg(iterations=2, lr=1e-30, wd=0.0),
        tmp_path / "b",
        init=first.path,
        progress=False,
    )
    a, b = first.model.state_dict(), second.model.state_dict()
    assert torch.allclose(a["features.0.weight"], b["features.0.weight"])
    assert b["fc.weight"].shape[0] == 3 and a["fc.weight"].shape[0] == 2


# --------------------------------------------------------------------------- end to end on phantom mammograms
def test_classify_phantom_cohort_end_to_end(tmp_path: Path) -> None:
    from breastlab.data.mammo import read_cbis_ddsm
    from breastlab.data.mammo.preprocess import build_mammo_store
    from breastlab.data.phantom.mammo import make_mammo_cohort
    from breastlab.mammo.report import classify_section

    cohort = make_mammo_cohort(tmp_path / "c", 16, seed=3, matrix=128, proportions=(0.2, 0.4, 0.4), progress=False)
    build_mammo_store(
        read_cbis_ddsm(cohort, cohort / "CBIS-DDSM"), tmp_path / "s", method="aboutalib2018", progress=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = classify(
            tmp_path / "s",
            tmp_path / "out",
            scenarios="malignant_vs_rest,three_class",
            strategies="imagenet,incremental",
            sites=cohort / "phantom_truth.csv",
            site="digital",
            pretrain_site="film",
            test_fraction=0.3,
            config=_cfg(iterations=4, image_size=32),
            n_boot=50,
            progress=False,
        )
    truth = pd.read_csv(cohort / "phantom_truth.csv")
    test_ids = set(res.predictions["image_id"])
    assert set(truth.loc[truth["image_id"].isin(test_ids), "site"]) == {"digital"}
    split = pd.read_csv(tmp_path / "out" / "split.csv")
    assert not set(split.loc[split["role"] == "test", "patient_id"]) & set(
        split.loc[split["role"] == "train", "patient_id"]
    )
    assert len(res.results) == 4 and len(res.comparisons) == 2
    assert (tmp_path / "out" / "pretrain" / "three_class" / "model.pt").exists()
    html = classify_section(res)
    assert html.count("<img") >= 3 and "DeLong" in html
    # report section: the marker and everything the section needs are on disk; the section is rebuilt from them
    from breastlab.mammo.report import section_from_dir

    marker = json.loads((tmp_path / "out" / "classify_section.json").read_text())
    assert all((tmp_path / "out" / f).is_file() for f in marker["files"].values())
    frag = section_from_dir(tmp_path / "out")
    assert frag.startswith("<h2>") and frag.count("<img") == html.count("<img") >= 3
    assert frag.count("<table") == html.count("<table") >= 3 and "DeLong" in frag
    for r in res.scenario_results:  # every AUC of the run appears in the rebuilt section
        assert f"{r.auc:.3f}" in frag


def test_cli_mammo_classify(tmp_path: Path, capsys) -> None:
    from breastlab.cli import main

    _toy_store(tmp_path / "store", n=36)
    rc = main(
        [
            "mammo",
            "classify",
            str(tmp_path / "store"),
            "--out",
            str(tmp_path / "out"),
            "--scenario",
            "malignant_vs_negative",
            "--model",
            "small_cnn",
            "--weights",
            "none",
            "--iterations",
            "3",
            "--batch-size",
            "8",
            "--image-size",
            "24",
            "--folds",
            "3",
            "--n-boot",
            "20",
            "--device",
            "cpu",
            "--no-progress",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "malignant_vs_negative" in out and (tmp_path / "out" / "report.html").exists()
    # the strategy keeps the paper's name; screen and report say that this run had no ImageNet weights
    random_init = "strategy imagenet started small_cnn from random initialisation (weights none)"
    assert f"note: {random_init}" in out and random_init in (tmp_path / "out" / "report.html").read_text()
    pred = pd.read_parquet(tmp_path / "out" / "predictions.parquet")
    assert sorted(pred["part"].unique()) == ["fold0", "fold1", "fold2"]
    assert pred["image_id"].is_unique  # each image scored once, by the model that did not see its patient
    from breastlab.mammo.report import section_from_dir

    frag = section_from_dir(tmp_path / "out")  # one strategy: no comparison table, no Figure 4
    assert frag.startswith("<h2>") and frag.count("<table") == 1 and frag.count("<img") == 1
    with pytest.raises(BreastlabInputError, match="classify_section.json"):
        section_from_dir(tmp_path / "store")


# --------------------------------------------------------------------------- standard-path (mapped) stores
def test_mapped_store_input_matches_hand_computation(tmp_path: Path) -> None:
    """uint16 standard-path store: x = clip((v - lo) / (hi - lo), -0.5, 6), background -0.5, minus the store mean."""
    from breastlab.mammo.classify import MAPPED_RANGE, model_input

    rng = np.random.default_rng(4)
    imgs = rng.integers(1, 4000, (6, 12, 8)).astype(np.uint16)
    imgs[:, :, :2] = 0  # background
    lo, hi = rng.uniform(100, 900, 6), rng.uniform(1500, 3000, 6)
    man = pd.DataFrame(
        {
            "image_id": [f"I{i}" for i in range(6)],
            "patient_id": [f"P{i // 2}" for i in range(6)],
            "label": np.array(CLASSES)[np.arange(6) % 3],
            "map_low": lo,
            "map_high": hi,
        }
    )
    write_store(tmp_path / "s", imgs, man)
    images = load_images(tmp_path / "s")
    ref = np.stack(
        [np.where(v == 0, -0.5, np.clip((v - a) / (b - a), -0.5, 6.0)) for v, a, b in zip(imgs, lo, hi, strict=True)]
    )
    assert MAPPED_RANGE == (-0.5, 6.0)
    assert images.pixel_mean == pytest.approx(ref.mean(), rel=1e-5)
    x = model_input(images, np.array([3, 1]), None, [True, False], torch.device("cpu")).numpy()
    assert x.shape == (2, 1, 12, 8)  # stored size, non-square, no resize
    np.testing.assert_allclose(x[0, 0], ref[3][::-1] - ref.mean(), atol=1e-5)  # vertical flip
    np.testing.assert_allclose(x[1, 0], ref[1] - ref.mean(), atol=1e-5)
    with pytest.raises(BreastlabInputError, match="image_size"):
        ClassifierConfig(model="small_cnn", image_size=0).validate()


def test_cpu_preset_learns_malignant_vs_negative_on_a_tiny_phantom(tmp_path: Path) -> None:
    """The CPU preset's input path and model learn well above chance on a small phantom (about 20 s)."""
    from breastlab.data.mammo import read_cbis_ddsm
    from breastlab.data.mammo.preprocess import build_mammo_store
    from breastlab.data.phantom.mammo import make_mammo_cohort
    from breastlab.mammo import CPU_PRESET

    torch.set_num_threads(1)
    cohort = make_mammo_cohort(
        tmp_path / "c", 40, seed=5, matrix=256, proportions=(0.5, 0.0, 0.5), film_fraction=0.0, progress=False
    )
    build_mammo_store(
        read_cbis_ddsm(cohort, cohort / "CBIS-DDSM"), tmp_path / "s", progress=False, **CPU_PRESET["store"]
    )
    p = {k: v for k, v in CPU_PRESET.items() if k != "store"}
    cfg = ClassifierConfig(
        **{**p, "weights": None, "iterations": 120, "lr_step": 100, "device": "cpu", "checkpoint_every": 60}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = classify(
            tmp_path / "s",
            tmp_path / "out",
            scenarios="malignant_vs_negative",
            test_fraction=0.3,
            config=cfg,
            n_boot=100,
            progress=False,
        )
    r = res.scenario_results[0]
    print(
        f"tiny phantom, CPU preset, 120 iterations: malignant vs negative AUC {r.auc:.3f} "
        f"[{r.ci_lower:.3f}, {r.ci_upper:.3f}] on {r.n_images} images"
    )
    assert r.auc > 0.75


def test_cli_mammo_classify_cpu_preset(tmp_path: Path) -> None:
    from breastlab.cli import main
    from breastlab.mammo import CPU_PRESET

    _toy_store(tmp_path / "store", n=36)
    rc = main(
        [
            "mammo",
            "classify",
            str(tmp_path / "store"),
            "--out",
            str(tmp_path / "out"),
            "--preset",
            "cpu",
            "--scenario",
            "three_class",
            "--weights",
            "none",
            "--iterations",
            "3",
            "--image-size",
            "0",
            "--test-fraction",
            "0.3",
            "--n-boot",
            "20",
            "--device",
            "cpu",
            "--no-progress",
        ]
    )
    assert rc == 0
    run = json.loads((tmp_path / "out" / "imagenet" / "three_class" / "holdout" / "config.json").read_text())
    assert run["model"] == CPU_PRESET["model"] and run["model_kwargs"] == CPU_PRESET["model_kwargs"]
    assert run["image_size"] is None and run["balanced"] == "labels" and run["lr"] == CPU_PRESET["lr"]
    assert run["iterations"] == 3 and run["batch_size"] == CPU_PRESET["batch_size"]
