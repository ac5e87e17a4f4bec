"""Normalizer statistics from Dask arrays and DataFrames, on any scheduler (threads, processes, a
``dask.distributed`` cluster), and lazy transforms of them.

Each block is summarized where it lives by the project's own backend, in float64: (count, mean,
M2, min, max) in one read (what a fit keeps whatever its method), plus each column's count of
NaN/inf values (a CuPy block uses the CUDA backend); for ``Normalizer.drift`` also the count of
values outside the training [min, max], in the same one blockwise pass. The summaries are merged
with Chan's formula in a tree (``dask.array.reduction`` with ``split_every``), so only d-sized
summaries travel and the result equals the in-memory fit. Dask's own ``mean``/``var`` are not used:
they accumulate float32 data in float32 (on 4M rows of mean 1e3 and std 3 in 1M-row chunks their
mean is 0.9% off and their variance 9.6x too large).

A robust normalizer's fit also makes each block's per-feature KLL quantile sketches on the workers (in the
same pass: both trees read the same blocks) and merges them in a tree of ``dask.delayed`` merges: the
quantiles are approximate, within the sketch's stated rank error (``normalize/quantiles.py``).

Dask is only imported when a Dask collection is passed in (``pip install 'tinygrad_norm[dask]'``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from . import _pandas
from ._backend import backend_of
from ._moments import SUMMARY as STATS_SUMMARY
from ._moments import Stats, chan_merge, check_table, column_stats, column_summary, empty_summary, merge_summaries
from .errors import ArgumentTypeError, ShapeError

# one block's summary per feature: a, b are (mean, M2) for kind "moments", (min, max) for "minmax";
# bad counts NaN/inf values. A structured array keeps the reduction an ordinary (blocks, d) dask array.
SUMMARY = np.dtype([("n", np.int64), ("a", np.float64), ("b", np.float64), ("bad", np.int64)])


def is_collection(x: Any) -> bool:
    """A Dask collection, by duck typing (the ``__dask_graph__`` protocol); imports nothing."""
    return callable(getattr(type(x), "__dask_graph__", None))


# attributes are looked up on the type: a Delayed object answers any attribute with another Delayed, and a
# Bag has map_partitions but no ndim
def _is_frame_like(x: Any) -> bool:
    kind = type(x)
    return (hasattr(kind, "map_partitions") and hasattr(kind, "ndim")
            and hasattr(kind, "dtypes" if x.ndim == 2 else "to_frame"))


def _as_table(x: Any) -> Any:
    """A Dask DataFrame as is; a Dask Series as a one-column DataFrame (one feature)."""
    return x.to_frame() if x.ndim == 1 else x


def _is_array_like(x: Any) -> bool:
    return all(hasattr(type(x), a) for a in ("map_blocks", "chunks", "ndim"))


def _kind_error(x: Any, what: str) -> TypeError:
    hint = {"Bag": "bag.to_dataframe() or dask.array.from_delayed on its partitions",
            "Delayed": "dask.array.from_delayed(value, shape, dtype)"}.get(type(x).__name__, "dask.array.from_delayed")
    return ArgumentTypeError(f"{what}: a Dask input must be a Dask array or DataFrame/Series, got "
                             f"{type(x).__name__}; convert it first (e.g. {hint})")


def _whole_rows(x: Any, resize: bool) -> Any:
    """``x`` rechunked so that each block holds whole rows (every feature). With known row chunks and
    ``resize``, rows are regrouped to dask's default block size, so wide rows do not make huge blocks;
    unknown row chunks (NaN: a boolean-mask selection, ``to_dask_array()`` without lengths) are kept as
    they are, which rechunking columns alone allows."""
    if x.numblocks[1] == 1:
        return x
    if resize and not any(np.isnan(c) for c in x.chunks[0]):
        return x.rechunk({0: "auto", 1: -1})
    return x.rechunk({1: -1})


def as_array(x: Any, what: str) -> tuple[Any, list[Any] | None]:
    """(a 2-D Dask array whose blocks hold whole rows, a DataFrame's column labels; None for an array)."""
    labels = None
    if _is_frame_like(x):
        x = _as_table(x)
        _pandas.check_numeric(x.columns, x.dtypes, what)
        labels = list(x.columns)
        dtype = _pandas.values_dtype(x.dtypes)
        if set(x.dtypes) != {dtype}:  # mixed or nullable columns: float64, a missing value becomes NaN
            x = x.astype(dtype)
        x = x.to_dask_array()
    elif not _is_array_like(x):
        raise _kind_error(x, what)
    _check_not_sparse(x, what)
    _check_known_columns(x, what)
    check_table(x.dtype, x.shape, what)
    # blocks of whole rows: each block's summary covers every feature
    return _whole_rows(x, resize=True), labels


def _check_known_columns(x: Any, what: str) -> None:
    """The number of features must be known before anything is computed (unknown rows are fine)."""
    if x.ndim == 2 and any(np.isnan(c) for c in x.chunks[1]):
        raise ShapeError(f"{what}: the Dask array's number of columns is unknown (shape {tuple(x.shape)}); give it "
                         "when making the array (e.g. dask.array.from_delayed(value, shape=(n, d), dtype=...)), or "
                         "call x.compute_chunk_sizes() first")


def _check_not_sparse(x: Any, what: str) -> None:
    """Blocks of scipy.sparse (or pydata sparse) matrices: refused by name, like in-memory sparse input."""
    module = type(getattr(x, "_meta", None)).__module__ or ""
    if module.startswith("scipy.sparse") or module.split(".")[0] == "sparse":
        raise ArgumentTypeError(f"{what}: sparse blocks are not supported; densify them first "
                                "(x.map_blocks(lambda b: b.toarray())), if they fit in memory")


def _summarize_block(block: Any, axis: Any = None, keepdims: bool = True, kind: str = "moments") -> np.ndarray:
    """``chunk`` of the reduction: one block's (1, d) summary, computed by the backend of its device."""
    out = np.zeros((1, block.shape[1]), SUMMARY)
    if block.shape[0] == 0:  # an empty partition (or dask's metadata probe): the merge's identity
        if kind == "minmax":
            out["a"], out["b"] = np.inf, -np.inf
        return out
    backend = backend_of(block)
    if block.dtype.kind != "f":
        block = block.astype(np.float64)  # as in memory: integers are exact in float64
    n, a, b, bad = column_summary(backend, block, kind)
    out["n"], out["a"], out["b"] = n, a, b
    if bad is not None:
        out["bad"] = bad
    return out


def _merge(parts: np.ndarray, axis: Any = None, keepdims: bool = False, kind: str = "moments") -> np.ndarray:
    """``combine`` and ``aggregate`` of the reduction: (k, d) summaries -> one, Chan's formula for moments."""
    parts = parts.reshape(-1, parts.shape[-1])
    d = parts.shape[1]
    out = np.zeros((1, d) if keepdims else (d,), SUMMARY)
    if kind == "moments":
        acc = (0, np.zeros(d), np.zeros(d))
        for row in parts:
            n = int(row["n"][0]) if d else 0
            if n:
                acc = chan_merge(acc, (n, row["a"], row["b"]))
        n, a, b = acc
    else:
        n, a, b = parts["n"][:, :1].sum(), parts["a"].min(axis=0), parts["b"].max(axis=0)
    out["n"], out["a"], out["b"] = n, a, b
    out["bad"] = parts["bad"].sum(axis=0)
    return out


def summarize(x: Any, kind: str, split_every: int | None = None) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """(count, a, b, bad) of a 2-D Dask array of whole-row blocks, computed on the active scheduler
    (a ``dask.distributed`` client if one is set, else dask's default)."""
    import dask.array as da

    chunk = partial(_summarize_block, kind=kind)
    merge = partial(_merge, kind=kind)
    tree = da.reduction(x, chunk, merge, combine=merge, axis=0, keepdims=False, dtype=SUMMARY,
                        split_every=split_every, meta=np.empty((0,), SUMMARY), name=f"tinygrad-norm-{kind}")
    s = np.asarray(tree.compute())
    d = x.shape[1]
    return int(s["n"][0]) if d else 0, s["a"].copy(), s["b"].copy(), s["bad"].copy()


def _stats_block(block: Any, axis: Any = None, keepdims: bool = True) -> np.ndarray:
    """``chunk`` of a fit's reduction: one block's (1, d) ``_moments.SUMMARY`` of (count, mean, M2, min, max)
    and NaN/inf counts, from the fit's kernels on the block's device."""
    if block.shape[0] == 0:  # an empty partition (or dask's metadata probe): the merge's identity
        return empty_summary(block.shape[1])[None]
    if block.dtype.kind != "f":
        block = block.astype(np.float64)  # as in memory: integers are exact in float64
    stats = column_stats(backend_of(block), block)
    out = np.zeros((1, block.shape[1]), STATS_SUMMARY)
    out["rows"] = out["n"] = stats.count
    out["mean"], out["m2"], out["min"], out["max"] = stats.mean, stats.m2, stats.min, stats.max
    if stats.bad is not None:
        out["nonfinite"] = stats.bad
    return out


def _drift_block(block: Any, axis: Any = None, keepdims: bool = True, lo: Any = None, hi: Any = None) -> np.ndarray:
    """``chunk`` of a drift's reduction: ``drift.block_summary`` of one block, where it lives."""
    from .drift import block_summary

    if block.shape[0] == 0:
        return empty_summary(block.shape[1])[None]
    return block_summary(backend_of(block), block, lo, hi)[None]


def _merge_summaries(parts: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """``combine`` and ``aggregate``: (k, d) summaries -> one (Chan's formula per column, in block order)."""
    out = merge_summaries(parts)
    return out[None] if keepdims else out


def _tree(x: Any, chunk: Any, name: str, split_every: int | None) -> Any:
    import dask.array as da

    return da.reduction(x, chunk, _merge_summaries, combine=_merge_summaries, axis=0, keepdims=False,
                        dtype=STATS_SUMMARY, split_every=split_every, meta=np.empty((0,), STATS_SUMMARY), name=name)


def _reduce(x: Any, chunk: Any, name: str, split_every: int | None) -> np.ndarray:
    return np.asarray(_tree(x, chunk, name, split_every).compute())


def summarize_stats(x: Any, split_every: int | None = None) -> Stats:
    """A fit's :class:`~tinygrad_norm._moments.Stats` of a 2-D Dask array of whole-row blocks, in one pass
    on the active scheduler (a ``dask.distributed`` client if one is set, else dask's default)."""
    return _as_stats(_reduce(x, _stats_block, "tinygrad-norm-stats", split_every))


def _as_stats(s: np.ndarray) -> Stats:
    bad = s["nonfinite"].copy()
    finite = all(np.isfinite(s[k]).all() for k in ("mean", "m2", "min", "max"))
    return Stats(int(s["rows"][0]), s["mean"].copy(), s["m2"].copy(), s["min"].copy(), s["max"].copy(),
                 None if finite and not bad.any() else bad)


# ---- robust: each block's quantile sketches, merged in a tree ----------------------------------------------
def _sketch_block(block: Any) -> tuple[bytes, ...] | None:
    """One block's per-feature KLL sketches (serialized), made where the block lives; None for an empty one."""
    from .normalize import quantiles

    if block.shape[0] == 0:
        return None
    return quantiles.sketch(np.asarray(backend_of(block).to_numpy(block), dtype=np.float64), None, "fit")


def _merge_sketches(*parts: tuple[bytes, ...] | None) -> tuple[bytes, ...] | None:
    from .normalize import quantiles

    return quantiles.merge(list(parts), "fit")


def summarize_robust(x: Any, split_every: int = 8) -> tuple[Stats, tuple[bytes, ...] | None]:
    """robust's fit of a 2-D Dask array of whole-row blocks: its :class:`Stats` and each feature's KLL sketch,
    the sketches made per block on the workers and merged ``split_every`` at a time in a tree (only the ~7 KB
    sketches travel). One ``dask.compute`` of both trees: each block is read once."""
    import dask

    # (the array's own keys, unoptimized: the stats tree reads the same block tasks, so each block is made once)
    parts = [dask.delayed(_sketch_block)(b) for b in x.to_delayed(optimize_graph=False).ravel()]
    while len(parts) > 1:
        parts = [dask.delayed(_merge_sketches)(*parts[i:i + split_every]) for i in range(0, len(parts), split_every)]
    # (unoptimized: blockwise fusion would fold the blocks into the stats tree's tasks, and the sketches would
    # read them again)
    s, sketches = dask.compute(_tree(x, _stats_block, "tinygrad-norm-stats", None), parts[0], optimize_graph=False)
    return _as_stats(np.asarray(s)), sketches


def summarize_drift(x: Any, lo: np.ndarray | None, hi: np.ndarray | None,
                    split_every: int | None = None) -> np.ndarray:
    """A drift's (d,) summary of a 2-D Dask array of whole-row blocks (``drift.block_summary`` per block,
    merged in a tree): one pass over the data."""
    return _reduce(x, partial(_drift_block, lo=lo, hi=hi), "tinygrad-norm-drift", split_every)


# ---- lazy transform -------------------------------------------------------------------------------
def _apply_block(block: Any, frozen: Any, inverse: bool, what: str, dtype: np.dtype) -> Any:
    if block.shape[0] == 0:
        return block.astype(dtype)
    return frozen._apply(block, None, inverse, what)


def _apply_partition(part: Any, frozen: Any, inverse: bool, what: str, dtype: np.dtype) -> Any:
    if len(part) == 0:
        return part.astype(dtype)
    values, _ = _pandas.to_array(part, what)
    return _pandas.like(part, frozen._apply(values, None, inverse, what))


def apply_lazy(frozen: Any, x: Any, inverse: bool, what: str) -> Any:
    """``frozen`` (a fitted copy, so refitting the original later does not change this graph) applied
    block by block: a Dask array gives a Dask array, a Dask DataFrame (Series) gives a DataFrame (Series)
    with the same index and columns. Nothing is computed here."""
    if _is_frame_like(x):
        table = _as_table(x)
        _pandas.check_numeric(table.columns, table.dtypes, what)
        frozen._check_columns(list(table.columns), what)
        if len(table.columns) != frozen.n_features:
            raise ShapeError(f"{what}: input has {len(table.columns)} features, the normalizer was fitted on "
                             f"{frozen.n_features}")
        dtype = _pandas.output_dtype(table.dtypes)
        meta = x._meta.astype(dtype)
        return x.map_partitions(_apply_partition, frozen, inverse, what, dtype, meta=meta)
    if not _is_array_like(x):
        raise _kind_error(x, what)
    _check_not_sparse(x, what)
    _check_known_columns(x, what)
    if x.dtype.kind not in "biuf" or x.ndim != 2:
        raise ShapeError(f"{what}: expected a 2-D numeric Dask array (rows, features), got shape "
                         f"{tuple(x.shape)} and dtype {x.dtype}")
    frozen._check_features(x, what)
    x = _whole_rows(x, resize=False)  # each block needs whole rows; output blocks keep the input's row chunks
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
    import dask.array as da

    meta = da.utils.meta_from_array(x, ndim=2, dtype=dtype)
    return x.map_blocks(_apply_block, frozen, inverse, what, dtype, dtype=dtype, meta=meta)
