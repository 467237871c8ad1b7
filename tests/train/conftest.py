"""Fixtures for training tests: tiny synthetic stores and split directories (the layouts of breastlab.schemas)."""

from __future__ import annotations

import pytest

from breastlab.train._synthetic import make_toy_split


@pytest.fixture(scope="session")
def toy_split(tmp_path_factory):
    """(store, split) with no shortcut: 24 patients x 4 slices of 24 px, a bright disc marks label 1."""
    return make_toy_split(tmp_path_factory.mktemp("toy"), n_patients=24, per_patient=4, size=24, rho=0.5, signal=90)


@pytest.fixture(scope="session")
def spurious_split(tmp_path_factory):
    """(store, split) where the attribute agrees with the label in 95% of train/val images."""
    return make_toy_split(
        tmp_path_factory.mktemp("spur"), n_patients=32, per_patient=4, size=24, rho=0.95, signal=25, offset=60
    )
