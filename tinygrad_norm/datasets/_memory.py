"""Memory: how much the in-memory readers need for a file (estimated from its size and first lines, before
reading it) and how much the system has, so that a table too big for memory is refused before the read
rather than ending in ``MemoryError`` or the kernel's OOM killer part way through."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ._files import _DAMAGED, MAX_EXPANDED_BYTES, MAX_FILE_BYTES, codec_reader, compression

_SAMPLE = 1 << 20  # bytes of a file's beginning that its rows' length is estimated from
# Peak bytes of read_csv / read_table for S bytes of text, R rows and C columns: the file's bytes, its decoded
# text and its list of lines (3 S, plus a str object of 57 bytes per line, rounded up to 64) and NumPy's loadtxt
# result, which it grows by reallocation (up to twice its 8 R C). Measured: 1419 MiB for 316 MiB of CSV
# (2,000,001 lines x 9 columns); this gives 1345 MiB, hence the 10% margin.
_TEXT_COPIES, _LINE_BYTES, _VALUE_COPIES, _MARGIN = 3, 64, 2, 1.1


@dataclass(frozen=True)
class TableEstimate:
    """What reading a table into memory takes, estimated before reading it: ``rows`` (data rows; exact for a
    file within its first MiB), ``columns``, ``text_bytes`` (its text, decompressed) and ``read_bytes`` (the
    peak memory of ``read_csv`` / ``read_table`` reading it)."""

    rows: int
    columns: int
    text_bytes: int
    read_bytes: int


def available_memory() -> int | None:
    """Bytes of memory the system can give a new allocation without swapping: psutil's
    ``virtual_memory().available`` when psutil is installed, else Linux's ``MemAvailable`` (/proc/meminfo);
    None when neither says."""
    try:
        import psutil
    except ImportError:
        pass
    else:
        return int(psutil.virtual_memory().available)
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # (kB)
    except (OSError, ValueError, IndexError):
        pass
    return None


def estimate_table(path: str | os.PathLike) -> TableEstimate | None:
    """The memory reading ``path`` into memory takes, from its size and its first MiB (a compressed file is
    decompressed, bounded, to count its size); None for what the readers refuse anyway (no such file, over
    their size limits), so that their own error says why."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if not path.is_file() or size > MAX_FILE_BYTES:
            return None
        with path.open("rb") as f:
            head = f.read(_SAMPLE)
            codec = compression(head[:16])
            if codec is None:
                text = size
            elif codec not in ("gzip", "xz", "bzip2"):
                return None
            else:
                f.seek(0)
                with codec_reader(codec, f) as z:
                    head = z.read(_SAMPLE)
                    text = len(head)
                    while text <= MAX_EXPANDED_BYTES and (piece := z.read(_SAMPLE)):
                        text += len(piece)
                if text > MAX_EXPANDED_BYTES:
                    return None
    except (*_DAMAGED, OSError):  # an unreadable or damaged file: the reader reports it
        return None
    lines = head.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    first = lines[0]
    columns = first.count(b",") + 1
    whole = len(head) >= text
    sample = lines[1:] if whole else lines[1:-1]  # (a cut last line would skew the average)
    if whole:
        rows = sum(1 for ln in sample if ln.strip())
    elif sample:
        rows = round((text - len(first)) * len(sample) / max(1, sum(len(ln) + 1 for ln in sample)))
    else:  # one line longer than the sample
        rows = 1
    need = _TEXT_COPIES * text + _LINE_BYTES * rows + _VALUE_COPIES * 8 * rows * columns
    return TableEstimate(rows, columns, text, int(need * _MARGIN))


__all__ = ["TableEstimate", "available_memory", "estimate_table"]
