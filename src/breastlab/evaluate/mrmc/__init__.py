"""Multi-reader multi-case (MRMC) analysis: Obuchowski-Rockette with Hillis's corrections.

* :func:`or_hillis` — the analysis of a long reader-study table (reader,
  treatment, case, truth, rating; the reader-study names ``case_id``,
  ``condition``, ``score`` are recognised too): reader x treatment figures of
  merit (empirical AUC, partial AUC, binormal ML AUC, or sensitivity/specificity
  at a threshold), their case covariance (DeLong or jackknife), OR mean squares,
  Cov1/Cov2/Cov3, variance components, the Hillis (2007) random-reader
  random-case F test and CIs, fixed-reader and fixed-case analyses, per-reader
  differences. Fully crossed, split-plot and cases-nested-within-readers designs.
  Differences are first minus second treatment in the order given.
* :func:`or_hillis_foms` — the same analysis from any figures of merit and their
  covariance (the FROC analysis, :mod:`breastlab.evaluate.froc`, uses it).
* :mod:`breastlab.evaluate.mrmc.power` — power and sample size of a planned study
  from pilot variance components (Hillis, Obuchowski & Berbaum 2011).
* :mod:`breastlab.evaluate.mrmc.simulate` — the Roe & Metz (1997) simulation
  model and batch analysis for size/power.

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
