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

import contextlib
import importlib.util
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from . import _dask, _pandas
from ._backend import DEFAULT_DTYPE, Backend, backend_of, device_of, get_backend
from ._moments import chan_merge, check_table, column_summary
from .errors import (
    ArgumentError,
    ArgumentTypeError,
    DTypeError,
    MissingDependencyError,
    NotFittedError,
    ShapeError,
    name_few,
)
from .function import Affine
from .tensor import Tensor

METHODS = ("standard", "minmax", "maxabs")
_STATS = {"standard": ("mean", "m2"), "minmax": ("min", "max"), "maxabs": ("min", "max")}
_CONFIG_KEYS = ("method", "ddof", "with_mean", "with_std", "feature_range", "clip", "feature_names")
_DERIVING_KEYS = frozenset(_CONFIG_KEYS) - {"feature_names"}  # the settings the applied statistics depend on
# the options only some methods use, with their defaults: another method refuses them when not at the default
_OPTION_DEFAULTS = {"ddof": 1, "with_mean": True, "with_std": True, "feature_range": (0.0, 1.0), "clip": False}


class NormalizerWarning(UserWarning):
    """A fitted feature is constant, so it cannot be scaled (its scale is set to 1)."""


class _Input(NamedTuple):
    arr: Any  # 2-D float array (integer and bool input converted to float64)
    backend: Backend
    is_tensor: bool
    was_float: bool


def _is_sparse(x: Any) -> bool:
    """A scipy.sparse matrix/array or a pydata ``sparse`` array, by its type's module: imports neither."""
    module = type(x).__module__ or ""
    return module.startswith("scipy.sparse") or module.split(".")[0] == "sparse"


def _as_2d(x: Any, what: str) -> _Input:
    """The input as a 2-D float array on its backend; clear errors for bad input."""
    if type(x) is np.ndarray and x.dtype.kind == "f":  # the common case, without the checks below
        check_table(x.dtype, x.shape, what)
        return _Input(x, get_backend("cpu"), False, True)
    if _is_sparse(x):  # (NumPy would make it a 0-d object array: "dtype object" says nothing useful; dok_matrix
        # is a dict)
        raise ArgumentTypeError(f"{what}: sparse input ({type(x).__module__}.{type(x).__name__}) is not "
                                "supported; densify it first with X.toarray(), if it fits in memory")
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
    maxabs, ``ddof``/``with_mean``/``with_std`` for minmax or maxabs) set away from its default is an
    error, never ignored: the constructor refuses it at once, while ``set_params`` (and assigning an
    attribute) only checks each value, as scikit-learn does, and ``fit``, ``partial_fit``, ``transform``
    and ``state_dict`` refuse the combination. So a grid search over ``method`` with ``ddof=0`` runs: the
    standard candidates are scored, and GridSearchCV records the others' fit error (a FitFailedWarning,
    score NaN with its default ``error_score``).
    A constant feature (zero spread, or a spread lost in the rounding of its own values) gets
    scale 1 (its output is the range's low end, 0 by default) and a NormalizerWarning; NaN or inf
    in fit data is a ValueError naming the features.

    Inputs: NumPy/CuPy arrays, Tensors, iterables of chunks, pandas DataFrames (numeric columns) and
    Series (one feature), Dask arrays and DataFrames (fitted block by block on the workers, transformed
    lazily). ``set_output(transform="pandas")`` makes ``transform`` return DataFrames. Sparse matrices are
    refused (densify them with ``X.toarray()``).

    A failed ``fit`` or ``partial_fit`` (bad data, or an iterable that raises part way) leaves the normalizer
    exactly as it was before the call.

    DataFrame columns: the column labels of the DataFrame given to ``fit`` are checked whenever a DataFrame
    is transformed (or given to ``partial_fit``): the same columns in the same order, else an error naming
    what is missing, extra, repeated or out of order. When all labels are strings they are the
    ``feature_names`` (``feature_names_in_``, ``get_feature_names_out``), as in scikit-learn; other labels
    (the integers of ``pd.DataFrame(array)``, a MultiIndex's tuples, a mix) name no features but are
    recorded and checked the same way (``state_dict`` saves integer, string and tuple labels). A DataFrame
    with a label twice is refused at fit. Arrays are applied by position, whatever the fit data was.

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
    _columns: list | None = None  # the non-string column labels of the fitted DataFrame (None: strings or none)

    def __init__(self, method: str = "standard", *, ddof: int = 1, with_mean: bool = True, with_std: bool = True,
                 feature_range: tuple[float, float] = (0.0, 1.0), clip: bool = False,
                 feature_names: Sequence[str] | None = None) -> None:
        self._configure({"method": method, "ddof": ddof, "with_mean": with_mean, "with_std": with_std,
                         "feature_range": feature_range, "clip": clip, "feature_names": feature_names})
        # written out, Normalizer("standard", clip=True) is a mistake best shown at once; set_params (a grid
        # search setting one parameter at a time) leaves the combination to fit
        self._check_config("")
        self.reset()

    def _configure(self, params: dict[str, Any]) -> None:
        """Validate each argument on its own and store it (the combination is ``_check_config``'s)."""
        method, ddof, feature_range = params["method"], params["ddof"], params["feature_range"]
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
        names = params["feature_names"]
        if names is not None:
            names = [str(n) for n in names]
            if len(set(names)) != len(names):
                repeated = [n for n, k in Counter(names).items() if k > 1]
                raise ArgumentError(f"feature_names: {name_few(repeated)} appear(s) more than once; each feature "
                                    "needs its own name")
        # (the instance dict directly: __setattr__ would send these settings back to set_params)
        self.__dict__.update(method=method, ddof=int(ddof), with_mean=bool(params["with_mean"]),
                             with_std=bool(params["with_std"]), feature_range=(low, high), clip=bool(params["clip"]),
                             feature_names=names,
                             # the arguments exactly as given: scikit-learn's clone() checks get_params() returns
                             # these objects
                             _params=dict(params))

    def _check_config(self, what: str) -> None:
        """An option the method does not use, set away from its default, is an error (never ignored)."""
        unused = []
        if self.method != "standard":
            unused += [f"{k}={getattr(self, k)!r}" for k in ("ddof", "with_mean", "with_std")
                       if getattr(self, k) != _OPTION_DEFAULTS[k]]
        if self.method != "minmax" and self.feature_range != _OPTION_DEFAULTS["feature_range"]:
            unused.append(f"feature_range={self._params['feature_range']!r}")
        if self.method == "standard" and self.clip:
            unused.append("clip=True (standardized values have no bounds to clip to; use minmax or maxabs)")
        if unused:
            where = f"{what}: " if what else ""
            defaults = ", ".join(f"{k}={v!r}" for k, v in _OPTION_DEFAULTS.items()
                                 if any(u.startswith(f"{k}=") for u in unused))
            shown = name_few(unused, show=str, width=100)
            raise ArgumentError(f"{where}Normalizer({self.method!r}) does not use {shown}: remove the option (its "
                                f"default: {defaults}) or choose the method that uses it")

    # ---- fitting ------------------------------------------------------------------
    def reset(self) -> Normalizer:
        self.count = 0
        self.n_features: int | None = None
        self._mean = self._m2 = self._min = self._max = None
        self._derived = None
        self._prescale: tuple | None = None
        self._spreads_of = None
        self._columns = None
        return self

    @property
    def is_fitted(self) -> bool:
        return self.count > 0

    def fit(self, data: Any, y: Any = None) -> Normalizer:
        """Fit on an array/Tensor, a pandas or Dask DataFrame/array, or on an iterable of chunks (e.g. a
        data loader; a chunk that is a tuple contributes its first item, the features). ``y`` is not
        used: it is there so the normalizer can be a step of a scikit-learn Pipeline. On any error
        (including one raised by the iterable itself) the normalizer is left as it was before the call:
        its earlier statistics, if it had some."""
        self._check_config("fit")
        with self._unchanged_on_error():
            self.reset()
            self._fit(data)
        return self

    def _fit(self, data: Any) -> None:
        if isinstance(data, (str, bytes, dict, set)) and not _is_sparse(data):  # (scipy's dok_matrix is a dict)
            raise ArgumentTypeError(f"fit() takes an array, a Tensor or an iterable of chunks, got a "
                                    f"{type(data).__name__}")
        # feature names learned from an earlier DataFrame are forgotten with its statistics
        names = self._params["feature_names"]
        self.feature_names = [str(n) for n in names] if names is not None else None
        if (isinstance(data, (np.ndarray, Tensor, list)) or device_of(data) != "cpu" or hasattr(data, "__array__")
                or _pandas.is_pandas(data) or _dask.is_collection(data) or _is_sparse(data)):
            self._partial_fit(data)
            return
        if not isinstance(data, Iterable):
            raise ArgumentTypeError(f"fit() takes an array, a Tensor or an iterable of chunks, got "
                                    f"{type(data).__name__}")
        for chunk in data:
            self._partial_fit(chunk[0] if isinstance(chunk, tuple) else chunk)
        if not self.is_fitted:
            raise ArgumentError("fit(): the iterable gave no chunks")

    def partial_fit(self, chunk: Any, y: Any = None) -> Normalizer:
        """Update the statistics with one more chunk of rows (any number of chunks, any sizes, in memory
        or Dask, mixed freely). ``y`` is not used (scikit-learn's signature). A chunk that fails (NaN,
        another number of features, other columns) changes nothing."""
        self._check_config("partial_fit")
        with self._unchanged_on_error():
            self._partial_fit(chunk)
        return self

    @contextlib.contextmanager
    def _unchanged_on_error(self) -> Iterator[None]:
        """On any exception (KeyboardInterrupt too) in the block, put back the state from before it: every
        statistic is replaced, never updated in place, so a shallow copy of the instance dict is enough."""
        before = dict(self.__dict__)
        try:
            yield
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _partial_fit(self, chunk: Any) -> None:
        kind = "moments" if self.method == "standard" else "minmax"
        labels = None
        if _dask.is_collection(chunk):
            x, labels = _dask.as_array(chunk, "partial_fit")
            self._check_chunk(x.shape[1], labels)
            n, a, b, bad = _dask.summarize(x, kind)
            if n == 0:
                raise ArgumentError("partial_fit: input is empty (0 rows)")
            if not (np.isfinite(a).all() and np.isfinite(b).all()):
                self._raise_nonfinite(bad, labels, a, b)
        else:
            if _pandas.is_pandas(chunk):
                chunk, labels = _pandas.to_array(chunk, "partial_fit")
            x, backend, _, _ = _as_2d(chunk, "partial_fit")
            self._check_chunk(x.shape[1], labels)
            n, a, b, bad = column_summary(backend, x, kind)
            if bad is not None:
                magnitude = backend.to_numpy(backend.xp.max(backend.xp.abs(x), axis=0)) if not bad.any() else None
                self._raise_nonfinite(bad, labels, a, b, magnitude)
        if kind == "moments":
            self.count, self._mean, self._m2 = chan_merge((self.count, self._mean, self._m2), (n, a, b))
        else:
            self._min = a if self._min is None else np.minimum(self._min, a)
            self._max = b if self._max is None else np.maximum(self._max, b)
            self.count += n
        self.n_features = x.shape[1]
        if labels is not None:  # (checked against the earlier chunks' by _check_chunk)
            if _pandas.feature_names(labels) is not None:
                self.feature_names = labels
            else:
                self._columns = labels
        self._derived = None

    def _check_chunk(self, d: int, labels: list[Any] | None) -> None:
        if self.n_features is not None and d != self.n_features:
            raise ShapeError(f"partial_fit: chunk has {d} features, earlier chunks had {self.n_features}")
        if self.feature_names is not None and len(self.feature_names) != d:
            raise ShapeError(f"partial_fit: {len(self.feature_names)} feature names for {d} features")
        if labels is not None:
            _pandas.check_unique(labels, "partial_fit")
            # the first non-string labels are learned (with feature_names given, pd.DataFrame(array) can still be
            # fitted); from then on, and for names, a chunk's columns must be the known ones
            if self._columns is not None or _pandas.feature_names(labels) is not None:
                self._check_columns(labels, "partial_fit")

    def _check_columns(self, labels: list[Any], what: str) -> None:
        """A DataFrame's column labels must be, in order, those of the DataFrame the normalizer was fitted on
        (any labels: strings, the integers of ``pd.DataFrame(array)``, tuples) or its feature names. Nothing
        to check when it has neither (fitted on arrays, no feature_names): columns then apply by position."""
        columns, names = self._columns, self.feature_names
        if (columns is None and names is None) or labels == names or labels == columns:
            return
        if names is not None and (columns is None or _pandas.feature_names(labels) is not None):
            expected, kind, hint = names, "feature names", "select them with df[norm.feature_names]"
        else:
            expected, kind = columns, "columns the normalizer was fitted on"
            shown = repr(list(expected))
            hint = (f"select them with df[{shown}]" if len(shown) <= 200 else
                    "select them in that order (the columns of the DataFrame given to fit)")
        raise ArgumentError(f"{what}: the DataFrame's columns [{name_few(labels)}] are not the {kind} "
                            f"[{name_few(expected)}] ({_difference(labels, expected)}); {hint}")

    def _name(self, j: int, names: list[Any] | None = None) -> str:
        names = names or self.feature_names or self._columns
        if not names:
            return f"{j}"
        text = repr(names[j])
        return text if len(text) <= 60 else text[:57] + "..."

    def _raise_nonfinite(self, bad: np.ndarray, names: list[Any] | None, a: np.ndarray, b: np.ndarray,
                         magnitude: np.ndarray | None = None) -> None:
        """The statistics are not finite: name the features with NaN/inf values (``bad`` counts them;
        ``names``: the chunk's column labels, when it has them), or, for finite data, the features whose
        statistics overflow float64 (``magnitude``: each column's max |x|, when known)."""
        if not bad.any():
            over = np.flatnonzero(~(np.isfinite(a) & np.isfinite(b)))
            shown = name_few(over, width=120, show=lambda j: self._name(j, names) + (
                f" (|x| up to {float(magnitude[j]):.3g})" if magnitude is not None else ""))
            raise ArgumentError(f"feature(s) {shown}: values this large overflow float64 statistics (their squared "
                                "deviations exceed 1.8e308); rescale them first, e.g. divide by a power of 10")
        cols = name_few(np.flatnonzero(bad), width=120, show=lambda j: f"feature {self._name(j, names)}: {int(bad[j])}")
        raise ArgumentError(f"fit data contains {int(bad.sum()):,} NaN/inf value(s) ({cols}); "
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
        self._check_config("transform")  # a setting changed since the fit (set_params) to one the method does not use
        d = self.n_features
        with np.errstate(over="ignore"):  # spreads near float64's limit: the careful path's prescale handles them
            shift, spread, offset, constant, what = self._spread(d)
        if constant.any():
            names = name_few(np.flatnonzero(constant), show=self._name)
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
            self._check_config(what)
            frozen = type(self).from_state_dict(self.state_dict())
            frozen._columns = self._columns  # (labels state_dict cannot save are still checked)
            frozen._affine()  # a constant-feature warning is raised here, not on the workers
            return _dask.apply_lazy(frozen, x, inverse, what)
        to_pandas = self._output == "pandas" and not inverse  # set_output covers transform, as in scikit-learn
        if _pandas.is_pandas(x):
            values, labels = _pandas.to_array(x, what)
            self._check_columns(labels, what)
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
        if out is not None:
            _check_out(out, arr, want, backend, what)
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
            names = name_few(np.flatnonzero(broken), show=self._name)
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
        """Change constructor arguments, each validated as in the constructor (an invalid value raises and
        changes nothing). As in scikit-learn, the combination is checked by ``fit`` (and ``transform``), not
        here: a grid search sets one parameter at a time, so ``set_params(method="minmax")`` on a
        ``Normalizer(ddof=0)`` is stored, and fitting it raises (ddof is unused by minmax). Fitted statistics
        are kept when the new method uses the same ones (standard's mean/M2; minmax's and maxabs' min/max) and
        dropped otherwise (fit again)."""
        unknown = sorted(map(str, set(params) - set(_CONFIG_KEYS)))
        if unknown:
            raise ArgumentError(f"set_params: unknown parameter(s) {name_few(unknown)}; Normalizer's are "
                                f"{', '.join(_CONFIG_KEYS)}")
        new = object.__new__(type(self))
        new._configure({**self._params, **params})
        new.reset()
        if self.is_fitted and _STATS[new.method] == _STATS[self.method]:
            names = new.feature_names if "feature_names" in params else self.feature_names
            if names is not None and len(names) != self.n_features:
                raise ShapeError(f"set_params: {len(names)} feature names for the {self.n_features} fitted features")
            new.count, new.n_features, new.feature_names = self.count, self.n_features, names
            new._mean, new._m2, new._min, new._max = self._mean, self._m2, self._min, self._max
            new._columns = self._columns
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
                fitted = f" [{name_few(self.feature_names)}]" if self.feature_names is not None else ""
                raise ArgumentError(f"get_feature_names_out: input_features [{name_few(names)}] are not the "
                                    f"{self.n_features} fitted features{fitted}")
        return np.array(names, dtype=object)

    # ---- state -----------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {"method": self.method, "ddof": self.ddof, "with_mean": self.with_mean, "with_std": self.with_std,
                "feature_range": list(self.feature_range), "clip": self.clip, "feature_names": self.feature_names}

    def state_dict(self) -> dict[str, Any]:
        """Everything the fitted transform depends on: the config, the row count and the float64
        statistics ((mean, m2) for standard, (min, max) otherwise). ``from_state_dict`` rebuilds it exactly."""
        self._require_fitted("state_dict")
        self._check_config("state_dict")  # (a state from_state_dict would refuse is never written)
        state: dict[str, Any] = {"config": self.config(), "count": int(self.count), "n_features": int(self.n_features)}
        for key in _STATS[self.method]:
            state[key] = np.array(getattr(self, f"_{key}"), dtype=np.float64)
        columns = _savable_labels(self._columns)
        if columns is not None:  # non-string column labels, still checked after a reload
            state["columns"] = columns
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
            raise ArgumentError(f"normalizer config has unknown keys [{name_few(sorted(map(str, unknown)))}] or no "
                                "method")
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
        norm._columns = _loaded_labels(state.get("columns"), d)
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


def _difference(got: list[Any], expected: list[Any]) -> str:
    """How a DataFrame's column labels differ from the fitted ones: what is missing, extra, repeated, or,
    for the same labels, the first one out of place."""
    have, want = set(got), set(expected)
    parts = []
    missing = [c for c in expected if c not in have]
    extra = list(dict.fromkeys(c for c in got if c not in want))
    repeated = [c for c, k in Counter(got).items() if k > 1]
    if missing:
        parts.append(f"missing {name_few(missing)}")
    if extra:
        parts.append(f"not fitted: {name_few(extra)}")
    if repeated:
        parts.append(f"repeated: {name_few(repeated)}")
    if not parts:
        i = next((i for i, (g, e) in enumerate(zip(got, expected)) if g != e), 0)
        parts.append(f"the same columns in another order: column {i} is {name_few([got[i]])}, the fit had "
                     f"{name_few([expected[i]])}")
    return "; ".join(parts)


def _savable_label(label: Any) -> bool:
    return isinstance(label, (str, int, np.integer)) and not isinstance(label, bool)


def _savable_labels(labels: list[Any] | None) -> list[Any] | None:
    """Non-string column labels as a state_dict entry (ints, strings, and tuples of them, as lists: what a
    checkpoint holds), or None when there are none or some label is of another kind (then they are checked
    in this process and its pickles only)."""
    if labels is None:
        return None
    out = []
    for label in labels:
        if _savable_label(label):
            out.append(label.item() if isinstance(label, np.integer) else label)
        elif isinstance(label, tuple) and all(_savable_label(v) for v in label):
            out.append([v.item() if isinstance(v, np.integer) else v for v in label])
        else:
            return None
    return out


def _loaded_labels(value: Any, d: int) -> list[Any] | None:
    """A state_dict's ``columns`` entry back as labels (lists become the tuples they were), validated."""
    if value is None:
        return None
    ok = isinstance(value, list) and len(value) == d and all(
        _savable_label(v) or (isinstance(v, list) and all(_savable_label(e) for e in v)) for v in value)
    if not ok:
        raise ArgumentError(f"normalizer state: columns must be a list of {d} column labels (integers, strings "
                            "or lists of them)")
    labels = [tuple(v) if isinstance(v, list) else v for v in value]
    _pandas.check_unique(labels, "normalizer state: columns")
    return labels


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
