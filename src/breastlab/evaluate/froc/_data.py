"""Free-response (FROC) reader-study data: the JAFROC workbook, a CSV folder, arrays.

The JAFROC format (Windows JAFROC and RJafroc's ``DfReadDataFile``) has three tables:

* ``TRUTH``: ``CaseID``, ``LesionID``, ``Weight``; a case without lesions has one row
  with LesionID 0 and Weight 0; a diseased case has one row per lesion (LesionID 1, 2, ...).
  RJafroc's newer layout adds ``ReaderID``, ``ModalityID`` (comma-separated lists of
  the readers and modalities that read the case) and ``Paradigm`` (first row the data
  type, FROC or ROC; second row the design, FCTRL / CROSSED).
* ``NL`` (older name ``FP``): ``ReaderID``, ``ModalityID``, ``CaseID``, ``NL_Rating``
  (``FP_Rating``): one row per non-lesion localisation (a mark that hits no lesion).
* ``LL`` (older name ``TP``): ``ReaderID``, ``ModalityID``, ``CaseID``, ``LesionID``,
  ``LL_Rating`` (``TP_Rating``): one row per lesion localisation.

Sheet, file and column names are matched case-insensitively. Following RJafroc,
lesion weights of 0 on a diseased case mean equal weights, otherwise a case's weights
must sum to 1; an unmarked case or lesion is rated minus infinity; higher ratings
mean more confidence.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from breastlab.errors import BreastlabInputError

_SHEETS = {"truth": ("truth",), "nl": ("nl", "fp"), "ll": ("ll", "tp")}
_RATING = {"nl": ("nl_rating", "fp_rating"), "ll": ("ll_rating", "tp_rating")}
_KEYS = {
    "truth": ("caseid", "lesionid", "weight"),
    "nl": ("readerid", "modalityid", "caseid"),
    "ll": ("readerid", "modalityid", "caseid", "lesionid"),
}


@dataclasses.dataclass(frozen=True)
class FROCData:
    """A fully crossed FROC study as padded arrays (RJafroc's layout).

    ``nl[i, j, k, :]``: the NL ratings of reader ``readers[j]`` on case ``cases[k]``
    under treatment ``treatments[i]`` (minus infinity pads the unused slots);
    ``ll[i, j, k2, l]``: the rating of lesion l of diseased case ``cases[n_normal + k2]``
    (minus infinity: not marked). Cases are ordered non-diseased first.
    """

    nl: np.ndarray  # (t, r, K, max_nl)
    ll: np.ndarray  # (t, r, K2, max_lesions)
    lesions_per_case: np.ndarray  # (K2,) int
    weights: np.ndarray  # (K2, max_lesions): 0 on unused slots, each row sums to 1
    lesion_ids: np.ndarray  # (K2, max_lesions) int, 0 on unused slots
    cases: tuple[str, ...]
    treatments: tuple[str, ...]
    readers: tuple[str, ...]

    @property
    def n_normal(self) -> int:
        return self.nl.shape[2] - self.ll.shape[2]

    @property
    def n_diseased(self) -> int:
        return self.ll.shape[2]

    @property
    def n_lesions(self) -> int:
        return int(self.lesions_per_case.sum())

    @property
    def lesion_mask(self) -> np.ndarray:
        """(K2, max_lesions) True where a lesion exists."""
        return np.arange(self.ll.shape[3])[None, :] < self.lesions_per_case[:, None]

    def subset(self, treatments: Sequence[str] | None = None, readers: Sequence[str] | None = None) -> FROCData:
        """The study restricted to (and ordered as) the given treatments / readers."""
        ti = _positions(self.treatments, treatments, "treatment")
        rj = _positions(self.readers, readers, "reader")
        return dataclasses.replace(
            self,
            nl=self.nl[np.ix_(ti, rj)],
            ll=self.ll[np.ix_(ti, rj)],
            treatments=tuple(self.treatments[i] for i in ti),
            readers=tuple(self.readers[j] for j in rj),
        )


def _positions(levels: tuple[str, ...], wanted: Sequence[str] | None, what: str) -> list[int]:
    if wanted is None:
        return list(range(len(levels)))
    out = []
    for w in wanted:
        if str(w) not in levels:
            raise BreastlabInputError(f"unknown {what} {w!r}; the study has {list(levels)}")
        out.append(levels.index(str(w)))
    if len(set(out)) != len(out):
        raise BreastlabInputError(f"{what}s {list(wanted)} list a level twice")
    return out


# ---------------------------------------------------------------------- reading
def read_jafroc(path: str | os.PathLike) -> FROCData:
    """Read a JAFROC workbook (.xlsx) or a folder of ``TRUTH.csv``, ``NL.csv``, ``LL.csv``.

    The older names ``FP`` / ``TP`` (sheets, files, ``FP_Rating`` / ``TP_Rating``) are
    accepted as RJafroc does. Errors name the sheet (or file), the row as the user sees it
    (the header is row 1) and the offending value.
    """
    path = Path(path)
    if path.is_dir():
        tables = _read_folder(path)
    elif path.is_file() and path.suffix.lower() in (".xlsx", ".xlsm"):
        tables = _read_workbook(path)
    elif path.is_file():
        raise BreastlabInputError(
            f"{path.name}: a JAFROC study is an Excel workbook (.xlsx) or a folder with TRUTH.csv, NL.csv and LL.csv"
        )
    else:
        raise BreastlabInputError(f"JAFROC input {path} does not exist")
    return froc_from_tables(tables["truth"], tables["nl"], tables["ll"], names=tables["names"])


def _pick(available: Mapping[str, str], kind: str, where: str) -> str:
    for name in _SHEETS[kind]:
        if name in available:
            return available[name]
    raise BreastlabInputError(
        f"{where}: no {' or '.join(n.upper() for n in _SHEETS[kind])} table; found {sorted(available.values())}"
    )


def _read_workbook(path: Path) -> dict:
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # openpyxl: unsupported Excel extensions
            sheets = pd.read_excel(path, sheet_name=None, dtype=object)
    except Exception as exc:  # openpyxl raises several unrelated types for a damaged file
        raise BreastlabInputError(f"cannot read Excel workbook {path.name}: {exc}") from exc
    available = {str(k).strip().lower(): k for k in sheets}
    out = {"names": {}}
    for kind in _SHEETS:
        sheet = _pick(available, kind, path.name)
        out[kind] = sheets[sheet]
        out["names"][kind] = f"sheet {sheet!r}"
    return out


def _read_folder(path: Path) -> dict:
    files = {p.stem.strip().lower(): p for p in path.iterdir() if p.suffix.lower() == ".csv"}
    out = {"names": {}}
    for kind in _SHEETS:
        stem = _pick({k: k for k in files}, kind, str(path.name))
        f = files[stem]
        try:
            out[kind] = pd.read_csv(f, dtype=object, skip_blank_lines=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise BreastlabInputError(f"cannot read {f.name}: {exc}") from exc
        out["names"][kind] = f"file {f.name!r}"
    return out


# ------------------------------------------------------------------- validation
def _columns(df: pd.DataFrame, kind: str, where: str) -> dict[str, str]:
    """Map lower-case canonical names to the table's own column names."""
    lower = {}
    for c in df.columns:
        if isinstance(c, str) and not c.startswith("Unnamed"):
            lower.setdefault(c.strip().lower(), c)
    want = list(_KEYS[kind])
    found = {k: lower[k] for k in want if k in lower}
    missing = [k for k in want if k not in lower]
    if kind in _RATING:
        rating = next((lower[n] for n in _RATING[kind] if n in lower), None)
        if rating is None:
            missing.append(_RATING[kind][0])
        else:
            found["rating"] = rating
    if missing:
        raise BreastlabInputError(
            f"{where} lacks column(s) {[_display(m) for m in missing]}; it has {[str(c) for c in df.columns]}"
        )
    for extra in ("readerid", "modalityid", "paradigm"):
        if kind == "truth" and extra in lower:
            found[extra] = lower[extra]
    return found


def _display(name: str) -> str:
    return {
        "caseid": "CaseID",
        "lesionid": "LesionID",
        "weight": "Weight",
        "readerid": "ReaderID",
        "modalityid": "ModalityID",
        "nl_rating": "NL_Rating",
        "ll_rating": "LL_Rating",
    }.get(name, name)


def _label(value) -> str:
    """A cell as an identifier: 3.0 and '3' both become '3'."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _drop_blank(df: pd.DataFrame) -> pd.DataFrame:
    """Drop rows with every cell empty (Excel keeps formatted blank rows); keep the user's row numbers."""
    blank = df.apply(lambda col: col.isna() | (col.astype(str).str.strip() == "")).all(axis=1)
    return df[~blank]


def _ids(df: pd.DataFrame, col: str, where: str) -> list[str]:
    vals = df[col]
    empty = vals.isna() | (vals.astype(str).str.strip() == "")
    if empty.any():
        i = df.index[np.flatnonzero(empty.to_numpy())[0]]
        raise BreastlabInputError(f"{where}, row {i + 2}: column {col!r} is empty")
    return [_label(v) for v in vals]


def _numbers(df: pd.DataFrame, col: str, where: str) -> np.ndarray:
    num = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(num)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise BreastlabInputError(
            f"{where}, row {df.index[k] + 2}: column {col!r} must be a number, got {df[col].iloc[k]!r}"
        )
    return num


def _id_list(cell) -> list[str]:
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return []
    return [_label(p) for p in str(cell).replace(";", ",").split(",") if p.strip()]


def _paradigm(truth: pd.DataFrame, cols: dict, where: str) -> None:
    if "paradigm" not in cols:
        return
    vals = [str(v).strip().upper() for v in truth[cols["paradigm"]].dropna() if str(v).strip()]
    if vals and vals[0] not in ("FROC", "ROC"):
        raise BreastlabInputError(f"{where}: Paradigm {vals[0]!r} is not supported; FROC (or ROC) data only")
    if len(vals) > 1 and vals[1] not in ("FCTRL", "CROSSED"):
        raise BreastlabInputError(
            f"{where}: design {vals[1]!r} is not supported for FROC analysis; only fully crossed studies "
            "(FCTRL / CROSSED: every reader reads every case in every modality)"
        )


def froc_from_tables(
    truth: pd.DataFrame,
    nl: pd.DataFrame,
    ll: pd.DataFrame,
    *,
    names: Mapping[str, str] | None = None,
    treatments: Sequence | None = None,
    readers: Sequence | None = None,
) -> FROCData:
    """Validate the three JAFROC tables and build :class:`FROCData`.

    ``treatments`` / ``readers`` fix the level order (default: as declared in TRUTH's
    ReaderID / ModalityID lists, else sorted); differences are reported as first minus second.
    """
    names = dict(names or {})
    wt, wn, wl = (names.get(k, k.upper()) for k in ("truth", "nl", "ll"))
    truth, nl, ll = _drop_blank(truth), _drop_blank(nl), _drop_blank(ll)
    ct, cn, cl = _columns(truth, "truth", wt), _columns(nl, "nl", wn), _columns(ll, "ll", wl)
    if len(truth) == 0:
        raise BreastlabInputError(f"{wt} has no cases")
    _paradigm(truth, ct, wt)

    # --- truth: cases, lesions, weights
    t_case = _ids(truth, ct["caseid"], wt)
    t_les = _numbers(truth, ct["lesionid"], wt)
    t_w = _numbers(truth, ct["weight"], wt)
    lesions: dict[str, list[tuple[int, float, int]]] = {}
    for row, case, les, w in zip(truth.index, t_case, t_les, t_w, strict=True):
        if les != int(les) or les < 0:
            raise BreastlabInputError(
                f"{wt}, row {row + 2}: LesionID must be 0 (no lesion) or a positive integer, got {les:g}"
            )
        entry = lesions.setdefault(case, [])
        if any(int(les) == e[0] for e in entry):
            raise BreastlabInputError(f"{wt}, row {row + 2}: case {case} lists lesion {int(les)} twice")
        entry.append((int(les), w, row + 2))
    normal, diseased = [], []
    for case, entry in lesions.items():
        ids = [e[0] for e in entry]
        if 0 in ids and len(ids) > 1:
            raise BreastlabInputError(
                f"{wt}, row {entry[0][2]}: case {case} has LesionID 0 (no lesion) and lesions {sorted(ids)}"
            )
        (normal if ids == [0] else diseased).append(case)
    if not diseased:
        raise BreastlabInputError(f"{wt}: no case has a lesion (LesionID >= 1); FROC analysis needs diseased cases")
    cases = normal + diseased
    case_pos = {c: k for k, c in enumerate(cases)}
    k1, k2 = len(normal), len(diseased)
    max_les = max(len(lesions[c]) for c in diseased)
    per_case = np.array([len(lesions[c]) for c in diseased], dtype=np.int64)
    lesion_ids = np.zeros((k2, max_les), dtype=np.int64)
    weights = np.zeros((k2, max_les))
    lesion_slot: dict[tuple[str, str], int] = {}
    for k, c in enumerate(diseased):
        entry = sorted(lesions[c])
        w = np.array([e[1] for e in entry])
        if np.all(w == 0):
            w = np.full(len(entry), 1.0 / len(entry))
        elif np.any(w < 0) or abs(w.sum() - 1.0) > 0.01:
            raise BreastlabInputError(
                f"{wt}, row {entry[0][2]}: the lesion weights of case {c} must be all 0 (equal weights) or sum to 1; "
                f"they are {[float(x) for x in w]}"
            )
        weights[k, : len(entry)] = w / w.sum()
        for slot, e in enumerate(entry):
            lesion_ids[k, slot] = e[0]
            lesion_slot[(c, str(e[0]))] = slot

    # --- readers and modalities
    declared_r = sorted({r for v in truth[ct["readerid"]] for r in _id_list(v)}) if "readerid" in ct else []
    declared_t = sorted({m for v in truth[ct["modalityid"]] for m in _id_list(v)}) if "modalityid" in ct else []
    n_r, n_t, n_c = (_ids(nl, cn[k], wn) for k in ("readerid", "modalityid", "caseid"))
    l_r, l_t, l_c = (_ids(ll, cl[k], wl) for k in ("readerid", "modalityid", "caseid"))
    l_les = [_label(v) for v in _numbers(ll, cl["lesionid"], wl)]
    n_val = _numbers(nl, cn["rating"], wn)
    l_val = _numbers(ll, cl["rating"], wl)
    for where, df, vals, col in ((wn, nl, n_val, cn["rating"]), (wl, ll, l_val, cl["rating"])):
        bad = ~np.isfinite(vals)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise BreastlabInputError(
                f"{where}, row {df.index[k] + 2}: column {col!r} must be a finite number, got {df[col].iloc[k]!r}"
            )
    r_levels = _order(declared_r or sorted(set(n_r) | set(l_r), key=_natural), readers, "reader")
    t_levels = _order(declared_t or sorted(set(n_t) | set(l_t), key=_natural), treatments, "modality")
    r_pos = {r: j for j, r in enumerate(r_levels)}
    t_pos = {m: i for i, m in enumerate(t_levels)}

    def check(where, df, rdr, mod, case, k):
        row = df.index[k] + 2
        if rdr[k] not in r_pos:
            raise BreastlabInputError(f"{where}, row {row}: unknown ReaderID {rdr[k]!r}; readers are {r_levels}")
        if mod[k] not in t_pos:
            raise BreastlabInputError(f"{where}, row {row}: unknown ModalityID {mod[k]!r}; modalities are {t_levels}")
        if case[k] not in case_pos:
            raise BreastlabInputError(f"{where}, row {row}: CaseID {case[k]!r} is not in {wt}")

    t, r, n_all = len(t_levels), len(r_levels), len(cases)
    # --- NL marks: slots in order of appearance per (t, r, case)
    n_cell = np.empty(len(nl), dtype=np.int64)
    for k in range(len(nl)):
        check(wn, nl, n_r, n_t, n_c, k)
        n_cell[k] = (t_pos[n_t[k]] * r + r_pos[n_r[k]]) * n_all + case_pos[n_c[k]]
    counts = np.bincount(n_cell, minlength=t * r * n_all) if len(nl) else np.zeros(t * r * n_all, np.int64)
    max_nl = max(int(counts.max()) if len(nl) else 0, 1)
    nl_arr = np.full((t * r * n_all, max_nl), -np.inf)
    order = np.argsort(n_cell, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])[:-1]
    slot = np.arange(len(nl)) - starts[n_cell[order]]
    nl_arr[n_cell[order], slot] = n_val[order]

    # --- LL marks
    ll_arr = np.full((t, r, k2, max_les), -np.inf)
    seen: dict[tuple[int, int, int, int], int] = {}
    for k in range(len(ll)):
        check(wl, ll, l_r, l_t, l_c, k)
        row = ll.index[k] + 2
        key = (l_c[k], l_les[k])
        if key not in lesion_slot:
            kind = "has no lesions" if l_c[k] in normal else f"has lesions {sorted(lesions[l_c[k]])}"
            raise BreastlabInputError(
                f"{wl}, row {row}: lesion mark on case {l_c[k]!r}, LesionID {l_les[k]}, but in {wt} the case {kind}"
            )
        idx = (t_pos[l_t[k]], r_pos[l_r[k]], case_pos[l_c[k]] - k1, lesion_slot[key])
        if idx in seen:
            raise BreastlabInputError(
                f"{wl}, row {row}: reader {l_r[k]!r}, modality {l_t[k]!r} marked case {l_c[k]!r} lesion {l_les[k]} "
                f"twice (also row {seen[idx]}); a lesion has at most one LL rating"
            )
        seen[idx] = row
        ll_arr[idx] = l_val[k]
    return FROCData(
        nl=nl_arr.reshape(t, r, n_all, max_nl),
        ll=ll_arr,
        lesions_per_case=per_case,
        weights=weights,
        lesion_ids=lesion_ids,
        cases=tuple(cases),
        treatments=tuple(t_levels),
        readers=tuple(r_levels),
    )


def _natural(s: str):
    """Sort numbers numerically, then text."""
    try:
        return (0, float(s), "")
    except ValueError:
        return (1, 0.0, s)


def _order(levels: list[str], given: Sequence | None, what: str) -> list[str]:
    if given is None:
        return levels
    given = [_label(g) for g in given]
    unknown = [g for g in given if g not in levels]
    if unknown:
        raise BreastlabInputError(f"unknown {what}(s) {unknown}; the study has {levels}")
    if len(set(given)) != len(given):
        raise BreastlabInputError(f"{what} order {given} lists a level twice")
    return given


def froc_from_arrays(
    nl: np.ndarray,
    ll: np.ndarray,
    lesions_per_case: np.ndarray,
    weights: np.ndarray | None = None,
    treatments: Sequence[str] | None = None,
    readers: Sequence[str] | None = None,
) -> FROCData:
    """:class:`FROCData` from RJafroc-style arrays (``nl`` (t, r, K, L1), ``ll`` (t, r, K2, L2), -inf = no mark).

    ``weights`` None: equal weights within each diseased case.
    """
    nl = np.asarray(nl, dtype=np.float64)
    ll = np.asarray(ll, dtype=np.float64)
    per = np.asarray(lesions_per_case, dtype=np.int64)
    if nl.ndim != 4 or ll.ndim != 4 or nl.shape[:2] != ll.shape[:2]:
        raise BreastlabInputError(f"nl must be (t, r, K, L1) and ll (t, r, K2, L2); got {nl.shape} and {ll.shape}")
    t, r, n_all, _ = nl.shape
    k2 = ll.shape[2]
    if per.shape != (k2,) or per.min() < 1 or per.max() > ll.shape[3] or k2 >= n_all:
        raise BreastlabInputError(
            f"lesions_per_case must have one entry >= 1 per diseased case ({k2}), at most {ll.shape[3]}, "
            f"and there must be non-diseased cases (K = {n_all})"
        )
    mask = np.arange(ll.shape[3])[None, :] < per[:, None]
    if weights is None:
        weights = np.where(mask, 1.0 / per[:, None], 0.0)
    weights = np.asarray(weights, dtype=np.float64)
    ll = np.where(mask, ll, -np.inf)
    return FROCData(
        nl=nl,
        ll=ll,
        lesions_per_case=per,
        weights=weights,
        lesion_ids=np.where(mask, np.arange(1, ll.shape[3] + 1)[None, :], 0),
        cases=tuple(str(k + 1) for k in range(n_all)),
        treatments=tuple(treatments or (str(i + 1) for i in range(t))),
        readers=tuple(readers or (str(j + 1) for j in range(r))),
    )


def write_jafroc(data: FROCData, path: str | os.PathLike) -> Path:
    """Write a study as a JAFROC workbook (.xlsx, RJafroc's newer layout) or a CSV folder (any other path).

    Written atomically (each file via a temporary name).
    """
    from breastlab._io import atomic_path, write_table

    truth, nl, ll = jafroc_tables(data)
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        with atomic_path(path) as tmp, pd.ExcelWriter(tmp, engine="openpyxl") as xw:
            truth.to_excel(xw, sheet_name="TRUTH", index=False)
            nl.to_excel(xw, sheet_name="NL", index=False)
            ll.to_excel(xw, sheet_name="LL", index=False)
        return path
    path.mkdir(parents=True, exist_ok=True)
    for name, df in (("TRUTH", truth), ("NL", nl), ("LL", ll)):
        write_table(df, path / f"{name}.csv")
    return path


def jafroc_tables(data: FROCData) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The TRUTH, NL and LL tables of a study (RJafroc's newer layout: TRUTH lists readers and modalities)."""
    k1 = data.n_normal
    rdrs, trts = ",".join(data.readers), ",".join(data.treatments)
    rows = [(c, 0, 0.0) for c in data.cases[:k1]]
    for k, c in enumerate(data.cases[k1:]):
        rows += [(c, int(data.lesion_ids[k, s]), float(data.weights[k, s])) for s in range(data.lesions_per_case[k])]
    truth = pd.DataFrame(rows, columns=["CaseID", "LesionID", "Weight"])
    truth["ReaderID"] = rdrs
    truth["ModalityID"] = trts
    truth["Paradigm"] = ["FROC", "FCTRL"] + [""] * (len(truth) - 2) if len(truth) >= 2 else ["FROC"]
    i, j, k, s = np.nonzero(np.isfinite(data.nl))
    nl = pd.DataFrame(
        {
            "ReaderID": np.asarray(data.readers, dtype=object)[j],
            "ModalityID": np.asarray(data.treatments, dtype=object)[i],
            "CaseID": np.asarray(data.cases, dtype=object)[k],
            "NL_Rating": data.nl[i, j, k, s],
        }
    )
    i, j, k, s = np.nonzero(np.isfinite(data.ll))
    ll = pd.DataFrame(
        {
            "ReaderID": np.asarray(data.readers, dtype=object)[j],
            "ModalityID": np.asarray(data.treatments, dtype=object)[i],
            "CaseID": np.asarray(data.cases, dtype=object)[k1 + k],
            "LesionID": data.lesion_ids[k, s],
            "LL_Rating": data.ll[i, j, k, s],
        }
    )
    return truth, nl, ll


#: the long-table names of the mark columns (the reader-study / mrmc vocabulary, then JAFROC's)
MARK_ALIASES = {
    "reader": ("reader", "reader_id", "ReaderID"),
    "treatment": ("treatment", "condition", "modality", "ModalityID"),
    "case": ("case", "case_id", "CaseID"),
    "lesion": ("lesion", "lesion_id", "LesionID"),
    "rating": ("rating", "score"),
    "weight": ("weight", "Weight"),
}


def _resolve(df: pd.DataFrame, roles: Sequence[str], what: str, optional: Sequence[str] = ()) -> dict[str, str]:
    out, missing = {}, []
    for role in roles:
        name = next((a for a in MARK_ALIASES[role] if a in df.columns), None)
        if name is None and role not in optional:
            missing.append("/".join(MARK_ALIASES[role]))
        out[role] = name
    if missing:
        raise BreastlabInputError(f"{what} lacks column(s) {missing}; it has {[str(c) for c in df.columns]}")
    return out


def froc_from_marks(
    marks: pd.DataFrame,
    lesions: pd.DataFrame,
    *,
    treatments: Sequence | None = None,
    readers: Sequence | None = None,
) -> FROCData:
    """A FROC study from one long table of marks in the reader-study vocabulary.

    ``marks``: one row per mark with reader, treatment (or ``condition``), case (or ``case_id``),
    lesion (``lesion_id``: the lesion the mark localises; 0 or empty for a non-lesion
    localisation) and rating (or ``score``). ``lesions``: every case with its lesions, case,
    lesion (0 for a case without lesions) and optionally weight (default equal weights). Errors
    name the row of the marks table (header = row 1).
    """
    cm = _resolve(marks, ("reader", "treatment", "case", "lesion", "rating"), "marks table")
    cl = _resolve(lesions, ("case", "lesion", "weight"), "lesions table", optional=("weight",))
    les = pd.to_numeric(marks[cm["lesion"]], errors="coerce").fillna(0)
    truth = pd.DataFrame(
        {
            "CaseID": lesions[cl["case"]],
            "LesionID": lesions[cl["lesion"]],
            "Weight": lesions[cl["weight"]] if cl["weight"] else 0.0,
        },
        index=lesions.index,
    )
    base = {"ReaderID": marks[cm["reader"]], "ModalityID": marks[cm["treatment"]], "CaseID": marks[cm["case"]]}
    nl = pd.DataFrame({**base, "NL_Rating": marks[cm["rating"]]}, index=marks.index)[les == 0]
    ll = pd.DataFrame({**base, "LesionID": les, "LL_Rating": marks[cm["rating"]]}, index=marks.index)[les != 0]
    names = {"truth": "lesions table", "nl": "marks table (NL mark)", "ll": "marks table (lesion mark)"}
    return froc_from_tables(truth, nl, ll, names=names, treatments=treatments, readers=readers)
