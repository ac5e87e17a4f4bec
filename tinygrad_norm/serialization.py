"""save/load of state dicts: an ``.npz`` of arrays plus a JSON description, never pickle.

``save`` writes to a temporary file in the target's folder, checks that it loads, and renames it
over the target, so an interrupted or failed save leaves the previous file intact.

``load`` trusts nothing in the file: it reads only the members the description names, checks
each member's declared dtype and shape against the bytes it really holds before allocating
anything, and turns every malformed, truncated or foreign file into a :class:`CheckpointError`.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ArgumentTypeError, CheckpointError, DTypeError
from .tensor import Tensor

FORMAT = "tinygrad_norm"
VERSION = 2  # 2: arrays stored as numbered members (a0, a1, ...); 1: members named by their key path
_META_KEY = "__tinygrad_norm__"
_MAX_DEPTH = 64  # nesting of the description: deeper is not a file we wrote
_TMP_SUFFIX = ".tmp"


# ---- encoding ---------------------------------------------------------------------------------------------
def _contiguous(arr: np.ndarray) -> np.ndarray:
    """``arr`` in C order with its shape kept: ``np.ascontiguousarray`` would turn a 0-d array (torch's
    ``num_batches_tracked``) into shape (1,). Subclasses become plain arrays, as they did through it."""
    arr = np.asarray(arr)
    return arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)


def _encode(obj: Any, arrays: list[np.ndarray], where: str, depth: int = 0) -> Any:
    if depth > _MAX_DEPTH:
        raise ArgumentTypeError(f"save: {where} is nested more than {_MAX_DEPTH} levels deep")
    if isinstance(obj, Tensor):
        arrays.append(_contiguous(obj.numpy()))
        return {"__tensor__": f"a{len(arrays) - 1}"}
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biuf":
            raise DTypeError(f"save: array at {where} has dtype {obj.dtype}; only numeric arrays can be saved")
        arrays.append(_contiguous(obj))
        return {"__array__": f"a{len(arrays) - 1}"}
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise ArgumentTypeError(f"save: dictionary keys must be strings, got {k!r} in {where}")
            out[k] = _encode(v, arrays, f"{where}[{k!r}]", depth + 1)
        return {"__dict__": out}
    if isinstance(obj, (list, tuple)):
        return {"__list__": [_encode(v, arrays, f"{where}[{i}]", depth + 1) for i, v in enumerate(obj)]}
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return {"__float__": repr(obj)}  # JSON has no inf/nan
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise ArgumentTypeError(f"save: cannot store a {type(obj).__name__} at {where}; "
                    "use tensors, arrays, numbers, strings, lists and dicts")


# ---- decoding: every node checked, arrays read on demand ----------------------------------------------------
def _some(names: list[str], shown: int = 3) -> str:
    """A few names, the rest counted: 'a, b, c and 4 more'."""
    head = ", ".join(repr(n) for n in names[:shown])
    return head + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _parse_description(text: str, where: Path) -> Any:
    """The JSON description, refusing what :func:`save` never writes: NaN/Infinity literals (save stores
    non-finite floats as ``{"__float__": "nan"}``) and an object with a key twice (which value is meant?)."""
    def constant(name: str) -> Any:
        raise CheckpointError(f"{where}: its description holds the literal {name}, which save never writes; "
                              "re-create the file or restore a copy")

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        twice = []
        for k, v in items:
            if k in out:
                twice.append(k)
            out[k] = v
        if twice:
            raise CheckpointError(f"{where}: its description holds key {_some(twice)} twice in one object; "
                                  "re-create the file or restore a copy")
        return out

    return json.loads(text, parse_constant=constant, object_pairs_hook=pairs)


class _Members:
    """Reads named ``.npy`` members of an open zip file, validating each before allocating."""

    def __init__(self, zf: zipfile.ZipFile, where: Path, file_size: int) -> None:
        self.zf, self.where, self.file_size = zf, where, file_size
        self.infos: dict[str, zipfile.ZipInfo] = {}
        twice: list[str] = []
        for info in zf.infolist():
            if info.filename in self.infos:
                twice.append(info.filename)
            self.infos[info.filename] = info
        if twice:  # which copy is "the" member is up to the reader: never guess (zipfile takes the last)
            raise CheckpointError(f"{where}: its zip holds {_some(sorted(set(twice)))} twice; this is not a file "
                                  "tinygrad_norm wrote: re-create it or restore a copy")
        self.read_names: set[str] = set()

    def read(self, name: str) -> np.ndarray:
        info = self.infos.get(f"{name}.npy")
        if info is None:
            raise CheckpointError(f"{self.where}: its description names a missing array {name!r}")
        if name in self.read_names:  # each array is stored once; naming one twice would multiply its memory
            raise CheckpointError(f"{self.where}: its description names array {name!r} twice")
        self.read_names.add(name)
        if info.compress_type != zipfile.ZIP_STORED:  # what np.savez writes; a compressed member could be a bomb
            raise CheckpointError(f"{self.where}: array {name!r} is compressed; this is not a file tinygrad_norm "
                                  "wrote")
        # a stored member holds its bytes in the file itself: sizes the directory claims beyond the file are lies,
        # found before anything is allocated
        if info.compress_size != info.file_size or info.header_offset + info.compress_size > self.file_size:
            raise CheckpointError(f"{self.where}: array {name!r} claims {info.file_size} bytes the file does not hold")
        with self.zf.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise CheckpointError(f"{self.where}: array {name!r} has .npy format {version}")
            if dtype.hasobject or dtype.kind not in "biuf":
                raise CheckpointError(f"{self.where}: array {name!r} has dtype {dtype}; only numeric arrays load "
                                      "(pickled objects never do)")
            count = 1
            for s in shape:
                if not isinstance(s, int) or s < 0:
                    raise CheckpointError(f"{self.where}: array {name!r} declares shape {shape}")
                count *= s
            nbytes = count * dtype.itemsize
            held = info.file_size - f.tell()
            if nbytes != held:
                raise CheckpointError(f"{self.where}: array {name!r} declares shape {shape} ({nbytes} bytes) but "
                                      f"holds {held} bytes")
            buf = bytearray(nbytes)
            if f.readinto(buf) != nbytes or f.read(1):  # reading to the end also checks the member's CRC
                raise CheckpointError(f"{self.where}: array {name!r} is truncated")
        arr = np.frombuffer(buf, dtype=dtype)
        return arr.reshape(shape, order="F" if fortran else "C")


def _decode(node: Any, members: _Members, depth: int = 0) -> Any:
    where = members.where
    if depth > _MAX_DEPTH:
        raise CheckpointError(f"{where}: its description is nested more than {_MAX_DEPTH} levels deep")
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if not isinstance(node, dict) or len(node) != 1:
        raise CheckpointError(f"{where}: malformed entry in its description ({type(node).__name__})")
    (kind, value), = node.items()
    if kind in ("__tensor__", "__array__"):
        if not isinstance(value, str):
            raise CheckpointError(f"{where}: an array reference is {type(value).__name__}, not a name")
        arr = members.read(value)
        return Tensor(arr, dtype=arr.dtype) if kind == "__tensor__" else arr
    if kind == "__dict__" and isinstance(value, dict):
        return {k: _decode(v, members, depth + 1) for k, v in value.items()}
    if kind == "__list__" and isinstance(value, list):
        return [_decode(v, members, depth + 1) for v in value]
    if kind == "__float__" and value in ("inf", "-inf", "nan"):
        return float(value)
    raise CheckpointError(f"{where}: unknown entry {kind!r} in its description")


# ---- atomic writes -----------------------------------------------------------------------------------------
def sweep_stale_temps(folder: str | os.PathLike, name_pattern: str) -> None:
    """Remove temporary files that earlier, killed writers of files whose names match the regular expression
    ``name_pattern`` left in ``folder`` (ours are named ``.<name>.<pid>.<8 hex digits>.tmp``; one whose
    process is still running, this one included, is left alone)."""
    pattern = re.compile(r"\.(?:" + name_pattern + r")\.(\d+)\.[0-9a-f]{8}" + re.escape(_TMP_SUFFIX))
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None:
            continue
        pid = int(match.group(1))
        if pid == os.getpid() or _alive(pid):  # a writer still running (maybe another thread of ours)
            continue
        try:
            os.unlink(entry.path)
        except OSError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # no such process (or no pid that large)
        return False
    except PermissionError:
        return True
    return True


def atomic_write(path: str | os.PathLike, write: Callable[[Any], Any], mode: str = "wb",
                 verify: Callable[[Path], Any] | None = None) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it over ``path``.

    ``verify(temporary_path)``, if given, must succeed before the rename (a file that would not
    load never replaces one that does). The file gets the permissions a plain ``open`` would give
    (0666 less the umask); the folder is synced after the rename so the new name survives a crash.
    Temporary files of earlier killed writers of the same name are removed.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory: cannot write a file there; remove it or choose another path")
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(path.parent, re.escape(path.name))
    while True:
        tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{_TMP_SUFFIX}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:  # pragma: no cover - a 32-bit random name collided
            continue
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if verify is not None:
            verify(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_symlink(link: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Make ``link`` a symbolic link to ``target`` in one step: a new link beside it is renamed over it,
    so a reader sees the old link (or nothing) or the new one, never a missing one in between; the folder
    is synced after the rename. ``target`` is stored as given (a relative target resolves from ``link``'s
    folder, so the folder can be moved). Temporary links of earlier killed writers are removed."""
    link = Path(link)
    if link.is_dir() and not link.is_symlink():
        raise IsADirectoryError(f"{link} is a directory: cannot put a link there; remove it or choose another path")
    sweep_stale_temps(link.parent, re.escape(link.name))
    while True:
        tmp = link.parent / f".{link.name}.{os.getpid()}.{secrets.token_hex(4)}{_TMP_SUFFIX}"
        try:
            os.symlink(target, tmp)
            break
        except FileExistsError:  # pragma: no cover - a 32-bit random name collided
            continue
    try:
        os.replace(tmp, link)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(link.parent)
    return link


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. platforms that cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on folders
        pass
    finally:
        os.close(fd)


# ---- the public API -------------------------------------------------------------------------------------
def save(obj: Any, path: str | os.PathLike) -> Path:
    """Save a (nested) state dict of tensors, arrays, numbers and strings to ``path`` (.npz), atomically.

    Any string can be a key; the saved file is loaded back before it replaces ``path``.
    """
    arrays: list[np.ndarray] = []
    tree = _encode(obj, arrays, "the saved object")
    meta = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree})
    members = {f"a{i}": a for i, a in enumerate(arrays)}
    members[_META_KEY] = np.frombuffer(meta.encode(), dtype=np.uint8)

    def write(f):
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
            for name, arr in members.items():
                with zf.open(f"{name}.npy", "w", force_zip64=arr.nbytes > 2**30) as member:
                    np.lib.format.write_array(member, arr, allow_pickle=False)

    return atomic_write(path, write, verify=load)


def load(path: str | os.PathLike) -> Any:
    """Load what :func:`save` wrote. Tensors come back on the CPU.

    Raises FileNotFoundError if there is no file and CheckpointError if it is truncated, corrupt,
    crafted or not a tinygrad_norm file. Pickled data is never loaded.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory, not a checkpoint file")
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: check the path, or train first to create it")
    try:
        with zipfile.ZipFile(path) as zf:
            members = _Members(zf, path, path.stat().st_size)
            if f"{_META_KEY}.npy" not in members.infos:
                raise CheckpointError(f"{path} is an .npz/zip file but not a tinygrad_norm checkpoint "
                                      "(it has no description entry)")
            raw = members.read(_META_KEY)
            if raw.dtype != np.uint8 or raw.ndim != 1:
                raise CheckpointError(f"{path}: its description entry is not text")
            meta = _parse_description(raw.tobytes().decode(), path)
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise CheckpointError(f"{path} is not a tinygrad_norm checkpoint")
            version = meta.get("version")
            if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                raise CheckpointError(f"{path}: its format version is {version!r}, not a positive integer")
            if version > VERSION:
                raise CheckpointError(f"{path} was written by a newer tinygrad_norm (format version {version}); "
                                      "upgrade to read it")
            if "tree" not in meta:
                raise CheckpointError(f"{path}: its description has no content")
            return _decode(meta["tree"], members)
    except (CheckpointError, PermissionError):  # (a file we may not read is not a corrupt one)
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, UnicodeDecodeError,
            NotImplementedError, RecursionError, RuntimeError, struct.error, zlib.error, OverflowError,
            MemoryError) as e:
        raise CheckpointError(f"{path} is truncated or corrupt ({type(e).__name__}: {str(e)[:200]}); "
                              "re-create it (e.g. train again) or restore a copy") from None
