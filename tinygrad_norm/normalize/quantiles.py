"""Robust scaling's statistics: each feature's median and the two quantiles of its ``quantile_range``.

Two ways to get them:

- ``exact``: scikit-learn's ``RobustScaler.fit`` itself (``np.nanmedian`` and ``np.nanpercentile``, linear
  interpolation), on the float64 values of one in-memory array: ``fit`` of one array.
- a mergeable sketch per feature: Apache DataSketches' KLL sketch (``kll_doubles_sketch``), for what never is one
  array in memory: ``partial_fit``, ``fit`` on a list or iterator of chunks, Dask collections (a sketch per
  block, merged in a tree). ``SKETCH_K`` is the smallest k whose stated normalized rank error for a single
  quantile (``get_normalized_rank_error(k, False)``: 99% confidence, DataSketches' empirical bound) is at most
  1%: k = 269 states 0.997%. So each quantile read from a sketch is an exact quantile of the fitted values for
  some rank within 0.997% of the asked one (the median is between the 49.0% and 51.0% points), whatever the
  number of rows, chunk sizes or merge order; a sketch is about 7 KB per feature at any size.

Sketches are kept serialized (``bytes``, immutable: a failed call puts the old ones back by reference, and the
normalizer pickles) and saved in ``state_dict``, so a loaded normalizer continues with ``partial_fit`` as if it had
never been saved. datasketches is only imported for a sketch (``pip install 'tinygrad_norm[robust]'``).
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any

import numpy as np

from ..errors import ArgumentError, MissingDependencyError

SKETCH_K = 269
INSTALL = "pip install 'tinygrad_norm[robust]' (or pip install datasketches)"


def available() -> bool:
    """Whether datasketches imports (an exact fit then keeps a sketch too, so partial_fit continues)."""
    try:
        kll("")
    except MissingDependencyError:
        return False
    return True


def kll(what: str) -> Any:
    """DataSketches' ``kll_doubles_sketch`` class; a MissingDependencyError naming the extra without it."""
    try:
        from datasketches import kll_doubles_sketch
    except ImportError:
        raise MissingDependencyError(
            f"{what}: robust statistics of chunks (partial_fit, fit on a list or iterator of chunks, Dask) are "
            f"merged in quantile sketches, which need datasketches: {INSTALL}. fit() on one in-memory array "
            "needs no sketch (exact quantiles)") from None
    return kll_doubles_sketch


def normal_iqr(quantile_range: tuple[float, float]) -> float:
    """The normal distribution's spread between the two quantiles: what ``unit_variance`` divides by, as
    scikit-learn's ``norm.ppf(high / 100) - norm.ppf(low / 100)`` (the standard library's inverse CDF, within a
    few ulp of scipy's)."""
    low, high = quantile_range
    unit = NormalDist()
    return unit.inv_cdf(high / 100.0) - unit.inv_cdf(low / 100.0)


def exact(x: np.ndarray, quantile_range: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(median, low quantile, high quantile) per column of a float64 array, computed as scikit-learn's
    RobustScaler computes them (the same calls, so the same numbers)."""
    median = np.nanmedian(x, axis=0)
    q = np.array([np.nanpercentile(x[:, j], quantile_range) for j in range(x.shape[1])], dtype=np.float64)
    return np.asarray(median, dtype=np.float64), q[:, 0].copy(), q[:, 1].copy()


def _column(x: np.ndarray, j: int) -> np.ndarray:
    """Column ``j`` as datasketches' update takes it: contiguous, float64 and writable (a read-only view, e.g.
    of a pandas block, is refused by its binding)."""
    col = np.ascontiguousarray(x[:, j], dtype=np.float64)
    return col if col.flags.writeable else col.copy()


def sketch(x: np.ndarray, previous: tuple[bytes, ...] | None, what: str) -> tuple[bytes, ...]:
    """Each column of the host array ``x`` added to its sketch in ``previous`` (None: new sketches)."""
    kind = kll(what)
    out = []
    for j in range(x.shape[1]):
        s = kind(SKETCH_K) if previous is None else load(kind, previous[j], j)
        s.update(_column(x, j))
        out.append(s.serialize())
    return tuple(out)


def merge(parts: list[tuple[bytes, ...] | None], what: str) -> tuple[bytes, ...] | None:
    """Several sets of per-feature sketches merged into one set (None entries are empty parts)."""
    parts = [p for p in parts if p is not None]
    if len(parts) <= 1:
        return parts[0] if parts else None
    kind = kll(what)
    out = []
    for j in range(len(parts[0])):
        s = load(kind, parts[0][j], j)
        for p in parts[1:]:
            s.merge(load(kind, p[j], j))
        out.append(s.serialize())
    return tuple(out)


def load(kind: Any, data: bytes, j: int) -> Any:
    """A serialized sketch back; a clear error for bytes that are not one (a corrupt or crafted state)."""
    try:
        return kind.deserialize(bytes(data))
    except (ValueError, IndexError, RuntimeError, TypeError, MemoryError, OverflowError) as e:
        raise ArgumentError(f"normalizer state: the quantile sketch of feature {j} is not a KLL sketch ({e})") from None


def quantiles(sketches: tuple[bytes, ...], quantile_range: tuple[float, float],
              what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(median, low quantile, high quantile) per feature from its sketch (each the smallest sketched value whose
    rank, counting values <= it, reaches the asked rank)."""
    kind = kll(what)
    low, high = (q / 100.0 for q in quantile_range)
    out = np.empty((3, len(sketches)), dtype=np.float64)
    for j, data in enumerate(sketches):
        s = load(kind, data, j)
        out[:, j] = [s.get_quantile(r, True) for r in (0.5, low, high)]
    return out[0].copy(), out[1].copy(), out[2].copy()


def rank_error(sketches: tuple[bytes, ...], what: str) -> float:
    """The stated normalized rank error of a single quantile of these sketches (the largest of the features')."""
    kind = kll(what)
    return max(load(kind, data, j).normalized_rank_error(False) for j, data in enumerate(sketches))


def check_loaded(sketches: tuple[bytes, ...], count: int) -> None:
    """Loaded sketches must each be a KLL sketch of ``count`` values (checked when datasketches is installed;
    without it they are kept as they are, and a partial_fit, which needs it, checks them)."""
    if not available():
        return
    kind = kll("normalizer state")
    for j, data in enumerate(sketches):
        n = load(kind, data, j).n
        if n != count:
            raise ArgumentError(f"normalizer state: the quantile sketch of feature {j} holds {n} values, the "
                                f"normalizer was fitted on {count} rows")
