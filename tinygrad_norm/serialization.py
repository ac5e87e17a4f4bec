"""save/load of state dicts: an ``.npz`` of arrays plus a JSON description, never pickle.

``save`` writes to a temporary file in the target's folder and renames it over
the target, so an interrupted save leaves the previous file intact.
"""

from __future__ import annotations

import json
import os
import secrets
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .tensor import Tensor

FORMAT = "tinygrad_norm"
VERSION = 1
_META_KEY = "__tinygrad_norm__"


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupt or not one of ours."""


def _encode(obj: Any, arrays: dict[str, np.ndarray], path: str) -> Any:
    if isinstance(obj, Tensor):
        arrays[path] = np.ascontiguousarray(obj.numpy())
        return {"__tensor__": path}
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biuf":
            raise TypeError(f"save: array at {path!r} has dtype {obj.dtype}; only numeric arrays can be saved")
        arrays[path] = np.ascontiguousarray(obj)
        return {"__array__": path}
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str) or "/" in k:
                raise TypeError(f"save: dictionary keys must be strings without '/', got {k!r} in {path or 'root'}")
            out[k] = _encode(v, arrays, f"{path}/{k}" if path else k)
        return {"__dict__": out}
    if isinstance(obj, (list, tuple)):
        return {"__list__": [_encode(v, arrays, f"{path}/{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"save: cannot store a {type(obj).__name__} at {path!r}; "
                    "use tensors, arrays, numbers, strings, lists and dicts")


def _decode(node: Any, arrays: Any, where: Path) -> Any:
    if isinstance(node, dict):
        if "__tensor__" in node:
            return Tensor(arrays[node["__tensor__"]], dtype=arrays[node["__tensor__"]].dtype)
        if "__array__" in node:
            return arrays[node["__array__"]]
        if "__dict__" in node:
            return {k: _decode(v, arrays, where) for k, v in node["__dict__"].items()}
        if "__list__" in node:
            return [_decode(v, arrays, where) for v in node["__list__"]]
        raise CheckpointError(f"{where}: unknown entry {sorted(node)} in the file's description")
    return node


def atomic_write(path: str | os.PathLike, write: Any, mode: str = "wb") -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it over ``path``.

    The file gets the permissions a plain ``open`` would give (0666 less the umask); the folder is
    synced after the rename so the new name survives a crash.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
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
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


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


def save(obj: Any, path: str | os.PathLike) -> Path:
    """Save a (nested) state dict of tensors, arrays, numbers and strings to ``path`` (.npz), atomically."""
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(obj, arrays, "")
    meta = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree})
    arrays[_META_KEY] = np.frombuffer(meta.encode(), dtype=np.uint8)
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def load(path: str | os.PathLike) -> Any:
    """Load what :func:`save` wrote. Tensors come back on the CPU.

    Raises FileNotFoundError if there is no file and CheckpointError if it is
    truncated, corrupt or not a tinygrad_norm file. Pickled data is never loaded.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: check the path, or train first to create it")
    try:
        with np.load(path, allow_pickle=False) as z:
            if _META_KEY not in z.files:
                raise CheckpointError(f"{path} is an .npz file but not a tinygrad_norm checkpoint "
                                      "(it has no description entry)")
            meta = json.loads(bytes(z[_META_KEY]).decode())
            if meta.get("format") != FORMAT:
                raise CheckpointError(f"{path} is not a tinygrad_norm checkpoint")
            if meta.get("version", 0) > VERSION:
                raise CheckpointError(f"{path} was written by a newer tinygrad_norm (format version "
                                      f"{meta['version']}); upgrade to read it")
            arrays = {k: z[k] for k in z.files if k != _META_KEY}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is truncated or corrupt ({type(e).__name__}: {e}); "
                              "re-create it (e.g. train again) or restore a copy") from e
    try:
        return _decode(meta["tree"], arrays, path)
    except KeyError as e:
        raise CheckpointError(f"{path}: its description names a missing array {e}") from e
