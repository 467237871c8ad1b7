"""Multi-reader multi-case (MRMC) analysis: Obuchowski-Rockette with Hillis's corrections.

* :func:`or_hillis` — the analysis of a long reader-study table (reader,
  treatment, case, truth, rating; fully crossed): reader x treatment figures of
  merit (empirical AUC, or sensitivity/specificity at a threshold), their case
  covariance (DeLong or jackknife), OR mean squares, Cov1/Cov2/Cov3, variance
  components, the Hillis (2007) random-reader random-case F test and CIs,
  fixed-reader and fixed-case analyses, per-reader differences.
* :mod:`breastlab.evaluate.mrmc.simulate` — the Roe & Metz (1997) simulation
  model and batch analysis for size/power (sample-size planning).

Equations and references are in the docstrings of :mod:`._or` and :mod:`._fom`.
"""

from breastlab.evaluate.mrmc._analysis import (
    MRMCTest,
    ORComponents,
    ORHillisResult,
    or_hillis,
    or_hillis_arrays,
    or_hillis_foms,
)
from breastlab.evaluate.mrmc._design import (
    COLUMN_ALIASES,
    MRMCData,
    mrmc_arrays,
    mrmc_frame,
    read_reader_study,
    resolve_columns,
)
from breastlab.evaluate.mrmc._fom import COV_METHODS, FOMS, figure_of_merit, fom_and_covariance
from breastlab.evaluate.mrmc._or import ORMoments, or_moments
from breastlab.evaluate.mrmc._reader_study import (
    MRMC_DISPLAY_COLUMNS,
    MRMC_TABLE_COLUMNS,
    or_hillis_table,
)

__all__ = [
    "COLUMN_ALIASES",
    "COV_METHODS",
    "MRMC_DISPLAY_COLUMNS",
    "MRMC_TABLE_COLUMNS",
    "FOMS",
    "MRMCData",
    "MRMCTest",
    "ORComponents",
    "ORHillisResult",
    "ORMoments",
    "figure_of_merit",
    "fom_and_covariance",
    "mrmc_arrays",
    "mrmc_frame",
    "or_hillis",
    "or_hillis_arrays",
    "or_hillis_foms",
    "or_hillis_table",
    "or_moments",
    "read_reader_study",
    "resolve_columns",
]
