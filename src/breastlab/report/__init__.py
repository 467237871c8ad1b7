"""breastlab.report: one self-contained HTML page from the folders the studies write.

:func:`write_report` finds every kind of section (:data:`SECTION_KINDS`) under its paths and
renders them in turn.
"""

from breastlab.report.html import write_report
from breastlab.report.sections import SECTION_KINDS, SectionKind, find_sections

__all__ = ["SECTION_KINDS", "SectionKind", "find_sections", "write_report"]
