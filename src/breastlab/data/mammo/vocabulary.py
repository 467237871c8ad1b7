"""Finding vocabulary: every source's labels mapped onto breastlab's four finding classes.

breastlab's finding classes (``FINDING_CLASSES``) are the four BI-RADS mammography
finding categories (ACR BI-RADS Atlas, 5th ed., 2013):

===========================  ==========================================================
class                        source labels
===========================  ==========================================================
``mass``                     CBIS-DDSM ``abnormality type`` mass (any ``mass shape``
                             except the three below, compound shapes such as
                             ``IRREGULAR-ARCHITECTURAL_DISTORTION`` included: a mass is
                             the primary finding); VinDr ``Mass``; mini-MIAS ``CIRC``,
                             ``SPIC``, ``MISC``
``calcification``            CBIS-DDSM calcification; VinDr ``Suspicious Calcification``;
                             mini-MIAS ``CALC``
``asymmetry``                CBIS-DDSM mass rows whose shape is exactly
                             ``FOCAL_ASYMMETRIC_DENSITY`` or ``ASYMMETRIC_BREAST_TISSUE``;
                             VinDr ``Asymmetry``, ``Focal Asymmetry``, ``Global
                             Asymmetry``; mini-MIAS ``ASYM``
``architectural_distortion`` CBIS-DDSM mass rows whose shape is exactly
                             ``ARCHITECTURAL_DISTORTION``; VinDr ``Architectural
                             Distortion``; mini-MIAS ``ARCH``
===========================  ==========================================================

VinDr's associated features (``Skin Thickening``, ``Suspicious Lymph Node``, ``Nipple
Retraction``, ``Skin Retraction``) are none of the four: they are kept as class
``other`` so that nothing is lost; ``No Finding`` gives no finding row. Any label not
listed here is *unknown*: the reader reports it (file and row) and skips that finding.

Image-level label (``IMAGE_LABELS``: negative / recalled-benign / malignant, after
Aboutalib et al., Clin Cancer Res 2018;24:5902-5909) -- the worst finding of the image
decides, with malignant > recalled-benign > negative:

* CBIS-DDSM: pathology ``MALIGNANT`` -> malignant; ``BENIGN`` (worked up, proven
  benign) -> recalled-benign; ``BENIGN_WITHOUT_CALLBACK`` (judged benign at reading,
  no recall; DDSM's definition) -> negative by default (``bwc_label`` changes it).
* VinDr-Mammo (no pathology; the breast-level BI-RADS assessment is used):
  BI-RADS 1-2 -> negative, 3 -> recalled-benign (short-interval follow-up is a
  recall), 4-5 -> malignant (a *proxy*: suspicious, biopsy recommended).
* mini-MIAS: ``NORM`` -> negative, severity ``B`` -> recalled-benign, ``M`` -> malignant.
* breastlab phantom: the truth it was drawn with (same three values).
"""

from __future__ import annotations

import ast
import re

import pandas as pd

FINDING_CLASSES = ("mass", "calcification", "asymmetry", "architectural_distortion")
OTHER = "other"
IMAGE_LABELS = ("negative", "recalled-benign", "malignant")
LABEL_CODE = {name: i for i, name in enumerate(IMAGE_LABELS)}  # 0, 1, 2: order of severity

# ---------------------------------------------------------------------------- CBIS-DDSM
CBIS_PATHOLOGIES = ("MALIGNANT", "BENIGN", "BENIGN_WITHOUT_CALLBACK")
CBIS_ABNORMALITY_TYPES = ("mass", "calcification")
CBIS_SHAPE_CLASS = {
    "ARCHITECTURAL_DISTORTION": "architectural_distortion",
    "FOCAL_ASYMMETRIC_DENSITY": "asymmetry",
    "ASYMMETRIC_BREAST_TISSUE": "asymmetry",
}

# ---------------------------------------------------------------------------- VinDr-Mammo
VINDR_CLASS = {
    "Mass": "mass",
    "Suspicious Calcification": "calcification",
    "Asymmetry": "asymmetry",
    "Focal Asymmetry": "asymmetry",
    "Global Asymmetry": "asymmetry",
    "Architectural Distortion": "architectural_distortion",
    "Skin Thickening": OTHER,
    "Suspicious Lymph Node": OTHER,
    "Nipple Retraction": OTHER,
    "Skin Retraction": OTHER,
}
VINDR_NO_FINDING = "No Finding"
VINDR_BIRADS_LABEL = {1: "negative", 2: "negative", 3: "recalled-benign", 4: "malignant", 5: "malignant"}
VINDR_DENSITY = {"A": 1, "B": 2, "C": 3, "D": 4}

# ---------------------------------------------------------------------------- mini-MIAS
MIAS_CLASS = {
    "CALC": "calcification",
    "CIRC": "mass",
    "SPIC": "mass",
    "MISC": "mass",
    "ARCH": "architectural_distortion",
    "ASYM": "asymmetry",
}
MIAS_SEVERITY_LABEL = {"B": "recalled-benign", "M": "malignant"}


class UnknownLabel(ValueError):
    """A source label outside the documented vocabulary."""


def cbis_finding_class(abnormality_type: str, shape: object = None) -> str:
    """breastlab class of a CBIS-DDSM row from ``abnormality type`` and ``mass shape``."""
    kind = str(abnormality_type).strip().lower()
    if kind not in CBIS_ABNORMALITY_TYPES:
        known = ", ".join(CBIS_ABNORMALITY_TYPES)
        raise UnknownLabel(f"abnormality type {abnormality_type!r}: known types are {known}")
    if kind == "calcification":
        return "calcification"
    return CBIS_SHAPE_CLASS.get(str(shape).strip().upper() if isinstance(shape, str) else "", "mass")


def cbis_image_label(pathology: str, bwc_label: str = "negative") -> str:
    """Image label a CBIS-DDSM finding's pathology implies (see the module rule)."""
    p = str(pathology).strip().upper()
    if p not in CBIS_PATHOLOGIES:
        raise UnknownLabel(f"pathology {pathology!r}: known values are {', '.join(CBIS_PATHOLOGIES)}")
    return {"MALIGNANT": "malignant", "BENIGN": "recalled-benign", "BENIGN_WITHOUT_CALLBACK": bwc_label}[p]


def vindr_categories(text: object) -> list[str]:
    """Parse VinDr's ``finding_categories`` Python-list literal, e.g. ``"['Mass', 'Asymmetry']"``."""
    if not isinstance(text, str) or not text.strip():
        raise UnknownLabel(f"finding_categories {text!r}: expected a list literal such as \"['Mass']\"")
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError) as exc:
        raise UnknownLabel(f"finding_categories {text!r}: not a Python list literal ({exc})") from None
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise UnknownLabel(f"finding_categories {text!r}: expected a list of strings")
    return [v.strip() for v in value]


def vindr_finding_class(category: str) -> str:
    if category not in VINDR_CLASS:
        raise UnknownLabel(
            f"finding category {category!r}: known categories are {', '.join([VINDR_NO_FINDING, *VINDR_CLASS])}"
        )
    return VINDR_CLASS[category]


_BIRADS = re.compile(r"^\s*BI-?RADS\s*([0-6])\s*$", re.IGNORECASE)
_DENSITY = re.compile(r"^\s*DENSITY\s*([A-D])\s*$", re.IGNORECASE)


def parse_birads(text: object) -> int | None:
    """``"BI-RADS 4"`` -> 4; empty -> None; anything else raises :class:`UnknownLabel`."""
    if text is None or (isinstance(text, float) and text != text) or (isinstance(text, str) and not text.strip()):
        return None
    m = _BIRADS.match(str(text))
    if not m:
        raise UnknownLabel(f"BI-RADS {text!r}: expected 'BI-RADS 0' .. 'BI-RADS 6'")
    return int(m.group(1))


def parse_vindr_density(text: object) -> int | None:
    """``"DENSITY C"`` -> 3 (BI-RADS density a-d as 1-4); empty -> None."""
    if text is None or (isinstance(text, float) and text != text) or (isinstance(text, str) and not text.strip()):
        return None
    m = _DENSITY.match(str(text))
    if not m:
        raise UnknownLabel(f"breast_density {text!r}: expected 'DENSITY A' .. 'DENSITY D'")
    return VINDR_DENSITY[m.group(1).upper()]


def vindr_image_label(birads: int | None) -> str | None:
    return None if birads is None else VINDR_BIRADS_LABEL.get(int(birads))


def mias_finding_class(code: str) -> str:
    if code not in MIAS_CLASS:
        raise UnknownLabel(f"class {code!r}: known mini-MIAS classes are {', '.join([*MIAS_CLASS, 'NORM'])}")
    return MIAS_CLASS[code]


def worst_label(labels: pd.Series | list[str]) -> str:
    """The most severe of several image labels (malignant > recalled-benign > negative)."""
    codes = [LABEL_CODE[v] for v in labels if isinstance(v, str)]
    return IMAGE_LABELS[max(codes)] if codes else "negative"
