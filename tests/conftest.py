"""Shared fixtures: real data through BREASTLAB_DATA, R, Chromium.

With BREASTLAB_REQUIRE_REAL_DATA=1 (set by .ci/run) a test that needs the real
data pack fails instead of skipping; BREASTLAB_REQUIRE_R=1 and
BREASTLAB_REQUIRE_CHROMIUM=1 do the same for R/pROC and headless Chromium.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from breastlab.paths import data_root


def _require(env: str) -> bool:
    return os.environ.get(env, "0") not in ("", "0", "false", "no")


def _missing(what: str, env: str) -> None:
    if _require(env):
        pytest.fail(f"{what} is required ({env}=1) but missing")
    pytest.skip(f"{what} not available")


@pytest.fixture(scope="session")
def real_data() -> Path:
    root = data_root()
    if not (root / "duke" / "Clinical_and_Other_Features.xlsx").exists():
        _missing(f"real data pack at {root}", "BREASTLAB_REQUIRE_REAL_DATA")
    return root


@pytest.fixture(scope="session")
def duke_dir(real_data: Path) -> Path:
    return real_data / "duke"


@pytest.fixture(scope="session")
def mammo_dir(real_data: Path) -> Path:
    path = real_data / "mammo"
    if not path.exists():
        _missing(f"mammography pack at {path}", "BREASTLAB_REQUIRE_REAL_DATA")
    return path


@pytest.fixture(scope="session")
def rscript() -> str:
    exe = shutil.which("Rscript")
    if exe is None:
        _missing("Rscript (apt-get install r-base-core r-cran-proc)", "BREASTLAB_REQUIRE_R")
    return exe


@pytest.fixture(scope="session")
def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        _missing("chromium (apt-get install chromium)", "BREASTLAB_REQUIRE_CHROMIUM")
    return exe
