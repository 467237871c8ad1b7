"""Consistency of reported accuracy/PPV/NPV against hand-computed and brute-force references."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest

from breastlab.errors import BreastlabInputError
from breastlab.evaluate.consistency import (
    SPURBREAST_FIELD_STRENGTH_RESNET50_TEST,
    check_reported_metrics,
    rates_from_predictive_values,
)


def _brute_force(acc, ppv, npv, n_pos, n_neg, tol):
    """Every integer confusion matrix: (possible within tol, min largest deviation)."""
    possible, best = False, np.inf
    for tp, tn in itertools.product(range(n_pos + 1), range(n_neg + 1)):
        fp, fn = n_neg - tn, n_pos - tp
        if tp + fp == 0 or tn + fn == 0:
            continue  # PPV or NPV undefined
        figs = ((tp + tn) / (n_pos + n_neg), tp / (tp + fp), tn / (tn + fn))
        dev = [abs(f - r) for f, r in zip(figs, (acc, ppv, npv), strict=True)]
        possible |= all(d <= tol + 1e-12 for d in dev)
        best = min(best, max(dev))
    return possible, best


def test_spurbreast_field_strength_resnet50_is_impossible():
    rep = SPURBREAST_FIELD_STRENGTH_RESNET50_TEST
    res = check_reported_metrics(rep["accuracy"], rep["ppv"], rep["npv"])  # balanced rates
    print(res.explanation)
    assert not res.possible
    # Hand computation (exact fractions): r = 31/19, s = 41/59, 1 - r s = -150/1121,
    # a = (558/1121) / (-150/1121) = -3.72, b = (-492/1121) / (-150/1121) = 3.28.
    assert res.implied_sensitivity == pytest.approx(-3.72, abs=1e-9)
    assert res.implied_specificity == pytest.approx(3.28, abs=1e-9)
    # Same-side argument: NPV >= 1/2 is forced once PPV > 1/2, so the best is NPV -> 0.5 (deviation 0.09).
    assert res.distance == pytest.approx(0.09, abs=1e-3)
    # With a real balanced test set of integer counts it is impossible too.
    res_counts = check_reported_metrics(0.52, 0.62, 0.41, n_pos=150, n_neg=150)
    assert not res_counts.possible
    c = res_counts.confusion
    assert c["tp"] + c["fn"] == 150 and c["tn"] + c["fp"] == 150


def test_hand_computed_matrix_is_possible_and_recovered():
    # TP 80, FN 20, TN 70, FP 30: acc 150/200, PPV 80/110, NPV 70/90.
    acc, ppv, npv = 0.75, 80 / 110, 70 / 90
    res = check_reported_metrics(round(acc, 3), round(ppv, 3), round(npv, 3), n_pos=100, n_neg=100)
    assert res.possible
    assert res.distance <= 0.0005 + 1e-12
    assert res.confusion == {"tp": 80, "fp": 30, "tn": 70, "fn": 20}
    assert res.closest["accuracy"] == pytest.approx(0.75)
    # Rates only (balanced): the same figures are possible with sens 0.8, spec 0.7.
    rates = check_reported_metrics(0.75, ppv, npv, tolerance=1e-6)
    assert rates.possible
    assert rates.implied_sensitivity == pytest.approx(0.8)
    assert rates.implied_specificity == pytest.approx(0.7)


def test_implied_rates_at_other_prevalence():
    # prevalence 0.3, sens 0.8, spec 0.6: PPV = .24 / (.24 + .28), NPV = .42 / (.42 + .06)
    ppv, npv = Fraction(24, 52), Fraction(42, 48)
    a, b = rates_from_predictive_values(float(ppv), float(npv), prevalence=0.3)
    assert (a, b) == pytest.approx((0.8, 0.6))
    acc = 0.3 * 0.8 + 0.7 * 0.6
    assert check_reported_metrics(acc, float(ppv), float(npv), prevalence=0.3, tolerance=1e-6).possible
    # Balanced, the same triple is not reachable.
    assert not check_reported_metrics(acc, float(ppv), float(npv), tolerance=1e-3).possible


def test_same_side_of_half_rule_balanced():
    assert not check_reported_metrics(0.60, 0.45, 0.70).possible
    assert not check_reported_metrics(0.40, 0.55, 0.55).possible
    assert check_reported_metrics(0.60, 0.58, 0.63).possible


@pytest.mark.parametrize("n_pos,n_neg", [(7, 9), (12, 5)])
def test_against_brute_force_enumeration(n_pos, n_neg):
    rng = np.random.default_rng(n_pos * 100 + n_neg)
    triples = [tuple(np.round(rng.uniform(0.05, 0.95, 3), 2)) for _ in range(25)]
    # Plus triples that certainly come from a matrix.
    for _ in range(10):
        tp, tn = int(rng.integers(1, n_pos)), int(rng.integers(1, n_neg))
        fp, fn = n_neg - tn, n_pos - tp
        triples.append((round((tp + tn) / (n_pos + n_neg), 2), round(tp / (tp + fp), 2), round(tn / (tn + fn), 2)))
    n_possible = 0
    for acc, ppv, npv in triples:
        res = check_reported_metrics(acc, ppv, npv, n_pos=n_pos, n_neg=n_neg, tolerance=0.005)
        ref_possible, ref_best = _brute_force(acc, ppv, npv, n_pos, n_neg, 0.005)
        assert res.possible == ref_possible, (acc, ppv, npv)
        assert res.distance == pytest.approx(ref_best, abs=1e-6), (acc, ppv, npv)
        n_possible += ref_possible
    assert 10 <= n_possible < len(triples)  # both outcomes exercised


def test_default_tolerance_follows_reported_decimals():
    res = check_reported_metrics(0.5, 0.625, 0.41)
    assert res.tolerance == {"accuracy": 0.05, "ppv": 0.0005, "npv": 0.005}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"accuracy": 1.2, "ppv": 0.5, "npv": 0.5},
        {"accuracy": 0.5, "ppv": 0.5, "npv": 0.5, "n_pos": 10},
        {"accuracy": 0.5, "ppv": 0.5, "npv": 0.5, "n_pos": 0, "n_neg": 10},
        {"accuracy": 0.5, "ppv": 0.5, "npv": 0.5, "prevalence": 1.0},
        {"accuracy": 0.5, "ppv": 0.5, "npv": 0.5, "n_pos": 5, "n_neg": 5, "prevalence": 0.5},
    ],
)
def test_bad_input_names_the_argument(kwargs):
    with pytest.raises(BreastlabInputError):
        check_reported_metrics(**kwargs)


def test_cli_check_figures(capsys):
    from breastlab.cli import main

    assert main(["check-figures", "--accuracy", "0.52", "--ppv", "0.62", "--npv", "0.41"]) == 1
    assert "impossible" in capsys.readouterr().out
    assert (
        main(
            [
                "check-figures",
                "--accuracy",
                "0.75",
                "--ppv",
                "0.727",
                "--npv",
                "0.778",
                "--n-pos",
                "100",
                "--n-neg",
                "100",
            ]
        )
        == 0
    )
    assert "TP 80" in capsys.readouterr().out


def test_spurbreast_row_fits_sensitivity_specificity_on_a_balanced_set():
    """SpurBreast Table 2 (field strength, ResNet-50, test): (0.62 + 0.41) / 2 = 0.515 rounds to 0.52."""
    from breastlab.evaluate.consistency import check_sensitivity_specificity_swap

    rep = SPURBREAST_FIELD_STRENGTH_RESNET50_TEST
    swap = check_sensitivity_specificity_swap(**rep)
    assert swap.fits
    assert swap.implied_accuracy == pytest.approx(0.515)
    assert not check_reported_metrics(**rep).possible  # as labelled, no confusion matrix gives it


@pytest.mark.parametrize("seed", range(20))
def test_swap_explanation_on_generated_balanced_tables(seed):
    """Rounded sensitivity/specificity/accuracy of real balanced confusion matrices always fit; true PPV/NPV
    of imbalanced sets with a large gap between sensitivity and specificity do not."""
    from breastlab.evaluate.consistency import check_sensitivity_specificity_swap, figures_from_counts

    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 400))
    tp, tn = int(rng.integers(0, n + 1)), int(rng.integers(0, n + 1))
    se, sp = tp / n, tn / n
    acc = figures_from_counts(tp, n - tn, tn, n - tp)["accuracy"]
    assert check_sensitivity_specificity_swap(round(acc, 2), round(se, 2), round(sp, 2)).fits
    # 10 % prevalence, sensitivity 0.9, specificity 0.6: PPV 0.2, NPV 0.98, accuracy 0.63 -> mean 0.59
    f = figures_from_counts(90, 360, 540, 10)
    assert not check_sensitivity_specificity_swap(round(f["accuracy"], 2), round(f["ppv"], 2), round(f["npv"], 2)).fits


def test_cli_check_figures_writes_json(tmp_path, capsys):
    import json

    from breastlab.cli import main

    out = tmp_path / "figures.json"
    assert main(["check-figures", "--accuracy", "0.52", "--ppv", "0.62", "--npv", "0.41", "--json", str(out)]) == 1
    text = capsys.readouterr().out
    assert "impossible" in text and "balanced set fits" in text
    payload = json.loads(out.read_text())
    assert payload["as_reported"]["possible"] is False
    assert payload["as_sensitivity_specificity_balanced"]["fits"] is True


def test_check_table_names_the_bad_row():
    from breastlab.evaluate.consistency import check_table

    rows = check_table([SPURBREAST_FIELD_STRENGTH_RESNET50_TEST, {"accuracy": 0.8, "ppv": 0.8, "npv": 0.8}])
    assert [r["as_sensitivity_specificity_balanced"]["fits"] for r in rows] == [True, True]
    with pytest.raises(BreastlabInputError, match="row 2"):
        check_table([SPURBREAST_FIELD_STRENGTH_RESNET50_TEST, {"accuracy": 0.8}])
