"""Data sources: numeric CSV files, StatLib's California housing files, and the copy shipped with the package.

``california_housing(source=None)`` returns the 20640 x 9 table of scikit-learn's
``fetch_california_housing`` (8 features and the target MedHouseVal, in $100,000). It reads,
in this order:

1. ``source``, a path to the converted CSV (with a header row), to StatLib's raw
   ``cal_housing.data``, or to the archive ``cal_housing.tgz`` that holds it;
2. the file named by the ``TINYGRAD_NORM_DATA`` environment variable (the same kinds);
3. the copy shipped with the package (``cal_housing.data.xz``: StatLib's file byte for byte,
   checked against its sha256 on every load). No network is ever used.

The kind of a file is recognised from its content, not its name: gzip, xz or bzip2 compression
from the magic bytes (any of the kinds may be compressed, e.g. ``cal_housing.data.xz``), a tar
archive from its header, StatLib's raw format from a first line of numbers (no header), else a CSV
with a header row. Lines may end in ``\n``, ``\r\n`` or ``\r``. ``read_table`` reads the same
files and also CSVs with any columns (``tinygrad-norm diagnose``).

Files bigger than memory: ``iter_table(path_or_glob, columns=None, chunk_rows=None)`` streams CSV (plain or
compressed) and Parquet files, one or many, as float64 chunks with the same checks and messages (``_stream``;
needs pyarrow, the ``files`` extra), for ``Normalizer.fit`` / ``partial_fit``, ``drift`` and ``tn.diagnose``.
``estimate_table(path)`` says how much memory the in-memory readers need for a file, before reading it, and
``available_memory()`` how much the system has (``_memory``).

Integrity and limits (``_files``, ``_statlib``): compressed data is read to its end so the
format's checks (gzip's CRC-32 and length, xz's and bzip2's checks, tar header checksums) run; a
file that claims to be StatLib's (an archive member named ``CaliforniaHousing/cal_housing.data``,
or a raw file of StatLib's size or row count) must match StatLib's sha256; files over
``MAX_FILE_BYTES`` (2 GiB) are refused before reading, and compressed files may expand to at most
``MAX_EXPANDED_BYTES`` (64 MiB). Errors are ``DataError``s that name the file, line and column and
quote at most a few dozen characters of the input.

Data: R. Kelley Pace and Ronald Barry, "Sparse Spatial Autoregressions", Statistics and
Probability Letters 33 (1997) 291-297; via StatLib (Carnegie Mellon). See ``README.md`` here.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..errors import DataError
from ..serialization import atomic_write
from ._files import (
    ARCHIVE_MEMBER,
    MAX_EXPANDED_BYTES,
    MAX_FILE_BYTES,
    STATLIB_SIZE,
    Content,
    read_content,
    size_text,
    too_large,
)
from ._memory import TableEstimate, available_memory, estimate_table
from ._statlib import STATLIB_COLUMNS, STATLIB_ROWS, STATLIB_SHA256, convert_statlib, is_statlib, statlib_rows
from ._stream import TableStream, iter_table, streamable
from ._text import decode, first_line_is_numbers, header_names, label, parse_rows, some, split_lines

FEATURES = ["MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude", "Longitude"]
TARGET = "MedHouseVal"
COLUMNS = FEATURES + [TARGET]

ENV_DATA = "TINYGRAD_NORM_DATA"
EMBEDDED = "cal_housing.data.xz"
EMBEDDED_SOURCE = "the copy of StatLib's cal_housing.data shipped with tinygrad_norm"
_T = TypeVar("_T")
_MEMORY_FACTOR = 6  # about how many times its size a file takes in memory while parsed (measured: 5.5x for
# a CSV, 4x for StatLib's format)


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


# ---- reading a file's bytes, bounded -------------------------------------------------------------------
def _read(path: str | os.PathLike) -> Content:
    """A file's bytes, decompressed (or StatLib's member of an archive), refused before reading when too large."""
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise DataError(f"{where}: no such file" + (" (it is a directory)" if path.is_dir() else ""))
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DataError(too_large(where, size))
        with path.open("rb") as f:
            return read_content(f, size, where)
    except OSError as e:
        raise DataError(f"{where}: cannot be read ({e.strerror or e})") from None


def _out_of_memory(where: str, path: Path) -> str:
    try:
        size = f" ({size_text(path.stat().st_size)})"
    except OSError:
        size = ""
    return (f"{where}: not enough memory to read this file{size}: this reader holds a file and its values in "
            f"memory (about {_MEMORY_FACTOR}x the size of its text); free some memory, or pass a sample of the rows")


def _guard_memory(read: Callable[..., _T]) -> Callable[..., _T]:
    """``read(path, ...)``, with running out of memory while reading or parsing turned into a DataError naming
    the file (a file under MAX_FILE_BYTES can still need more memory than the system has)."""
    @functools.wraps(read)
    def guarded(path: str | os.PathLike, *args: Any, **kwargs: Any) -> _T:
        try:
            return read(path, *args, **kwargs)
        except MemoryError:
            raise DataError(_out_of_memory(str(path), Path(path))) from None
    return guarded


# ---- CSV ------------------------------------------------------------------------------------------------
def _csv_width_error(header: int) -> Callable[[int, int], str]:
    return lambda lineno, values: f"line {lineno} has {values} values, the header has {header}"


def _check_columns(names: list[str], columns: list[str], where: str) -> None:
    """A file's columns must be exactly ``columns`` (in any order)."""
    missing = [c for c in columns if c not in names]
    extra = [c for c in names if c not in columns]
    if missing or extra:
        raise DataError(f"{where}: wrong columns" + (f"; missing [{some(missing, shown=9)}]" if missing else "")
                        + (f"; unexpected [{some(extra)}]" if extra else "") + f". Expected exactly {columns}")


def _csv_from_text(text: str, where: str, columns: list[str] | None) -> tuple[list[str], np.ndarray]:
    lines = split_lines(text)
    names = header_names(lines[0] if lines else "", where)
    if columns is not None:
        _check_columns(names, columns, where)
    if columns is not None and len(set(names)) != len(names):  # else reordering would silently drop one
        twice = [n for n, k in Counter(names).items() if k > 1]
        raise DataError(f"{where}: the header names a column twice: {some(twice)}")
    data, _ = parse_rows(lines[1:], 2, names, where, _csv_width_error(len(names)))
    if columns is not None and names != columns:
        data = data[:, [names.index(c) for c in columns]]
        names = list(columns)
    return names, data


@_guard_memory
def read_csv(path: str | os.PathLike, columns: list[str] | None = None) -> tuple[list[str], np.ndarray]:
    """Read a numeric CSV with a header row (optionally compressed); returns (column names, float64 array).

    With ``columns``, the file must have exactly those columns (in any order) and the result is
    reordered to match. Errors name the file, line and column.
    """
    content = _read(path)
    if content.member:
        raise DataError(f"{path}: is StatLib's archive, not a CSV; read it with read_housing or read_table")
    return _csv_from_text(decode(content.data, content.where), content.where, columns)


def write_csv(path: str | os.PathLike, data: np.ndarray, columns: list[str] = COLUMNS) -> Path:
    """Write rows with ``repr(float)`` (the shortest form that reads back exactly), atomically."""
    def write(f):
        f.write(",".join(columns) + "\n")
        for row in data:
            f.write(",".join(repr(float(v)) for v in row) + "\n")
    return atomic_write(path, write, mode="w")


# ---- any supported file -> a Table -----------------------------------------------------------------------
def _table(content: Content, housing: bool) -> Table:
    """StatLib's format (no header) -> the converted housing table; a CSV -> its columns, which must be
    COLUMNS when ``housing`` (and are reordered to COLUMNS whenever they are those)."""
    where = content.where
    if content.member or first_line_is_numbers(content.data):
        return Table(list(COLUMNS), convert_statlib(statlib_rows(content.data, where, content.member)), where)
    text = decode(content.data, where)
    if not housing:
        names = [c.strip() for c in split_lines(text[:1 << 20])[0].split(",")]  # a peek at the header
        housing = sorted(names) == sorted(COLUMNS)
    names, data = _csv_from_text(text, where, COLUMNS if housing else None)
    return Table(names, data, where)


@_guard_memory
def read_housing(path: str | os.PathLike) -> Table:
    """California housing from a file: the converted CSV (header row), StatLib's ``cal_housing.data``
    (no header), or the ``cal_housing.tgz`` archive holding it, any of them gzip-, xz- or
    bzip2-compressed; the kind is read from the content (see the module's docstring)."""
    return _table(_read(path), housing=True)


@_guard_memory
def read_table(path: str | os.PathLike) -> Table:
    """Any file ``read_housing`` reads (as the housing table, columns ``COLUMNS``), or a numeric CSV
    with a header row of any columns (those columns, in the file's order)."""
    return _table(_read(path), housing=False)


def embedded_housing() -> Table:
    """The shipped copy: StatLib's file byte for byte (sha256-checked), converted like scikit-learn."""
    try:
        packed = resources.files(__name__).joinpath(EMBEDDED).read_bytes()
        blob = read_content(io.BytesIO(packed), len(packed), EMBEDDED_SOURCE).data
    except (OSError, DataError) as e:
        raise DataError(f"the California housing copy shipped with tinygrad_norm is missing or damaged ({e}); "
                        "reinstall the package, or pass --data PATH") from None
    if hashlib.sha256(blob).hexdigest() != STATLIB_SHA256:
        raise DataError("the California housing copy shipped with tinygrad_norm does not match its sha256; "
                        "reinstall the package, or pass --data PATH")
    return Table(list(COLUMNS), convert_statlib(statlib_rows(blob, EMBEDDED_SOURCE)), EMBEDDED_SOURCE)


_UNSET = f"unset it (unset {ENV_DATA}) to use the copy shipped with the package"


def _env_error(e: DataError) -> DataError:
    """An error about the file ``$TINYGRAD_NORM_DATA`` names: the user may not know the variable is set, so say
    where the file name came from."""
    return DataError(f"{e} (this file is named by ${ENV_DATA}, as no --data was given: fix it, pass --data PATH, or "
                     f"{_UNSET})")


def california_housing(source: str | os.PathLike | None = None) -> Table:
    """The California housing table: ``source``, else ``$TINYGRAD_NORM_DATA``, else the shipped copy."""
    if source is not None:
        return read_housing(source)
    env = os.environ.get(ENV_DATA)
    if not env:
        return embedded_housing()
    if not Path(env).is_file():
        raise DataError(f"{ENV_DATA}={label(env, 80)}: no such file; {_UNSET}")
    try:
        return read_housing(env)
    except DataError as e:
        raise _env_error(e) from None


def housing_stream(chunk_rows: int | None = None) -> TableStream | None:
    """The California housing table of ``$TINYGRAD_NORM_DATA`` as a stream (columns ``COLUMNS``), when that file is
    one ``iter_table`` reads (a CSV or Parquet file); None when the variable is unset or names anything else
    (StatLib's raw file or archive, or no file: ``california_housing()`` reads it or says why)."""
    env = os.environ.get(ENV_DATA)
    if not env or not Path(env).is_file() or not streamable(env):
        return None
    try:
        stream = iter_table(env, chunk_rows=chunk_rows)
        _check_columns(stream.names, COLUMNS, env)
        return stream.select(COLUMNS)
    except DataError as e:
        raise _env_error(e) from None


__all__ = ["ARCHIVE_MEMBER", "COLUMNS", "DataError", "ENV_DATA", "FEATURES", "MAX_EXPANDED_BYTES", "MAX_FILE_BYTES",
           "STATLIB_COLUMNS", "STATLIB_ROWS", "STATLIB_SHA256", "STATLIB_SIZE", "TARGET", "Table", "TableEstimate",
           "TableStream", "available_memory", "california_housing", "convert_statlib", "embedded_housing",
           "estimate_table", "housing_stream", "is_statlib", "iter_table", "read_csv", "read_housing", "read_table",
           "streamable", "write_csv"]
