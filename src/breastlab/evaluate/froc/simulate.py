r"""Simulated FROC reader studies (a simplified radiological search model) for tests and benchmarks.

Each reader x treatment reading of a case yields, as in Chakraborty's radiological search
model (RSM; Chakraborty 2006, Phys Med Biol 51:3449), a Poisson number (mean
:math:`\lambda`) of non-lesion localisations with ratings :math:`N(0, 1)`, and finds each
lesion with probability :math:`\nu`, rating it :math:`N(\mu_{ij}, 1)`;
:math:`\mu_{ij} = \mu + \delta_i + \text{reader and treatment-by-reader effects}`
(normal, standard deviations ``sd_reader`` and ``sd_tr``). Marks below the reporting
threshold ``zeta`` are not reported (rated minus infinity). Ratings are rounded to
``decimals`` places so that ties occur as with real rating scales.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from breastlab.evaluate.froc._data import FROCData, froc_from_arrays


def simulate_froc(
    n_treatments: int = 2,
    n_readers: int = 4,
    n_normal: int = 100,
    n_diseased: int = 100,
    *,
    mu: float = 1.5,
    effects: Sequence[float] | None = None,
    lam: float = 1.0,
    nu: float = 0.8,
    zeta: float = -1.0,
    max_lesions: int = 3,
    sd_reader: float = 0.2,
    sd_tr: float = 0.1,
    max_nl: int = 4,
    decimals: int = 1,
    seed: int | None = 0,
) -> FROCData:
    """A fully crossed FROC study (:class:`FROCData`); ``effects`` (one per treatment) shift ``mu``."""
    rng = np.random.default_rng(seed)
    t, r, k2 = n_treatments, n_readers, n_diseased
    n_all = n_normal + n_diseased
    shift = np.zeros(t) if effects is None else np.asarray(effects, dtype=float)
    mu_ij = mu + shift[:, None] + rng.normal(0, sd_reader, size=(1, r)) + rng.normal(0, sd_tr, size=(t, r))
    n_nl = np.minimum(rng.poisson(lam, size=(t, r, n_all)), max_nl)
    nl = rng.normal(0, 1, size=(t, r, n_all, max_nl))
    nl = np.where(np.arange(max_nl) < n_nl[..., None], nl, -np.inf)
    per = rng.integers(1, max_lesions + 1, size=k2)
    found = rng.random((t, r, k2, max_lesions)) < nu
    ll = rng.normal(0, 1, size=(t, r, k2, max_lesions)) + mu_ij[..., None, None]
    ll = np.where(found & (np.arange(max_lesions)[None, :] < per[:, None]), ll, -np.inf)
    nl = np.where(nl >= zeta, np.round(nl, decimals), -np.inf)
    ll = np.where(ll >= zeta, np.round(ll, decimals), -np.inf)
    return froc_from_arrays(
        nl,
        ll,
        per,
        treatments=[f"T{i + 1}" for i in range(t)],
        readers=[f"R{j + 1}" for j in range(r)],
    )
