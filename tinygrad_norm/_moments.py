"""Statistics maths shared by the backends and the normalizers: merging per-block moments.

A block of rows is summarised as (count, mean, M2) per column, M2 being the sum of squared
deviations from the block's mean; two summaries merge exactly with Chan, Golub & LeVeque's
formula, so the statistics of any split of the rows equal those of all of them. A fit keeps
(count, mean, M2, min, max) of every column whatever the method (``column_stats``): the
method's own statistics and the baseline that ``Normalizer.drift`` compares new data with.
"""

from __future__ import annotations

from typing import Any, NamedTuple

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


def chan_merge_columns(a: tuple[np.ndarray, np.ndarray, np.ndarray],
                       b: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``chan_merge`` with a count per column (columns may have seen different numbers of values, e.g. the
    finite ones of data with NaN): the same formula, elementwise; a column with no values has mean 0 and
    M2 0, so it merges as the identity."""
    na, mean_a, m2_a = a
    nb, mean_b, m2_b = b
    n = na + nb
    safe = np.maximum(n, 1)
    # (the product in float64, exact below 2**53 like chan_merge's Python ints, and never an int64 overflow)
    weight = np.where(n > 0, nb / safe, 0.0)
    cross = np.where(n > 0, np.multiply(na, nb, dtype=np.float64) / safe, 0.0)
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf data: the caller reports it by column
        delta = mean_b - mean_a
        return n, mean_a + delta * weight, m2_a + m2_b + delta * delta * cross


class Stats(NamedTuple):
    """What a fit keeps of a block of rows, per column, in float64: the row count, mean, M2 (the sum of
    squared deviations from the mean), min and max; ``bad`` counts each column's NaN/inf values, None when
    every statistic is finite (then there are none, and no pass counted them)."""

    count: int
    mean: np.ndarray
    m2: np.ndarray
    min: np.ndarray
    max: np.ndarray
    bad: np.ndarray | None


def column_stats(backend: Any, x: Any) -> Stats:
    """One block's :class:`Stats`, computed by ``backend``'s kernels in one read of ``x`` where the backend
    has a ``column_stats`` kernel (the CPU's fuses min/max into the moments' pass), else by its moments and
    min/max kernels."""
    fused = getattr(backend, "column_stats", None)
    if fused is not None:
        n, mean, m2, lo, hi = fused(x)
    else:
        n, mean, m2 = backend.column_moments(x)
        lo, hi = backend.column_minmax(x)
    bad = None
    if not all(np.isfinite(v).all() for v in (mean, m2, lo, hi)):
        xp = backend.xp
        bad = backend.to_numpy(xp.count_nonzero(~xp.isfinite(x), axis=0)).astype(np.int64)
    return Stats(int(n), mean, m2, lo, hi, bad)


# A block's per-column summary as one structured row, for Dask's reductions and the in-memory drift:
# rows of the block; n, mean, M2, min, max of its finite values; how many values are not finite; how many
# finite values lie outside a given [min, max] (0 when none is given). A fit's blocks are finite
# (n == rows), a drift's may not be.
SUMMARY = np.dtype([("rows", np.int64), ("n", np.int64), ("mean", np.float64), ("m2", np.float64),
                    ("min", np.float64), ("max", np.float64), ("nonfinite", np.int64), ("outside", np.int64)])


def empty_summary(d: int) -> np.ndarray:
    """The merge's identity for ``d`` columns: no rows, min +inf, max -inf."""
    out = np.zeros(d, SUMMARY)
    out["min"], out["max"] = np.inf, -np.inf
    return out


def merge_summaries(parts: np.ndarray) -> np.ndarray:
    """(k, d) summaries -> one (d,) summary: counts added, moments merged with Chan's formula per column,
    min and max of the mins and maxes, in the order of the rows (the same numbers for the same split)."""
    parts = parts.reshape(-1, parts.shape[-1])
    out = empty_summary(parts.shape[1])
    n, mean, m2 = out["n"], out["mean"], out["m2"]
    for row in parts:
        n, mean, m2 = chan_merge_columns((n, mean, m2), (row["n"], row["mean"], row["m2"]))
    out["n"], out["mean"], out["m2"] = n, mean, m2
    if len(parts):
        out["min"], out["max"] = parts["min"].min(axis=0), parts["max"].max(axis=0)
    for key in ("rows", "nonfinite", "outside"):
        out[key] = parts[key].sum(axis=0)
    return out


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
