"""Mammography data: readers (CBIS-DDSM, VinDr-Mammo, mini-MIAS), finding vocabulary, preprocessing.

Every reader returns a :class:`MammoDataset` -- a manifest (one row per image), a
findings table (one row per finding, box in original pixels) and a problems log --
and :func:`breastlab.data.mammo.preprocess.build_mammo_store` turns one into a
breastlab store (ragged uint16 originals or fixed-size crops).
"""

from breastlab.data.mammo._dataset import FINDING_COLUMNS, MANIFEST_COLUMNS, MammoDataset
from breastlab.data.mammo.cbis import read_cbis_ddsm, read_cbis_table
from breastlab.data.mammo.dicom import Mammogram, read_mammogram
from breastlab.data.mammo.mias import read_mias_info, read_mini_mias, read_pgm
from breastlab.data.mammo.vindr import read_vindr_mammo
from breastlab.data.mammo.vocabulary import FINDING_CLASSES, IMAGE_LABELS

__all__ = [
    "FINDING_CLASSES",
    "FINDING_COLUMNS",
    "IMAGE_LABELS",
    "MANIFEST_COLUMNS",
    "MammoDataset",
    "Mammogram",
    "read_cbis_ddsm",
    "read_cbis_table",
    "read_mammogram",
    "read_mias_info",
    "read_mini_mias",
    "read_pgm",
    "read_vindr_mammo",
]
