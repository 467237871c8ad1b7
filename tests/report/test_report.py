"""The HTML report: self-contained, tables and images present; rendered by headless Chromium."""

from __future__ import annotations

import base64
import io
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from breastlab.cli import main
from breastlab.errors import BreastlabInputError
from breastlab.evaluate.metrics import evaluate_run
from breastlab.report import write_report
from breastlab.train.report import gallery_selection, rho_of


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[str] = []
        self.tables = 0
        self.rows = 0
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        self.tables += tag == "table"
        self.rows += tag == "tr"
        for key in ("src", "href"):
            if key in a and not a[key].startswith(("data:", "#")):
                self.refs.append(a[key])


def test_report_is_self_contained_with_tables_and_images(report):
    text = report.read_text()
    doc = _Collect()
    doc.feed(text)
    assert doc.refs == []  # nothing outside the file
    assert not re.search(r"<(script|link)\b", text)
    # Runs, Table 2, consistency, and per run: all figures, groups, shortcut.
    assert doc.tables >= 3 + 3 * 3
    # 3 runs x (ROC, group bars) + rho plot + galleries of the 3 runs.
    assert len(doc.imgs) == 3 * 2 + 1 + 3
    for src in doc.imgs:
        assert src.startswith("data:image/png;base64,")
        img = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        img.load()
        assert img.width > 100 and img.height > 100
    assert "Accuracy against correlation strength" in text
    assert "impossible" in text  # the SpurBreast Table 2 triple
    assert "Gallery not available" not in text


def test_table2_cells_match_evaluation(report, fake_sweep):
    text = report.read_text()
    ev = evaluate_run(fake_sweep / "rho0.9", n_boot=100, seed=0)  # reused from the report's run
    acc = ev.value("test", "accuracy")
    lo, hi = ev.value("test", "accuracy", "ci_low"), ev.value("test", "accuracy", "ci_high")
    assert f"<td>{acc:.2f} ({lo:.2f}–{hi:.2f})</td>" in text  # the one CI format, as on the screen


def test_rho_read_from_split_config(fake_sweep):
    import json

    cfg = json.loads((fake_sweep / "rho0.5" / "config.json").read_text())
    assert rho_of(cfg, fake_sweep / "rho0.5") == 0.5


def test_gallery_picks_correct_and_shortcut_errors(fake_sweep):
    ev = evaluate_run(fake_sweep / "rho0.9", n_boot=0)
    sel = gallery_selection(ev, per_kind=4)
    kinds = set(sel["kind"])
    assert kinds <= {"correct", "shortcut-driven error", "other error"}
    assert "correct" in kinds
    assert (sel["split"] == "test").all()
    right = sel[sel["kind"] == "correct"]
    assert (right["pred"] == right["label"]).all()
    sc = sel[sel["kind"] == "shortcut-driven error"]
    assert (sc["pred"] != sc["label"]).all()
    assert (sc["pred"] == sc["attribute"].isin(ev.rule).astype(int)).all()


def test_cli_report_without_gallery(fake_sweep, tmp_path):
    out = tmp_path / "r.html"
    assert main(["report", str(fake_sweep / "rho0.5"), "--out", str(out), "--bootstrap", "20", "--no-gallery"]) == 0
    assert out.exists() and "Table 2" in out.read_text()
    with pytest.raises(BreastlabInputError):
        write_report(tmp_path / "nothing_here", tmp_path / "x.html")


_PROBE = """<script>window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  var probe = document.createElement('div'); probe.id = 'probe';
  probe.setAttribute('data-images', imgs.length); probe.setAttribute('data-decoded', ok.length);
  probe.setAttribute('data-rows', document.querySelectorAll('table tr').length);
  document.body.appendChild(probe);
});</script>"""


def _chromium(exe: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp / 'profile'}",
    ]
    return subprocess.run([exe, *flags, *args], capture_output=True, text=True, timeout=180)


def test_renders_in_headless_chromium(report, chromium, tmp_path):
    # A copy with a probe script (the report itself has no scripts) records what rendered.
    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text().replace("</body>", _PROBE + "</body>"))
    res = _chromium(chromium, tmp_path, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    m = re.search(r'id="probe" data-images="(\d+)" data-decoded="(\d+)" data-rows="(\d+)"', res.stdout)
    assert m, res.stdout[-2000:]
    n_img, n_ok, n_rows = map(int, m.groups())
    print(f"chromium: {n_ok} of {n_img} images decoded, {n_rows} table rows")
    assert n_img == 10 and n_ok == n_img
    assert n_rows >= 30
    shot = tmp_path / "report.png"
    res = _chromium(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1400,2400", report.as_uri())
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    px = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert px.std() > 10  # not a blank page


def test_report_of_a_real_training_run(fake_sweep, tmp_path):
    """Contract E end to end: breastlab.train writes the run, the report loads its model for Grad-CAM."""
    import json

    from breastlab.train import TrainConfig, train

    split = Path(json.loads((fake_sweep / "rho0.9" / "config.json").read_text())["split"])
    store = json.loads((split / "config.json").read_text())["store"]
    run = tmp_path / "run"
    train(
        TrainConfig(
            store=store,
            split=str(split),
            out=str(run),
            model="small_cnn",
            epochs=1,
            image_size=32,
            batch_size=16,
            optimizer="adam",
            lr=1e-3,
            weights=None,
            progress=False,
            device="cpu",
            model_kwargs={"width": 4},
        )
    )
    out = write_report(run, tmp_path / "report.html", n_boot=20)
    text = out.read_text()
    assert "Gallery not available" not in text
    assert text.count("data:image/png;base64,") == 3  # ROC, group bars, Grad-CAM gallery
