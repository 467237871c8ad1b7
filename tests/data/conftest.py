"""Fixtures of the data tests: writers of the files a hospital export holds besides images."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest


def _write_seg(sources: list[pydicom.Dataset], mask: np.ndarray, out: Path) -> None:
    """A binary DICOM SEG (highdicom) of ``mask`` (slices in ``sources`` order, any segment a lesion) over
    the image datasets ``sources``, written to ``out``."""
    import highdicom as hd

    for d in sources:
        d.StudyTime = d.get("StudyTime") or "000000"  # the phantom writes none; a SEG copies the study's
    description = hd.seg.SegmentDescription(
        segment_number=1, segment_label="tumour",
        segmented_property_category=hd.sr.CodedConcept("49755003", "SCT", "Morphologically Altered Structure"),
        segmented_property_type=hd.sr.CodedConcept("108369006", "SCT", "Neoplasm"),
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )  # fmt: skip
    hd.seg.Segmentation(
        source_images=sources, pixel_array=mask.astype(np.uint8), segmentation_type="BINARY",
        segment_descriptions=[description], series_instance_uid=hd.UID(), series_number=900,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="breastlab test",
        manufacturer_model_name="test", software_versions="0", device_serial_number="0",
    ).save_as(out)  # fmt: skip


@pytest.fixture(scope="session")
def write_seg() -> Callable[[list[pydicom.Dataset], np.ndarray, Path], None]:
    return _write_seg
