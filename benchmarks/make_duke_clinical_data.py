"""Regenerate breastlab's Duke clinical package data from the real TCIA table.

Writes two files under ``src/breastlab/data/duke/``:

* ``clinical_spec.json``: column metadata only (header texts of the ``Data`` sheet: group,
  name and legend per column, the merged group cells, and breastlab's stable snake_case
  name, kind and dtype per column). No patient data.
* ``clinical_marginals.json``: aggregated value frequencies per column (see
  :func:`breastlab.data.duke.clinical.clinical_marginals_summary`): code counts for coded
  columns, pooled counts (values seen fewer than ``--min-count`` times pooled) for free
  text, percentiles for continuous numbers, and the joint counts of the scanner columns.
  Aggregates only, never rows; the phantom samples realistic marginals from it.

Usage::

    .venv/bin/python benchmarks/make_duke_clinical_data.py [XLSX] [--min-count 5]

XLSX defaults to ``$BREASTLAB_DATA/duke/Clinical_and_Other_Features.xlsx``.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import openpyxl

from breastlab._io import write_json
from breastlab.paths import duke_dir

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "src" / "breastlab" / "data" / "duke"

# One entry per column of the Data sheet, in file order: (snake_case name, kind, dtype).
# kind: id | code (strict legend codes) | multicode (cells may combine several legend codes
# with notes, e.g. "0, 5" or "6 (2)") | number | text. dtype is the decoded pandas dtype for
# number/text columns; for code columns it follows from the legend's labels.
COLUMNS: list[tuple[str, str, str | None]] = [
    ("patient_id", "id", "str"),
    ("days_to_mri", "number", "Int64"),
    ("manufacturer", "code", None),
    ("manufacturer_model", "code", None),
    ("scan_options", "code", None),
    ("field_strength_t", "code", None),
    ("patient_position", "code", None),
    ("image_position_patient", "text", "string"),
    ("contrast_agent", "code", None),
    ("contrast_bolus_volume_ml", "code", None),
    ("tr_ms", "number", "Float64"),
    ("te_ms", "number", "Float64"),
    ("acquisition_matrix", "code", None),
    ("slice_thickness_mm", "code", None),
    ("rows", "code", None),
    ("columns", "code", None),
    ("reconstruction_diameter_mm", "code", None),
    ("flip_angle_deg", "code", None),
    ("fov_computed", "code", None),
    ("date_of_birth_days", "number", "Int64"),
    ("menopause", "code", None),
    ("race_ethnicity", "code", None),
    ("metastatic_at_presentation", "code", None),
    ("er", "code", None),
    ("pr", "code", None),
    ("her2", "code", None),
    ("mol_subtype", "code", None),
    ("oncotype_score", "number", "Int64"),
    ("staging_t", "number", "Int64"),
    ("staging_n", "number", "Int64"),
    ("staging_m", "number", "Int64"),
    ("tumor_grade_tubule", "number", "Int64"),
    ("tumor_grade_nuclear", "number", "Int64"),
    ("tumor_grade_mitotic", "number", "Int64"),
    ("nottingham_grade", "code", None),
    ("histologic_type", "code", None),
    ("tumor_location", "code", None),
    ("position", "text", "string"),
    ("bilateral", "code", None),
    ("bilateral_different_rec_status", "code", None),
    ("side_annotated", "code", None),
    ("other_side_tumor_location", "code", None),
    ("other_side_oncotype_score", "number", "Int64"),
    ("other_side_nottingham_grade", "number", "Int64"),
    ("other_side_er", "code", None),
    ("other_side_pr", "code", None),
    ("other_side_her2", "code", None),
    ("other_side_mol_subtype", "code", None),
    ("multicentric_multifocal", "code", None),
    ("contralateral_involvement", "code", None),
    ("lymphadenopathy", "code", None),
    ("skin_nipple_involvement", "code", None),
    ("pec_chest_involvement", "code", None),
    ("surgery", "code", None),
    ("days_to_surgery", "number", "Int64"),
    ("surgery_type", "code", None),
    ("neoadjuvant_radiation", "code", None),
    ("adjuvant_radiation", "code", None),
    ("clinical_response_imaging", "code", None),
    ("pathologic_response", "code", None),
    ("recurrence", "code", None),
    ("days_to_local_recurrence", "number", "Int64"),
    ("days_to_distant_recurrence", "number", "Int64"),
    ("days_to_death", "number", "Int64"),
    ("days_to_last_local_recurrence_free", "number", "Int64"),
    ("days_to_last_distant_recurrence_free", "number", "Int64"),
    ("age_at_last_contact_days", "number", "Int64"),
    ("birads_data", "text", "string"),
    ("mammo_age_days", "number", "Int64"),
    ("mammo_breast_density", "code", None),
    ("mammo_shape", "code", None),
    ("mammo_margin", "code", None),
    ("mammo_architectural_distortion", "number", "Int64"),
    ("mammo_mass_density", "number", "Int64"),
    ("mammo_calcifications", "multicode", None),
    ("mammo_tumor_size_cm", "number", "Float64"),
    ("us_shape", "multicode", None),
    ("us_margin", "multicode", None),
    ("us_tumor_size_cm", "number", "Float64"),
    ("us_echogenicity", "multicode", None),
    ("us_solid", "number", "Int64"),
    ("us_posterior_acoustic_shadowing", "number", "Int64"),
    ("neoadjuvant_chemotherapy", "code", None),
    ("adjuvant_chemotherapy", "code", None),
    ("neoadjuvant_endocrine_therapy", "code", None),
    ("adjuvant_endocrine_therapy", "code", None),
    ("known_ovarian_status", "code", None),
    ("ovaries_in_situ", "code", None),
    ("oophorectomy", "code", None),
    ("neoadjuvant_anti_her2", "code", None),
    ("adjuvant_anti_her2", "code", None),
    ("received_neoadjuvant_therapy", "code", None),
    ("post_nat_stage_t", "code", None),
    ("post_nat_stage_n", "code", None),
    ("post_nat_stage_m", "code", None),
    ("near_complete_response_strict", "code", None),
    ("near_complete_response_loose", "code", None),
    ("near_complete_response_graded", "code", None),
]


def build_spec(xlsx: Path) -> dict:
    """Header texts of the Data sheet + :data:`COLUMNS` -> the ``clinical_spec.json`` payload."""
    wb = openpyxl.load_workbook(xlsx)  # not read-only: merged ranges are needed
    ws = wb["Data"]
    header = [[ws.cell(r, c).value for c in range(1, ws.max_column + 1)] for r in (1, 2, 3)]
    # trailing columns with no header and no data are not columns of the table
    n = max(c for c in range(ws.max_column) if any(header[r][c] is not None for r in range(3))) + 1
    if n != len(COLUMNS):
        raise SystemExit(f"{xlsx}: {n} header columns, COLUMNS lists {len(COLUMNS)}")
    columns = []
    for i, (snake, kind, dtype) in enumerate(COLUMNS):
        columns.append(
            {
                "index": i + 1,
                "group": header[0][i],
                "name": header[1][i],
                "legend": header[2][i],
                "snake": snake,
                "kind": kind,
                "dtype": dtype,
            }
        )
    return {
        "source": {
            "file": xlsx.name,
            "sha256": hashlib.sha256(xlsx.read_bytes()).hexdigest(),
            "collection": "Duke-Breast-Cancer-MRI, https://doi.org/10.7937/TCIA.e3sv-re93 (CC BY-NC 4.0)",
        },
        "sheet": "Data",
        "header_merges": sorted(str(r) for r in ws.merged_cells.ranges),
        "columns": columns,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("xlsx", nargs="?", default=str(duke_dir() / "Clinical_and_Other_Features.xlsx"))
    parser.add_argument("--min-count", type=int, default=5, help="pool free-text values seen fewer times")
    args = parser.parse_args()
    xlsx = Path(args.xlsx)
    spec = build_spec(xlsx)
    write_json(spec, PACKAGE_DIR / "clinical_spec.json")
    print(f"wrote {PACKAGE_DIR / 'clinical_spec.json'} ({len(spec['columns'])} columns)")

    # imported after the spec is written: the module loads it at import time
    from breastlab.data.duke.clinical import clinical_marginals_summary, read_clinical_raw

    summary = clinical_marginals_summary(read_clinical_raw(xlsx), min_count=args.min_count)
    summary["source"] = spec["source"]
    write_json(summary, PACKAGE_DIR / "clinical_marginals.json")
    print(f"wrote {PACKAGE_DIR / 'clinical_marginals.json'} ({summary['n_patients']} patients aggregated)")


if __name__ == "__main__":
    main()
