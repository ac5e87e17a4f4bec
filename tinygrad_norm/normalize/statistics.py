"""Step 2 of a fit: the statistics. ``partial_fit`` merges a chunk's per-feature count, mean, M2, min and max
(Chan et al.'s formula, float64); ``affine`` derives the transform's (shift, scale, offset) from them, warning
about constant features; ``careful`` decides whether data of a dtype needs the careful float64 path
(statistics at the limits of the dtype). Functions of the normalizer's attributes, never its methods."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .. import _dask, _pandas
from .._moments import Stats, chan_merge, column_stats
from ..errors import ArgumentError, NotFittedError, ShapeError, name_few
from . import quantiles as _quantiles
from .config import check_config
from .inputs import _as_2d, check_columns


class NormalizerWarning(UserWarning):
    """A fitted feature is constant, so it cannot be scaled (its scale is set to 1)."""


# a sixteenth of each float dtype's largest value: statistics beyond it take the careful path
_MAX16 = {np.dtype(t): float(np.finfo(t).max) / 16 for t in (np.float16, np.float32, np.float64)}


def require_fitted(norm: Any, what: str) -> None:
    if not (norm.count is None or norm.count > 0):
        raise NotFittedError(f"{what}: this Normalizer is not fitted yet; call fit(X_train) first")


# ---- fitting ------------------------------------------------------------------------------------------------
def partial_fit(norm: Any, chunk: Any, what: str = "partial_fit", prefix: str = "", exact: bool = False) -> None:
    """Merge one chunk into the statistics. ``what`` names the call in errors; ``prefix`` starts the messages
    that name no call (NaN/inf data, overflow: the same for fit and partial_fit), e.g. a batch's number.
    ``exact``: the chunk is the whole fit (robust's quantiles are then computed exactly, not sketched)."""
    robust = norm.method == "robust"
    if robust and (not exact or _dask.is_collection(chunk)):  # (first: a count would not help a robust one)
        check_sketchable(norm, what)
    if norm.count is None:
        raise ArgumentError(f"{what}: this normalizer was built from given statistics of an unknown number of "
                            "rows (from_stats(..., count=None)), so new rows cannot be weighed against them; "
                            "rebuild it with from_stats(..., count=N), or fit it on the data")
    labels = sketch = backend = None
    if _dask.is_collection(chunk):
        x, labels = _dask.as_array(chunk, what)
        check_chunk(norm, x.shape[1], labels, what)
        if robust:  # the moments and each block's sketches in one pass over the blocks
            stats, sketch = _dask.summarize_robust(x)
        else:
            stats = _dask.summarize_stats(x)
        if stats.count == 0:
            raise ArgumentError(f"{what}: input is empty (0 rows)")
        magnitude = None
    else:
        if _pandas.is_pandas(chunk):
            chunk, labels = _pandas.to_array(chunk, what)
        x, backend, _, _ = _as_2d(chunk, what)
        check_chunk(norm, x.shape[1], labels, what)
        stats = column_stats(backend, x)
        magnitude = None
        if stats.bad is not None and not stats.bad.any():  # finite data: for the overflow message
            magnitude = backend.to_numpy(backend.xp.max(backend.xp.abs(x), axis=0))
    if stats.bad is not None:
        if stats.bad.any() or norm.method == "standard":  # NaN/inf data, or moments standard needs
            raise_nonfinite(norm, stats.bad, labels, stats.mean, stats.m2, magnitude, prefix)
        # finite values whose squared deviations overflow float64: min/max and maxabs do not need the
        # moments; they are dropped (drift says it has no training mean/std), never kept as inf
        stats = stats._replace(mean=None, m2=None)
    merge(norm, stats)
    if robust:
        merge_quantiles(norm, x, backend, sketch, exact and backend is not None, what)
    norm.n_features = x.shape[1]
    if labels is not None:  # (checked against the earlier chunks' by check_chunk)
        if _pandas.feature_names(labels) is not None:
            norm.feature_names = labels
        else:
            norm._columns = labels
    norm._derived = None


def merge(norm: Any, stats: Stats) -> None:
    """Merge a chunk's statistics into the normalizer's (new arrays, never in place: a failed call puts
    the old ones back). A statistic the normalizer lacks (an old checkpoint's, from_stats') stays missing:
    the rows it was fitted on are not there to compute it from."""
    first = norm.count == 0
    if stats.mean is not None and (first or norm._mean is not None):
        _, norm._mean, norm._m2 = chan_merge((norm.count, norm._mean, norm._m2), (stats.count, stats.mean,
                                                                                   stats.m2))
    else:
        norm._mean = norm._m2 = None
    if first or norm._min is not None:
        norm._min = stats.min if first else np.minimum(norm._min, stats.min)
        norm._max = stats.max if first else np.maximum(norm._max, stats.max)
    if norm._max_abs is not None:
        norm._max_abs = np.maximum(norm._max_abs, np.maximum(np.abs(stats.min), np.abs(stats.max)))
    norm.count += stats.count


def check_sketchable(norm: Any, what: str) -> None:
    """robust statistics of a chunk are merged in quantile sketches: datasketches must be installed, and a fitted
    normalizer must hold the sketches of its rows."""
    if norm._median is not None and norm._sketch is None:  # (fit on one array, or from_stats)
        rows = f"{norm.count} rows" if norm.count else "an unknown number of rows"
        raise ArgumentError(f"{what}: this robust normalizer holds exact quantiles of {rows} (from fit() on one "
                            "in-memory array, which keeps no sketch: one would double its time, or from_stats) and "
                            "no quantile sketch of them, so new rows cannot be merged with them; to add rows later, "
                            "fit with partial_fit (or on a list or stream of chunks) from the start, or fit again "
                            "on all the rows")
    _quantiles.kll(what)


def merge_quantiles(norm: Any, x: Any, backend: Any, sketch: tuple[bytes, ...] | None, exact: bool,
                    what: str) -> None:
    """robust: the quantiles after this chunk (new arrays). ``exact``: ``x`` is all the fit data, in memory
    (scikit-learn's percentiles, and no sketch: building one would double the fit's time for a partial_fit that
    may never come); else the chunk's sketches (``sketch``: already made, from Dask blocks) merged into the
    normalizer's and the quantiles read from them."""
    if exact:
        host = np.asarray(backend.to_numpy(x), dtype=np.float64)
        norm._median, norm._q_low, norm._q_high = _quantiles.exact(host, norm.quantile_range)
        norm._sketch, norm._rank_error = None, 0.0
        return
    if sketch is None:  # (a column at a time in float64: no float64 copy of the whole chunk)
        sketch = _quantiles.sketch(backend.to_numpy(x), norm._sketch, what)
    else:
        sketch = _quantiles.merge([norm._sketch, sketch], what)
    norm._median, norm._q_low, norm._q_high = _quantiles.quantiles(sketch, norm.quantile_range, what)
    norm._sketch, norm._rank_error = sketch, _quantiles.rank_error(sketch, what)


def check_chunk(norm: Any, d: int, labels: list[Any] | None, what: str = "partial_fit") -> None:
    if norm.n_features is not None and d != norm.n_features:
        raise ShapeError(f"{what}: chunk has {d} features, earlier chunks had {norm.n_features}")
    if norm.feature_names is not None and len(norm.feature_names) != d:
        raise ShapeError(f"{what}: {len(norm.feature_names)} feature names for {d} features")
    if labels is not None:
        _pandas.check_unique(labels, what)
        # the first non-string labels are learned (with feature_names given, pd.DataFrame(array) can still be
        # fitted); from then on, and for names, a chunk's columns must be the known ones
        if norm._columns is not None or _pandas.feature_names(labels) is not None:
            check_columns(labels, norm.feature_names, norm._columns, what)


def name(norm: Any, j: int, names: list[Any] | None = None) -> str:
    names = names or norm.feature_names or norm._columns
    if not names:
        return f"{j}"
    text = repr(names[j])
    return text if len(text) <= 60 else text[:57] + "..."


def raise_nonfinite(norm: Any, bad: np.ndarray, names: list[Any] | None, a: np.ndarray, b: np.ndarray,
                    magnitude: np.ndarray | None = None, prefix: str = "") -> None:
    """The statistics are not finite: name the features with NaN/inf values (``bad`` counts them;
    ``names``: the chunk's column labels, when it has them), or, for finite data, the features whose
    statistics overflow float64 (``magnitude``: each column's max |x|, when known). ``prefix`` starts the
    message (a batch's number in a list of batches)."""
    if not bad.any():
        over = np.flatnonzero(~(np.isfinite(a) & np.isfinite(b)))
        shown = name_few(over, width=120, show=lambda j: name(norm, j, names) + (
            f" (|x| up to {float(magnitude[j]):.3g})" if magnitude is not None else ""))
        raise ArgumentError(f"{prefix}feature(s) {shown}: values this large overflow float64 statistics (their "
                            "squared deviations exceed 1.8e308); rescale them first, e.g. divide by a power of 10")
    cols = name_few(np.flatnonzero(bad), width=120, show=lambda j: f"feature {name(norm, j, names)}: {int(bad[j])}")
    raise ArgumentError(f"{prefix}fit data contains {int(bad.sum()):,} NaN/inf value(s) ({cols}); "
                        "drop or impute them before fitting")


# ---- fitted statistics ----------------------------------------------------------------------------------------
def spreads(norm: Any) -> tuple[np.ndarray, np.ndarray]:
    """(var, std) with ``ddof`` (read-only; kept until the statistics or ``ddof`` change)."""
    source = norm._m2 if norm._var is None else norm._var
    cached = norm._spreads_of
    if cached is not None and cached[0] is source and cached[1] == norm.count and cached[2] == norm.ddof:
        return cached[3]
    if norm._var is not None:  # given without a row count: the variance as it is
        var = norm._var.copy()
    else:
        if norm.count - norm.ddof <= 0:
            raise ArgumentError(f"variance with ddof={norm.ddof} needs more than {norm.ddof} row(s); "
                                f"fitted on {norm.count}")
        var = norm._m2 / (norm.count - norm.ddof)
    std = np.sqrt(var)
    var.flags.writeable = std.flags.writeable = False
    # (caches go in the instance dict directly, as all derived state here: the class's __setattr__ is for settings)
    norm.__dict__["_spreads_of"] = (source, norm.count, norm.ddof, (var, std))
    return var, std


def population_var(norm: Any) -> tuple[np.ndarray, int]:
    """(M2 / count, count): the variance of the fitted values themselves; the given variance and 1 when the
    row count is unknown (then the rounding bound of the constant test is that of a single value)."""
    if norm._var is not None:
        return norm._var, 1
    return norm._m2 / norm.count, norm.count


def max_abs(norm: Any) -> np.ndarray | None:
    """Per-feature max|x|: given (``from_stats("maxabs", max_abs=...)``) or from the fitted min and max."""
    if norm._max_abs is not None:
        return norm._max_abs
    return None if norm._min is None else np.maximum(np.abs(norm._min), np.abs(norm._max))


def clip_range(norm: Any) -> tuple[float, float] | None:
    """The bounds outputs are clipped to with ``clip=True``: feature_range (minmax), [-1, 1] (maxabs)."""
    if not norm.clip:
        return None
    return norm.feature_range if norm.method == "minmax" else (-1.0, 1.0)


def spread(norm: Any, d: int) -> tuple:
    """(shift, spread, offset, constant mask, what constant means) of the fitted method, in float64."""
    offset = None
    if norm.method == "standard":
        shift = norm._mean.copy() if norm.with_mean else np.zeros(d)
        spread = spreads(norm)[1] if norm.with_std else np.ones(d)
        # scikit-learn's _is_constant_feature: the variance is within the rounding error of
        # accumulating n values of this magnitude; a bound relative to the feature's own scale
        eps = np.finfo(np.float64).eps
        var, n = population_var(norm)
        constant = (var <= n * eps * var + (n * norm._mean * eps) ** 2) if norm.with_std else np.zeros(d, bool)
        what = "its spread is zero or below the rounding of its values"
    elif norm.method == "minmax":
        low, high = norm.feature_range
        shift = norm._min.copy()
        spread = (norm._max - norm._min) / (high - low)
        constant = norm._max == norm._min
        offset = np.full(d, low) if low != 0 else None
        what = "max == min"
    elif norm.method == "robust":
        shift = norm._median.copy() if norm.with_centering else np.zeros(d)
        if norm.with_scaling:
            iqr = norm._q_high - norm._q_low
            # scikit-learn's _handle_zeros_in_scale: a spread below 10 ulp of 1 (an absolute bound) is a zero
            constant = iqr < 10 * np.finfo(np.float64).eps
            spread = iqr / robust_adjust(norm)
        else:
            spread, constant = np.ones(d), np.zeros(d, bool)
        low, high = norm.quantile_range
        what = f"its {low:g}% and {high:g}% quantiles are equal"
    else:
        shift = np.zeros(d)
        spread = max_abs(norm).copy()
        constant = spread == 0
        what = "max|x| == 0"
    return shift, spread, offset, constant, what


def robust_adjust(norm: Any) -> float:
    """What robust's spread is divided by: the normal distribution's spread between the quantiles with
    ``unit_variance``, else 1."""
    return _quantiles.normal_iqr(norm.quantile_range) if norm.unit_variance else 1.0


def constant_spread(norm: Any) -> float:
    """The spread a constant feature gets: 1 (its scale is 1); for robust with ``unit_variance``, 1 divided by
    the normal's spread, as scikit-learn's RobustScaler divides the spread after setting a zero one to 1."""
    return 1.0 / robust_adjust(norm) if norm.method == "robust" else 1.0


def affine(norm: Any, stacklevel: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(shift, scale, offset) so that transform(x) = (x - shift) * scale + offset, in float64 (kept with the
    statistics: derived once after each fit or change of setting). ``stacklevel``: where a constant-feature
    warning points."""
    require_fitted(norm, "transform")
    if norm._derived is not None:
        return norm._derived
    check_config(norm, "transform")  # a setting changed since the fit (set_params) to one the method does not use
    d = norm.n_features
    with np.errstate(over="ignore"):  # spreads near float64's limit: the careful path's prescale handles them
        shift, spread_, offset, constant, what = spread(norm, d)
    if constant.any():
        names = name_few(np.flatnonzero(constant), show=lambda j: name(norm, j))
        if norm.method == "robust":  # (not constant: a mostly-zero feature has a zero IQR and its outliers)
            text = (f"robust normalizer: feature(s) {names} have no spread between the quantiles ({what}) in the "
                    "fit data; their spread is set to 1, as in scikit-learn (a feature that is mostly one value: "
                    "consider another method or a wider quantile_range for it)")
        else:
            text = (f"{norm.method} normalizer: feature(s) {names} are constant ({what}) in the fit data; "
                    "their scale is set to 1 (they carry no information: consider dropping them)")
        warnings.warn(text, NormalizerWarning, stacklevel=stacklevel)
    with np.errstate(over="ignore"):
        scale = 1.0 / np.where(constant, constant_spread(norm), spread_)
    prescale = safe_scaling(norm, constant)
    _, p, scale_p = prescale
    if (p != 1.0).any():  # max - min or 1 / spread overflowed: the scale from the prescaled spread
        with np.errstate(over="ignore"):
            scale = np.where(p != 1.0, scale_p * p, scale)
    for v in (shift, scale, offset):  # read-only: the backends may cache what they derive from them
        if v is not None:
            v.flags.writeable = False
    # careful's answers are kept with these statistics (the instance dict directly, as for _spreads_of)
    norm.__dict__.update(_prescale=prescale, _derived=(shift, scale, offset), _careful_for={})
    return norm._derived


def safe_scaling(norm: Any, constant: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(magnitude, p, scale / p): the largest value the transform handles, and per feature a power-of-two
    prescale p for statistics at float64's limits: 2**-16 where ``max - min`` itself would overflow,
    2**k where ``1 / spread`` would (spreads below ~1e-308). Used by the careful path."""
    d = norm.n_features
    if norm.method == "standard":
        per = np.abs(norm._mean) + 8 * np.sqrt(population_var(norm)[0])
    elif norm.method == "minmax" or (norm.method == "robust" and norm._min is not None):
        per = np.maximum(np.abs(norm._min), np.abs(norm._max))
    elif norm.method == "robust":
        per = np.maximum(np.abs(norm._q_low), np.abs(norm._q_high))
    else:
        per = max_abs(norm)
    magnitude = float(np.max(per))
    p = np.where(~np.isfinite(per) | (per > np.finfo(np.float64).max / 16), 2.0 ** -16, 1.0)
    for _ in range(2):  # the second pass sees the spread after a tiny one was scaled up
        if norm.method == "minmax":
            low, high = norm.feature_range
            spread_p = (norm._max * p - norm._min * p) / (high - low)
        elif norm.method == "maxabs":
            spread_p = max_abs(norm) * p
        elif norm.method == "robust" and norm.with_scaling:
            spread_p = (norm._q_high * p - norm._q_low * p) / robust_adjust(norm)
        elif norm.method == "robust":
            spread_p = np.ones(d) * p
        else:
            spread_p = (spreads(norm)[1] if norm.with_std else np.ones(d)) * p
        tiny = ~constant & (spread_p > 0) & (spread_p < 2.0 ** -1000)
        if not tiny.any():
            break
        p = np.where(tiny, p * 2.0 ** 600, p)  # exact; the values, at most the spread, stay finite
    scale_p = 1.0 / np.where(constant | (spread_p == 0), p * constant_spread(norm), spread_p)
    return magnitude, p, scale_p


def check_tensor_safe(norm: Any, dtype: np.dtype, what: str) -> None:
    """Tensors take the differentiable fast path only: statistics that would need the careful float64 path
    are an error there, never an inf or NaN."""
    if careful(norm, np.dtype(dtype)):
        raise ArgumentError(f"{what}: these statistics are at the limits of {dtype} (values near its largest, or "
                            "spreads below ~1e-308): a Tensor cannot be transformed exactly; transform a NumPy "
                            "array (a careful float64 path), or rescale the features")


def careful(norm: Any, dtype: np.dtype) -> bool:
    """Whether applying to data of ``dtype`` needs the careful float64 path (statistics at the limits).
    Called after ``affine``; the answer is kept with the statistics it was computed from."""
    cache = norm._careful_for
    if cache is None:  # (a normalizer pickled by an older version has no cache yet)
        cache = norm.__dict__["_careful_for"] = {}
    answer = cache.get(dtype)
    if answer is None:
        magnitude, p, _ = norm._prescale
        limit = _MAX16.get(dtype, -1.0)
        scale = norm._derived[1]
        answer = cache[dtype] = (
            dtype.itemsize < 4 or bool((p != 1.0).any()) or magnitude > limit
            or not bool((np.abs(scale) <= limit).all()))  # a scale beyond the dtype: 1 / spread overflows
    return answer
