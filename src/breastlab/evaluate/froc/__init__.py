"""Free-response (FROC) reader studies, as RJafroc analyses them.

* :func:`read_jafroc` / :func:`write_jafroc`: the JAFROC workbook (TRUTH, NL, LL sheets) or a CSV folder;
  :func:`froc_from_marks`: one long table of marks in the reader-study vocabulary.
* :func:`froc_fom`: wAFROC, AFROC, wAFROC1, AFROC1, HrAuc, HrSe, HrSp, MaxLLF, MaxNLF per reader and treatment.
* :func:`froc_fom_and_covariance`: their case covariance (closed-form jackknife or bootstrap).
* :func:`or_froc`: Obuchowski-Rockette / Hillis analysis (the code path of :func:`breastlab.evaluate.mrmc.or_hillis`).
* :func:`standalone_vs_readers`: one reader (the AI) against the others in one treatment (RJafroc ``StCadVsRad``).
* :mod:`breastlab.evaluate.froc.curves`: empirical FROC / AFROC / wAFROC curves and plots.
* :mod:`breastlab.evaluate.froc.simulate`: simulated studies for tests and benchmarks.
"""

from breastlab.evaluate.froc._analysis import or_froc
from breastlab.evaluate.froc._data import (
    FROCData,
    froc_from_arrays,
    froc_from_marks,
    froc_from_tables,
    jafroc_tables,
    read_jafroc,
    write_jafroc,
)
from breastlab.evaluate.froc._fom import (
    FROC_COV_METHODS,
    FROC_FOMS,
    bootstrap_foms,
    froc_fom,
    froc_fom_and_covariance,
    jackknife_foms,
)
from breastlab.evaluate.froc._standalone import StandaloneResult, standalone_vs_readers

__all__ = [
    "FROCData",
    "FROC_COV_METHODS",
    "FROC_FOMS",
    "bootstrap_foms",
    "froc_fom",
    "froc_fom_and_covariance",
    "froc_from_arrays",
    "froc_from_marks",
    "froc_from_tables",
    "jackknife_foms",
    "or_froc",
    "standalone_vs_readers",
    "StandaloneResult",
    "jafroc_tables",
    "read_jafroc",
    "write_jafroc",
]
