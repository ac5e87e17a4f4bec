"""Fitted normalizers: statistics computed once on the training set, kept with the model,
applied identically at inference.

``Normalizer("standard" | "minmax" | "maxabs")`` fits per-feature statistics in
float64 (exact per-block moments merged with Chan et al.'s formula, so
``partial_fit`` over any split of the rows equals ``fit`` on all of them) and
applies them as one fused ``(x - shift) * scale + offset`` pass on the backend
of the data (blocked multi-threaded NumPy on the CPU, our kernels on CUDA).

Inputs may also be pandas DataFrames/Series (``_pandas.py``) and Dask arrays/DataFrames, fitted block
by block where the data lives (``_dask.py``); the class follows scikit-learn's transformer API
(``fit(X, y=None)``, ``get_params``/``set_params``, ``set_output``, feature names) without importing it.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from . import _dask, _pandas
from ._backend import DEFAULT_DTYPE, Backend, backend_of, device_of, get_backend
from ._moments import chan_merge, check_table, column_summary
from .errors import ArgumentError, ArgumentTypeError, DTypeError, MissingDependencyError, NotFittedError, ShapeError
from .function import Affine
from .tensor import Tensor

METHODS = ("standard", "minmax", "maxabs")
_STATS = {"standard": ("mean", "m2"), "minmax": ("min", "max"), "maxabs": ("min", "max")}
_CONFIG_KEYS = ("method", "ddof", "with_mean", "with_std", "feature_range", "clip", "feature_names")
_DERIVING_KEYS = frozenset(_CONFIG_KEYS) - {"feature_names"}  # the settings the applied statistics depend on


class NormalizerWarning(UserWarning):
    """A fitted feature is constant, so it cannot be scaled (its scale is set to 1)."""


class _Input(NamedTuple):
    arr: Any  # 2-D float array (integer and bool input converted to float64)
    backend: Backend
    is_tensor: bool
    was_float: bool


def _as_2d(x: Any, what: str) -> _Input:
    """The input as a 2-D float array on its backend; clear errors for bad input."""
    if type(x) is np.ndarray and x.dtype.kind == "f":  # the common case, without the checks below
        check_table(x.dtype, x.shape, what)
        return _Input(x, get_backend("cpu"), False, True)
    if isinstance(x, (str, bytes, dict, set)):
        raise ArgumentTypeError(f"{what}: expected a 2-D array or Tensor (rows, features), got a "
                                f"{type(x).__name__}")
    if isinstance(x, Tensor):
        arr, backend, is_tensor = x.data, x._backend, True
    elif device_of(x) != "cpu":
        backend = backend_of(x)
        arr, is_tensor = x, False
    else:
        backend, is_tensor = backend_of(x), False
        try:
            arr = np.asarray(x)
        except (ValueError, TypeError) as e:
            raise DTypeError(f"{what}: input is not a rectangular numeric array ({e})") from None
    check_table(arr.dtype, arr.shape, what)
    was_float = arr.dtype.kind == "f"
    if not was_float:
        # integers and bools are fitted and applied in float64 (exact up to 2**53: float32 would round
        # Unix timestamps to 128 s); transform returns the default float32
        arr = arr.astype(np.float64)
    return _Input(arr, backend, is_tensor, was_float)


# a sixteenth of each float dtype's largest value: statistics beyond it take the careful path
_MAX16 = {np.dtype(t): float(np.finfo(t).max) / 16 for t in (np.float16, np.float32, np.float64)}


class Normalizer:
    """Per-feature scaling fitted on training data (scikit-learn's StandardScaler / MinMaxScaler /
    MaxAbsScaler in one class; scikit-learn's own ``Normalizer`` scales each *row* to unit norm,
    which is a different thing).

    method:
        ``"standard"``: (x - mean) / std, std with ``ddof`` (default 1, like torch.std; 0 is
        scikit-learn's); ``with_mean`` / ``with_std`` switch each part off.
        ``"minmax"``: (x - min) / (max - min) mapped into ``feature_range`` (default (0, 1));
        ``clip=True`` clips values outside the training range to ``feature_range``.
        ``"maxabs"``: x / max|x|; ``clip=True`` clips to [-1, 1].
    An option the method does not use (``clip`` for standard, ``feature_range`` for standard or
    maxabs, ``ddof``/``with_mean``/``with_std`` for minmax or maxabs) is an error, never ignored.
    A constant feature (zero spread, or a spread lost in the rounding of its own values) gets
    scale 1 (its output is the range's low end, 0 by default) and a NormalizerWarning; NaN or inf
    in fit data is a ValueError naming the features.

    Inputs: NumPy/CuPy arrays, Tensors, iterables of chunks, pandas DataFrames (numeric columns; the
    column names become ``feature_names``) and Series (one feature), Dask arrays and DataFrames (fitted
    block by block on the workers, transformed lazily). ``set_output(transform="pandas")`` makes
    ``transform`` return DataFrames.

    scikit-learn: usable as a transformer (``fit(X, y=None)``, ``n_features_in_``, ``feature_names_in_``,
    ``get_feature_names_out``, ``get_params``/``set_params``, ``clone``, Pipelines). The deliberate
    difference from its scalers: NaN (or inf) in fit data raises a ValueError naming the features
    instead of being ignored in the statistics, because a normalizer silently fitted on the rows that
    happen to be complete is a different normalizer; drop or impute missing values first (e.g. put
    ``SimpleImputer`` before it in the Pipeline). And ``ddof`` defaults to 1 (StandardScaler's is 0).
    """

    # caches kept with the statistics they come from; class-level defaults so that a normalizer pickled by
    # an older version (e.g. inside a joblib-saved Pipeline) still loads and works
    _spreads_of: tuple | None = None  # (m2, count, ddof, (var, std)) computed from them
    _careful_for: dict | None = None  # _careful's answers for the current _derived statistics

    def __init__(self, method: str = "standard", *, ddof: int = 1, with_mean: bool = True, with_std: bool = True,
                 feature_range: tuple[float, float] = (0.0, 1.0), clip: bool = False,
                 feature_names: Sequence[str] | None = None) -> None:
        if method not in METHODS:
            raise ArgumentError(f"unknown normalization method {method!r}; choose one of {', '.join(METHODS)}")
        if isinstance(ddof, bool) or not isinstance(ddof, (int, np.integer)) or ddof < 0:
            raise ArgumentError(f"ddof must be a non-negative integer, got {ddof!r}")
        try:
            low, high = (float(v) for v in feature_range)
        except (TypeError, ValueError):
            raise ArgumentError(f"feature_range must be two numbers (low, high), got {feature_range!r}") from None
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise ArgumentError(f"feature_range must be finite (low, high) with low < high, got {feature_range!r}")
        unused = []
        if method != "standard":
            unused += [f"{k}={v!r}" for k, v, default in (("ddof", ddof, 1), ("with_mean", with_mean, True),
                                                          ("with_std", with_std, True)) if v != default]
        if method != "minmax" and (low, high) != (0.0, 1.0):
            unused.append(f"feature_range={feature_range!r}")
        if method == "standard" and clip:
            unused.append("clip=True (standardized values have no bounds to clip to; use minmax or maxabs)")
        if unused:
            raise ArgumentError(f"Normalizer({method!r}) does not use {', '.join(unused)}: remove the option or "
                             "choose the method that uses it")
        self.method = method
        self.ddof = int(ddof)
        self.with_mean = bool(with_mean)
        self.with_std = bool(with_std)
        self.feature_range = (low, high)
        self.clip = bool(clip)
        self.feature_names = [str(n) for n in feature_names] if feature_names is not None else None
        # the arguments exactly as given: scikit-learn's clone() checks get_params() returns these objects
        self._params = {"method": method, "ddof": ddof, "with_mean": with_mean, "with_std": with_std,
                        "feature_range": feature_range, "clip": clip, "feature_names": feature_names}
        self.reset()

    # ---- fitting ------------------------------------------------------------------
    def reset(self) -> Normalizer:
        self.count = 0
        self.n_features: int | None = None
        self._mean = self._m2 = self._min = self._max = None
        self._derived = None
        self._prescale: tuple | None = None
        self._spreads_of = None
        return self

    @property
    def is_fitted(self) -> bool:
        return self.count > 0

    def fit(self, data: Any, y: Any = None) -> Normalizer:
        """Fit on an array/Tensor, a pandas or Dask DataFrame/array, or on an iterable of chunks (e.g. a
        data loader; a chunk that is a tuple contributes its first item, the features). ``y`` is not
        used: it is there so the normalizer can be a step of a scikit-learn Pipeline."""
        self.reset()
        if isinstance(data, (str, bytes, dict, set)):
            raise ArgumentTypeError(f"fit() takes an array, a Tensor or an iterable of chunks, got a "
                                    f"{type(data).__name__}")
        # feature names learned from an earlier DataFrame are forgotten with its statistics
        names = self._params["feature_names"]
        self.feature_names = [str(n) for n in names] if names is not None else None
        if (isinstance(data, (np.ndarray, Tensor, list)) or device_of(data) != "cpu" or hasattr(data, "__array__")
                or _pandas.is_pandas(data) or _dask.is_collection(data)):
            return self.partial_fit(data)
        if not isinstance(data, Iterable):
            raise ArgumentTypeError(f"fit() takes an array, a Tensor or an iterable of chunks, got "
                                    f"{type(data).__name__}")
        for chunk in data:
            self.partial_fit(chunk[0] if isinstance(chunk, tuple) else chunk)
        if not self.is_fitted:
            raise ArgumentError("fit(): the iterable gave no chunks")
        return self

    def partial_fit(self, chunk: Any, y: Any = None) -> Normalizer:
        """Update the statistics with one more chunk of rows (any number of chunks, any sizes, in memory
        or Dask, mixed freely). ``y`` is not used (scikit-learn's signature)."""
        kind = "moments" if self.method == "standard" else "minmax"
        names = None
        if _dask.is_collection(chunk):
            x, names = _dask.as_array(chunk, "partial_fit")
            self._check_chunk(x.shape[1], names)
            n, a, b, bad = _dask.summarize(x, kind)
            if n == 0:
                raise ArgumentError("partial_fit: input is empty (0 rows)")
            if not (np.isfinite(a).all() and np.isfinite(b).all()):
                self._raise_nonfinite(bad, names, a, b)
        else:
            if _pandas.is_pandas(chunk):
                chunk, names = _pandas.to_array(chunk, "partial_fit")
            x, backend, _, _ = _as_2d(chunk, "partial_fit")
            self._check_chunk(x.shape[1], names)
            n, a, b, bad = column_summary(backend, x, kind)
            if bad is not None:
                magnitude = backend.to_numpy(backend.xp.max(backend.xp.abs(x), axis=0)) if not bad.any() else None
                self._raise_nonfinite(bad, names, a, b, magnitude)
        if kind == "moments":
            self.count, self._mean, self._m2 = chan_merge((self.count, self._mean, self._m2), (n, a, b))
        else:
            self._min = a if self._min is None else np.minimum(self._min, a)
            self._max = b if self._max is None else np.maximum(self._max, b)
            self.count += n
        self.n_features = x.shape[1]
        if names is not None:
            self.feature_names = names
        self._derived = None
        return self

    def _check_chunk(self, d: int, names: list[str] | None) -> None:
        if self.n_features is not None and d != self.n_features:
            raise ShapeError(f"partial_fit: chunk has {d} features, earlier chunks had {self.n_features}")
        if self.feature_names is not None and len(self.feature_names) != d:
            raise ShapeError(f"partial_fit: {len(self.feature_names)} feature names for {d} features")
        self._check_names(names, "partial_fit")

    def _check_names(self, names: list[str] | None, what: str) -> None:
        """A DataFrame's columns must be the known feature names, in order (None: no names to check)."""
        if names is None or self.feature_names is None or names == self.feature_names:
            return
        raise ArgumentError(f"{what}: the DataFrame's columns {names} are not the feature names {self.feature_names} "
                         "(the same names in the same order); select them with df[normalizer.feature_names]")

    def _name(self, j: int, names: list[str] | None = None) -> str:
        names = names or self.feature_names
        return repr(names[j]) if names else f"{j}"

    def _raise_nonfinite(self, bad: np.ndarray, names: list[str] | None, a: np.ndarray, b: np.ndarray,
                         magnitude: np.ndarray | None = None) -> None:
        """The statistics are not finite: name the features with NaN/inf values (``bad`` counts them;
        ``names``: the chunk's columns, when it has them), or, for finite data, the features whose
        statistics overflow float64 (``magnitude``: each column's max |x|, when known)."""
        if not bad.any():
            over = [j for j in range(len(a)) if not (np.isfinite(a[j]) and np.isfinite(b[j]))]
            shown = ", ".join(self._name(j, names) + (f" (|x| up to {float(magnitude[j]):.3g})"
                                                      if magnitude is not None else "") for j in over)
            raise ArgumentError(f"feature(s) {shown}: values this large overflow float64 statistics (their squared "
                                "deviations exceed 1.8e308); rescale them first, e.g. divide by a power of 10")
        cols = ", ".join(f"feature {self._name(j, names)}: {int(bad[j])}" for j in np.flatnonzero(bad))
        raise ArgumentError(f"fit data contains {int(bad.sum())} NaN/inf value(s) ({cols}); "
                         "drop or impute them before fitting")

    # ---- fitted statistics ----------------------------------------------------------
    def _require_fitted(self, what: str) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{what}: this Normalizer is not fitted yet; call fit(X_train) first")

    @property
    def mean(self) -> np.ndarray | None:
        return self._mean

    @property
    def var(self) -> np.ndarray | None:
        """Per-feature variance with ``ddof`` (read-only; kept until the statistics or ``ddof`` change)."""
        return None if self._m2 is None else self._spreads()[0]

    @property
    def std(self) -> np.ndarray | None:
        """Per-feature standard deviation, ``sqrt(var)`` (read-only, like ``var``)."""
        return None if self._m2 is None else self._spreads()[1]

    def _spreads(self) -> tuple[np.ndarray, np.ndarray]:
        cached = self._spreads_of
        if cached is not None and cached[0] is self._m2 and cached[1] == self.count and cached[2] == self.ddof:
            return cached[3]
        if self.count - self.ddof <= 0:
            raise ArgumentError(f"variance with ddof={self.ddof} needs more than {self.ddof} row(s); "
                             f"fitted on {self.count}")
        var = self._m2 / (self.count - self.ddof)
        std = np.sqrt(var)
        var.flags.writeable = std.flags.writeable = False
        self._spreads_of = (self._m2, self.count, self.ddof, (var, std))
        return var, std

    @property
    def min(self) -> np.ndarray | None:
        return self._min

    @property
    def max(self) -> np.ndarray | None:
        return self._max

    @property
    def shift(self) -> np.ndarray:
        """What is subtracted from each feature (read-only: refit or change a setting to change it)."""
        return self._affine()[0]

    @property
    def scale(self) -> np.ndarray:
        """What each feature is multiplied by after the shift (read-only, like ``shift``)."""
        return self._affine()[1]

    @property
    def offset(self) -> np.ndarray | None:
        return self._affine()[2]

    @property
    def clip_range(self) -> tuple[float, float] | None:
        """The bounds outputs are clipped to with ``clip=True``: feature_range (minmax), [-1, 1] (maxabs)."""
        if not self.clip:
            return None
        return self.feature_range if self.method == "minmax" else (-1.0, 1.0)

    def _spread(self, d: int) -> tuple:
        """(shift, spread, offset, constant mask, what constant means) of the fitted method, in float64."""
        offset = None
        if self.method == "standard":
            shift = self._mean.copy() if self.with_mean else np.zeros(d)
            spread = self.std if self.with_std else np.ones(d)
            # scikit-learn's _is_constant_feature: the variance is within the rounding error of
            # accumulating n values of this magnitude; a bound relative to the feature's own scale
            eps = np.finfo(np.float64).eps
            var = self._m2 / self.count
            n = self.count
            constant = (var <= n * eps * var + (n * self._mean * eps) ** 2) if self.with_std else np.zeros(d, bool)
            what = "its spread is zero or below the rounding of its values"
        elif self.method == "minmax":
            low, high = self.feature_range
            shift = self._min.copy()
            spread = (self._max - self._min) / (high - low)
            constant = self._max == self._min
            offset = np.full(d, low) if low != 0 else None
            what = "max == min"
        else:
            shift = np.zeros(d)
            spread = np.maximum(np.abs(self._min), np.abs(self._max))
            constant = spread == 0
            what = "max|x| == 0"
        return shift, spread, offset, constant, what

    def _affine(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(shift, scale, offset) so that transform(x) = (x - shift) * scale + offset, in float64."""
        self._require_fitted("transform")
        if self._derived is not None:
            return self._derived
        d = self.n_features
        with np.errstate(over="ignore"):  # spreads near float64's limit: the careful path's prescale handles them
            shift, spread, offset, constant, what = self._spread(d)
        if constant.any():
            names = ", ".join(self._name(j) for j in np.flatnonzero(constant))
            warnings.warn(f"{self.method} normalizer: feature(s) {names} are constant ({what}) in the fit data; "
                          "their scale is set to 1 (they carry no information: consider dropping them)",
                          NormalizerWarning, stacklevel=3)
        with np.errstate(over="ignore"):
            scale = 1.0 / np.where(constant, 1.0, spread)
        self._prescale = self._safe_scaling(constant)
        _, p, scale_p = self._prescale
        if (p != 1.0).any():  # max - min or 1 / spread overflowed: the scale from the prescaled spread
            with np.errstate(over="ignore"):
                scale = np.where(p != 1.0, scale_p * p, scale)
        for v in (shift, scale, offset):  # read-only: the backends may cache what they derive from them
            if v is not None:
                v.flags.writeable = False
        self._derived = (shift, scale, offset)
        self._careful_for = {}  # _careful's answers for these statistics
        return self._derived

    def _safe_scaling(self, constant: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """(magnitude, p, scale / p): the largest value the transform handles, and per feature a power-of-two
        prescale p for statistics at float64's limits: 2**-16 where ``max - min`` itself would overflow,
        2**k where ``1 / spread`` would (spreads below ~1e-308). Used by the careful path."""
        d = self.n_features
        if self.method == "standard":
            per = np.abs(self._mean) + 8 * np.sqrt(self._m2 / self.count)
        else:
            per = np.maximum(np.abs(self._min), np.abs(self._max))
        magnitude = float(np.max(per))
        p = np.where(~np.isfinite(per) | (per > np.finfo(np.float64).max / 16), 2.0 ** -16, 1.0)
        for _ in range(2):  # the second pass sees the spread after a tiny one was scaled up
            if self.method == "minmax":
                low, high = self.feature_range
                spread_p = (self._max * p - self._min * p) / (high - low)
            elif self.method == "maxabs":
                spread_p = np.maximum(np.abs(self._min), np.abs(self._max)) * p
            else:
                spread_p = (self.std if self.with_std else np.ones(d)) * p
            tiny = ~constant & (spread_p > 0) & (spread_p < 2.0 ** -1000)
            if not tiny.any():
                break
            p = np.where(tiny, p * 2.0 ** 600, p)  # exact; the values, at most the spread, stay finite
        scale_p = 1.0 / np.where(constant | (spread_p == 0), p, spread_p)
        return magnitude, p, scale_p

    def _check_tensor_safe(self, dtype: np.dtype, what: str) -> None:
        """Tensors take the differentiable fast path only: statistics that would need the careful float64 path
        are an error there, never an inf or NaN."""
        if self._careful(np.dtype(dtype)):
            raise ArgumentError(f"{what}: these statistics are at the limits of {dtype} (values near its largest, or "
                                "spreads below ~1e-308): a Tensor cannot be transformed exactly; transform a NumPy "
                                "array (a careful float64 path), or rescale the features")

    def _careful(self, dtype: np.dtype) -> bool:
        """Whether applying to data of ``dtype`` needs the careful float64 path (statistics at the limits).
        Called after ``_affine()``; the answer is kept with the statistics it was computed from."""
        cache = self._careful_for
        if cache is None:  # (a normalizer pickled by an older version has no cache yet)
            cache = self._careful_for = {}
        careful = cache.get(dtype)
        if careful is None:
            magnitude, p, _ = self._prescale
            limit = _MAX16.get(dtype, -1.0)
            scale = self._derived[1]
            careful = cache[dtype] = (
                dtype.itemsize < 4 or bool((p != 1.0).any()) or magnitude > limit
                or not bool((np.abs(scale) <= limit).all()))  # a scale beyond the dtype: 1 / spread overflows
        return careful

    # ---- applying ---------------------------------------------------------------
    def _check_features(self, x: Any, what: str) -> None:
        if x.shape[1] != self.n_features:
            raise ShapeError(f"{what}: input has {x.shape[1]} features, the normalizer was fitted on "
                             f"{self.n_features}")

    def transform(self, x: Any, out: Any = None) -> Any:
        """Normalize ``x`` with the fitted statistics; returns the same kind (array or Tensor).

        ``out`` (arrays only) receives the result without allocating; ``out=x`` works in place.
        A Tensor input stays differentiable (and cannot take ``out``).
        """
        return self._apply(x, out, inverse=False, what="transform")

    __call__ = transform

    def fit_transform(self, x: Any, y: Any = None) -> Any:
        """``fit(x).transform(x)``; ``y`` is not used (scikit-learn's signature)."""
        return self.fit(x).transform(x)

    def inverse_transform(self, y: Any, out: Any = None) -> Any:
        """Map normalized values back to the original units (e.g. predicted targets); the exact mirror
        of ``transform`` (clipping is not undone). A Tensor input stays differentiable."""
        return self._apply(y, out, inverse=True, what="inverse_transform")

    def _apply(self, x: Any, out: Any, inverse: bool, what: str) -> Any:
        self._require_fitted(what)
        if _dask.is_collection(x):
            if out is not None:
                raise ArgumentTypeError(f"{what}: out= is for in-memory arrays; a Dask input gives a lazy Dask result")
            frozen = type(self).from_state_dict(self.state_dict())
            frozen._affine()  # a constant-feature warning is raised here, not on the workers
            return _dask.apply_lazy(frozen, x, inverse, what)
        to_pandas = self._output == "pandas" and not inverse  # set_output covers transform, as in scikit-learn
        if _pandas.is_pandas(x):
            values, names = _pandas.to_array(x, what)
            self._check_names(names, what)
            res = self._apply_array(values, out, inverse, what)
            return _pandas.like(x, res) if to_pandas else res
        res = self._apply_array(x, out, inverse, what)
        if to_pandas and isinstance(res, np.ndarray):  # NumPy in; Tensors (differentiable) and CuPy stay as they are
            return _pandas.frame(res, list(self.get_feature_names_out()))
        return res

    def _apply_array(self, x: Any, out: Any, inverse: bool, what: str) -> Any:
        arr, backend, is_tensor, was_float = _as_2d(x, what)
        self._check_features(arr, what)
        shift, scale, offset = self._affine()
        clip = None if inverse else self.clip_range
        from_int = not was_float
        if is_tensor:
            if out is not None:
                raise ArgumentTypeError(f"{what}: out= is for arrays; a Tensor input gives a new Tensor (for a "
                                "differentiable result). Pass x.numpy() to write into an array")
            src = x if not from_int else Tensor._make(arr, backend)
            self._check_tensor_safe(src.dtype, what)
            res = Affine.apply(src, shift=shift, scale=scale, offset=offset, clip=clip, inverse=inverse)
            return res.astype(DEFAULT_DTYPE) if from_int else res
        want = DEFAULT_DTYPE if from_int else arr.dtype
        if out is not None and (out.shape != arr.shape or out.dtype != want):
            raise ShapeError(f"{what}: out has shape {out.shape} / dtype {out.dtype}, needs {arr.shape} / {want}")
        # (an out= overlapping x is the backend's to handle: its apply reads x before writing over it)
        if from_int or self._careful(want):
            return self._apply_careful(arr, backend, out, inverse, clip, want)
        res = backend.affine_apply(arr, shift, scale, offset, out=out, inverse=inverse)
        if clip is not None:
            backend.xp.clip(res, clip[0], clip[1], out=res)
        return res

    def _apply_careful(self, arr: Any, backend: Backend, out: Any, inverse: bool, clip: Any, want: np.dtype) -> Any:
        """The transform in float64, prescaled by a power of two when the statistics are near float64's limit:
        for float16 and integer input and for statistics too large for the input's dtype. A result that does
        not fit ``want`` is an error naming the features, never inf or NaN."""
        shift, _, offset = self._derived
        _, p, scale_p = self._prescale
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
            names = ", ".join(self._name(j) for j in np.flatnonzero(broken))
            raise ArgumentError(f"{'inverse_transform' if inverse else 'transform'}: the result for feature(s) "
                                f"{names} does not fit in {want} (it overflows); pass float64 data")
        if out is None:
            return cast
        out[...] = cast
        return out

    # ---- scikit-learn's transformer API (no import of scikit-learn) ------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        # norm.ddof = 0 (any setting that changes what transform computes) after construction goes through
        # set_params: validated, get_params() agrees, and no statistics derived under the old setting are kept
        if name in _DERIVING_KEYS and "_params" in self.__dict__:
            self.set_params(**{name: value})
        else:
            object.__setattr__(self, name, value)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's arguments, as given (``deep`` is accepted for scikit-learn; nothing is nested)."""
        return dict(self._params)

    def set_params(self, **params: Any) -> Normalizer:
        """Change constructor arguments, validated as in the constructor (an invalid combination raises and
        changes nothing). Fitted statistics are kept when the new method uses the same ones (standard's
        mean/M2; minmax's and maxabs' min/max) and dropped otherwise (fit again)."""
        unknown = sorted(set(params) - set(_CONFIG_KEYS))
        if unknown:
            raise ArgumentError(f"set_params: unknown parameter(s) {unknown}; Normalizer's are "
                                f"{', '.join(_CONFIG_KEYS)}")
        new = type(self)(**{**self._params, **params})
        if self.is_fitted and _STATS[new.method] == _STATS[self.method]:
            names = new.feature_names if "feature_names" in params else self.feature_names
            if names is not None and len(names) != self.n_features:
                raise ShapeError(f"set_params: {len(names)} feature names for the {self.n_features} fitted features")
            new.count, new.n_features, new.feature_names = self.count, self.n_features, names
            new._mean, new._m2, new._min, new._max = self._mean, self._m2, self._min, self._max
        if hasattr(self, "_sklearn_output_config"):
            new._sklearn_output_config = self._sklearn_output_config
        self.__dict__.update(new.__dict__)
        return self

    def set_output(self, *, transform: str | None = None) -> Normalizer:
        """``"pandas"``: ``transform`` returns a DataFrame (same index and columns for a DataFrame input;
        the feature names and a fresh index for a NumPy array); ``"default"``: arrays; None: unchanged.
        Tensors, CuPy and Dask inputs keep their kind. ``inverse_transform`` is not affected (as in scikit-learn)."""
        if transform is None:
            return self
        if transform not in ("default", "pandas"):
            raise ArgumentError(f"set_output: transform must be 'default', 'pandas' or None, got {transform!r}")
        if transform == "pandas" and importlib.util.find_spec("pandas") is None:
            raise MissingDependencyError("set_output(transform='pandas') needs pandas: pip install pandas")
        # scikit-learn's attribute name: its clone() copies it to the clone
        self._sklearn_output_config = {"transform": transform}
        return self

    @property
    def _output(self) -> str:
        return getattr(self, "_sklearn_output_config", {}).get("transform", "default")

    def __sklearn_is_fitted__(self) -> bool:
        return self.is_fitted

    def __sklearn_tags__(self) -> Any:
        """scikit-learn (>= 1.6) asks every Pipeline step for its tags; only it calls this, so it is loaded."""
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(estimator_type=None, target_tags=TargetTags(required=False),
                    transformer_tags=TransformerTags(preserves_dtype=["float64", "float32"]),
                    input_tags=InputTags(allow_nan=False))

    @property
    def n_features_in_(self) -> int:
        """Number of features seen in fit (an AttributeError before, as scikit-learn's fitted attributes)."""
        if not self.is_fitted:
            raise AttributeError("n_features_in_: this Normalizer is not fitted yet")
        return int(self.n_features)

    @property
    def feature_names_in_(self) -> np.ndarray:
        """The feature names (a DataFrame's columns or ``feature_names``); an AttributeError when there are none."""
        if not self.is_fitted or self.feature_names is None:
            raise AttributeError("feature_names_in_: this Normalizer was not fitted on named features")
        return np.array(self.feature_names, dtype=object)

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        """One output per input feature, named like it: the feature names, else ``x0, x1, ...``."""
        self._require_fitted("get_feature_names_out")
        if input_features is None:
            names = self.feature_names or [f"x{j}" for j in range(self.n_features)]
        else:
            names = [str(n) for n in input_features]
            if len(names) != self.n_features or (self.feature_names is not None and names != self.feature_names):
                raise ArgumentError(f"get_feature_names_out: input_features {names} are not the {self.n_features} "
                                 f"fitted features {self.feature_names or ''}")
        return np.array(names, dtype=object)

    # ---- state -----------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {"method": self.method, "ddof": self.ddof, "with_mean": self.with_mean, "with_std": self.with_std,
                "feature_range": list(self.feature_range), "clip": self.clip, "feature_names": self.feature_names}

    def state_dict(self) -> dict[str, Any]:
        """Everything the fitted transform depends on: the config, the row count and the float64
        statistics ((mean, m2) for standard, (min, max) otherwise). ``from_state_dict`` rebuilds it exactly."""
        self._require_fitted("state_dict")
        state: dict[str, Any] = {"config": self.config(), "count": int(self.count), "n_features": int(self.n_features)}
        for key in _STATS[self.method]:
            state[key] = np.array(getattr(self, f"_{key}"), dtype=np.float64)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> Normalizer:
        """Replace this normalizer's config and statistics by ``state`` (validated first: on an error
        nothing changes)."""
        other = Normalizer.from_state_dict(state)
        self.__dict__.update(other.__dict__)
        return self

    @classmethod
    def from_state_dict(cls, state: Any) -> Normalizer:
        """A normalizer rebuilt from :meth:`state_dict`; a ValueError saying what is wrong otherwise."""
        if not isinstance(state, dict) or not isinstance(state.get("config"), dict):
            raise ArgumentError("normalizer state must be a dict with a 'config' dict (what state_dict() returns)")
        cfg = dict(state["config"])
        unknown = set(cfg) - set(_CONFIG_KEYS)
        if unknown or "method" not in cfg:
            raise ArgumentError(f"normalizer config has unknown keys {sorted(unknown)} or no method")
        if cfg.get("feature_names") is not None and (not isinstance(cfg["feature_names"], list) or not all(
                isinstance(n, str) for n in cfg["feature_names"])):
            raise ArgumentError("normalizer config: feature_names must be a list of strings")
        for key in ("with_mean", "with_std", "clip"):
            if key in cfg and not isinstance(cfg[key], bool):
                raise ArgumentError(f"normalizer config: {key} must be true or false, got {cfg[key]!r}")
        try:
            norm = cls(**cfg)
        except TypeError as e:
            raise ArgumentError(f"normalizer config is invalid: {e}") from None
        count = state.get("count")
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 1 <= count < 2**63:
            shown = repr(count) if len(repr(count)) <= 40 else repr(count)[:40] + "..."
            raise ArgumentError(f"normalizer state: count must be a positive integer below 2**63, got {shown}")
        arrays = {}
        for key in _STATS[norm.method]:
            value = state.get(key)
            if isinstance(value, Tensor):
                value = value.numpy()
            if not isinstance(value, np.ndarray) or value.ndim != 1 or value.dtype.kind not in "iuf":
                raise ArgumentError(f"normalizer state: {key!r} must be a 1-D numeric array, got "
                                    f"{type(value).__name__}")
            arrays[key] = value.astype(np.float64)
        shapes = {a.shape for a in arrays.values()}
        d = next(iter(shapes))[0]
        if len(shapes) != 1 or d == 0 or state.get("n_features", d) != d:
            shown = {k: a.shape for k, a in arrays.items()}
            raise ShapeError(f"normalizer state arrays have inconsistent shapes: {shown}")
        if norm.feature_names is not None and len(norm.feature_names) != d:
            raise ShapeError(f"normalizer state: {len(norm.feature_names)} feature names for {d} features")
        if not all(np.isfinite(a).all() for a in arrays.values()) or ("m2" in arrays and (arrays["m2"] < 0).any()) \
                or ("min" in arrays and (arrays["min"] > arrays["max"]).any()):
            raise ArgumentError("normalizer state: the statistics are not finite or not consistent "
                                "(m2 < 0 or min > max)")
        norm.count = int(count)
        norm.n_features = d
        for key, value in arrays.items():
            setattr(norm, f"_{key}", value)
        return norm

    def __repr__(self) -> str:
        args = [repr(self.method)]
        if self.method == "standard":
            args.append(f"ddof={self.ddof}")
        if self.method == "minmax" and self.feature_range != (0.0, 1.0):
            args.append(f"feature_range={self.feature_range}")
        if self.clip:
            args.append("clip=True")
        if not self.is_fitted:
            return f"Normalizer({', '.join(args)}, not fitted)"
        lines = [f"Normalizer({', '.join(args)}, fitted on {self.count} rows x {self.n_features} features)"]
        fmt = lambda a: np.array2string(np.asarray(a), precision=4, separator=", ", threshold=12)  # noqa: E731
        if self.method == "standard":
            lines += [f"  mean: {fmt(self._mean)}", f"  std:  {fmt(self.std)}"]
        else:
            lines += [f"  min:  {fmt(self._min)}", f"  max:  {fmt(self._max)}"]
        return "\n".join(lines)


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
