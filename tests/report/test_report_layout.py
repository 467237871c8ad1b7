"""The report laid out by headless Chromium at desktop and laptop widths: no overlapping text, no clipped table."""

from __future__ import annotations

import pytest

WIDTHS = {"desktop": 1366, "laptop": 1024}


@pytest.mark.parametrize("screen", WIDTHS)
def test_report_layout(report, chromium, layout, tmp_path, screen):
    width = WIDTHS[screen]
    found = layout(chromium, report, width, tmp_path)
    print(
        f"{screen} {width}px: {found['n_boxes']} text/image boxes, {found['n_tables']} tables, "
        f"page {found['page_width']}px"
    )
    assert width - 40 <= found["viewport"] <= width  # the window size took effect
    assert found["n_tables"] >= 10 and found["n_boxes"] >= 500  # the whole report was measured
    assert found["overlaps"] == []
    assert found["clipped_tables"] == []
    assert found["page_width"] <= found["viewport"]  # nothing pushes the page sideways


@pytest.mark.parametrize("screen", WIDTHS)
def test_report_with_reader_study_layout(report_with_reader_study, chromium, layout, tmp_path, screen):
    width = WIDTHS[screen]
    found = layout(chromium, report_with_reader_study, width, tmp_path)
    print(f"{screen} {width}px: {found['n_boxes']} boxes, {found['n_tables']} tables, page {found['page_width']}px")
    assert found["n_tables"] >= 16  # the shortcut runs' tables and the reader study's six
    assert found["overlaps"] == [] and found["clipped_tables"] == []
    assert found["page_width"] <= found["viewport"]


BAD_PAGE = """<!DOCTYPE html><html><body>
<p style="position:absolute;top:10px;left:10px">first caption text</p>
<p style="position:absolute;top:14px;left:30px">second caption text</p>
<div style="width:200px;overflow:hidden;margin-top:80px"><table><tr>
<td style="white-space:nowrap">a very long cell that cannot wrap and is wider than its box</td></tr></table></div>
</body></html>"""

GOOD_PAGE = """<!DOCTYPE html><html><body><h1>Title</h1><p>One paragraph of text.</p>
<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table></body></html>"""


def test_layout_probe_catches_overlap_and_clipping(chromium, layout, tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text(BAD_PAGE)
    found = layout(chromium, bad, 1024, tmp_path)
    assert ["first caption text", "second caption text"] in found["overlaps"]
    assert len(found["clipped_tables"]) == 1 and "a very long cell" in found["clipped_tables"][0]
    good = tmp_path / "good.html"
    good.write_text(GOOD_PAGE)
    found = layout(chromium, good, 1024, tmp_path)
    assert found["overlaps"] == [] and found["clipped_tables"] == [] and found["n_tables"] == 1
