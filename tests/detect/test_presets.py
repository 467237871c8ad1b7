"""detector_config / parse_classes: a preset's detector settings with the options a user changed."""

from __future__ import annotations

import dataclasses

import pytest

from breastlab.data.mammo.vocabulary import FINDING_CLASSES
from breastlab.detect.model import PRESETS
from breastlab.detect.presets import detector_config, parse_classes
from breastlab.errors import BreastlabInputError


def test_a_preset_unchanged_when_no_option_is_given():
    for name, cfg in PRESETS.items():
        assert detector_config(name) == cfg
        assert detector_config(name, iterations=None, lr=None, classes=None, device=None) == cfg


def test_given_options_win_and_the_rest_stay_the_presets():
    cfg = detector_config("study", iterations=7, spacing_mm=0.5, seed=3, weights="coco", classes="calcification, mass")
    expected = dataclasses.replace(
        PRESETS["study"], iterations=7, spacing_mm=0.5, seed=3, weights="coco", classes=("calcification", "mass")
    )
    assert cfg == expected
    assert cfg.lr == PRESETS["study"].lr and cfg.arch == "fasterrcnn_resnet50_fpn_v2"


def test_parse_classes_keeps_the_order_and_reads_sequences():
    assert parse_classes(None) is None and parse_classes(" , ") is None
    assert parse_classes("asymmetry,mass") == ("asymmetry", "mass")
    assert parse_classes(["mass", " calcification "]) == ("mass", "calcification")
    assert parse_classes(",".join(FINDING_CLASSES)) == FINDING_CLASSES


def test_bad_names_are_clear_errors():
    with pytest.raises(BreastlabInputError, match="valid presets are study, cpu-small"):
        detector_config("gpu")
    with pytest.raises(BreastlabInputError, match=r"unknown detector settings \['learning_rate'\]"):
        detector_config("cpu-small", learning_rate=0.1)
    with pytest.raises(BreastlabInputError, match=r"classes \['tumour'\]: choose from mass, calcification"):
        parse_classes("mass,tumour")
    with pytest.raises(BreastlabInputError, match=r"\['mass'\] given more than once"):
        detector_config("cpu-small", classes="mass,calcification,mass")
    with pytest.raises(BreastlabInputError, match="batch_size must be positive"):
        detector_config("cpu-small", batch_size=0)  # the config's own checks still run
