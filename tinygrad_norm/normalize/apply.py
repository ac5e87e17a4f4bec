"""Step 2 of a transform: the kernel. ``apply`` runs the fused ``(x - shift) * scale + offset`` of the backend
on an adapted input (the fast path), the differentiable ``Affine`` for a Tensor, or, for float16 and integer
input and for statistics at the limits of the input's dtype, the careful float64 path (``apply_careful``).
``standardize`` is the same kernel with given statistics."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backend import DEFAULT_DTYPE, Backend
from ..errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError, name_few
from ..function import Affine
from ..tensor import Tensor
from .inputs import Adapted, _as_2d
from .statistics import affine, careful, check_tensor_safe, clip_range, name


def apply(norm: Any, inp: Adapted, out: Any, inverse: bool, what: str) -> Any:
    """``norm``'s transform (or inverse) of an adapted in-memory input, as an array or Tensor (unwrapped)."""
    arr = inp.arr
    shift, scale, offset = norm._derived or affine(norm)
    clip = None if inverse else (clip_range(norm) if norm.clip else None)
    from_int = not inp.was_float
    if inp.is_tensor:
        if out is not None:
            raise ArgumentTypeError(f"{what}: out= is for arrays; a Tensor input gives a new Tensor (for a "
                                    "differentiable result). Pass x.numpy() to write into an array")
        src = inp.source if not from_int else Tensor._make(arr, inp.backend)
        check_tensor_safe(norm, src.dtype, what)
        res = Affine.apply(src, shift=shift, scale=scale, offset=offset, clip=clip, inverse=inverse)
        return res.astype(DEFAULT_DTYPE) if from_int else res
    backend = inp.backend
    want = DEFAULT_DTYPE if from_int else arr.dtype
    if out is not None:
        _check_out(out, arr, want, backend, what)
    # (an out= overlapping x is the backend's to handle: its apply reads x before writing over it)
    if from_int or careful(norm, want):
        return apply_careful(norm, arr, backend, out, inverse, clip, want)
    res = backend.affine_apply(arr, shift, scale, offset, out=out, inverse=inverse)
    if clip is not None:
        backend.xp.clip(res, clip[0], clip[1], out=res)
    return res


def apply_careful(norm: Any, arr: Any, backend: Backend, out: Any, inverse: bool, clip: Any, want: np.dtype) -> Any:
    """The transform in float64, prescaled by a power of two when the statistics are near float64's limit:
    for float16 and integer input and for statistics too large for the input's dtype. A result that does
    not fit ``want`` is an error naming the features, never inf or NaN."""
    shift, _, offset = norm._derived
    _, p, scale_p = norm._prescale
    xp = backend.xp
    x64 = arr.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        if inverse:  # y -> ((y - offset) / (scale / p) + shift * p) / p
            res = backend.affine_apply(x64, shift * p, scale_p, offset, out=x64, inverse=True)
            res /= p
        else:  # x -> (x * p - shift * p) * (scale / p) + offset
            if (p != 1.0).any():
                x64 *= p
            res = backend.affine_apply(x64, shift * p, scale_p, offset, out=x64)
            if clip is not None:
                xp.clip(res, clip[0], clip[1], out=res)
        cast = res.astype(want)
    finite_in = xp.isfinite(arr)
    broken = backend.to_numpy(xp.any(~xp.isfinite(cast) & finite_in, axis=0))
    if broken.any():
        names = name_few(np.flatnonzero(broken), show=lambda j: name(norm, j))
        raise ArgumentError(f"{'inverse_transform' if inverse else 'transform'}: the result for feature(s) "
                            f"{names} does not fit in {want} (it overflows); pass float64 data")
    if out is None:
        return cast
    out[...] = cast
    return out


def _check_out(out: Any, arr: Any, want: np.dtype | None, backend: Backend, what: str) -> None:
    """An ``out=`` the apply can write into: an array of the input's backend, writable, of the input's shape
    and of dtype ``want`` (None: any float dtype). Checked before any kernel runs, so a bad argument is this
    error, never a kernel's (and never mistaken for a kernel that cannot compile). Non-contiguous arrays are
    fine (the kernels take strides)."""
    if (type(out) is np.ndarray and type(arr) is np.ndarray and want is not None and out.shape == arr.shape
            and out.dtype == want and out.flags.writeable):
        return  # the common case (a batch into a reused buffer), in one cheap test
    kind = backend.xp.ndarray
    if not isinstance(out, kind):
        hint = " (to get a Tensor, transform a Tensor, without out=)" if isinstance(out, Tensor) else ""
        raise ArgumentTypeError(f"{what}: out= must be a {kind.__module__.split('.')[0]}.ndarray to write the result "
                                f"into, got {type(out).__name__}{hint}; e.g. out=np.empty_like(x), or leave it out")
    if out.shape != arr.shape:
        raise ShapeError(f"{what}: out has shape {out.shape}, needs the input's {arr.shape}")
    if (want is not None and out.dtype != want) or out.dtype.kind != "f":
        raise DTypeError(f"{what}: out has dtype {out.dtype}, needs {want or 'a float dtype'}")
    if not getattr(out.flags, "writeable", True):  # (CuPy arrays have no such flag: always writable)
        raise ArgumentError(f"{what}: out is read-only (out.flags.writeable is False); pass a writable array")


def standardize(x: Any, mean: Any, std: Any, out: Any = None) -> Any:
    """Fused ``(x - mean) / std`` per column, in one read and one write of ``x``.

    ``x`` is a 2-D array or Tensor; ``mean`` and ``std`` hold one value per column.
    ``out`` (arrays only) receives the result; ``out=x`` works in place.
    """
    arr, backend, is_tensor, _ = _as_2d(x, "standardize")
    mean = np.asarray(mean, dtype=np.float64).reshape(-1)
    std = np.asarray(std, dtype=np.float64).reshape(-1)
    if mean.shape != (arr.shape[1],) or std.shape != (arr.shape[1],):
        raise ShapeError(f"standardize: mean {mean.shape} and std {std.shape} need one value per column "
                         f"({arr.shape[1]})")
    shift, scale = _shift_scale(mean, std)
    if is_tensor:
        if out is not None:
            raise ArgumentTypeError("standardize: out= is for arrays; a Tensor input gives a new Tensor")
        src = x if x.dtype.kind == "f" else Tensor._make(arr, backend)
        return Affine.apply(src, shift=shift, scale=scale, offset=None)
    if out is not None:
        _check_out(out, arr, None, backend, "standardize")
    return backend.affine_apply(arr, shift, scale, None, out=out)


_SHIFT_SCALE: dict[tuple[bytes, bytes], tuple[np.ndarray, np.ndarray]] = {}


def _shift_scale(mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, 1 / std) as read-only float64 arrays, one pair per value: standardize is called with the same
    statistics batch after batch, and the backends find read-only statistics they have seen by identity."""
    key = (mean.tobytes(), std.tobytes())
    pair = _SHIFT_SCALE.get(key)
    if pair is None:
        if len(_SHIFT_SCALE) > 64:
            _SHIFT_SCALE.clear()
        pair = (mean.copy(), 1.0 / std)
        for v in pair:
            v.flags.writeable = False
        _SHIFT_SCALE[key] = pair
    return pair
