"""``or_froc``: Obuchowski-Rockette / Hillis significance testing of a FROC study.

The figures of merit and their case covariance come from :mod:`._fom`; everything after
that (OR mean squares, Cov1-Cov3, the Hillis (2007) random-reader random-case F test,
fixed-reader and fixed-case analyses, difference and per-reader CIs) is the same code as the
ROC analysis, :func:`breastlab.evaluate.mrmc.or_hillis_foms`. RJafroc's
``StSignificanceTesting(method = "OR")`` does the same (and its default covariance is the
jackknife); with the jackknife the random-reader results equal Windows JAFROC's DBM-Hillis
output (Hillis 2005 shows the two are the same test).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from breastlab.errors import BreastlabInputError
from breastlab.evaluate.froc._data import FROCData
from breastlab.evaluate.froc._fom import BOUNDED, FROC_FOMS, fom_key, froc_fom_and_covariance
from breastlab.evaluate.mrmc._analysis import ORHillisResult, or_hillis_foms

_DESCRIPTION = {
    "wafroc": "weighted AFROC AUC (lesion weights; non-diseased cases' highest NL rating as false positives)",
    "afroc": "AFROC AUC (every lesion counts once; non-diseased cases' highest NL rating as false positives)",
    "wafroc1": "weighted AFROC1 AUC (highest NL rating of all cases as false positives)",
    "afroc1": "AFROC1 AUC (highest NL rating of all cases as false positives)",
    "hrauc": "highest-rating inferred ROC AUC",
    "hrse": "highest-rating inferred ROC sensitivity (diseased cases with any mark)",
    "hrsp": "highest-rating inferred ROC specificity (non-diseased cases without marks)",
    "maxllf": "lesion localisation fraction at the FROC end point (marked lesions / lesions)",
    "maxnlf": "NL marks per non-diseased case at the FROC end point",
    "maxnlfallcases": "NL marks per case (all cases) at the FROC end point",
}


def or_froc(
    data: FROCData,
    *,
    fom: str = "wafroc",
    cov: str = "jackknife",
    treatments: Sequence[str] | None = None,
    readers: Sequence[str] | None = None,
    alpha: float = 0.05,
    n_boot: int = 200,
    seed: int | None = 0,
) -> ORHillisResult:
    """OR-Hillis analysis of a fully crossed FROC study on any FROC figure of merit.

    Parameters
    ----------
    data : FROCData
        From :func:`read_jafroc` (a JAFROC workbook or CSV folder) or :func:`froc_from_arrays`.
    fom : str
        ``wAFROC`` (default, as RJafroc), ``AFROC``, ``wAFROC1``, ``AFROC1``, ``HrAuc``,
        ``HrSe``, ``HrSp``, ``MaxLLF``, ``MaxNLF``, ``MaxNLFAllCases`` (case-insensitive).
    cov : {"jackknife", "bootstrap"}
        Case covariance of the reader x treatment figures (RJafroc's ``covEstMethod``).
    treatments, readers : sequence, optional
        Which and in what order; differences are first minus second in this order.
    n_boot, seed : bootstrap samples and random seed (``cov="bootstrap"``).

    Returns
    -------
    ORHillisResult
        As :func:`breastlab.evaluate.mrmc.or_hillis`: random-reader random-case (RRRC),
        fixed-reader random-case (FRRC) and random-reader fixed-case (RRFC) tests,
        every treatment difference with its CI, per-reader figures and differences.

    References
    ----------
    Chakraborty DP, Berbaum KS. Observer studies involving detection and localization:
    modeling, analysis, and validation. Med Phys 2004;31:2313-30.
    Hillis SL. A comparison of denominator degrees of freedom methods for multiple observer
    ROC studies. Stat Med 2007;26:596-619.
    Chakraborty DP. Observer Performance Methods for Diagnostic Imaging. CRC Press 2017.
    """
    key = fom_key(fom)
    if treatments is not None or readers is not None:
        data = data.subset(treatments, readers)
    if len(data.treatments) < 2:
        raise BreastlabInputError(
            f"an OR comparison needs at least 2 treatments; the study has {list(data.treatments)}. "
            "For one treatment compare a standalone reader (e.g. the AI) with the others: or_froc_standalone"
        )
    theta, c = froc_fom_and_covariance(data, key, cov, n_boot=n_boot, seed=seed)
    t, r = len(data.treatments), len(data.readers)
    extra = f" ({n_boot} bootstrap samples, seed {seed})" if cov == "bootstrap" else ""
    return or_hillis_foms(
        theta.reshape(t, r),
        c,
        treatments=data.treatments,
        readers=data.readers,
        n_positive=data.n_diseased,
        n_negative=data.n_normal,
        fom=key,
        cov=cov + extra,
        alpha=alpha,
        label=FROC_FOMS[key],
        description=f"{FROC_FOMS[key]}: {_DESCRIPTION[key]}; {data.n_lesions} lesions",
        bounded=key in BOUNDED,
        notes=_notes(data, theta.reshape(t, r)),
    )


def _notes(data: FROCData, foms: np.ndarray) -> list[str]:
    notes = []
    marked = np.isfinite(data.nl).any(axis=(2, 3)) | np.isfinite(data.ll).any(axis=(2, 3))
    for i, j in zip(*np.nonzero(~marked), strict=True):
        notes.append(f"reader {data.readers[j]} made no marks under treatment {data.treatments[i]}")
    return notes
