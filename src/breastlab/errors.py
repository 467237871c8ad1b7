"""The package's exceptions and warnings.

Every error caused by what a user gave (a file, a table row, a patient, a
column, an argument) is a :class:`BreastlabInputError` whose message names the
item and says what would be valid; the command line turns it into exit code 2
and one line of text, never a traceback.
"""

from __future__ import annotations


class BreastlabInputError(ValueError):
    """Bad input: the message names the file, patient, column or argument."""
