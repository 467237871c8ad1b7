"""Low-level pieces of breastlab's self-contained HTML: the style sheet, tables, inlined figures, a page.

Every report section (the SpurBreast shortcut runs, anomaly detection, mammogram
classification, finding detection) builds its fragment from these; the report page
(:mod:`breastlab.report`) only strings fragments together. Figures are matplotlib PNGs
inlined as base64 data URIs, so a page references nothing outside itself.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np
import pandas as pd

from breastlab._table import fixed, format_number

REPORT_CSS = """
body{font-family:DejaVu Sans,Arial,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-top:10px}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #bbb;padding:3px 7px;text-align:right}th{background:#eee}
td:first-child,th:first-child{text-align:left}
.note{color:#555;font-size:13px}.bad{color:#a00;font-weight:bold}.good{color:#070}
img{max-width:100%;box-sizing:border-box;border:1px solid #ddd;margin:4px 0}
"""


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend (imported on first use: it is slow to load)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def png_uri(fig) -> str:
    """A matplotlib figure as a base64 PNG data URI (the figure is closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    pyplot().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def img_tag(uri: str, alt: str) -> str:
    """An ``<img>`` element for a data URI (``alt`` escaped)."""
    return f'<img src="{uri}" alt="{html.escape(alt)}">'


def html_table(
    df: pd.DataFrame, header_groups: list[tuple[str, int]] | None = None, decimals: int | None = None
) -> str:
    """``df`` as an HTML table (no index); cells are escaped, a missing or non-finite float shows as ``-``.

    Floats print as :func:`breastlab._table.format_number` does (4 significant digits, whole numbers as
    integers, never ``-0``), or with ``decimals`` fixed decimals when given (never ``-0.000``).
    ``header_groups`` adds a first header row of (label, column span) pairs.
    """
    head = ""
    if header_groups:
        cells = "".join(f'<th colspan="{n}" style="text-align:center">{html.escape(t)}</th>' for t, n in header_groups)
        head = f"<tr>{cells}</tr>"
    head += "<tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns) + "</tr>"

    def cell(v) -> str:
        if isinstance(v, float | np.floating):
            if not np.isfinite(v):
                return "-"
            return fixed(float(v), decimals) if decimals is not None else format_number(float(v))
        if v is None or v is pd.NA:
            return "-"
        return html.escape(str(v))

    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in df.itertuples(index=False))
    return f"<table>{head}{body}</table>"


def html_page(title: str, body: str) -> str:
    """A complete, self-contained HTML document: ``title`` as heading, then ``body``."""
    t = html.escape(title)
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{t}</title>"
        f"<style>{REPORT_CSS}</style></head><body><h1>{t}</h1>\n{body}\n</body></html>"
    )


__all__ = ["REPORT_CSS", "html_page", "html_table", "img_tag", "png_uri", "pyplot"]
