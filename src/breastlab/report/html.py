"""The report: one self-contained HTML page for the folders the studies leave behind.

The page is a header and one section per kind of folder found (:mod:`breastlab.report.sections`):
the SpurBreast shortcut runs first (Table 2 with patient-level bootstrap CIs, groups, shortcut,
Grad-CAM gallery), then anomaly, classification and detection sections. Every figure is a PNG
inlined as base64; the file references nothing outside itself (no scripts, fonts or style
sheets are fetched).
"""

from __future__ import annotations

import datetime as _dt
import html
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from breastlab import __version__
from breastlab._html import html_page
from breastlab._io import write_text
from breastlab.errors import BreastlabInputError
from breastlab.report.sections import SECTION_KINDS, SectionKind, find_sections
from breastlab.train.report import ModelLoader


def write_report(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    out_html: str | os.PathLike = "report.html",
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    gallery: bool = True,
    max_gallery_runs: int = 3,
    per_kind: int = 4,
    published: Sequence[tuple] | None = None,
    model_loader: ModelLoader | None = None,
    preprocess: Callable | None = None,
    title: str | None = None,
    section_kinds: Sequence[SectionKind] | None = None,
) -> Path:
    """Write the self-contained HTML report for runs, sweep folders, evaluations and other sections.

    Each path is searched for the folders of every section kind (default: :data:`SECTION_KINDS`).
    The other arguments are the shortcut section's settings
    (:func:`breastlab.train.report.runs_section`).
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    for path in paths:
        if not Path(path).exists():
            raise BreastlabInputError(f"{path}: no such run, sweep or section folder")
    kinds = SECTION_KINDS if section_kinds is None else tuple(section_kinds)
    found = find_sections(paths, kinds)
    if not found:
        raise BreastlabInputError(
            f"{', '.join(map(str, paths))}: no report section found (looked for: "
            f"{', '.join(k.name for k in kinds)}); train or evaluate first"
        )
    options = dict(
        n_boot=n_boot,
        seed=seed,
        level=level,
        gallery=gallery,
        max_gallery_runs=max_gallery_runs,
        per_kind=per_kind,
        published=published,
        model_loader=model_loader,
        preprocess=preprocess,
    )
    if title is None:
        title = f"breastlab report: {found[0][0].name}" if len(found) == 1 else "breastlab report"
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    parts = [f'<p class="note">breastlab {html.escape(__version__)}, {stamp}.</p>']
    parts += [kind.render(folders, **options) for kind, folders in found]
    return write_text(html_page(title, "\n".join(parts)), out_html)


__all__ = ["write_report"]
