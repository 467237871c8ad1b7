"""Reading the CSV tables of the data sets: UTF-8 (with or without BOM), every cell as text.

Other encodings are not guessed: a wrong guess changes names and labels silently. A file
that is not UTF-8 is refused with the encoding it most likely is (Latin-1 / Windows-1252,
UTF-16) and how to convert it; an empty file (no header) is refused too.
"""

from __future__ import annotations

import codecs
import io
import os
from pathlib import Path

import pandas as pd

from breastlab.errors import BreastlabInputError


def read_text_csv(path: str | os.PathLike, what: str = "CSV file") -> pd.DataFrame:
    """The table in ``path``, every cell as the text written there ("" for an empty cell).

    Raises :class:`BreastlabInputError` naming the file for: a missing or unreadable file,
    an empty file, text that is not UTF-8 (naming the likely encoding), or a malformed table.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BreastlabInputError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise BreastlabInputError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    text = decode_utf8(data, path, what)
    if not text.strip():
        raise BreastlabInputError(f"{path}: the {what} is empty; expected a header row and one row per record")
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise BreastlabInputError(f"{path}: cannot read the {what} as CSV ({exc})") from None


def decode_utf8(data: bytes, path: str | os.PathLike, what: str = "CSV file") -> str:
    """``data`` as UTF-8 text (a leading BOM dropped); other encodings refused, named in the message."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise BreastlabInputError(
            f"{path}: the {what} is UTF-16 text; save it as UTF-8 (e.g. `iconv -f UTF-16 -t UTF-8`)"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        byte = data[exc.start : exc.start + 1].hex().upper()
        guess = _likely_encoding(data)
        raise BreastlabInputError(
            f"{path}: the {what} is not UTF-8 (byte 0x{byte} on line {line}); it looks like {guess}. "
            f"Save it as UTF-8 (e.g. `iconv -f {'CP1252' if 'Windows' in guess else 'LATIN1'} -t UTF-8`)"
        ) from None


def _likely_encoding(data: bytes) -> str:
    """A name for a non-UTF-8 text: Windows-1252 where it uses that code page's extra characters
    (0x80-0x9F), else Latin-1 (ISO-8859-1), which decodes any byte."""
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return "Latin-1 (ISO-8859-1)"
    if any(0x80 <= b <= 0x9F for b in data):
        return "Windows-1252"
    return "Latin-1 (ISO-8859-1)"


def refuse_uids(raw: pd.DataFrame, path: str | os.PathLike, columns: list[str], advice: dict[str, str]) -> None:
    """Raise :class:`BreastlabInputError` where a cell of ``columns`` of a text table holds a DICOM UID.

    These columns are written into the store's manifest or findings, which are shared, while a
    UID identifies the study, series or image at its site. The message names the column, its
    first rows (1-based data rows) and what to give instead (``advice[column]``, else: drop the
    column or replace its values); the UIDs themselves are not repeated.
    """
    from breastlab.problems import holds_uid

    for column in columns:
        rows = [i + 1 for i, cell in enumerate(raw[column]) if holds_uid(cell)]
        if rows:
            listed = ", ".join(map(str, rows[:5])) + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")
            instead = advice.get(column, "drop the column or replace its values (it is copied into the manifest)")
            raise BreastlabInputError(
                f"{Path(path).name}: column {column} holds DICOM UIDs (row(s) {listed}); a UID identifies the "
                f"study or image at its site and would be written into the store, which is shared; {instead}"
            )
