"""`breastlab curate ...` on a small store built from a synthetic slice table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from breastlab.cli import main
from breastlab.data.store import write_store


def _store(slices, path):
    images = np.zeros((len(slices), 2, 2), np.uint8)
    man = slices.assign(image_id=slices["patient_id"] + ":" + slices["slice_index"].astype(str))
    write_store(path, images, man)
    return str(path)


def test_cli_splits_check_scan(slices, tmp_path, capsys):
    store = _store(slices, tmp_path / "store")
    out = tmp_path / "splits"
    rc = main(
        [
            "curate",
            "splits",
            "--store",
            store,
            "--feature",
            "field_strength_t",
            "--groups",
            "1.5",
            "3",
            "--train",
            "40",
            "--val",
            "20",
            "--test",
            "30",
            "--rho",
            "0.8",
            "--tune",
            "8",
            "--repeats",
            "2",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    cfg = json.loads((out / "field_strength_t" / "rep01" / "config.json").read_text())
    assert cfg["config"]["rho"] == 0.8 and cfg["config"]["repeat"] == 1 and cfg["data"]["store_checksum"]
    assert pd.read_csv(out / "splits.csv")["patients"].tolist()[:4] == [40, 20, 30, 8]
    assert main(["curate", "check", str(out), "--csv", str(tmp_path / "checks.csv")]) == 0
    checks = pd.read_csv(tmp_path / "checks.csv")
    assert set(checks["status"]) <= {"pass", "n/a"}
    # the shared table names the split folders relative to itself, not by their absolute path
    assert not checks["split_dir"].str.contains(str(tmp_path), regex=False).any()
    assert all((tmp_path / d / "config.json").exists() for d in checks["split_dir"].unique())
    assert (
        main(
            [
                "curate",
                "splits",
                "--store",
                store,
                "--transform",
                "vflip",
                "--train",
                "40",
                "--val",
                "20",
                "--test",
                "30",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert main(["curate", "check", str(out / "vflip" / "rep00")]) == 0
    assert (
        main(
            [
                "curate",
                "scan",
                "--store",
                store,
                "--sizes",
                "40/20",
                "--test",
                "30",
                "--out",
                str(tmp_path / "scan.csv"),
            ]
        )
        == 0
    )
    scan = pd.read_csv(tmp_path / "scan.csv")
    assert "feasible_40_20" in scan.columns and scan["feasible_40_20"].iloc[0]
    capsys.readouterr()


def test_cli_errors_are_clear(slices, tmp_path, capsys):
    store = _store(slices, tmp_path / "store")
    rc = main(
        [
            "curate",
            "splits",
            "--store",
            store,
            "--feature",
            "field_strength_t",
            "--groups",
            "1.5",
            "3",
            "--train",
            "300",
            "--test",
            "30",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "field_strength_t=1.5 has" in err and "eligible patients" in err and "requested" in err
    rc = main(
        [
            "curate",
            "splits",
            "--store",
            store,
            "--feature",
            "menopause",
            "--groups",
            "pre",
            "unknown",
            "--test",
            "30",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert rc == 2 and "matches no patient; values present: post" in capsys.readouterr().err
    # a corrupted split fails the check with exit status 1
    main(
        [
            "curate",
            "splits",
            "--store",
            store,
            "--baseline",
            "--train",
            "20",
            "--val",
            "10",
            "--test",
            "10",
            "--out",
            str(tmp_path / "b"),
        ]
    )
    d = tmp_path / "b" / "baseline" / "rep00"
    m = pd.read_parquet(d / "manifest.parquet")
    m.loc[0, "split"] = "val"
    m.to_parquet(d / "manifest.parquet")
    capsys.readouterr()
    assert main(["curate", "check", str(d)]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_cli_scan_prints_within_120_columns_and_writes_every_column(slices, tmp_path, capsys):
    from breastlab._table import format_table
    from breastlab.curate import scan_features, scan_table

    store = _store(slices, tmp_path / "store")
    args = ["curate", "scan", "--store", store, "--sizes", "40/20", "80/20", "--test", "30"]
    assert main([*args, "--out", str(tmp_path / "scan")]) == 0
    printed = capsys.readouterr().out
    assert max(len(line) for line in printed.splitlines()) <= 120
    expected = scan_features(slices, sizes=["40/20", "80/20"], n_test=30)
    assert len(format_table(scan_table(expected)).splitlines()[0]) > 120  # the unfitted table is wider
    written = pd.read_csv(tmp_path / "scan" / "feature_scan.csv", keep_default_na=False, na_values=[""])
    assert list(written.columns) == list(expected.columns) and len(written) == len(expected)
    assert (written["reason"] == expected["reason"]).all()
    flat = " ".join(printed.split())
    assert "left out to fit 120 characters:" in flat and "reason" in flat
    assert f"full table: {tmp_path / 'scan' / 'feature_scan.csv'}" in flat
    # the identifying columns and the feasibility of every shown row are on screen
    header = next(line for line in printed.splitlines() if line.lstrip().startswith("column ")).split()
    assert header[:3] == ["column", "group_a", "group_b"] and "feasible_40_20" in header
    # without --out nothing is written and the screen says how to get the full table
    assert main(args) == 0
    assert "pass --out DIR" in " ".join(capsys.readouterr().out.split())
