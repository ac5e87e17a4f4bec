"""Data sources: numeric CSV files, StatLib's California housing files, and the copy shipped with the package.

``california_housing(source=None)`` returns the 20640 x 9 table of scikit-learn's
``fetch_california_housing`` (8 features and the target MedHouseVal, in $100,000). It reads,
in this order:

1. ``source``, a path to the converted CSV (with a header row), to StatLib's raw
   ``cal_housing.data``, or to the archive ``cal_housing.tgz`` that holds it (the kind is
   recognised from the content, not the name);
2. the file named by the ``TINYGRAD_NORM_DATA`` environment variable (the same kinds);
3. the copy shipped with the package (``cal_housing.data.xz``: StatLib's file byte for byte,
   checked against its sha256 on every load). No network is ever used.

Data: R. Kelley Pace and Ronald Barry, "Sparse Spatial Autoregressions", Statistics and
Probability Letters 33 (1997) 291-297; via StatLib (Carnegie Mellon). See ``README.md`` here.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import re
import tarfile
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..serialization import atomic_write

FEATURES = ["MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude", "Longitude"]
TARGET = "MedHouseVal"
COLUMNS = FEATURES + [TARGET]
STATLIB_COLUMNS = ["longitude", "latitude", "housingMedianAge", "totalRooms", "totalBedrooms", "population",
                   "households", "medianIncome", "medianHouseValue"]

ENV_DATA = "TINYGRAD_NORM_DATA"
EMBEDDED = "cal_housing.data.xz"
STATLIB_SHA256 = "d3d8a1a722ae78f91134862727d27a70b1415e7d512a89140406248687f4b902"  # of cal_housing.data
ARCHIVE_MEMBER = "CaliforniaHousing/cal_housing.data"
EMBEDDED_SOURCE = "the copy of StatLib's cal_housing.data shipped with tinygrad_norm"

_ECHO = 40  # characters of a bad cell or line quoted back in an error
_NUMBER = re.compile(r"\s*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)\s*",
                     re.IGNORECASE)


@dataclass(frozen=True)
class Table:
    """A numeric table: column names, float64 values (rows x columns) and where it came from."""

    names: list[str]
    data: np.ndarray
    source: str

    @property
    def fingerprint(self) -> str:
        """sha256 of the float64 values: equal for the CSV, the raw file and the shipped copy of the same data."""
        return hashlib.sha256(np.ascontiguousarray(self.data, dtype="<f8").tobytes()).hexdigest()

    @property
    def features(self) -> np.ndarray:
        return self.data[:, :-1]

    @property
    def target(self) -> np.ndarray:
        return self.data[:, -1]


def _echo(text: str) -> str:
    text = text.strip()
    return repr(text if len(text) <= _ECHO else text[:_ECHO] + "...")


# ---- text decoding and CSV ------------------------------------------------------------------------------
def _decode(blob: bytes, where: str) -> str:
    try:
        return blob.decode("utf-8-sig")  # a leading byte-order mark is not part of the header
    except UnicodeDecodeError as e:
        line = blob.count(b"\n", 0, e.start) + 1
        raise DataError(f"{where}: line {line} is not UTF-8 text (byte {blob[e.start]:#04x}); "
                        "save the file as UTF-8 (or plain ASCII) CSV") from None


def _lines(text: str) -> list[str]:
    """Lines split at newlines only (str.splitlines also splits at form feeds and other separators, which
    would shift every line number after them)."""
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def _locate_bad_cell(rows: list[tuple[int, str]], names: list[str], where: str) -> str:
    """Slow path, only after the fast parser failed: name the first bad line and column."""
    for lineno, line in rows:
        cells = line.split(",")
        if len(cells) != len(names):
            return f"{where}: line {lineno} has {len(cells)} values, the header has {len(names)}"
        for j, cell in enumerate(cells):
            if not _NUMBER.fullmatch(cell):
                hint = " ('#' is not a comment marker in data rows)" if "#" in cell else ""
                return f"{where}: line {lineno}, column {j + 1} ({names[j]}): {_echo(cell)} is not a number{hint}"
    return f"{where}: a value could not be parsed"


def _parse_rows(lines: list[str], first_line: int, names: list[str], where: str) -> tuple[np.ndarray, list[int]]:
    """Rows of comma-separated numbers (blank and whitespace-only lines skipped) -> (float64 (rows,
    len(names)), each row's line number in the file)."""
    rows = [(first_line + i, line) for i, line in enumerate(lines) if line.strip()]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": reported below
            data = np.loadtxt([line for _, line in rows], delimiter=",", dtype=np.float64, ndmin=2, comments=None)
    except ValueError:
        raise DataError(_locate_bad_cell(rows, names, where)) from None
    if data.shape[0] == 0:
        raise DataError(f"{where}: no data rows")
    if data.shape[1] != len(names):
        raise DataError(_locate_bad_cell(rows, names, where))
    linenos = [n for n, _ in rows]
    if not np.isfinite(data).all():
        r, c = np.argwhere(~np.isfinite(data))[0]
        raise DataError(f"{where}: line {linenos[r]}, column {c + 1} ({names[c]}) is {data[r, c]}; "
                        "the data must be finite numbers")
    return data, linenos


def read_csv(path: str | os.PathLike, columns: list[str] | None = None) -> tuple[list[str], np.ndarray]:
    """Read a numeric CSV with a header row; returns (column names, float64 array).

    With ``columns``, the file must have exactly those columns (in any order) and the result is
    reordered to match. Errors name the file, line and column.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    return _csv_from_text(_decode(path.read_bytes(), str(path)), str(path), columns)


def _csv_from_text(text: str, where: str, columns: list[str] | None) -> tuple[list[str], np.ndarray]:
    lines = _lines(text)
    header = lines[0] if lines else ""
    names = [c.strip() for c in header.split(",")]
    if not header.strip() or not all(names):
        raise DataError(f"{where}: the first line must be a header of column names, got {_echo(header)}")
    if columns is not None:
        missing = [c for c in columns if c not in names]
        extra = [c for c in names if c not in columns]
        if missing or extra:
            raise DataError(f"{where}: wrong columns" + (f"; missing {missing}" if missing else "")
                            + (f"; unexpected {extra}" if extra else "") + f". Expected exactly {columns}")
    data, _ = _parse_rows(lines[1:], 2, names, where)
    if columns is not None and names != columns:
        data = data[:, [names.index(c) for c in columns]]
        names = list(columns)
    return names, data


def write_csv(path: str | os.PathLike, data: np.ndarray, columns: list[str] = COLUMNS) -> Path:
    """Write rows with ``repr(float)`` (the shortest form that reads back exactly), atomically."""
    def write(f):
        f.write(",".join(columns) + "\n")
        for row in data:
            f.write(",".join(repr(float(v)) for v in row) + "\n")
    return atomic_write(path, write, mode="w")


# ---- StatLib's raw file and archive -----------------------------------------------------------------------
def convert_statlib(raw: np.ndarray) -> np.ndarray:
    """StatLib's 9 raw columns -> the 9 columns of ``COLUMNS``, as scikit-learn computes them."""
    if raw.ndim != 2 or raw.shape[1] != 9:
        raise DataError(f"cal_housing.data must have 9 columns, got shape {raw.shape}")
    lon, lat, age, rooms, bedrooms, pop, households, income, value = raw.T
    return np.column_stack([income, age, rooms / households, bedrooms / households, pop, pop / households,
                            lat, lon, value / 100_000.0])


def _statlib_table(blob: bytes, where: str) -> Table:
    raw, linenos = _parse_rows(_lines(_decode(blob, where)), 1, STATLIB_COLUMNS, where)
    if (raw[:, 6] <= 0).any():
        raise DataError(f"{where}: line {linenos[int(np.argmax(raw[:, 6] <= 0))]}: households must be positive "
                        "(the averages divide by it)")
    return Table(list(COLUMNS), convert_statlib(raw), where)


def _archive_member(blob: bytes, where: str) -> bytes:
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tar:
            member = tar.extractfile(ARCHIVE_MEMBER)
            if member is None:
                raise KeyError(ARCHIVE_MEMBER)
            return member.read()
    except (tarfile.TarError, KeyError, EOFError, OSError, lzma.LZMAError) as e:
        raise DataError(f"{where}: not a readable cal_housing.tgz archive holding {ARCHIVE_MEMBER} "
                        f"({type(e).__name__}: {e})") from None


def read_housing(path: str | os.PathLike) -> Table:
    """California housing from a file: the converted CSV (header row), StatLib's ``cal_housing.data``
    (no header), or the ``cal_housing.tgz`` archive holding it; the kind is read from the content."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file" + (" (it is a directory)" if path.is_dir() else ""))
    try:
        blob = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror or e})") from None
    where = str(path)
    if blob[:2] == b"\x1f\x8b" or blob[257:262] == b"ustar":  # gzip, or an uncompressed tar
        return _statlib_table(_archive_member(blob, where), f"{where}:{ARCHIVE_MEMBER}")
    text_start = blob[:256].lstrip(b"\xef\xbb\xbf").lstrip()
    if text_start[:1] and (text_start[:1].isdigit() or text_start[:1] in b"+-."):
        return _statlib_table(blob, where)
    names, data = _csv_from_text(_decode(blob, where), where, COLUMNS)
    return Table(names, data, where)


def embedded_housing() -> Table:
    """The shipped copy: StatLib's file byte for byte (sha256-checked), converted like scikit-learn."""
    try:
        blob = lzma.decompress(resources.files(__name__).joinpath(EMBEDDED).read_bytes())
    except (OSError, lzma.LZMAError) as e:
        raise DataError(f"the California housing copy shipped with tinygrad_norm is missing or damaged ({e}); "
                        "reinstall the package, or pass --data PATH") from None
    if hashlib.sha256(blob).hexdigest() != STATLIB_SHA256:
        raise DataError("the California housing copy shipped with tinygrad_norm does not match its sha256; "
                        "reinstall the package, or pass --data PATH")
    table = _statlib_table(blob, EMBEDDED_SOURCE)
    return table


def california_housing(source: str | os.PathLike | None = None) -> Table:
    """The California housing table: ``source``, else ``$TINYGRAD_NORM_DATA``, else the shipped copy."""
    if source is not None:
        return read_housing(source)
    env = os.environ.get(ENV_DATA)
    if env:
        if not Path(env).is_file():
            raise DataError(f"{ENV_DATA}={env}: no such file; unset it to use the copy shipped with the package")
        return read_housing(env)
    return embedded_housing()


__all__ = ["COLUMNS", "DataError", "ENV_DATA", "FEATURES", "TARGET", "Table", "california_housing",
           "convert_statlib", "embedded_housing", "read_csv", "read_housing", "write_csv"]
