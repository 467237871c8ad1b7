"""Long reader-study table -> fully crossed rating array.

A multi-reader multi-case (MRMC) study in long form has one row per reading:
reader, treatment (modality / condition), case, truth (0/1) and rating
(higher = more suspicious). The OR analysis here needs the fully crossed
(factorial) design: every reader reads every case under every treatment,
exactly once, or the split-plot designs of Hillis (2014): reader groups,
each reading its own cases under every treatment (cases nested within readers
when each group is one reader). Any other pattern of missing readings gets a
:class:`~breastlab.errors.BreastlabInputError` naming the missing reader x case cells.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from breastlab.errors import BreastlabInputError


@dataclasses.dataclass(frozen=True)
class MRMCData:
    """A fully crossed study as arrays.

    ``ratings[i, j, k]`` is reader ``readers[j]``'s rating of case ``cases[k]``
    under treatment ``treatments[i]``; ``truth[k]`` is True for diseased cases.
    """

    ratings: np.ndarray  # (t, r, N) float64; NaN where a reader did not read a case (split-plot designs)
    truth: np.ndarray  # (N,) bool
    treatments: tuple[str, ...]
    readers: tuple[str, ...]
    cases: tuple[str, ...]
    reader_groups: np.ndarray | None = None  # (r,) case-set group of each reader; None: fully crossed
    design: str = "fully crossed"

    @property
    def n_positive(self) -> int:
        return int(self.truth.sum())

    @property
    def n_negative(self) -> int:
        return int((~self.truth).sum())


def _levels(values: pd.Series, order: Sequence | None, column: str) -> tuple[np.ndarray, list]:
    """Integer codes and level labels; ``order`` fixes (and may subset-check) the level order."""
    if order is None:
        codes, uniques = pd.factorize(values, sort=True)
        return codes, pd.Index(uniques).tolist()  # plain Python values: messages show 3, not np.int64(3)
    order = list(order)
    if len(set(map(str, order))) != len(order):
        raise BreastlabInputError(f"{column}: the order {order!r} lists a level twice")
    as_str = values.astype(str)
    lookup = {str(v): k for k, v in enumerate(order)}
    codes = as_str.map(lookup)
    if codes.isna().any():
        extra = sorted(set(as_str[codes.isna()]))[:5]
        raise BreastlabInputError(f"column {column!r} has levels {extra} not in the given order {order!r}")
    return codes.to_numpy(dtype=np.int64), order


#: other names of the long-table columns, tried (in this order) when a default name is absent: the
#: reader-study vocabulary (``case_id``, ``condition``, ``score``; breastlab.evaluate.stats.reader_study)
#: and the JAFROC one (``ReaderID``, ``ModalityID``, ``CaseID``), so one table feeds reader-study, mrmc and froc
COLUMN_ALIASES = {
    "reader": ("reader", "reader_id", "ReaderID"),
    "treatment": ("treatment", "condition", "modality", "ModalityID"),
    "case": ("case", "case_id", "CaseID"),
    "truth": ("truth",),
    "rating": ("rating", "score"),
}


def resolve_columns(data: pd.DataFrame, **given: str) -> dict[str, str]:
    """The column name to use for each role: the given one, or for a default name that is absent its first alias
    present in ``data`` (:data:`COLUMN_ALIASES`)."""
    out, missing = {}, []
    for role, name in given.items():
        if name in data.columns:
            out[role] = name
            continue
        alias = next((a for a in COLUMN_ALIASES[role] if a in data.columns), None) if name == role else None
        if alias is None:
            missing.append(name if name != role else "/".join(COLUMN_ALIASES[role]))
        out[role] = alias
    if missing:
        raise BreastlabInputError(
            f"reader-study table lacks column(s) {missing}; it has {list(data.columns)}. "
            "Name them with reader=, treatment=, case=, truth=, rating= (CLI: --reader ... --rating)."
        )
    return out


def mrmc_arrays(
    data: pd.DataFrame,
    *,
    reader: str = "reader",
    treatment: str = "treatment",
    case: str = "case",
    truth: str = "truth",
    rating: str = "rating",
    treatments: Sequence | None = None,
    readers: Sequence | None = None,
) -> MRMCData:
    """Validate a long reader-study table and pivot it to a (t, r, N) array.

    ``treatments`` / ``readers`` fix the order of levels (default: sorted);
    comparisons are reported as first minus second. Rows must be unique per
    (reader, treatment, case); truth must be 0/1 (or boolean) and constant
    within a case; ratings must be finite numbers.
    """
    if not isinstance(data, pd.DataFrame):
        raise BreastlabInputError(f"data must be a pandas DataFrame in long form, got {type(data).__name__}")
    cols = resolve_columns(data, reader=reader, treatment=treatment, case=case, truth=truth, rating=rating)
    reader, treatment, case, truth, rating = (cols[k] for k in ("reader", "treatment", "case", "truth", "rating"))
    if len(data) == 0:
        raise BreastlabInputError("reader-study table is empty")
    df = data[list(cols.values())]
    for name in (reader, treatment, case):
        if df[name].isna().any():
            raise BreastlabInputError(f"column {name!r} has {int(df[name].isna().sum())} missing value(s)")

    score = pd.to_numeric(df[rating], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(score)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise BreastlabInputError(
            f"column {rating!r} must hold finite numbers; row {row} has {df[rating].iloc[row]!r} "
            f"({int(bad.sum())} bad row(s))"
        )
    y = _truth_values(df[truth], truth)

    t_code, t_levels = _levels(df[treatment], treatments, treatment)
    r_code, r_levels = _levels(df[reader], readers, reader)
    c_code, c_levels = pd.factorize(df[case], sort=True)
    c_levels = pd.Index(c_levels).tolist()
    t, r, n = len(t_levels), len(r_levels), len(c_levels)

    cell = (t_code * r + r_code) * n + c_code
    counts = np.bincount(cell, minlength=t * r * n)
    if (counts > 1).any():
        k = int(np.flatnonzero(counts > 1)[0])
        i, j, c = k // (r * n), (k // n) % r, k % n
        raise BreastlabInputError(
            f"reader {r_levels[j]!r} rated case {c_levels[c]!r} under treatment {t_levels[i]!r} "
            f"{int(counts[k])} times; each (reader, treatment, case) must appear once"
        )
    groups, design = _design(counts.reshape(t, r, n) > 0, t_levels, r_levels, list(c_levels))

    ratings = np.full(t * r * n, np.nan)
    ratings[cell] = score
    case_truth = np.full(n, -1, dtype=np.int8)
    case_truth[c_code] = y
    if (case_truth[c_code] != y).any():
        c = int(c_code[np.flatnonzero(case_truth[c_code] != y)[0]])
        raise BreastlabInputError(f"case {c_levels[c]!r} has different {truth!r} values in different rows")
    positive = case_truth.astype(bool)
    if positive.all() or not positive.any():
        raise BreastlabInputError(
            f"the study needs both diseased and non-diseased cases; all {n} cases have {truth} = {int(positive[0])}"
        )
    if groups is not None:
        for g in np.unique(groups):
            sub = positive[(counts.reshape(t, r, n) > 0)[0, np.flatnonzero(groups == g)[0]]]
            if sub.all() or not sub.any():
                names = [str(r_levels[j]) for j in np.flatnonzero(groups == g)]
                raise BreastlabInputError(
                    f"readers {names} read only {'diseased' if sub.all() else 'non-diseased'} cases; each reader "
                    "group of a split-plot study needs diseased and non-diseased cases"
                )
    return MRMCData(
        ratings=ratings.reshape(t, r, n),
        truth=positive,
        treatments=tuple(map(str, t_levels)),
        readers=tuple(map(str, r_levels)),
        cases=tuple(map(str, c_levels)),
        reader_groups=groups,
        design=design,
    )


def _design(present: np.ndarray, t_levels, r_levels, c_levels) -> tuple[np.ndarray | None, str]:
    """Reader groups of a fully crossed, split-plot or cases-within-readers design; an error naming missing cells.

    Split-plot (Hillis 2014): readers fall into groups, each group reads its own cases (no case
    is read by two groups), every reader of a group reads all its cases under every treatment.
    One reader per group is the design MRMCaov calls cases nested within readers.
    """
    t, r, n = present.shape
    if present.all():
        return None, "fully crossed"

    def missing_cells(cells: list[tuple[int, int, int]]) -> str:
        shown = ", ".join(f"reader {r_levels[j]!r} x case {c_levels[c]!r} ({t_levels[i]!r})" for i, j, c in cells[:5])
        return shown + (f" and {len(cells) - 5} more" if len(cells) > 5 else "")

    # every reader reads the same cases under every treatment
    uneven = present != present.any(axis=0, keepdims=True)
    if uneven.any():
        cells = [tuple(map(int, x)) for x in np.argwhere(uneven)]
        raise BreastlabInputError(
            f"readers must read their cases under every treatment; {len(cells)} reading(s) missing: "
            f"{missing_cells(cells)}"
        )
    reads = present[0]  # (r, n)
    keys = {}
    groups = np.array([keys.setdefault(reads[j].tobytes(), len(keys)) for j in range(r)])
    sets = np.array([reads[np.flatnonzero(groups == g)[0]] for g in range(len(keys))])  # (G, n)
    shared = sets.sum(axis=0) > 1
    if shared.any():
        # readers share some cases but not all: name what the crossed version of the overlap lacks
        c = int(np.flatnonzero(shared)[0])
        readers_c = np.flatnonzero(reads[:, c])
        union = reads[readers_c].any(axis=0)
        cells = [(0, int(j), int(k)) for j in readers_c for k in np.flatnonzero(union & ~reads[j])]
        raise BreastlabInputError(
            "the design is none of fully crossed, split-plot (reader groups with their own cases) or cases nested "
            f"within readers: readers {[str(r_levels[j]) for j in readers_c]} share case {c_levels[c]!r} but not "
            f"all their cases; {len(cells)} reader x case cell(s) missing for a crossed block: {missing_cells(cells)}"
        )
    n_groups = len(keys)
    if n_groups == r:
        return groups, "cases nested within readers"
    return groups, f"split-plot ({n_groups} reader groups, each with its own cases)"


def _truth_values(series: pd.Series, column: str) -> np.ndarray:
    values = pd.to_numeric(series.astype("object").replace({True: 1, False: 0}), errors="coerce")
    ok = values.isin([0, 1])
    if not ok.all():
        row = int(np.flatnonzero(~ok.to_numpy())[0])
        raise BreastlabInputError(f"column {column!r} must be 0/1 (1 = diseased); row {row} has {series.iloc[row]!r}")
    return values.to_numpy(dtype=np.int8)


def mrmc_frame(
    ratings: np.ndarray,
    truth: np.ndarray,
    treatments: Sequence | None = None,
    readers: Sequence | None = None,
) -> pd.DataFrame:
    """The inverse of :func:`mrmc_arrays`: a (t, r, N) array as a long table."""
    ratings = np.asarray(ratings, dtype=np.float64)
    t, r, n = ratings.shape
    treatments = list(treatments) if treatments is not None else [str(i + 1) for i in range(t)]
    readers = list(readers) if readers is not None else [str(j + 1) for j in range(r)]
    ii, jj, kk = np.meshgrid(np.arange(t), np.arange(r), np.arange(n), indexing="ij")
    return pd.DataFrame(
        {
            "reader": np.asarray(readers, dtype=object)[jj.ravel()],
            "treatment": np.asarray(treatments, dtype=object)[ii.ravel()],
            "case": kk.ravel() + 1,
            "truth": np.asarray(truth, dtype=np.int64)[kk.ravel()],
            "rating": ratings.ravel(),
        }
    )


def read_reader_study(path) -> pd.DataFrame:
    """Read a long reader-study table (.csv, .tsv or .parquet); leading lines starting with '#' are comments."""
    import io
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise BreastlabInputError(f"reader-study table {path} does not exist")
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    from breastlab.data._csv import decode_utf8

    text = decode_utf8(path.read_bytes(), path, "reader-study table")  # another encoding: refused, named
    skip = 0
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        skip += 1
    sep = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    try:
        return pd.read_csv(io.StringIO(text), skiprows=skip, sep=sep)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise BreastlabInputError(f"cannot read reader-study table {path}: {exc}") from exc
