"""Reading a data file's bytes, bounded: its size, its compression (gzip, xz, bzip2, recognised by their
magic bytes) and StatLib's ``cal_housing.tgz`` archive.

Limits, because this reader holds a whole file and its parsed values in memory:

- ``MAX_FILE_BYTES`` (2 GiB): the largest file read, checked with ``stat`` before reading a byte.
  Parsing takes several times the file's size in memory; ``_stream.iter_table`` streams larger CSV and
  Parquet files in bounded memory instead.
- ``MAX_EXPANDED_BYTES`` (64 MiB): the most a compressed file or an archive may expand to. The size
  of a compressed file says little about its content (a 127 KiB gzip can hold 128 MiB of zeros), so
  decompression stops as soon as it has produced more. StatLib's file is 2 MB.

Every compressed stream is read to its very end, so the format's own integrity checks run: gzip's
CRC-32 and length of every member, xz's check of every block and its index, bzip2's CRCs, and the
checksum of every tar header. Any decompression error becomes a ``DataError`` naming the file.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import tarfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import DataError
from ._text import SHOWN, some

MAX_FILE_BYTES = 2 << 30
MAX_EXPANDED_BYTES = 64 << 20
ARCHIVE_MEMBER = "CaliforniaHousing/cal_housing.data"
STATLIB_SIZE = 2_092_122  # bytes of StatLib's cal_housing.data
_CHUNK = 1 << 20
TAR_MAGIC = slice(257, 262)  # "ustar" in a POSIX or GNU tar header
_CODECS = {"gzip": lambda f: gzip.GzipFile(fileobj=f, mode="rb"), "xz": lambda f: lzma.LZMAFile(f),
           "bzip2": lambda f: bz2.BZ2File(f)}
_UNSUPPORTED = {b"PK\x03\x04": "a zip archive", b"\x28\xb5\x2f\xfd": "zstd-compressed",
                b"7z\xbc\xaf\x27\x1c": "a 7-Zip archive"}
_DAMAGED = (zlib.error, EOFError, gzip.BadGzipFile, lzma.LZMAError, tarfile.TarError)


def size_text(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}"
    return f"{n} bytes"


def too_large(where: str, size: int | None) -> str:
    """The refusal of a file too large for this in-memory reader (``size`` None: found while reading)."""
    amount = f"more than {size_text(MAX_FILE_BYTES)}" if size is None else f"{size_text(size)} ({size:,} bytes)"
    return (f"{where}: the file is {amount}; this reader holds a file and its values in memory and takes files "
            f"up to {size_text(MAX_FILE_BYTES)}: pass a sample of the rows, e.g. the header and the first million "
            "lines (head -n 1000001 FILE > sample.csv); to fit statistics on all of it, stream it with "
            "tn.datasets.iter_table (tinygrad-norm diagnose does)")


def compression(head: bytes) -> str | None:
    """The compression of a file from its first bytes: a key of _CODECS, one of _UNSUPPORTED's values, or None."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if head[:3] == b"BZh" and head[4:10] == b"1AY&SY":
        return "bzip2"
    return next((name for magic, name in _UNSUPPORTED.items() if head.startswith(magic)), None)


def unsupported(where: str, codec: str) -> str:
    return f"{where}: is {codec}, which this reader does not take; extract the file, or compress it with xz or gzip"


def codec_reader(codec: str, f: BinaryIO) -> BinaryIO:
    """A decompressing reader of the open file ``f`` (``codec``: a key of _CODECS)."""
    return _CODECS[codec](f)


class _TooLarge(Exception):
    pass


class _Bounded:
    """A read-only stream that gives at most ``limit`` bytes and raises _TooLarge past them, so a
    decompression bomb is stopped after ``limit`` bytes of output rather than read whole."""

    def __init__(self, raw: BinaryIO, limit: int) -> None:
        self._raw, self._limit, self._back, self.count = raw, limit, b"", 0

    def unread(self, data: bytes) -> None:
        """Give back bytes read to recognise the content: the next reads return them first."""
        self._back = data + self._back

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            chunks = []
            while chunk := self.read(_CHUNK):
                chunks.append(chunk)
            return b"".join(chunks)
        if self._back:
            out, self._back = self._back[:n], self._back[n:]
            return out
        data = self._raw.read(min(n, self._limit - self.count + 1))
        self.count += len(data)
        if self.count > self._limit:
            raise _TooLarge
        return data

    def read_head(self, n: int) -> bytes:
        """Up to ``n`` bytes, fewer only at the end (a decompressor may return less per call)."""
        head = self.read(n)
        while len(head) < n and (more := self.read(n - len(head))):
            head += more
        return head


@dataclass(frozen=True)
class Content:
    data: bytes  # the file's bytes, decompressed; for an archive, those of its member ARCHIVE_MEMBER
    where: str  # the file, or file:member
    member: bool  # whether it is the archive member named like StatLib's


def read_content(f: BinaryIO, size: int, where: str) -> Content:
    """The bytes of an open file of ``size`` bytes (at most MAX_FILE_BYTES: checked by the caller),
    decompressed, or StatLib's member of a tar archive."""
    head = f.read(512)
    codec = compression(head)
    if codec in _UNSUPPORTED.values():
        raise DataError(unsupported(where, codec))
    f.seek(0)
    limit = MAX_EXPANDED_BYTES if codec else MAX_FILE_BYTES
    try:
        if codec is None and head[TAR_MAGIC] != b"ustar":  # a plain file: one read of the size stat gave
            data = f.read(size + 1)
            if len(data) > size:  # it grew, or a special file that reports no size: read on, bounded
                data += _Bounded(f, MAX_FILE_BYTES - len(data)).read()
            return Content(data, where, False)
        stream = _Bounded(_CODECS[codec](f) if codec else f, limit)
        head = stream.read_head(512)
        stream.unread(head)
        if head[TAR_MAGIC] == b"ustar":
            data = _archive_member(stream, where, limit)
            stream.read()  # the rest of the stream, so the compression's trailer (CRC, length) is checked
            return Content(data, f"{where}:{ARCHIVE_MEMBER}", True)
        if compression(head) is not None:
            raise DataError(f"{where}: is compressed twice ({codec}, then {compression(head)}); decompress it "
                            "first")
        return Content(stream.read(), where, False)
    except _TooLarge:
        if not codec:
            raise DataError(too_large(where, None)) from None
        raise DataError(f"{where}: expands to more than {size_text(limit)} when decompressed, the most this reader "
                        f"takes from a compressed file or archive (StatLib's file is {size_text(STATLIB_SIZE)}); "
                        "decompress it yourself and pass the plain file") from None
    except (*_DAMAGED, OSError) as e:
        raise DataError(damaged(where, codec, e)) from None


def damaged(where: str, codec: str | None, e: BaseException) -> str:
    """The error of a compressed stream or archive that fails to decompress (``codec`` None: a plain tar)."""
    if isinstance(e, _DAMAGED):
        kind = "tar archive" if isinstance(e, tarfile.TarError) else f"{codec} data"
        return f"{where}: damaged or cut-short {kind} ({type(e).__name__}: {e}); the file is corrupt: get a fresh copy"
    # bz2 reports damaged data as OSError (a failing disk would too)
    strerror = getattr(e, "strerror", None)
    return (f"{where}: damaged or unreadable {codec or 'tar'} data ({strerror or e}); the file is corrupt: get a "
            "fresh copy")


def _archive_member(stream: _Bounded, where: str, limit: int) -> bytes:
    """StatLib's cal_housing.data from a tar stream; the tar's other members are skipped (bounded),
    and each member's declared size is checked before its data is read."""
    found: bytes | None = None
    names: list[str] = []  # the first few, for the message
    count = 0
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            name = member.name.removeprefix("./")
            count += 1
            if len(names) < SHOWN:
                names.append(name)
            if member.size > limit:
                raise DataError(f"{where}: archive member {some([name])} declares {size_text(member.size)}, more "
                                f"than the {size_text(limit)} this reader takes from an archive")
            if name != ARCHIVE_MEMBER:
                continue
            if found is not None:
                raise DataError(f"{where}: holds {ARCHIVE_MEMBER} twice; StatLib's cal_housing.tgz holds it once: "
                                "get a fresh copy")
            if not member.isreg():
                raise DataError(f"{where}: {ARCHIVE_MEMBER} is not a regular file in this archive; StatLib's "
                                "cal_housing.tgz holds the file itself: get a fresh copy")
            if member.size != STATLIB_SIZE:
                raise DataError(f"{where}:{ARCHIVE_MEMBER} is {member.size:,} bytes, StatLib's cal_housing.data "
                                f"has {STATLIB_SIZE:,}: not StatLib's file (the archive is damaged or modified). Get a "
                                "fresh cal_housing.tgz, or save modified data as a CSV with a header row")
            extracted = tar.extractfile(member)
            found = extracted.read() if extracted is not None else b""
            if len(found) != member.size:
                raise DataError(f"{where}: {ARCHIVE_MEMBER} is cut short in the archive; get a fresh copy")
    if found is None:
        held = f"it holds {some(names, count)}" if names else "it is empty"
        raise DataError(f"{where}: a tar archive without {ARCHIVE_MEMBER} ({held}); only StatLib's cal_housing.tgz "
                        "is read from archives: save other data as a CSV with a header row")
    return found
