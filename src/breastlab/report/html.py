"""The report: one self-contained HTML page for the folders the studies leave behind.

The page is a header and one section per kind of folder found (:mod:`breastlab.report.sections`):
the SpurBreast shortcut runs first (Table 2 with patient-level bootstrap CIs, groups, shortcut,
Grad-CAM gallery), then anomaly, classification, detection and reader-study sections. Every figure is a PNG
inlined as base64; the file references nothing outside itself (no scripts, fonts or style
sheets are fetched).
"""

from __future__ import annotations

import datetime as _dt
import html
import inspect
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from breastlab import __version__
from breastlab._html import html_page
from breastlab._io import write_text
from breastlab.errors import BreastlabInputError
from breastlab.report.sections import SECTION_KINDS, SectionKind, find_sections


def write_report(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    out_html: str | os.PathLike = "report.html",
    *,
    title: str | None = None,
    section_kinds: Sequence[SectionKind] | None = None,
    **options: Any,
) -> Path:
    """Write the self-contained HTML report for runs, sweep folders, evaluations and other sections.

    Each path is searched for the folders of every section kind (default: :data:`SECTION_KINDS`).
    ``options`` are the sections' settings, each kind takes those its ``render`` names: the
    shortcut runs take ``n_boot``, ``seed``, ``level``, ``gallery``, ``max_gallery_runs``,
    ``per_kind``, ``published``, ``model_loader`` and ``preprocess``
    (:func:`breastlab.train.report.runs_section`).
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    for path in paths:
        if not Path(path).exists():
            raise BreastlabInputError(f"{path}: no such run, sweep or section folder")
    kinds = SECTION_KINDS if section_kinds is None else tuple(section_kinds)
    _check_options(options, kinds)
    found = find_sections(paths, kinds)
    if not found:
        raise BreastlabInputError(
            f"{', '.join(map(str, paths))}: no report section found (looked for: "
            f"{', '.join(k.name for k in kinds)}); train or evaluate first"
        )
    if title is None:
        title = f"breastlab report: {found[0][0].name}" if len(found) == 1 else "breastlab report"
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    parts = [f'<p class="note">breastlab {html.escape(__version__)}, {stamp}.</p>']
    parts += [kind.render(folders, **options) for kind, folders in found]
    return write_text(html_page(title, "\n".join(parts)), out_html)


def _check_options(options: dict[str, Any], kinds: Sequence[SectionKind]) -> None:
    """Refuse an option no section kind takes (a misspelt setting would otherwise do nothing)."""
    known = {
        name
        for kind in kinds
        for name, p in inspect.signature(kind.render).parameters.items()
        if p.kind is p.KEYWORD_ONLY
    }
    unknown = sorted(set(options) - known)
    if unknown:
        raise BreastlabInputError(f"write_report: unknown option(s) {unknown}; the sections take {sorted(known)}")


__all__ = ["write_report"]
