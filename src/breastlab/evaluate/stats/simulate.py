"""Synthetic reader-study data: readers of two skill levels, with and without an assisting model.

A binormal latent-variable model in the spirit of Roe & Metz (1997): reader r
of group g reading case i in condition k sees

    L = d[g, k] * truth_i + c_i + b_r + e_rik,      c_i ~ N(0, sigma_case^2), b_r ~ N(0, sigma_reader^2)

where ``d[g, unaided] = skill[g]`` and ``d[g, aided] = skill[g] + model_gain[g]``;
the case effect c_i correlates all readings of a case, and the reader's errors
in the two conditions correlate with ``rho`` (e_aided = rho e_unaided + sqrt(1 - rho^2) e').
The AUC of one reading is about ``Phi(d / sqrt(2 (1 + sigma_case^2 + sigma_reader^2)))``.
Scores are BI-RADS categories 1-5 (latent cut at ``BIRADS_CUTS``) or probabilities
(logistic of the latent). Reading times are log-normal around ``time_s[g]``,
multiplied by ``time_factor_aided`` with the model.

Roe CA, Metz CE. Dorfman-Berbaum-Metz method for statistical analysis of
multireader, multimodality receiver operating characteristic data: validation
with computer simulation. Acad Radiol 1997;4:298-303.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from breastlab.errors import BreastlabInputError

FINDINGS = ("mass", "calcification", "asymmetry", "distortion")
FINDING_P = (0.45, 0.30, 0.15, 0.10)
BIRADS_CUTS = (-0.6, 0.2, 0.9, 1.7)  # latent cut points between BI-RADS 1|2|3|4|5
COLUMNS = ["case_id", "truth", "reader", "reader_group", "condition", "finding", "score", "reading_time_s"]


def simulate_reader_study(
    n_cases: int = 120,
    prevalence: float = 0.4,
    readers_per_group: int = 3,
    groups: Sequence[str] = ("junior", "senior"),
    conditions: Sequence[str] = ("unaided", "aided"),
    skill: Mapping[str, float] | None = None,
    model_gain: Mapping[str, float] | None = None,
    time_s: Mapping[str, float] | None = None,
    time_factor_aided: float = 0.75,
    score: str = "birads",
    sigma_case: float = 1.0,
    sigma_reader: float = 0.2,
    rho: float = 0.5,
    seed: int = 0,
    ai_skill: float | None = None,
) -> pd.DataFrame:
    """Long reader-study table (one row per reading), columns :data:`COLUMNS`.

    Defaults: juniors separate classes by ``d = 1.2`` and seniors by ``2.0`` (one
    reading's AUC about 0.72 and 0.84); the model adds 0.6 (junior) and 0.3 (senior); reading takes about 90 s (junior)
    and 60 s (senior), 25 % less with the model. ``score="birads"`` gives
    categories 1-5, ``"probability"`` values in (0, 1).

    Findings (mass, calcification, ...) are drawn for the positive cases only; negative
    cases have an empty finding and serve as the controls of every finding type, as the
    per-finding analysis of :func:`reader_study` expects. ``ai_skill`` (e.g. 2.2) adds a
    standalone AI reader (reader and reader_group ``"AI"``, condition ``"standalone"``,
    probability scores, no reading time).
    """
    if len(conditions) != 2:
        raise BreastlabInputError(f"conditions must name two conditions (unaided, aided), got {list(conditions)}")
    if score not in ("birads", "probability"):
        raise BreastlabInputError(f"score must be 'birads' or 'probability', got {score!r}")
    if n_cases < 4 or not 0 < prevalence < 1:
        raise BreastlabInputError("need n_cases >= 4 and 0 < prevalence < 1")
    skill = dict(zip(groups, (1.2, 2.0, 2.6)[: len(groups)], strict=False)) if skill is None else dict(skill)
    model_gain = dict(zip(groups, (0.6, 0.3, 0.2)[: len(groups)], strict=False)) if model_gain is None else model_gain
    time_s = dict(zip(groups, (90.0, 60.0, 45.0)[: len(groups)], strict=False)) if time_s is None else dict(time_s)
    for name, table in (("skill", skill), ("model_gain", model_gain), ("time_s", time_s)):
        missing = [g for g in groups if g not in table]
        if missing:
            raise BreastlabInputError(f"{name} has no value for group(s) {missing}")
    rng = np.random.default_rng(seed)
    n_pos = max(2, int(round(prevalence * n_cases)))
    truth = rng.permutation(np.r_[np.ones(n_pos, int), np.zeros(n_cases - n_pos, int)])
    case_ids = np.array([f"case{i + 1:04d}" for i in range(n_cases)])
    finding = np.where(truth == 1, rng.choice(FINDINGS, size=n_cases, p=FINDING_P), "")
    case_effect = rng.normal(0.0, sigma_case, n_cases)
    case_time = np.exp(rng.normal(0.0, 0.2, n_cases))  # some cases take longer for everyone
    frames = []
    for g in groups:
        for r in range(readers_per_group):
            reader = f"{g}_{r + 1}"
            bias = rng.normal(0.0, sigma_reader)
            e0 = rng.normal(size=n_cases)
            e1 = rho * e0 + np.sqrt(1 - rho**2) * rng.normal(size=n_cases)
            reader_speed = np.exp(rng.normal(0.0, 0.15))
            for k, (cond, err) in enumerate(zip(conditions, (e0, e1), strict=True)):
                d = skill[g] + (model_gain[g] if k == 1 else 0.0)
                latent = d * truth + case_effect + bias + err
                if score == "birads":
                    s = 1 + np.searchsorted(np.asarray(BIRADS_CUTS), latent)
                else:
                    s = np.round(1.0 / (1.0 + np.exp(-(1.2 * latent - 0.8))), 4)
                t = time_s[g] * reader_speed * case_time * np.exp(rng.normal(0.0, 0.3, n_cases))
                t *= time_factor_aided if k == 1 else 1.0
                frames.append(
                    pd.DataFrame(
                        {
                            "case_id": case_ids,
                            "truth": truth,
                            "reader": reader,
                            "reader_group": g,
                            "condition": cond,
                            "finding": finding,
                            "score": s,
                            "reading_time_s": np.round(t, 1),
                        }
                    )
                )
    if ai_skill is not None:
        latent = ai_skill * truth + case_effect + rng.normal(0.0, 1.0, n_cases)
        frames.append(
            pd.DataFrame(
                {
                    "case_id": case_ids,
                    "truth": truth,
                    "reader": "AI",
                    "reader_group": "AI",
                    "condition": "standalone",
                    "finding": finding,
                    "score": np.round(1.0 / (1.0 + np.exp(-(1.2 * latent - 0.8))), 4),
                    "reading_time_s": np.nan,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[COLUMNS]
