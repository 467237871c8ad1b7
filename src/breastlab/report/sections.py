"""Report sections of the other capabilities, found on disk by a marker file.

``breastlab report PATH ...`` writes one HTML page. Besides shortcut training runs it
recognises the output folders of ``breastlab anomaly evaluate``, ``breastlab mammo
classify`` and ``breastlab mammo detect evaluate``: each writes a marker JSON there, and
its capability's ``section_from_dir(folder) -> str`` rebuilds its HTML fragment from what
it saved. Adding a capability means adding one :class:`SectionKind` here; the page
writer does not change.
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from breastlab.errors import BreastlabInputError


@dataclass(frozen=True)
class SectionKind:
    """One kind of report section: its marker file and the module whose ``section_from_dir`` renders it."""

    name: str
    marker: str
    module: str

    def render(self, folder: str | os.PathLike) -> str:
        """HTML fragment of the section saved in ``folder``."""
        build = getattr(importlib.import_module(self.module), "section_from_dir", None)
        if build is None:
            raise BreastlabInputError(f"{folder}: {self.module} has no section_from_dir() to render its {self.name}")
        return build(Path(folder))


SECTION_KINDS: tuple[SectionKind, ...] = (
    SectionKind("anomaly detection", "anomaly_section.json", "breastlab.anomaly.report"),
    SectionKind("mammogram classification", "classify_section.json", "breastlab.mammo.report"),
    SectionKind("finding detection", "detection_section.json", "breastlab.detect.report"),
)


def find_sections(
    path: str | os.PathLike, kinds: tuple[SectionKind, ...] | None = None
) -> list[tuple[SectionKind, Path]]:
    """(kind, folder) for ``path`` itself and every folder below it that holds a section marker, in path order."""
    path = Path(path)
    found: list[tuple[SectionKind, Path]] = []
    for kind in SECTION_KINDS if kinds is None else kinds:
        if (path / kind.marker).is_file():
            found.append((kind, path))
        else:
            found += [(kind, marker.parent) for marker in sorted(path.rglob(kind.marker))]
    return sorted(found, key=lambda item: str(item[1]))


def is_inside(folder: Path, parents: list[Path]) -> bool:
    """Whether ``folder`` is one of ``parents`` or below one (a section folder's own files are not runs)."""
    folder = folder.resolve()
    return any(folder == p.resolve() or p.resolve() in folder.parents for p in parents)


def read_section_marker(folder: str | os.PathLike, marker: str, *, remedy: str, version: int | None = None) -> dict:
    """The marker JSON of a section folder, checked: present, of ``version`` (when given), and every
    file named in its ``files`` mapping (``None`` entries are optional files not written) on disk.

    ``remedy`` says how to (re)write the folder, e.g. "run `breastlab anomaly evaluate ... --out DIR`"."""
    folder = Path(folder)
    path = folder / marker
    if not path.is_file():
        raise BreastlabInputError(f"{folder}: no {marker}; {remedy}")
    meta = json.loads(path.read_text())
    if version is not None and meta.get("version") != version:
        raise BreastlabInputError(
            f"{path}: section version {meta.get('version')!r}, this breastlab reads {version}; {remedy}"
        )
    missing = sorted(f for f in (meta.get("files") or {}).values() if f is not None and not (folder / f).is_file())
    if missing:
        raise BreastlabInputError(f"{folder}: files named by {marker} are missing: {missing}; {remedy}")
    return meta


__all__ = ["SECTION_KINDS", "SectionKind", "find_sections", "is_inside", "read_section_marker"]
