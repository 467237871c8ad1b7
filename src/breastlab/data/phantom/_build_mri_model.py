"""Rebuild ``mri_clinical_model.json`` from the real Duke tables (maintainers only).

    python -m breastlab.data.phantom._build_mri_model [DATA_DIR]

The phantom never reads the real data at run time; it samples from this summary:

* per column, the distribution of its raw coded values, either unconditional or
  conditional on one parent column (a tree-shaped Bayesian network chosen by hand
  for the dependencies that matter: receptor status -> molecular subtype, surgery
  -> surgery type, neoadjuvant therapy -> response, scanner model -> technique ...);
* a few small joint groups sampled as tuples (scanner; receptors; laterality);
* numeric columns with many distinct values as histograms (12 quantile bins, values
  drawn uniformly in a bin and rounded to the column's resolution);
* the TCIA series-folder vocabulary per scanner model (from ``slice_counts.csv``).

Only counts are stored, never a patient row.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd

from breastlab._io import write_json
from breastlab.paths import duke_dir

OUT = Path(__file__).with_name("mri_clinical_model.json")
MAX_CATEGORIES = 15  # numeric columns with more distinct values are stored as histograms
N_BINS = 12

# Joint groups (column positions in the 98-column table), sampled as tuples.
GROUPS = {
    "scanner": [2, 3, 5, 14, 15],  # manufacturer, model, field strength, rows, columns
    "receptors": [23, 24, 25, 26],  # ER, PR, HER2, mol subtype
    "laterality": [36, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47],  # tumour location, bilateral block
}
# child position -> parent position (the parent is sampled first).
PARENTS = {
    1: None,
    4: 3,
    6: 3,
    8: 3,
    9: 3,
    10: 3,
    11: 3,
    12: 3,
    13: 3,
    16: 3,
    17: 3,
    18: 3,
    20: None,
    19: 20,
    21: None,
    22: None,
    30: 22,
    27: 23,
    28: None,
    29: None,
    31: None,
    32: None,
    33: None,
    34: None,
    35: None,
    37: 36,
    48: None,
    49: None,
    50: None,
    51: None,
    52: None,
    53: None,
    54: 53,
    55: 53,
    56: None,
    57: None,
    91: None,
    58: 91,
    59: 91,
    92: 91,
    93: 91,
    94: 91,
    95: 91,
    96: 91,
    97: 91,
    82: 91,
    84: 91,
    89: 91,
    60: None,
    61: 60,
    62: 60,
    63: None,
    64: None,
    65: None,
    66: 36,
    67: None,
    **{k: 36 for k in range(68, 82)},
    83: None,
    85: None,
    86: None,
    87: 86,
    88: None,
    90: 25,
}


# MRI technical columns whose codes the phantom decodes (header row 3 holds "value=code, ...").
CODED_TECHNICAL = [2, 3, 4, 5, 6, 8, 12, 13, 14, 15, 16, 17, 18]


def _parse_legend(text: str) -> dict[str, str]:
    """``"GE MEDICAL SYSTEMS=0, SIEMENS=2"`` -> ``{"0": "GE MEDICAL SYSTEMS", "2": "SIEMENS"}``."""
    out = {}
    for part in text.split(","):
        value, _, code = part.rpartition("=")
        if value.strip():
            out[code.strip()] = value.strip()
    return out


def _native(v):
    """JSON-native raw value: NaN -> None, integral floats -> int."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return int(v) if float(v).is_integer() else float(v)
    return v if isinstance(v, (int, str)) else str(v)


def _decimals(values: list) -> int:
    nums = [v for v in values if isinstance(v, float)]
    return max((len(repr(v).split(".")[1]) for v in nums), default=0)


def _distribution(values: list) -> dict:
    nums = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(set(nums)) <= MAX_CATEGORIES:
        counts: dict[str, list] = {}
        for v in values:
            key = json.dumps(v)
            counts.setdefault(key, [v, 0])[1] += 1
        return {"kind": "categorical", "values": [list(p) for p in counts.values()]}
    others = [v for v in values if not (isinstance(v, (int, float)) and not isinstance(v, bool))]
    decimals = _decimals(nums)
    edges = np.unique(np.round(np.quantile(np.asarray(nums, float), np.linspace(0, 1, N_BINS + 1)), decimals))
    hist, _ = np.histogram(nums, bins=edges)
    return {
        "kind": "binned",
        "edges": edges.tolist(),
        "counts": hist.tolist(),
        "decimals": decimals,
        "others": _distribution(others)["values"] if others else [],
    }


def build(data: Path) -> dict:
    df = pd.read_excel(data / "Clinical_and_Other_Features.xlsx", sheet_name="Data", header=[0, 1, 2])
    names = [c[1] for c in df.columns]
    # raw cells through openpyxl: keeps the literal "NA" texts apart from empty cells, as in the file
    wb = openpyxl.load_workbook(data / "Clinical_and_Other_Features.xlsx", read_only=True)
    rows = list(wb["Data"].iter_rows(min_row=4, max_col=len(names), values_only=True))
    wb.close()
    raw = [[_native(r[j]) for r in rows] for j in range(len(names))]
    model: dict = {
        "source": "Duke-Breast-Cancer-MRI Clinical_and_Other_Features.xlsx (TCIA, CC BY-NC 4.0)",
        "n_patients": len(df),
        "names": names,
        "groups": {},
        "columns": {},
    }
    for name, cols in GROUPS.items():
        counts: dict[str, list] = {}
        for row in zip(*(raw[j] for j in cols), strict=True):
            counts.setdefault(json.dumps(row), [list(row), 0])[1] += 1
        model["groups"][name] = {"columns": cols, "tuples": list(counts.values())}
    for child, parent in PARENTS.items():
        if parent is None:
            model["columns"][str(child)] = {"parent": None, "table": {"null": _distribution(raw[child])}}
            continue
        table: dict[str, list] = {}
        for p, c in zip(raw[parent], raw[child], strict=True):
            table.setdefault(json.dumps(p), []).append(c)
        model["columns"][str(child)] = {"parent": parent, "table": {k: _distribution(v) for k, v in table.items()}}
    grouped = {j for cols in GROUPS.values() for j in cols}
    missing = set(range(1, len(names))) - grouped - set(PARENTS) - {7}  # 7 = image position, from geometry
    assert not missing, f"columns without a sampling rule: {sorted(missing)}"
    model["series"] = _series_vocabulary(data, df)
    model["codes"] = {str(j): _parse_legend(df.columns[j][2]) for j in CODED_TECHNICAL}
    return model


def _series_vocabulary(data: Path, df: pd.DataFrame) -> dict:
    """Per scanner model code: counts of (pre description, post1 description, pre number, post1 number)."""
    sc = pd.read_csv(data / "slice_counts.csv")
    parts = sc["series"].str.extract(r"^(?P<num>\d+)\.000000-(?P<desc>.+)-\d{5}$")
    sc = pd.concat([sc, parts], axis=1)
    wide = sc.pivot(index="patient_id", columns="phase", values=["desc", "num"])
    model_code = pd.Series(df.iloc[:, 3].to_numpy(), index=df.iloc[:, 0].to_numpy())
    out: dict[str, dict] = {}
    for pid, row in wide.iterrows():
        pre, post = row[("desc", "pre")], row[("desc", "post1")]
        # keep the regular naming schemes only (quirks: bare post names, misspellings, missing 1st pass)
        if not re.search(r"(^Ph1|1st pass$|^1st )", post):
            continue
        key = json.dumps([pre, post, int(row[("num", "pre")]), int(row[("num", "post1")])])
        bucket = out.setdefault(str(int(model_code[pid])), {})
        bucket[key] = bucket.get(key, 0) + 1
    return {m: [[*json.loads(k), n] for k, n in sorted(v.items())] for m, v in out.items()}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    data = Path(argv[0]) if argv else duke_dir()
    write_json(build(data), OUT)
    OUT.chmod(0o644)  # package data: readable by everyone (atomic writes create 0600 files)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
