"""Breast MIPs for the anomaly study: built by :mod:`breastlab.data.mip` (a store builder of the
data layer), re-exported here where the anomaly study and its command use them."""

from __future__ import annotations

from breastlab.data.mip import (
    BreastCounts,
    BreastImage,
    ExamMips,
    MipSettings,
    breast_counts,
    breast_labels,
    breast_mips,
    build_mip_store,
    contact_sheet,
    exam_mips,
    find_midline,
    subtraction_mips,
    subtraction_volume,
)

__all__ = [
    "BreastCounts", "BreastImage", "ExamMips", "MipSettings", "breast_counts", "breast_labels", "breast_mips",
    "build_mip_store", "contact_sheet", "exam_mips", "find_midline", "subtraction_mips", "subtraction_volume",
]  # fmt: skip
