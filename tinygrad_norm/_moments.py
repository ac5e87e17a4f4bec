"""Statistics maths shared by the backends and the normalizers: merging per-block moments.

A block of rows is summarised as (count, mean, M2) per column, M2 being the sum of squared
deviations from the block's mean; two summaries merge exactly with Chan, Golub & LeVeque's
formula, so the statistics of any split of the rows equal those of all of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ArgumentError, DTypeError, ShapeError


def chan_merge(a: tuple[int, np.ndarray, np.ndarray],
               b: tuple[int, np.ndarray, np.ndarray]) -> tuple[int, np.ndarray, np.ndarray]:
    """Merge two (count, mean, M2) summaries (Chan, Golub & LeVeque 1979)."""
    na, mean_a, m2_a = a
    nb, mean_b, m2_b = b
    if na == 0:
        return b
    if nb == 0:
        return a
    n = na + nb
    delta = mean_b - mean_a
    return n, mean_a + delta * (nb / n), m2_a + m2_b + delta * delta * (na * nb / n)


def column_summary(backend: Any, x: Any, kind: str) -> tuple[int, np.ndarray, np.ndarray, np.ndarray | None]:
    """One block's per-column summary in float64 on the host, computed by ``backend``'s kernels:
    ``(count, mean, M2, bad)`` for kind ``"moments"``, ``(count, min, max, bad)`` for ``"minmax"``.
    ``bad`` counts each column's NaN/inf values; it is None when the statistics are finite (then there
    are none, and no pass counts them)."""
    if kind == "moments":
        n, a, b = backend.column_moments(x)
    else:
        (a, b), n = backend.column_minmax(x), int(x.shape[0])
    bad = None
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        xp = backend.xp
        bad = backend.to_numpy(xp.count_nonzero(~xp.isfinite(x), axis=0)).astype(np.int64)
    return int(n), a, b, bad


def check_table(dtype: Any, shape: tuple, what: str) -> None:
    """A table to fit or transform: numeric, 2-D (rows, features), at least one row and one feature. The one
    check the in-memory and Dask inputs share (a Dask array's unknown row count is NaN: not 0)."""
    if np.dtype(dtype).kind not in "biuf":
        raise DTypeError(f"{what}: input must be numeric, got dtype {dtype}; convert text columns first")
    if len(shape) != 2:
        hint = " (use x.reshape(-1, 1) for a single feature)" if len(shape) == 1 else ""
        raise ShapeError(f"{what}: expected a 2-D array (rows, features), got shape {tuple(shape)}{hint}")
    if shape[0] == 0:
        raise ArgumentError(f"{what}: input is empty (0 rows)")
    if shape[1] == 0:  # no statistics to fit, nothing to apply them to
        raise ArgumentError(f"{what}: input has no features (shape {tuple(shape)}); pass at least one column")
