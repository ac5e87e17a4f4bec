"""Text helpers of the data readers: bounded quotes of bad input, decoding, line splitting and row parsing."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import DataError

ECHO = 40  # characters of a bad cell, line or name quoted back in an error
SHOWN = 3  # items of a list of input names quoted in an error; the rest are counted
NUMBER = re.compile(r"\s*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)\s*",
                    re.IGNORECASE)
_NUMBER_BYTES = re.compile(NUMBER.pattern.encode(), re.IGNORECASE)
_NEWLINE = re.compile(r"\r\n|\r|\n")
_LINE_BYTES = re.compile(rb"[^\r\n]*")
_SPACE_BYTES = re.compile(rb"\s*")
BOM = b"\xef\xbb\xbf"


def echo(text: str, limit: int = ECHO) -> str:
    """``text`` quoted, at most ``limit`` characters of it (input is never echoed in full)."""
    text = text.strip()
    cut = text[:limit]
    while len(repr(cut)) > 2 * limit:  # escapes (\x00, \u2028) make a repr up to 10x longer than its text
        cut = cut[:len(cut) // 2]
    return repr(cut if cut == text else cut + "...")


def label(name: str, limit: int = ECHO) -> str:
    """A column name from a file, shortened for a message."""
    return name if len(name) <= limit else name[:limit] + "..."


def some(items: Sequence[str], total: int | None = None, shown: int = SHOWN) -> str:
    """``'a', 'b', 'c' and 997 more``: a list from the input (of ``total`` items, if more than given),
    named in part and counted."""
    head = ", ".join(echo(s) for s in items[:shown])
    rest = (len(items) if total is None else total) - min(shown, len(items))
    return head + (f" and {rest:,} more" if rest > 0 else "")


def line_number(blob: bytes, offset: int) -> int:
    """The line (1-based) that byte ``offset`` is on, counting \\r\\n, \\r and \\n as one line break each."""
    head = blob[:offset]
    return head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n") + 1


def decode(blob: bytes, where: str, first_line: int = 1, start: int = 0) -> str:
    """``blob`` as text; ``first_line`` and ``start``: the line and byte offset of the file that ``blob`` starts at
    (a streamed block's)."""
    try:
        return blob.decode("utf-8-sig")  # a leading byte-order mark is not part of the header
    except UnicodeDecodeError as e:
        binary = (", and the file is not compressed with gzip, xz or bzip2 either (or its first bytes are damaged)"
                  if start + e.start < 16 else "")  # binary from the start: say what else it could have been
        line = first_line - 1 + line_number(blob, e.start)
        raise DataError(f"{where}: line {line} is not UTF-8 text (byte {blob[e.start]:#04x})"
                        f"{binary}; save the file as UTF-8 (or plain ASCII) CSV") from None


def header_names(header: str, where: str) -> list[str]:
    """A CSV's first line as its column names; an error unless it is a header of non-empty names."""
    names = [c.strip() for c in header.split(",")]
    if not header.strip() or not all(names):
        raise DataError(f"{where}: the first line must be a header of column names, got {echo(header)}")
    return names


def not_a_number(where: str, lineno: int, j: int, name: str, cell: str) -> str:
    """The error of a cell that is not a number (line ``lineno``, column index ``j``)."""
    hint = " ('#' is not a comment marker in data rows)" if "#" in cell else ""
    return f"{where}: line {lineno}, column {j + 1} ({label(name)}): {echo(cell)} is not a number{hint}"


def not_finite(where: str, lineno: int, j: int, name: str, value: float) -> str:
    """The error of a cell that reads as NaN or +-inf."""
    return f"{where}: line {lineno}, column {j + 1} ({label(name)}) is {value}; the data must be finite numbers"


def split_lines(text: str) -> list[str]:
    """Lines split at \\r\\n, \\r or \\n (files saved on any system), and nowhere else: str.splitlines also
    splits at form feeds and other separators, which would shift every line number after them."""
    if "\r" not in text:
        return text.split("\n")
    if "\n" not in text:
        return text.split("\r")
    return _NEWLINE.split(text)


def first_line_is_numbers(blob: bytes) -> bool:
    """Whether the first non-blank line is all numbers, i.e. there is no header row."""
    start = _SPACE_BYTES.match(blob, 3 if blob.startswith(BOM) else 0).end()
    end = _LINE_BYTES.match(blob, start).end()
    if end == start:
        return False
    while True:  # cell by cell, stopping at the first name (a header of a million names is not split)
        comma = blob.find(b",", start, end)
        if not _NUMBER_BYTES.fullmatch(blob, start, end if comma < 0 else comma):
            return False
        if comma < 0:
            return True
        start = comma + 1


def _locate_bad_cell(rows: list[str], linenos: Sequence[int], names: list[str], where: str,
                     width_error: Callable[[int, int], str]) -> str:
    """Slow path, only after the fast parser failed: name the first bad line and column."""
    for lineno, line in zip(linenos, rows):
        cells = line.split(",")
        if len(cells) != len(names):
            return f"{where}: {width_error(lineno, len(cells))}"
        for j, cell in enumerate(cells):
            if not NUMBER.fullmatch(cell):
                return not_a_number(where, lineno, j, names[j], cell)
    return f"{where}: a value could not be parsed"


def parse_rows(lines: list[str], first_line: int, names: list[str], where: str,
               width_error: Callable[[int, int], str]) -> tuple[np.ndarray, list[int]]:
    """Rows of comma-separated numbers (blank and whitespace-only lines skipped) -> (float64 (rows,
    len(names)), each row's line number in the file). ``width_error(line, values)`` words a row of the
    wrong length in the terms of the file's format."""
    keep = [i for i, line in enumerate(lines) if line and not line.isspace()]
    rows = lines if len(keep) == len(lines) else [lines[i] for i in keep]  # no copy when nothing is blank
    linenos = [first_line + i for i in keep]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": reported below
            data = np.loadtxt(rows, delimiter=",", dtype=np.float64, ndmin=2, comments=None)
    except ValueError:
        raise DataError(_locate_bad_cell(rows, linenos, names, where, width_error)) from None
    if data.shape[0] == 0:
        raise DataError(f"{where}: no data rows")
    if data.shape[1] != len(names):
        raise DataError(_locate_bad_cell(rows, linenos, names, where, width_error))
    if not np.isfinite(data).all():
        r, c = np.argwhere(~np.isfinite(data))[0]
        raise DataError(not_finite(where, linenos[r], c, names[c], data[r, c]))
    return data, linenos
