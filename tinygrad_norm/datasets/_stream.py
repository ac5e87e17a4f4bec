"""Numeric tables streamed from files of any size: ``iter_table(path_or_glob, columns=None, chunk_rows=None)``.

The in-memory readers (``read_csv``, ``read_table``) hold a file and its values at once, and take files up
to 2 GiB. ``iter_table`` reads CSV files (plain, gzip, xz or bzip2: recognised by their content, as those
readers recognise them) and Parquet files, one or many (a glob or a list of paths), and gives their values
as float64 chunks of ``chunk_rows`` rows, each made and dropped in turn: what ``Normalizer.fit``,
``partial_fit``, ``drift`` and ``tn.diagnose`` take to compute statistics in bounded memory.

Parsing is pyarrow's (the ``files`` extra): ``pyarrow.csv.read_csv`` on blocks of whole lines of about
``BLOCK_BYTES`` (cut here at line breaks; the next block is read and parsed in a thread while the caller
uses this one) and ``pyarrow.parquet.ParquetFile.iter_batches``. Validation is the in-memory CSV reader's,
with its messages: the first line is a header of names; every row has the header's width; every cell is a
number (``_text.NUMBER``) and finite. pyarrow checks the widths and converts the cells; a block it refuses, or
whose values are not all finite, is parsed again line by line by the same rules as the in-memory reader,
which either names the file, line and column of the first bad cell or, for what only pyarrow refuses
(a line of spaces), gives that block's values. A Parquet file's rows have no lines: its errors name the row.

With ``columns=`` only those columns are converted and checked (the others may hold anything, text
included, but every row still needs the header's width); every file must have each of them. Without it
every file must have the first file's columns, in any order (matched by name, given in the first file's
order). A file without data rows, or that changed since its header was read, is an error. Files are
never read or decompressed whole: memory is bounded by about three blocks and their values, a chunk and
pyarrow's buffers, whatever the file's size (``bench/test_stream.py`` measures the peak). Line numbers are
counted only for an error's message (by reading the file again up to the bad block), never on the fast path.
"""

from __future__ import annotations

import contextlib
import glob as _glob
import importlib.util
import math
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, DataError, MissingDependencyError
from ._files import _DAMAGED, TAR_MAGIC, codec_reader, compression, damaged, size_text, unsupported
from ._text import (
    NUMBER,
    decode,
    first_line_is_numbers,
    header_names,
    label,
    not_a_number,
    not_finite,
    some,
    split_lines,
)

# default chunk: about this many bytes of float64 values. Under glibc's largest mmap threshold (32 MiB), so a
# freed chunk's memory is reused for the next one: 64 MiB chunks, each a fresh mapping, filled 10x slower
# (page faults), and a fit's per-chunk overhead is already small at 2M values a chunk
CHUNK_BYTES = 16 << 20
BLOCK_BYTES = 16 << 20  # CSV text handed to pyarrow at a time (its threads split it further)
MAX_HEADER_BYTES = 64 << 20  # a first line longer than this is not a header (a binary file, no line breaks)
_ARROW_BLOCK = 1 << 20  # pyarrow's own block: the unit its threads parse in parallel
_PARQUET_BATCH = 1 << 16  # rows per Parquet batch read (pyarrow's default)
_PARQUET_BUFFER = 1 << 20  # bytes of a column chunk read at a time
_PARQUET_MAGIC = b"PAR1"
_GLOB_CHARS = frozenset("*?[")


def _arrow() -> Any:
    try:
        import pyarrow
        import pyarrow.csv  # noqa: F401 (the submodules are attributes of pyarrow once imported)
    except ImportError:
        raise MissingDependencyError("iter_table needs pyarrow: pip install -e '.[files]' (or pip install "
                                     "pyarrow)") from None
    return pyarrow


@dataclass(frozen=True)
class _File:
    """One file of a stream: what its header (or Parquet schema) said."""

    path: Path
    kind: str  # "csv" or "parquet"
    codec: str | None  # a CSV's compression (_files' codecs), None when plain
    names: list[str]  # the file's columns, in its order
    take: list[int]  # the stream's columns: their positions in this file, in the stream's order
    header: bytes  # a CSV's first line as read (checked again when the file is read)

    @property
    def where(self) -> str:
        return str(self.path)


class TableStream:
    """Float64 chunks of a table in one or more files, from :func:`iter_table`.

    ``names``: the columns (the features); ``files``: the paths read, in order; ``chunk_rows``: the rows of
    every chunk but the last of each file. Iterating reads the files from the start, one chunk in memory at a
    time (each ``iter()`` is a new pass, so the same stream can be fitted and then checked for drift). Every
    chunk is a new C-contiguous ``(rows, len(names))`` float64 array: keep it or drop it.
    ``Normalizer.fit`` / ``partial_fit`` take the stream directly and name the features after ``names``.
    """

    def __init__(self, files: list[_File], names: list[str], chunk_rows: int, source: str,
                 spec: tuple[Any, int | None]) -> None:
        self._files = files
        self.names = list(names)
        self.chunk_rows = chunk_rows
        self.source = source  # the file, or the pattern and how many files it matched: for messages
        self._spec = spec  # (path_or_glob, chunk_rows as given)

    def select(self, columns: Sequence[str]) -> TableStream:
        """A stream of the same files that reads only ``columns``, in this order (checked in every file)."""
        return iter_table(self._spec[0], columns=columns, chunk_rows=self._spec[1])

    @property
    def files(self) -> list[str]:
        return [f.where for f in self._files]

    def __iter__(self) -> Iterator[np.ndarray]:
        for f in self._files:
            yield from (_parquet_chunks if f.kind == "parquet" else _csv_chunks)(f, self.chunk_rows)

    def __repr__(self) -> str:
        return (f"TableStream({self.source}: {len(self.names)} columns [{some(self.names)}], chunks of "
                f"{self.chunk_rows:,} rows)")


def iter_table(path_or_glob: str | os.PathLike | Sequence[str | os.PathLike], columns: Sequence[str] | None = None,
               chunk_rows: int | None = None) -> TableStream:
    """A table streamed from CSV or Parquet files as float64 chunks (see the module's docstring).

    ``path_or_glob``: a file, a glob pattern (``"parts/*.csv"``, ``**`` for subfolders; matches in sorted
    order) or a list of them. ``columns``: the columns to read, in this order (default: all, in the first
    file's order). ``chunk_rows``: rows per chunk (default: ``CHUNK_BYTES``, 16 MiB, of float64; at least 1).
    The headers (or Parquet schemas) of every file are read and checked here; the data when the stream is
    iterated."""
    if columns is not None:
        if isinstance(columns, (str, bytes)) or not isinstance(columns, Sequence):
            raise ArgumentTypeError(f"iter_table: columns= takes a list of column names, got "
                                    f"{type(columns).__name__} {label(repr(columns))}"
                                    + (f" (one column: columns=[{columns!r}])" if isinstance(columns, str) else ""))
        columns = list(columns)
        if not columns or not all(isinstance(c, str) for c in columns):
            raise ArgumentError("iter_table: columns= must name at least one column, each a string; got "
                                f"{label(repr(columns))}")
        twice = sorted({c for c in columns if columns.count(c) > 1})
        if twice:
            raise ArgumentError(f"iter_table: columns= names a column twice: {some(twice)}")
    if chunk_rows is not None and (isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer))
                                   or chunk_rows < 1):
        raise ArgumentError(f"iter_table: chunk_rows must be a positive integer, got {chunk_rows!r}")
    paths, source = _resolve(path_or_glob)
    files: list[_File] = []
    for path in paths:
        files.append(_open_file(path, columns, files[0] if files else None))
    names = columns if columns is not None else files[0].names
    rows = int(chunk_rows) if chunk_rows is not None else max(1, CHUNK_BYTES // (8 * len(names)))
    return TableStream(files, names, rows, source, (path_or_glob, chunk_rows))


def streamable(source: str | os.PathLike | Sequence[str | os.PathLike]) -> bool:
    """Whether ``iter_table`` is the reader for ``source``: a list or a glob pattern, a Parquet file, or a CSV with
    a header row (plain or compressed) when pyarrow is installed. False for StatLib's headerless file or its
    archive, which only the in-memory readers take, for a CSV without pyarrow, and for a file that cannot be
    read (those readers then read it, or say why)."""
    if isinstance(source, (list, tuple)):
        return True
    text = os.fsdecode(os.fspath(source))
    path = Path(text)
    if not path.is_file():
        return bool(_GLOB_CHARS.intersection(text)) and not path.exists()
    try:
        with path.open("rb") as raw:
            head = raw.read(512)
        if head.startswith(_PARQUET_MAGIC):
            return True
        codec = compression(head)
        if codec is not None:
            if codec not in ("gzip", "xz", "bzip2"):
                return False
            with _csv_bytes(path, codec) as f:
                head = f.read(512)
    except (*_DAMAGED, OSError, DataError):
        return False
    return (head[TAR_MAGIC] != b"ustar" and not (head and first_line_is_numbers(head))
            and importlib.util.find_spec("pyarrow") is not None)


# ---- which files ---------------------------------------------------------------------------------------
def _resolve(spec: Any) -> tuple[list[Path], str]:
    """The files a path, a glob or a list of them names, and how to name them in messages."""
    if isinstance(spec, (str, os.PathLike)):
        items, single = [spec], True
    elif isinstance(spec, (list, tuple)) and spec:
        items, single = list(spec), False
    else:
        raise ArgumentTypeError(f"iter_table: expected a path, a glob pattern or a non-empty list of them, got "
                                f"{type(spec).__name__}")
    paths: list[Path] = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            raise ArgumentTypeError(f"iter_table: a path must be a string or os.PathLike, got {type(item).__name__}")
        text = os.fspath(item)
        if isinstance(text, bytes):
            text = os.fsdecode(text)
        if _GLOB_CHARS.intersection(text) and not Path(text).exists():
            matched = sorted(p for p in _glob.glob(text, recursive=True) if Path(p).is_file())
            if not matched:
                raise DataError(f"{text}: no file matches this pattern")
            paths += [Path(p) for p in matched]
            continue
        path = Path(text)
        if path.is_dir():
            raise DataError(f"{text}: is a directory; pass its files as a pattern, e.g. {os.path.join(text, '*.csv')}")
        if not path.is_file():
            raise DataError(f"{text}: no such file")
        paths.append(path)
    seen: dict[str, Path] = {}
    for p in paths:
        key = os.path.realpath(p)
        if key in seen:
            raise DataError(f"{p}: named twice (also as {seen[key]}); each file is read once, so no rows count twice")
        seen[key] = p
    if single and len(paths) == 1:
        return paths, str(paths[0])
    what = os.fspath(spec) if single else f"{len(items)} path(s)"
    return paths, f"{len(paths):,} files ({label(str(what), 60)})"


def _open_file(path: Path, columns: list[str] | None, first: _File | None) -> _File:
    """A file's kind and columns, checked against the stream's (``first``: the stream's first file)."""
    where = str(path)
    try:
        with path.open("rb") as raw:
            head = raw.read(512)
    except OSError as e:
        raise DataError(f"{where}: cannot be read ({e.strerror or e})") from None
    if head.startswith(_PARQUET_MAGIC):
        kind, codec, header, names = "parquet", None, b"", _parquet_names(path)
    else:
        kind, codec = "csv", compression(head)
        if codec is not None and codec not in ("gzip", "xz", "bzip2"):
            raise DataError(unsupported(where, codec))
        with _csv_bytes(path, codec) as f:
            header, _, _ = _header_line(f, path, codec)
        names = _csv_names(header, where)
    file = _File(path, kind, codec, names, _take(names, columns, where, first), header)
    if kind == "parquet":
        _check_parquet_types(file)
    return file


def _take(names: list[str], columns: list[str] | None, where: str, first: _File | None) -> list[int]:
    """Where the stream's columns are in a file of columns ``names``: ``columns`` if given, else the first
    file's (matched by name)."""
    if columns is None and (first is None or names == first.names):
        return list(range(len(names)))
    wanted = columns if columns is not None else first.names
    missing = [c for c in wanted if c not in set(names)]
    extra = [c for c in names if c not in set(wanted)] if columns is None else []
    if missing or extra:
        if columns is not None:
            raise DataError(f"{where}: has no column(s) [{some(missing)}] (asked for by columns=); its columns: "
                            f"[{some(names, shown=9)}]")
        diff = "; ".join(([f"lacks [{some(missing)}]"] if missing else [])
                         + ([f"has [{some(extra)}] besides"] if extra else []))
        raise DataError(f"{where}: its columns are not those of {first.where} ({diff}); every file of a stream needs "
                        "the same columns: pass columns=[...] to read only the ones they share")
    twice = sorted({c for c in wanted if names.count(c) > 1})
    if twice:
        raise DataError(f"{where}: the header names a column twice: {some(twice)}; columns are matched by name, so "
                        "each must be there once")
    return [names.index(c) for c in wanted]


# ---- CSV --------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _csv_bytes(path: Path, codec: str | None) -> Iterator[BinaryIO]:
    """A CSV's bytes: the open file, or a decompressing reader of it."""
    try:
        raw = path.open("rb")
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror or e})") from None
    with raw:
        if codec is None:
            yield raw
        else:
            with codec_reader(codec, raw) as f:
                yield f


def _readinto(f: BinaryIO, view: memoryview, path: Path, codec: str | None) -> int:
    """Fill ``view`` from ``f`` (less only at the end), with read errors reported as the in-memory reader reports
    them (a damaged compressed stream names its compression)."""
    done = 0
    try:
        while done < len(view) and (n := f.readinto(view[done:])):
            done += n
    except (*_DAMAGED, OSError) as e:
        if codec is None and isinstance(e, OSError):
            raise DataError(f"{path}: cannot be read ({e.strerror or e})") from None
        raise DataError(damaged(str(path), codec, e)) from None
    return done


def _header_line(f: BinaryIO, path: Path, codec: str | None) -> tuple[bytes, bytes, int]:
    """(the first line without its line break, the bytes read after it, the offset of the data after them),
    from a CSV's (decompressed) bytes."""
    where = str(path)
    buf = bytearray()
    searched = 0  # where a line break may still be
    while True:
        piece = bytearray(min(1 << 20, BLOCK_BYTES))  # (what is read past the header starts the first block)
        n = _readinto(f, memoryview(piece), path, codec)
        if not buf:  # what else the content could be, from its first bytes (as the in-memory reader tells)
            if piece[TAR_MAGIC] == b"ustar":
                raise DataError(f"{where}: is a tar archive; iter_table reads CSV and Parquet files: extract it "
                                "first")
            if codec is not None and compression(bytes(piece[:16])) is not None:
                raise DataError(f"{where}: is compressed twice ({codec}, then {compression(bytes(piece[:16]))}); "
                                "decompress it first")
        buf += piece[:n]
        ends = [i for i in (buf.find(b"\n", searched), buf.find(b"\r", searched)) if i >= 0]
        searched = len(buf)
        if ends:
            i = min(ends)
            if buf[i] == 0x0D and i + 1 == len(buf) and n:  # a \r at the end of what was read: \r\n?
                searched = i
                continue
            end = i + 2 if buf[i:i + 2] == b"\r\n" else i + 1
            return bytes(buf[:i]), bytes(buf[end:]), end
        if not n:
            return bytes(buf), b"", len(buf)
        if len(buf) > MAX_HEADER_BYTES:
            raise DataError(f"{where}: its first line does not end within {size_text(MAX_HEADER_BYTES)} (the file "
                            f"is {size_text(path.stat().st_size)}); a CSV's first line is a header of column names: "
                            "is this a CSV file?")


def _csv_names(header: bytes, where: str) -> list[str]:
    if header and first_line_is_numbers(header):
        raise DataError(f"{where}: the first line is numbers, not a header of column names ({label(repr(header))}); "
                        "add a header row (StatLib's cal_housing.data: tn.datasets.read_table reads it)")
    return header_names(decode(header, where), where)


def _csv_chunks(f: _File, chunk_rows: int) -> Iterator[np.ndarray]:
    chunker = _Chunker(len(f.take), chunk_rows)
    rows = 0
    for cols in _prefetched(_csv_parts(f)):
        rows += len(cols[0])
        yield from chunker.feed(cols)
    if rows == 0:
        raise DataError(f"{f.where}: no data rows")
    yield from chunker.flush()


def _csv_parts(f: _File) -> Iterator[list[np.ndarray]]:
    """A CSV's values as pieces (one float64 array per stream column, of equal lengths), block by block."""
    pa = _arrow()
    generated = [f"c{i}" for i in range(len(f.names))]  # (the file's own names may repeat or be anything)
    wanted = [generated[j] for j in f.take]
    options = dict(
        read_options=pa.csv.ReadOptions(column_names=generated, block_size=_ARROW_BLOCK, use_threads=True),
        parse_options=pa.csv.ParseOptions(delimiter=",", quote_char=False, escape_char=False,
                                          newlines_in_values=False, ignore_empty_lines=True),
        convert_options=pa.csv.ConvertOptions(column_types={n: pa.float64() for n in wanted}, include_columns=wanted,
                                              null_values=[], strings_can_be_null=False,
                                              quoted_strings_can_be_null=False))
    with _csv_bytes(f.path, f.codec) as text:
        header, rest, start = _header_line(text, f.path, f.codec)
        if header != f.header:
            raise DataError(f"{f.where}: its header changed since the stream was made (now {label(repr(header))}); "
                            "make the stream again")
        for block, offset in _blocks(text, rest, f):
            parts = _arrow_block(pa, block, options)
            if parts is None:  # pyarrow refused it, or a value is not finite: the careful parser says why
                values = _parse_block(bytes(block), lambda offset=offset: _line_at(f, offset), f, start + offset)
                parts = [[values[:, k] for k in range(values.shape[1])]] if len(values) else []
            yield from parts


def _blocks(f: BinaryIO, rest: bytes, file: _File) -> Iterator[tuple[memoryview, int]]:
    """The data after the header as (block, its offset in the data): whole lines, at most BLOCK_BYTES each (or
    one line and BLOCK_BYTES, for a line longer than that), each in a buffer of its own (a block may still be
    parsed while the next one is read)."""
    offset = 0
    while True:
        buf = bytearray(BLOCK_BYTES if len(rest) < BLOCK_BYTES else len(rest) + BLOCK_BYTES)
        buf[:len(rest)] = rest
        filled = len(rest) + _readinto(f, memoryview(buf)[len(rest):], file.path, file.codec)
        if filled < len(buf):  # the end of the file: the rest, with or without a final line break
            if filled:
                yield memoryview(buf)[:filled], offset
            return
        # cut after the last \n; in a file of \r line breaks after the last \r whose next byte is here (so the
        # cut never splits a \r\n). No break yet: a line longer than the block, read on.
        cut = buf.rfind(b"\n") + 1 or buf.rfind(b"\r", 0, len(buf) - 1) + 1
        if not cut:
            rest = bytes(buf)
            continue
        yield memoryview(buf)[:cut], offset
        offset += cut
        rest = bytes(buf[cut:])


def _line_at(f: _File, offset: int) -> int:
    """The line number of the line starting ``offset`` bytes into a CSV's data (after its header), counted by
    reading the file again up to there: only for an error's message, so the fast path never counts lines."""
    with _csv_bytes(f.path, f.codec) as text:
        _, rest, _ = _header_line(text, f.path, f.codec)
        line, left, carry_cr = 2, offset, False
        piece = rest[:left]
        while piece:
            left -= len(piece)
            if carry_cr and piece.startswith(b"\n"):  # a \r\n split between two reads is one break
                line -= 1
            n, r = piece.count(b"\n"), piece.count(b"\r")
            line += n + r - piece.count(b"\r\n") if r else n
            carry_cr = piece.endswith(b"\r")
            buf = bytearray(min(left, BLOCK_BYTES))
            piece = bytes(buf[:_readinto(text, memoryview(buf), f.path, f.codec)]) if left > 0 else b""
    return line


def _arrow_block(pa: Any, block: memoryview, options: dict) -> list[list[np.ndarray]] | None:
    """A block's values parsed by pyarrow, the float64 columns of each of its batches; None when it refuses the
    block or a value is NaN or infinite (the careful parser then names the cell)."""
    try:
        table = pa.csv.read_csv(pa.BufferReader(pa.py_buffer(block)), **options)
    except pa.ArrowInvalid:
        return None
    parts = []
    for batch in table.to_batches():
        cols = [c.to_numpy(zero_copy_only=False) for c in batch.columns]
        # a sum is finite only if every term is (NaN and inf propagate); an overflowing sum of finite values
        # takes the exact check
        if not all(math.isfinite(np.add.reduce(c)) or np.isfinite(c).all() for c in cols):
            return None
        if len(cols[0]):
            parts.append(cols)
    return parts


def _parse_block(block: bytes, first_line: Callable[[], int], f: _File, start: int) -> np.ndarray:
    """A block parsed line by line by the in-memory reader's rules (``_text.parse_rows``; cells of the stream's
    columns only): its values, or the in-memory reader's error for its first bad line or cell (``first_line()``:
    the block's first line number, for the message; ``start``: its offset in the file's text)."""
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        decode(block, f.where, first_line(), start)  # raises the in-memory reader's message, at the file's line
        raise
    width, names, take = len(f.names), f.names, f.take
    rows = []
    for i, line in enumerate(split_lines(text)):
        if not line or line.isspace():
            continue
        if len(cells := line.split(",")) != width or not all(NUMBER.fullmatch(cells[j]) for j in take):
            lineno = first_line() + i
            if len(cells) != width:
                raise DataError(f"{f.where}: line {lineno} has {len(cells)} values, the header has {width}")
            j = next(j for j in take if not NUMBER.fullmatch(cells[j]))
            raise DataError(not_a_number(f.where, lineno, j, names[j], cells[j]))
        row = [float(cells[j]) for j in take]
        if not all(map(math.isfinite, row)):
            k = next(k for k, v in enumerate(row) if not math.isfinite(v))
            raise DataError(not_finite(f.where, first_line() + i, take[k], names[take[k]], row[k]))
        rows.append(row)
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(take))


def _prefetched(items: Iterator[Any]) -> Iterator[Any]:
    """``items``, produced one ahead in a thread: pyarrow parses the next block (releasing the GIL) while the
    caller uses this one (a fit's kernels release it too). Errors arrive in order; closing this generator
    (a consumer that stops early, Ctrl-C) stops the thread and closes ``items``, so its file is closed."""
    out: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        out.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            out.put((done, None))
        except BaseException as e:  # handed to the consumer, raised there
            out.put((done, e))
        finally:
            items.close()

    worker = threading.Thread(target=produce, name="tinygrad_norm iter_table", daemon=True)
    worker.start()
    try:
        while True:
            item, error = out.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting to put, then let it finish
            try:
                out.get_nowait()
            except queue.Empty:
                worker.join(0.05)


# ---- Parquet ----------------------------------------------------------------------------------------------
def _parquet(path: Path) -> Any:
    pa = _arrow()
    import pyarrow.parquet as pq

    try:
        # (buffered reads of each column chunk: without them a row group is read whole, 610 MiB for one of 512 MB)
        return pq.ParquetFile(path, pre_buffer=False, buffer_size=_PARQUET_BUFFER)
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"{path}: not a readable Parquet file ({type(e).__name__}: {label(str(e), 200)}); the file is "
                        "damaged or cut short: get a fresh copy") from None


def _parquet_names(path: Path) -> list[str]:
    schema = _parquet(path).schema_arrow
    names = list(schema.names)
    if not names:
        raise DataError(f"{path}: a Parquet file without columns")
    return names


def _check_parquet_types(f: _File) -> None:
    """The stream's columns of a Parquet file must hold numbers (checked from its schema, before any row)."""
    pa = _arrow()
    schema = _parquet(f.path).schema_arrow
    for j in f.take:
        kind = schema.field(j).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)):
            raise DataError(f"{f.where}: column {j + 1} ({label(f.names[j])}) holds {kind}, not numbers; the data "
                            "must be numeric: read the numeric columns only, with columns=[...]")


def _parquet_chunks(f: _File, chunk_rows: int) -> Iterator[np.ndarray]:
    pa = _arrow()
    pfile = _parquet(f.path)
    schema = pfile.schema_arrow
    if list(schema.names) != f.names:
        raise DataError(f"{f.where}: its columns changed since the stream was made; make the stream again")
    chunker = _Chunker(len(f.take), chunk_rows)
    rows = 0
    try:
        batches = pfile.iter_batches(batch_size=min(chunk_rows, _PARQUET_BATCH), columns=[f.names[j] for j in f.take],
                                     use_threads=True)
        for batch in batches:
            cols = []
            for k, j in enumerate(f.take):
                arr = batch.column(k)
                if arr.null_count:
                    r = rows + int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0]) + 1
                    raise DataError(f"{f.where}: row {r:,}, column {j + 1} ({label(f.names[j])}) is missing (null); "
                                    "the data must be finite numbers: drop or impute missing values first")
                if arr.type != pa.float64():
                    arr = arr.cast(pa.float64(), safe=False)  # (integers beyond 2**53 round, as NumPy's do)
                c = arr.to_numpy(zero_copy_only=False)
                if not (math.isfinite(np.add.reduce(c)) or np.isfinite(c).all()):
                    i = int(np.flatnonzero(~np.isfinite(c))[0])
                    raise DataError(f"{f.where}: row {rows + i + 1:,}, column {j + 1} ({label(f.names[j])}) is "
                                    f"{c[i]}; the data must be finite numbers")
                cols.append(c)
            rows += batch.num_rows
            if batch.num_rows:
                yield from chunker.feed(cols)
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"{f.where}: damaged Parquet data ({type(e).__name__}: {label(str(e), 200)}); get a fresh "
                        "copy") from None
    if rows == 0:
        raise DataError(f"{f.where}: no data rows")
    yield from chunker.flush()


# ---- chunks of chunk_rows rows ----------------------------------------------------------------------------------
class _Chunker:
    """Columns of rows in pieces of any length -> chunks of exactly ``rows`` rows (a file's last one shorter),
    each a new C-contiguous array: every value is copied once, from pyarrow's column into its chunk."""

    def __init__(self, d: int, rows: int) -> None:
        self.d, self.rows = d, rows
        self.buf: np.ndarray | None = None
        self.filled = 0

    def feed(self, cols: list[np.ndarray]) -> Iterator[np.ndarray]:
        i, n = 0, len(cols[0])
        while i < n:
            if self.buf is None:
                self.buf, self.filled = np.empty((self.rows, self.d), dtype=np.float64), 0
            k = min(n - i, self.rows - self.filled)
            for j, c in enumerate(cols):
                self.buf[self.filled:self.filled + k, j] = c[i:i + k]
            self.filled += k
            i += k
            if self.filled == self.rows:
                out, self.buf = self.buf, None
                yield out

    def flush(self) -> Iterator[np.ndarray]:
        buf, filled, self.buf = self.buf, self.filled, None
        if buf is not None and filled:
            # a short last chunk is copied out when that frees most of its buffer (many small files)
            yield buf[:filled] if 2 * filled > len(buf) else buf[:filled].copy()


__all__ = ["BLOCK_BYTES", "CHUNK_BYTES", "TableStream", "iter_table", "streamable"]
