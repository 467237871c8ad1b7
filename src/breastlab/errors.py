"""The package's exceptions and warnings.

Every error caused by what a user gave (a file, a table row, a patient, a
column, an argument) is a :class:`BreastlabInputError` whose message names the
item and says what would be valid; the command line turns it into exit code 2
and one line of text, never a traceback.
"""

from __future__ import annotations


class BreastlabInputError(ValueError):
    """Bad input: the message names the file, patient, column or argument."""


class Interrupted(BaseException):  # noqa: N818 - named for what the user sees
    """A run stopped before its end (Ctrl-C, SIGTERM, a killed worker); what was finished is kept.

    A ``BaseException``, like ``KeyboardInterrupt``, so that handlers of ordinary errors do not
    swallow it. The command line prints "interrupted; run the same command to resume" and
    exits with ``exit_code`` (130 after Ctrl-C, 143 after SIGTERM, as shells report them).
    """

    def __init__(self, reason: str = "interrupted", exit_code: int = 130) -> None:
        super().__init__(reason)
        self.reason, self.exit_code = reason, exit_code
