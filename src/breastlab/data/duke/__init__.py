"""Duke-Breast-Cancer-MRI reader: clinical table, tumour boxes, slice labels, DICOM tree.

Reads the collection exactly as TCIA ships it; the phantom cohort
(:mod:`breastlab.data.phantom`) is written in the same formats.
"""

from breastlab.data.duke.boxes import read_boxes, read_slice_counts
from breastlab.data.duke.clinical import CLINICAL_SPEC, read_clinical, write_clinical_xlsx
from breastlab.data.duke.dicom import Volume, identify_sequence, index_dicom_tree, read_series
from breastlab.data.duke.labels import label_slices, real_slice_table

__all__ = [
    "CLINICAL_SPEC",
    "Volume",
    "identify_sequence",
    "index_dicom_tree",
    "read_series",
    "label_slices",
    "read_boxes",
    "read_clinical",
    "read_slice_counts",
    "real_slice_table",
    "write_clinical_xlsx",
]
