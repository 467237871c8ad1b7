"""Where breastlab finds the real reference data (``BREASTLAB_DATA``)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DATA = "../shared/data"


def data_root() -> Path:
    """Root of the real data pack: ``$BREASTLAB_DATA`` or ``../shared/data``."""
    return Path(os.environ.get("BREASTLAB_DATA", DEFAULT_DATA)).expanduser()


def duke_dir() -> Path:
    return data_root() / "duke"


def mammo_dir() -> Path:
    return data_root() / "mammo"
