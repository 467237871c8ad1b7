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

:func:`simulate_aided_reader_study` keeps the readers and replaces the fixed gain by a real
model's case scores: aided, a reader of group g adds ``reliance[g] * z_i`` to the latent,
where ``z_i`` are the model's scores as normal scores (van der Waerden: Phi^-1 of the case's
rank / (n + 1)), so that the aided readers gain what the model knows beyond them -- and lose
when its scores are noise. The model's errors are independent of the case effect c_i (what
makes a case hard for the readers does not make it hard for the model).

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
    _check_design(conditions, score)
    if n_cases < 4 or not 0 < prevalence < 1:
        raise BreastlabInputError("need n_cases >= 4 and 0 < prevalence < 1")
    model_gain = _per_group(groups, model_gain, (0.6, 0.3, 0.2), "model_gain")
    rng = np.random.default_rng(seed)
    n_pos = max(2, int(round(prevalence * n_cases)))
    truth = rng.permutation(np.r_[np.ones(n_pos, int), np.zeros(n_cases - n_pos, int)])
    case_ids = np.array([f"case{i + 1:04d}" for i in range(n_cases)])
    finding = np.where(truth == 1, rng.choice(FINDINGS, size=n_cases, p=FINDING_P), "")
    cases = pd.DataFrame({"case_id": case_ids, "truth": truth, "finding": finding})
    frames, case_effect = _readings(
        rng,
        cases,
        readers_per_group,
        groups,
        conditions,
        skill,
        {g: model_gain[g] * truth for g in groups},
        time_s,
        time_factor_aided,
        score,
        sigma_case,
        sigma_reader,
        rho,
    )
    if ai_skill is not None:
        latent = ai_skill * truth + case_effect + rng.normal(0.0, 1.0, n_cases)
        frames.append(_ai_rows(cases, np.round(1.0 / (1.0 + np.exp(-(1.2 * latent - 0.8))), 4)))
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def simulate_aided_reader_study(
    ai_cases: pd.DataFrame,
    readers_per_group: int = 3,
    groups: Sequence[str] = ("junior", "senior"),
    conditions: Sequence[str] = ("unaided", "aided"),
    skill: Mapping[str, float] | None = None,
    reliance: Mapping[str, float] | None = None,
    time_s: Mapping[str, float] | None = None,
    time_factor_aided: float = 0.75,
    score: str = "birads",
    sigma_case: float = 1.0,
    sigma_reader: float = 0.2,
    rho: float = 0.5,
    seed: int = 0,
    include_ai: bool = True,
) -> pd.DataFrame:
    """Simulated readers of ``ai_cases``, unaided and aided by the model that scored them (module notes).

    ``ai_cases``: one row per case with ``case_id``, ``truth`` (0/1), ``finding`` (empty for
    cases without one) and ``score`` (the model's case score, higher = more suspicious), e.g.
    :func:`breastlab.detect.marks.reader_study_rows` of a detector's predictions. Readers as in
    :func:`simulate_reader_study` (``skill``: juniors 1.2, seniors 2.0); aided, a reader adds
    ``reliance[g]`` (juniors 0.8, seniors 0.5) times the model's normal scores. ``include_ai``
    adds the model itself as the standalone AI reader (its own scores, reader_group ``"AI"``).
    Returns the long table of :data:`COLUMNS`, ready for :func:`reader_study`.
    """
    _check_design(conditions, score)
    missing = [c for c in ("case_id", "truth", "finding", "score") if c not in ai_cases.columns]
    if missing:
        raise BreastlabInputError(f"ai_cases lacks column(s) {missing}; needs case_id, truth, finding, score")
    cases = ai_cases[["case_id", "truth", "finding", "score"]].reset_index(drop=True)
    if cases["case_id"].duplicated().any():
        dup = cases.loc[cases["case_id"].duplicated(), "case_id"].iloc[0]
        raise BreastlabInputError(f"ai_cases: case {dup!r} appears more than once; give one row per case")
    truth = pd.to_numeric(cases["truth"], errors="coerce")
    if not truth.isin([0, 1]).all() or truth.nunique() < 2:
        raise BreastlabInputError("ai_cases: truth must be 0 or 1, with cases of both kinds")
    ai_score = pd.to_numeric(cases["score"], errors="coerce")
    if not np.isfinite(ai_score.to_numpy(float)).all():
        raise BreastlabInputError("ai_cases: every case needs a finite model score")
    cases = cases.assign(truth=truth.astype(int), finding=cases["finding"].fillna("").astype(str))
    z = _normal_scores(ai_score.to_numpy(float))
    reliance = _per_group(groups, reliance, (0.8, 0.5, 0.3), "reliance")
    frames, _ = _readings(
        np.random.default_rng(seed),
        cases,
        readers_per_group,
        groups,
        conditions,
        skill,
        {g: reliance[g] * z for g in groups},
        time_s,
        time_factor_aided,
        score,
        sigma_case,
        sigma_reader,
        rho,
    )
    if include_ai:
        frames.append(_ai_rows(cases, ai_score.to_numpy(float)))
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def _check_design(conditions: Sequence[str], score: str) -> None:
    if len(conditions) != 2:
        raise BreastlabInputError(f"conditions must name two conditions (unaided, aided), got {list(conditions)}")
    if score not in ("birads", "probability"):
        raise BreastlabInputError(f"score must be 'birads' or 'probability', got {score!r}")


def _per_group(
    groups: Sequence[str], given: Mapping[str, float] | None, defaults: Sequence[float], name: str
) -> dict[str, float]:
    """One value per reader group: ``given`` or the defaults in group order; a group without one is an error."""
    table = dict(zip(groups, defaults[: len(groups)], strict=False)) if given is None else dict(given)
    missing = [g for g in groups if g not in table]
    if missing:
        raise BreastlabInputError(f"{name} has no value for group(s) {missing}")
    return table


def _normal_scores(values: np.ndarray) -> np.ndarray:
    """Van der Waerden normal scores: Phi^-1(rank / (n + 1)), ties sharing their mean rank."""
    from scipy.stats import norm, rankdata

    return norm.ppf(rankdata(values) / (len(values) + 1))


def _readings(
    rng: np.random.Generator,
    cases: pd.DataFrame,
    readers_per_group: int,
    groups: Sequence[str],
    conditions: Sequence[str],
    skill: Mapping[str, float] | None,
    aided_shift: Mapping[str, np.ndarray],
    time_s: Mapping[str, float] | None,
    time_factor_aided: float,
    score: str,
    sigma_case: float,
    sigma_reader: float,
    rho: float,
) -> tuple[list[pd.DataFrame], np.ndarray]:
    """Every reader's readings of ``cases`` in both conditions (module notes) and the case effects drawn.

    ``aided_shift[g]``: what the latent of group g's readers gains per case in the second condition;
    ``skill`` and ``time_s`` per group, None for the defaults (separation 1.2 / 2.0 / 2.6, 90 / 60 / 45 s)."""
    skill = _per_group(groups, skill, (1.2, 2.0, 2.6), "skill")
    time_s = _per_group(groups, time_s, (90.0, 60.0, 45.0), "time_s")
    n_cases = len(cases)
    truth = cases["truth"].to_numpy(int)
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
                latent = skill[g] * truth + case_effect + bias + err + (aided_shift[g] if k == 1 else 0.0)
                if score == "birads":
                    s = 1 + np.searchsorted(np.asarray(BIRADS_CUTS), latent)
                else:
                    s = np.round(1.0 / (1.0 + np.exp(-(1.2 * latent - 0.8))), 4)
                t = time_s[g] * reader_speed * case_time * np.exp(rng.normal(0.0, 0.3, n_cases))
                t *= time_factor_aided if k == 1 else 1.0
                frames.append(
                    cases[["case_id", "truth", "finding"]].assign(
                        reader=reader, reader_group=g, condition=cond, score=s, reading_time_s=np.round(t, 1)
                    )
                )
    return frames, case_effect


def _ai_rows(cases: pd.DataFrame, scores: np.ndarray) -> pd.DataFrame:
    """The standalone AI reader's rows (reader and reader_group "AI", no reading time)."""
    return cases[["case_id", "truth", "finding"]].assign(
        reader="AI", reader_group="AI", condition="standalone", score=scores, reading_time_s=np.nan
    )
