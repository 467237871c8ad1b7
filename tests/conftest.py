"""Shared fixtures: real data through BREASTLAB_DATA, R, Chromium, and a layout probe of HTML pages.

With BREASTLAB_REQUIRE_REAL_DATA=1 (set by .ci/run) a test that needs the real
data pack fails instead of skipping; BREASTLAB_REQUIRE_R=1 and
BREASTLAB_REQUIRE_CHROMIUM=1 do the same for R/pROC and headless Chromium.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from breastlab.paths import data_root


def _require(env: str) -> bool:
    return os.environ.get(env, "0") not in ("", "0", "false", "no")


def _missing(what: str, env: str) -> None:
    if _require(env):
        pytest.fail(f"{what} is required ({env}=1) but missing")
    pytest.skip(f"{what} not available")


@pytest.fixture(scope="session")
def real_data() -> Path:
    root = data_root()
    if not (root / "duke" / "Clinical_and_Other_Features.xlsx").exists():
        _missing(f"real data pack at {root}", "BREASTLAB_REQUIRE_REAL_DATA")
    return root


@pytest.fixture(scope="session")
def duke_dir(real_data: Path) -> Path:
    return real_data / "duke"


@pytest.fixture(scope="session")
def mammo_dir(real_data: Path) -> Path:
    path = real_data / "mammo"
    if not path.exists():
        _missing(f"mammography pack at {path}", "BREASTLAB_REQUIRE_REAL_DATA")
    return path


@pytest.fixture(scope="session")
def rscript() -> str:
    exe = shutil.which("Rscript")
    if exe is None:
        _missing("Rscript (apt-get install r-base-core r-cran-proc)", "BREASTLAB_REQUIRE_R")
    return exe


@pytest.fixture(scope="session")
def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        _missing("chromium (apt-get install chromium)", "BREASTLAB_REQUIRE_CHROMIUM")
    return exe


# --------------------------------------------------------------------------- layout in headless Chromium
# A copy of the page gets a script that, once loaded, measures every text line box (through DOM
# ranges) and image box, and every table against its container and the viewport, and writes the
# findings as JSON into <pre id="measure">; Chromium's --dump-dom hands the DOM back.
_SCRIPT = r"""<script>window.addEventListener('load', function () {
  var SLACK = 2;  // px: neighbouring line boxes may touch or share a sub-pixel edge
  var boxes = [];
  function add(label, r) {
    if (r.width > 0 && r.height > 0)
      boxes.push({t: label, x: r.left + scrollX, y: r.top + scrollY, r: r.right + scrollX, b: r.bottom + scrollY});
  }
  var walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    var node = walk.currentNode, text = node.textContent.trim();
    if (!text) continue;
    var range = document.createRange();
    range.selectNodeContents(node);
    var rects = range.getClientRects();
    for (var i = 0; i < rects.length; i++) add(text.slice(0, 40), rects[i]);
  }
  Array.prototype.forEach.call(document.images, function (img) {
    add('<img ' + img.alt + '>', img.getBoundingClientRect());
  });
  boxes.sort(function (a, b) { return a.y - b.y; });
  var overlaps = [];
  for (var i = 0; i < boxes.length; i++) {
    for (var j = i + 1; j < boxes.length && boxes[j].y < boxes[i].b - SLACK; j++) {
      var a = boxes[i], c = boxes[j];
      var w = Math.min(a.r, c.r) - Math.max(a.x, c.x), h = Math.min(a.b, c.b) - Math.max(a.y, c.y);
      if (w > SLACK && h > SLACK) overlaps.push([a.t, c.t]);
    }
  }
  var view = document.documentElement.clientWidth, clipped = [];
  Array.prototype.forEach.call(document.querySelectorAll('table'), function (table, k) {
    var box = table.getBoundingClientRect(), parent = table.parentElement;
    var pbox = parent.getBoundingClientRect();
    var name = 'table ' + k + ': ' + (table.textContent || '').trim().slice(0, 40);
    // the table wider than its own box, than its container, or than the window
    if (table.scrollWidth > table.clientWidth + 1 || box.right > pbox.right + 1 || box.right > view + 1)
      clipped.push(name + ' | widths ' + [table.scrollWidth, table.clientWidth, box.right, pbox.right, view]
                   .map(Math.round).join(' '));
  });
  var out = document.createElement('pre');
  out.id = 'measure';
  out.textContent = JSON.stringify({
    viewport: view, page_width: document.documentElement.scrollWidth, n_boxes: boxes.length,
    n_tables: document.querySelectorAll('table').length, overlaps: overlaps, clipped_tables: clipped});
  document.body.appendChild(out);
});</script>"""

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def measure_layout(chromium: str, page: Path, width: int, tmp: Path, height: int = 900) -> dict:
    """Overlapping text boxes and clipped tables of ``page`` shown ``width`` CSS pixels wide.

    Returns the script's findings: ``viewport`` and ``page_width`` (px), ``n_boxes``, ``n_tables``,
    ``overlaps`` (pairs of text starts) and ``clipped_tables``.
    """
    probe = tmp / f"measure_{width}.html"
    probe.write_text(page.read_text().replace("</body>", _SCRIPT + "</body>"))
    cmd = [
        chromium,
        *FLAGS,
        f"--user-data-dir={tmp / f'profile_{width}'}",
        f"--window-size={width},{height}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        probe.as_uri(),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if res.returncode != 0:
        raise RuntimeError(f"chromium failed: {res.stderr[-2000:]}")
    m = re.search(r'<pre id="measure">(.*?)</pre>', res.stdout, re.S)
    if m is None:
        raise RuntimeError(f"no measurement in the dumped DOM: {res.stdout[-2000:]}")
    return json.loads(html.unescape(m.group(1)))


@pytest.fixture(scope="session")
def layout():
    """:func:`measure_layout`, for tests that check a page's layout."""
    return measure_layout
