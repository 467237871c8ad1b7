"""breastlab.anomaly: explainable anomaly detection on breast MRI MIPs (FCDD; Oviedo et al. 2025).

``mip``: subtraction MIPs per breast from the DICOM tree into an array store (labels, projected boxes);
``fcdd``: FCDD network, loss, Gaussian receptive-field upsampling, HSC, confetti noise;
``train``: patient-grouped k-fold training of fcdd / bce / hsc; ``evaluate``: breast-level AUC
(balanced, low prevalence), triage, pixel AUC; ``scores``: the same figures of any model's per-breast
scores file and ``ID.npy`` heatmaps; ``report``: the HTML anomaly section (also rebuilt from
the folder ``breastlab anomaly evaluate`` writes: ``section_from_dir``).
Submodules are imported lazily (MIP workers do not load torch).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "MipSettings": "mip", "build_mip_store": "mip", "exam_mips": "mip", "contact_sheet": "mip",
    "find_midline": "mip", "breast_labels": "mip",
    "FCDDNet": "fcdd", "fcdd_loss": "fcdd", "receptive_upsample": "fcdd", "hsc_loss": "fcdd",
    "AnomalyConfig": "train", "train_anomaly": "train", "patient_folds": "train",
    "evaluate_anomaly_run": "evaluate", "comparison_table": "evaluate", "pixel_auc": "evaluate",
    "low_prevalence_draws": "evaluate", "mean_roc": "evaluate",
    "evaluate_breast_scores": "scores", "read_breast_scores": "scores", "heatmap_pixel_aucs": "scores",
    "write_anomaly_report": "report", "anomaly_section": "report", "write_anomaly_section": "report",
    "section_from_dir": "report",
}  # fmt: skip
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"breastlab.anomaly.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'breastlab.anomaly' has no attribute {name!r}")
