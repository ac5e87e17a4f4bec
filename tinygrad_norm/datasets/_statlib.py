"""StatLib's raw ``cal_housing.data``: its identity (size, rows, sha256), its format and its conversion.

Which files must be StatLib's file byte for byte (their sha256 equal to StatLib's):

- the member ``CaliforniaHousing/cal_housing.data`` of an archive: the name claims it is StatLib's;
- a file in StatLib's format (rows of 9 numbers, no header) of StatLib's size (2,092,122 bytes) or
  with StatLib's 20640 rows: no other file has that size or row count by chance, and flipped bits or
  edited values keep one of them, so a damaged or modified copy is refused instead of being read as
  silently different values. The same bytes with other line endings (LF where StatLib has CRLF, as a
  git checkout may convert them), a final newline or a leading byte-order mark count as StatLib's:
  the reader splits lines at any line ending and drops the mark, so the values are exactly StatLib's.

Any other file in StatLib's format (a sample of its rows, the small files the tests write) is read
as data in StatLib's format, not as StatLib's file; modified data belongs in a CSV with a header.
When such a file's first row is written like StatLib's (``%f``: six decimals), every row must be,
which catches a copy cut short in the middle of a value (``89400.000000`` read as ``894``).
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from ..errors import DataError
from ._files import ARCHIVE_MEMBER, STATLIB_SIZE
from ._text import BOM, decode, echo, parse_rows, split_lines

STATLIB_SHA256 = "d3d8a1a722ae78f91134862727d27a70b1415e7d512a89140406248687f4b902"  # of cal_housing.data
STATLIB_ROWS = 20640
STATLIB_COLUMNS = ["longitude", "latitude", "housingMedianAge", "totalRooms", "totalBedrooms", "population",
                   "households", "medianIncome", "medianHouseValue"]
_HOUSEHOLDS = STATLIB_COLUMNS.index("households")
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_PERCENT_F = re.compile(r"-?[0-9]+\.[0-9]{6}")
_PERCENT_F_ROW = re.compile(rf"{_PERCENT_F.pattern}(?:,{_PERCENT_F.pattern}){{8}}")
_FIX = ("Use an intact copy (with no --data, the copy shipped with tinygrad_norm is used), or save modified data "
        "as a CSV with a header row (tinygrad_norm.datasets.write_csv)")


def convert_statlib(raw: np.ndarray) -> np.ndarray:
    """StatLib's 9 raw columns -> the 9 columns of ``COLUMNS``, as scikit-learn computes them."""
    if raw.ndim != 2 or raw.shape[1] != 9:
        raise DataError(f"cal_housing.data must have 9 columns, got shape {raw.shape}")
    lon, lat, age, rooms, bedrooms, pop, households, income, value = raw.T
    return np.column_stack([income, age, rooms / households, bedrooms / households, pop, pop / households,
                            lat, lon, value / 100_000.0])


def is_statlib(blob: bytes) -> bool:
    """Whether ``blob`` is StatLib's file, up to line endings (see the module's docstring)."""
    if hashlib.sha256(blob).hexdigest() == STATLIB_SHA256:
        return True
    canonical = _LINE_BREAK.sub(b"\r\n", blob.removeprefix(BOM)).rstrip(b"\r\n")
    return hashlib.sha256(canonical).hexdigest() == STATLIB_SHA256


def _check_statlib(blob: bytes, where: str, reason: str) -> None:
    if not is_statlib(blob):
        raise DataError(f"{where}: not StatLib's cal_housing.data: {reason}, but its sha256 differs from StatLib's "
                        f"({STATLIB_SHA256[:12]}...), so it is damaged or modified. {_FIX}")


def _width_error(lines: list[str], lineno: int, values: int) -> str:
    last = next((i + 1 for i in range(len(lines) - 1, -1, -1) if lines[i].strip()), 0)
    cut = "; the file looks cut short" if lineno == last and values < 9 else ""
    return (f"line {lineno} has {values} values; rows of StatLib's cal_housing.data (no header) have 9: "
            f"{', '.join(STATLIB_COLUMNS[:3])}, ..., {STATLIB_COLUMNS[-1]}{cut}. A CSV needs a header row of "
            "column names")


def statlib_rows(blob: bytes, where: str, member: bool = False) -> np.ndarray:
    """The raw (rows, 9) values of a file in StatLib's format, checked as the module's docstring says."""
    if member:
        _check_statlib(blob, where, f"it is the archive member {ARCHIVE_MEMBER}")
    elif len(blob) == STATLIB_SIZE:  # before parsing: a flipped bit is reported as such, not as a bad cell
        _check_statlib(blob, where, f"it has StatLib's size ({STATLIB_SIZE:,} bytes)")
    lines = split_lines(decode(blob, where))
    raw, linenos = parse_rows(lines, 1, STATLIB_COLUMNS, where, lambda n, k: _width_error(lines, n, k))
    if len(linenos) == STATLIB_ROWS and not member and len(blob) != STATLIB_SIZE:
        _check_statlib(blob, where, f"it has StatLib's {STATLIB_ROWS} rows")
    elif not member and len(blob) != STATLIB_SIZE:
        _check_written_alike(lines, linenos, where)
    bad = raw[:, _HOUSEHOLDS] <= 0
    if bad.any():
        raise DataError(f"{where}: line {linenos[int(np.argmax(bad))]}: households must be positive "
                        "(the averages divide by it)")
    return raw


def _check_written_alike(lines: list[str], linenos: list[int], where: str) -> None:
    """If the first row is written like StatLib's (%f), every row must be: a copy cut short in the middle of
    a value ends in a row that still has 9 numbers, one of them shortened."""
    if not _PERCENT_F_ROW.fullmatch(lines[linenos[0] - 1]):
        return
    for n in linenos:
        if not _PERCENT_F_ROW.fullmatch(lines[n - 1]):
            cells = lines[n - 1].split(",")
            j = next(j for j, cell in enumerate(cells) if not _PERCENT_F.fullmatch(cell))
            raise DataError(f"{where}: line {n}, column {j + 1} ({STATLIB_COLUMNS[j]}): {echo(cells[j])} is not "
                            "written like the rows before it (six decimals, as StatLib's %f), so the file looks cut "
                            f"short or edited. {_FIX}")
