"""Synthetic phantom cohorts in the formats of the real public data sets.

``make_mri_cohort`` writes a Duke-Breast-Cancer-MRI look-alike (TCIA DICOM tree,
clinical workbook, annotation boxes); ``make_mammo_cohort`` a mammography cohort in the
CBIS-DDSM layout (case CSVs, DICOM) with VinDr-style tables.
"""

from breastlab.data.phantom._render import render_patient, tumour_mask
from breastlab.data.phantom._spec import Anatomy, MRIPatient, Series, Tumour
from breastlab.data.phantom.mammo import make_mammo_cohort
from breastlab.data.phantom.mri import (
    MRICohortPlan,
    annotation_box,
    make_mri_cohort,
    plan_mri_cohort,
    summarize_mri_cohort,
    write_patient,
)

__all__ = [
    "Anatomy",
    "MRICohortPlan",
    "MRIPatient",
    "Series",
    "Tumour",
    "annotation_box",
    "make_mammo_cohort",
    "make_mri_cohort",
    "plan_mri_cohort",
    "render_patient",
    "summarize_mri_cohort",
    "tumour_mask",
    "write_patient",
]
