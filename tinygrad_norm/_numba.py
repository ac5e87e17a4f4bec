"""Optional accelerator for the CPU affine apply: one fused pass per row range, compiled by numba.

Imported lazily by ``_cpu.py`` (only when numba is installed and an apply is large enough), so
``import tinygrad_norm`` never pays numba's import. NumPy has no fused multiply-add ufunc, so its
apply needs two passes per block and is bound by the in-cache arithmetic of the second; this loop
reads x and writes out once, at memory speed.

Rounding matches the NumPy path exactly: the same float operations in the same order, each rounded
to the array's dtype (no ``fastmath``, so no FMA contraction), and true division for the inverse.
``error_model="numpy"`` makes a zero divisor give inf/NaN as NumPy does (not raise), and keeps the
loop vectorizable.
"""

from __future__ import annotations

import numba


@numba.njit(nogil=True, cache=True, error_model="numpy")
def affine_rows(x, out, shift, scale, offset, lo, hi, inverse, has_offset):  # pragma: no cover - compiled
    """Rows lo..hi of ``out = (x - shift) * scale (+ offset)`` or ``(x (- offset)) / scale + shift``."""
    d = x.shape[1]
    for i in range(lo, hi):
        src, dst = x[i], out[i]
        if inverse:
            if has_offset:
                for j in range(d):
                    dst[j] = (src[j] - offset[j]) / scale[j] + shift[j]
            else:
                for j in range(d):
                    dst[j] = src[j] / scale[j] + shift[j]
        elif has_offset:
            for j in range(d):
                dst[j] = (src[j] - shift[j]) * scale[j] + offset[j]
        else:
            for j in range(d):
                dst[j] = (src[j] - shift[j]) * scale[j]
