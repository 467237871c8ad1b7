"""The kinds of report section, one per study, and how their folders are found on disk.

``breastlab report PATH ...`` writes one HTML page from the folders the studies leave
behind: SpurBreast shortcut training runs (``breastlab train``), anomaly evaluations
(``breastlab anomaly evaluate``), mammogram classifications (``breastlab mammo classify``),
detection evaluations (``breastlab mammo detect evaluate``) and reader studies with their MRMC
analysis (``breastlab stats reader-study --out``). Each study owns its
section: a function that finds its folders and one that renders them. The report sits
above the studies and lists them in :data:`SECTION_KINDS`, by plain imports; a new study
adds one row here and the page writer does not change.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from breastlab import schemas
from breastlab.anomaly import report as anomaly_report
from breastlab.detect import report as detect_report
from breastlab.evaluate.stats import reader_study_report
from breastlab.mammo import report as mammo_report
from breastlab.train import report as shortcut_report


@dataclass(frozen=True)
class SectionKind:
    """One kind of report section.

    ``find(path)``: the folders of this kind at or below ``path`` (none: an empty list).
    ``render(folders, **options)``: the HTML fragment of all of them; ``options`` are the
    report's settings (bootstrap replicates, seed, gallery, ...), each kind takes what it uses.
    """

    name: str
    find: Callable[[Path], list[Path]]
    render: Callable[..., str]

    @classmethod
    def marked(cls, name: str, marker: str, section_from_dir: Callable[[Path], str]) -> SectionKind:
        """A kind whose folders hold the file ``marker`` and render one by one with ``section_from_dir``."""

        def render(folders: Sequence[Path], **_options) -> str:
            return "\n".join(section_from_dir(Path(f)) for f in folders)

        return cls(name, lambda path: marked_folders(path, marker), render)


def marked_folders(path: str | os.PathLike, marker: str) -> list[Path]:
    """``path`` itself when it holds ``marker``, else every folder below it that does, in path order."""
    path = Path(path)
    if (path / marker).is_file():
        return [path]
    return sorted(m.parent for m in path.rglob(marker))


SECTION_KINDS: tuple[SectionKind, ...] = (
    SectionKind("SpurBreast shortcut runs", shortcut_report.find_run_folders, shortcut_report.runs_section),
    SectionKind.marked("anomaly detection", schemas.ANOMALY_SECTION, anomaly_report.section_from_dir),
    SectionKind.marked("mammogram classification", schemas.CLASSIFY_SECTION, mammo_report.section_from_dir),
    SectionKind.marked("finding detection", schemas.DETECTION_SECTION, detect_report.section_from_dir),
    SectionKind.marked("reader study", schemas.READER_STUDY_SECTION, reader_study_report.section_from_dir),
)


def find_sections(
    paths: Sequence[str | os.PathLike], kinds: Sequence[SectionKind] | None = None
) -> list[tuple[SectionKind, list[Path]]]:
    """(kind, folders) for every kind with folders at or below ``paths``, in the order of ``kinds``.

    A folder inside another kind's folder belongs to that kind (a classification's own runs
    are not shortcut runs), so it is left out of its own kind."""
    kinds = SECTION_KINDS if kinds is None else tuple(kinds)
    found = {kind: [f for p in paths for f in kind.find(Path(p))] for kind in kinds}
    result = []
    for kind, folders in found.items():
        others = [f for other, fs in found.items() if other is not kind for f in fs]
        own = [f for f in dict.fromkeys(folders) if not is_inside(f, others)]
        if own:
            result.append((kind, own))
    return result


def is_inside(folder: Path, parents: list[Path]) -> bool:
    """Whether ``folder`` lies strictly below one of ``parents``."""
    folder = folder.resolve()
    return any(p.resolve() in folder.parents for p in parents)


__all__ = ["SECTION_KINDS", "SectionKind", "find_sections", "is_inside", "marked_folders"]
