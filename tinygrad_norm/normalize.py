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
from numpy.typing import ArrayLike

from . import _dask, _pandas
from . import drift as _drift
from ._backend import DEFAULT_DTYPE, Backend, backend_of, device_of, get_backend
from ._moments import Stats, chan_merge, check_table, column_stats
from .drift import DriftReport
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
# every statistic a normalizer may hold (state_dict keys): a fit keeps mean, m2, min and max whatever the method;
# from_stats keeps what it was given (var for a standard normalizer of unknown count, max_abs for maxabs)
_STAT_KEYS = ("mean", "m2", "var", "min", "max", "max_abs")
# what from_stats takes for each method
_GIVEN = {"standard": ("mean", "var", "std"), "minmax": ("min", "max"), "maxabs": ("max_abs",)}
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

    Whatever the method, a fit keeps each feature's count, mean, M2, min and max (one pass over the data):
    ``drift(x)`` compares inference data with them (a :class:`~tinygrad_norm.drift.DriftReport`).
    ``Normalizer.from_stats(method, mean=..., var=... | std=..., min=..., max=..., max_abs=..., count=None)``
    builds a normalizer from statistics computed elsewhere (Keras' ``Normalization(mean=, variance=)``), and
    ``fit([batch, batch, ...])`` fits a list of 2-D batches as their concatenation (Keras' ``adapt``).

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
    _var: np.ndarray | None = None  # a given variance, kept as given: only when the row count is unknown
    _max_abs: np.ndarray | None = None  # a given max|x| (from_stats("maxabs")): no min/max known then

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
        if self._var is not None and self.ddof != _OPTION_DEFAULTS["ddof"]:
            unused.append(f"ddof={self.ddof} (the variance was given without a row count, from_stats(count=None): "
                          "ddof has nothing to act on)")
        if unused:
            where = f"{what}: " if what else ""
            defaults = ", ".join(f"{k}={v!r}" for k, v in _OPTION_DEFAULTS.items()
                                 if any(u.startswith(f"{k}=") for u in unused))
            shown = name_few(unused, show=str, width=100)
            raise ArgumentError(f"{where}Normalizer({self.method!r}) does not use {shown}: remove the option (its "
                                f"default: {defaults}) or choose the method that uses it")

    # ---- fitting ------------------------------------------------------------------
    def reset(self) -> Normalizer:
        """Forget the statistics (the settings stay): unfitted, as after construction."""
        self.count: int | None = 0  # None: fitted, on an unknown number of rows (from_stats(count=None))
        self.n_features: int | None = None
        self._mean = self._m2 = self._var = self._min = self._max = self._max_abs = None
        self._derived = None
        self._prescale: tuple | None = None
        self._spreads_of = None
        self._columns = None
        return self

    @property
    def is_fitted(self) -> bool:
        return self.count is None or self.count > 0

    def fit(self, data: Any, y: Any = None) -> Normalizer:
        """Fit on an array/Tensor, a pandas or Dask DataFrame/array, a list or tuple of 2-D batches, or on an
        iterable of chunks (e.g. a data loader; a chunk that is a tuple contributes its first item, the
        features). ``y`` is not used: it is there so the normalizer can be a step of a scikit-learn Pipeline.
        On any error (including one raised by the iterable itself) the normalizer is left as it was before
        the call: its earlier statistics, if it had some.

        A list or tuple whose items are all 2-D (NumPy/CuPy arrays, Tensors, pandas or Dask DataFrames and
        arrays) is a list of batches, as Keras' ``adapt`` takes them: the fit equals the fit of their
        concatenation, and batches of different widths are an error naming the batch. Any other list
        (``[[1, 2], [3, 4]]``: rows of numbers, or 1-D arrays) is one array, as before; any other tuple is an
        iterable of chunks, as before (so a tuple of ``(X, y)`` pairs still fits on the X's).

        Whatever the method, the fit keeps each feature's count, mean, M2, min and max (in one pass over
        the data): the method's statistics and the baseline of :meth:`drift`."""
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
        batches = _batches(data)
        if batches is not None:
            self._fit_batches(batches, "fit")
            return
        if (isinstance(data, (np.ndarray, Tensor, list)) or device_of(data) != "cpu"
                or hasattr(data, "__array__") or _pandas.is_pandas(data) or _dask.is_collection(data)
                or _is_sparse(data)):
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
        or Dask, mixed freely; a list or tuple of 2-D batches, as ``fit`` takes it, is several chunks). ``y``
        is not used (scikit-learn's signature). A chunk that fails (NaN, another number of features, other
        columns) changes nothing. A normalizer of unknown row count (``from_stats(..., count=None)``) cannot
        take more rows: there is no weight to give its statistics against theirs."""
        self._check_config("partial_fit")
        with self._unchanged_on_error():
            batches = _batches(chunk)
            if batches is not None:
                self._fit_batches(batches, "partial_fit")
            else:
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

    def _fit_batches(self, batches: list[Any], what: str) -> None:
        """Each batch as a chunk; widths are checked first, so a ragged list fails before any work."""
        widths = [int(b.shape[1]) for b in batches]
        for i, width in enumerate(widths):
            if width != widths[0]:
                raise ShapeError(f"{what}: batch {i} has {width} features, batch 0 has {widths[0]}; every batch "
                                 "needs the same features (columns)")
        for i, batch in enumerate(batches):
            name = f"{what}: batch {i} of {len(batches)}"
            self._partial_fit(batch, name, prefix=f"{name}: ")

    def _partial_fit(self, chunk: Any, what: str = "partial_fit", prefix: str = "") -> None:
        """Merge one chunk into the statistics. ``what`` names the call in errors; ``prefix`` starts the messages
        that name no call (NaN/inf data, overflow: the same for fit and partial_fit), e.g. a batch's number."""
        if self.count is None:
            raise ArgumentError(f"{what}: this normalizer was built from given statistics of an unknown number of "
                                "rows (from_stats(..., count=None)), so new rows cannot be weighed against them; "
                                "rebuild it with from_stats(..., count=N), or fit it on the data")
        labels = None
        if _dask.is_collection(chunk):
            x, labels = _dask.as_array(chunk, what)
            self._check_chunk(x.shape[1], labels, what)
            stats = _dask.summarize_stats(x)
            if stats.count == 0:
                raise ArgumentError(f"{what}: input is empty (0 rows)")
            magnitude = None
        else:
            if _pandas.is_pandas(chunk):
                chunk, labels = _pandas.to_array(chunk, what)
            x, backend, _, _ = _as_2d(chunk, what)
            self._check_chunk(x.shape[1], labels, what)
            stats = column_stats(backend, x)
            magnitude = None
            if stats.bad is not None and not stats.bad.any():  # finite data: for the overflow message
                magnitude = backend.to_numpy(backend.xp.max(backend.xp.abs(x), axis=0))
        if stats.bad is not None:
            if stats.bad.any() or self.method == "standard":  # NaN/inf data, or moments standard needs
                self._raise_nonfinite(stats.bad, labels, stats.mean, stats.m2, magnitude, prefix)
            # finite values whose squared deviations overflow float64: min/max and maxabs do not need the
            # moments; they are dropped (drift says it has no training mean/std), never kept as inf
            stats = stats._replace(mean=None, m2=None)
        self._merge(stats)
        self.n_features = x.shape[1]
        if labels is not None:  # (checked against the earlier chunks' by _check_chunk)
            if _pandas.feature_names(labels) is not None:
                self.feature_names = labels
            else:
                self._columns = labels
        self._derived = None

    def _merge(self, stats: Stats) -> None:
        """Merge a chunk's statistics into this normalizer's (new arrays, never in place: a failed call puts
        the old ones back). A statistic this normalizer lacks (an old checkpoint's, from_stats') stays missing:
        the rows it was fitted on are not there to compute it from."""
        first = self.count == 0
        if stats.mean is not None and (first or self._mean is not None):
            _, self._mean, self._m2 = chan_merge((self.count, self._mean, self._m2), (stats.count, stats.mean,
                                                                                       stats.m2))
        else:
            self._mean = self._m2 = None
        if first or self._min is not None:
            self._min = stats.min if first else np.minimum(self._min, stats.min)
            self._max = stats.max if first else np.maximum(self._max, stats.max)
        if self._max_abs is not None:
            self._max_abs = np.maximum(self._max_abs, np.maximum(np.abs(stats.min), np.abs(stats.max)))
        self.count += stats.count

    def _check_chunk(self, d: int, labels: list[Any] | None, what: str = "partial_fit") -> None:
        if self.n_features is not None and d != self.n_features:
            raise ShapeError(f"{what}: chunk has {d} features, earlier chunks had {self.n_features}")
        if self.feature_names is not None and len(self.feature_names) != d:
            raise ShapeError(f"{what}: {len(self.feature_names)} feature names for {d} features")
        if labels is not None:
            _pandas.check_unique(labels, what)
            # the first non-string labels are learned (with feature_names given, pd.DataFrame(array) can still be
            # fitted); from then on, and for names, a chunk's columns must be the known ones
            if self._columns is not None or _pandas.feature_names(labels) is not None:
                self._check_columns(labels, what)

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
                         magnitude: np.ndarray | None = None, prefix: str = "") -> None:
        """The statistics are not finite: name the features with NaN/inf values (``bad`` counts them;
        ``names``: the chunk's column labels, when it has them), or, for finite data, the features whose
        statistics overflow float64 (``magnitude``: each column's max |x|, when known). ``prefix`` starts the
        message (a batch's number in a list of batches)."""
        if not bad.any():
            over = np.flatnonzero(~(np.isfinite(a) & np.isfinite(b)))
            shown = name_few(over, width=120, show=lambda j: self._name(j, names) + (
                f" (|x| up to {float(magnitude[j]):.3g})" if magnitude is not None else ""))
            raise ArgumentError(f"{prefix}feature(s) {shown}: values this large overflow float64 statistics (their "
                                "squared deviations exceed 1.8e308); rescale them first, e.g. divide by a power of 10")
        cols = name_few(np.flatnonzero(bad), width=120, show=lambda j: f"feature {self._name(j, names)}: {int(bad[j])}")
        raise ArgumentError(f"{prefix}fit data contains {int(bad.sum()):,} NaN/inf value(s) ({cols}); "
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
        """Per-feature variance with ``ddof`` (read-only; kept until the statistics or ``ddof`` change); the
        variance as given for a normalizer of unknown row count (``from_stats(count=None)``); None when the
        normalizer has no moments (a minmax/maxabs normalizer from an older checkpoint or from_stats)."""
        return None if self._m2 is None and self._var is None else self._spreads()[0]

    @property
    def std(self) -> np.ndarray | None:
        """Per-feature standard deviation, ``sqrt(var)`` (read-only, like ``var``)."""
        return None if self._m2 is None and self._var is None else self._spreads()[1]

    def _spreads(self) -> tuple[np.ndarray, np.ndarray]:
        source = self._m2 if self._var is None else self._var
        cached = self._spreads_of
        if cached is not None and cached[0] is source and cached[1] == self.count and cached[2] == self.ddof:
            return cached[3]
        if self._var is not None:  # given without a row count: the variance as it is
            var = self._var.copy()
        else:
            if self.count - self.ddof <= 0:
                raise ArgumentError(f"variance with ddof={self.ddof} needs more than {self.ddof} row(s); "
                                    f"fitted on {self.count}")
            var = self._m2 / (self.count - self.ddof)
        std = np.sqrt(var)
        var.flags.writeable = std.flags.writeable = False
        self._spreads_of = (source, self.count, self.ddof, (var, std))
        return var, std

    def _population_var(self) -> tuple[np.ndarray, int]:
        """(M2 / count, count): the variance of the fitted values themselves; the given variance and 1 when the
        row count is unknown (then the rounding bound of the constant test is that of a single value)."""
        if self._var is not None:
            return self._var, 1
        return self._m2 / self.count, self.count

    @property
    def max_abs(self) -> np.ndarray | None:
        """Per-feature max|x|: given (``from_stats("maxabs", max_abs=...)``) or from the fitted min and max."""
        if self._max_abs is not None:
            return self._max_abs
        return None if self._min is None else np.maximum(np.abs(self._min), np.abs(self._max))

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
            var, n = self._population_var()
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
            spread = self.max_abs.copy()
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
            per = np.abs(self._mean) + 8 * np.sqrt(self._population_var()[0])
        elif self.method == "minmax":
            per = np.maximum(np.abs(self._min), np.abs(self._max))
        else:
            per = self.max_abs
        magnitude = float(np.max(per))
        p = np.where(~np.isfinite(per) | (per > np.finfo(np.float64).max / 16), 2.0 ** -16, 1.0)
        for _ in range(2):  # the second pass sees the spread after a tiny one was scaled up
            if self.method == "minmax":
                low, high = self.feature_range
                spread_p = (self._max * p - self._min * p) / (high - low)
            elif self.method == "maxabs":
                spread_p = self.max_abs * p
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
        if self.is_fitted and _STATS[new.method] == _STATS[self.method] and self._has_statistics_of(new.method):
            names = new.feature_names if "feature_names" in params else self.feature_names
            if names is not None and len(names) != self.n_features:
                raise ShapeError(f"set_params: {len(names)} feature names for the {self.n_features} fitted features")
            new.count, new.n_features, new.feature_names = self.count, self.n_features, names
            for key in _STAT_KEYS:
                setattr(new, f"_{key}", getattr(self, f"_{key}"))
            new._columns = self._columns
        if hasattr(self, "_sklearn_output_config"):
            new._sklearn_output_config = self._sklearn_output_config
        self.__dict__.update(new.__dict__)
        return self

    def _has_statistics_of(self, method: str) -> bool:
        """Whether this normalizer holds what ``method``'s transform needs."""
        if method == "standard":
            return self._mean is not None and (self._m2 is not None or self._var is not None)
        return self._min is not None or (method == "maxabs" and self._max_abs is not None)

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
        """Everything the fitted transform depends on, and the drift baseline: the config, the row count and the
        float64 statistics. A fit saves all of ``mean``, ``m2``, ``min`` and ``max`` whatever the method (a
        reader older than drift baselines reads its method's two and ignores the others, so it loads these
        checkpoints unchanged); a normalizer loaded from such an older checkpoint saves what it has.

        ``from_stats`` normalizers save what they were given: ``count`` is None when the row count is
        unknown (JSON null; an older reader refuses it, "count must be a positive integer", rather than
        guess one), with ``var`` in place of ``m2`` (M2 needs the count); a given ``max_abs`` is saved with
        ``min = -max_abs`` and ``max = max_abs`` beside it, the statistics an older reader's maxabs transform
        needs (this reader knows by ``max_abs`` that they are no training range). ``from_state_dict`` rebuilds
        the normalizer exactly."""
        self._require_fitted("state_dict")
        self._check_config("state_dict")  # (a state from_state_dict would refuse is never written)
        state: dict[str, Any] = {"config": self.config(), "count": None if self.count is None else int(self.count),
                                 "n_features": int(self.n_features)}
        for key in _STAT_KEYS:
            value = getattr(self, f"_{key}")
            if value is not None:
                state[key] = np.array(value, dtype=np.float64)
        if self._max_abs is not None:
            state["min"], state["max"] = -state["max_abs"], state["max_abs"].copy()
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
        """A normalizer rebuilt from :meth:`state_dict`; a ValueError saying what is wrong otherwise.

        Older checkpoints (only the method's statistics: standard's mean and m2, minmax's and maxabs' min and
        max) load and transform as before; their drift reports say which baseline they lack."""
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
        if count is not None and (isinstance(count, bool) or not isinstance(count, (int, np.integer))
                                  or not 1 <= count < 2**63):
            shown = repr(count) if len(repr(count)) <= 40 else repr(count)[:40] + "..."
            raise ArgumentError(f"normalizer state: count must be a positive integer below 2**63, got {shown} "
                                "(or None: an unknown row count)")
        arrays = {}
        for key in _STAT_KEYS:
            value = state.get(key)
            if value is None:
                continue
            if isinstance(value, Tensor):
                value = value.numpy()
            if not isinstance(value, np.ndarray) or value.ndim != 1 or value.dtype.kind not in "iuf":
                raise ArgumentError(f"normalizer state: {key!r} must be a 1-D numeric array, got "
                                    f"{type(value).__name__}")
            arrays[key] = value.astype(np.float64)
        if "max_abs" in arrays:
            if norm.method != "maxabs":
                raise ArgumentError(f"normalizer state: 'max_abs' is a maxabs statistic, the method is {norm.method!r}")
            # (min/max beside it are -max_abs and max_abs, written for older readers: no training range)
            lo, hi = arrays.pop("min", None), arrays.pop("max", None)
            a = arrays["max_abs"]
            if (lo is not None or hi is not None) and (lo is None or hi is None or lo.shape != a.shape
                                                       or hi.shape != a.shape or (lo != -a).any() or (hi != a).any()):
                raise ArgumentError("normalizer state: 'min' and 'max' beside 'max_abs' must be -max_abs and max_abs")
        if "var" in arrays and (count is not None or "m2" in arrays):
            raise ArgumentError("normalizer state: 'var' is saved only for an unknown row count (count None), in "
                                "place of 'm2'")
        if "m2" in arrays and count is None:
            raise ArgumentError("normalizer state: 'm2' needs the row count it sums over; count is None")
        if ("mean" in arrays) != ("m2" in arrays or "var" in arrays) or ("min" in arrays) != ("max" in arrays):
            raise ArgumentError(f"normalizer state: statistics come in pairs (mean with m2 or var, min with max), got "
                                f"{', '.join(sorted(arrays))}")
        need = {"standard": ("mean", "m2" if count is not None else "var"), "minmax": ("min", "max"),
                "maxabs": ("max_abs",) if "max_abs" in arrays else ("min", "max")}[norm.method]
        for key in need:
            if key not in arrays:
                raise ArgumentError(f"normalizer state: {key!r} must be a 1-D numeric array, got "
                                    f"{type(state.get(key)).__name__}")
        shapes = {a.shape for a in arrays.values()}
        d = next(iter(shapes))[0]
        if len(shapes) != 1 or d == 0 or state.get("n_features", d) != d:
            shown = {k: a.shape for k, a in arrays.items()}
            raise ShapeError(f"normalizer state arrays have inconsistent shapes: {shown}")
        if norm.feature_names is not None and len(norm.feature_names) != d:
            raise ShapeError(f"normalizer state: {len(norm.feature_names)} feature names for {d} features")
        if not all(np.isfinite(a).all() for a in arrays.values()) or any(
                (arrays[k] < 0).any() for k in ("m2", "var", "max_abs") if k in arrays) \
                or ("min" in arrays and (arrays["min"] > arrays["max"]).any()):
            raise ArgumentError("normalizer state: the statistics are not finite or not consistent "
                                "(m2, var or max_abs < 0, or min > max)")
        norm._columns = _loaded_labels(state.get("columns"), d)
        norm.count = None if count is None else int(count)
        norm.n_features = d
        for key, value in arrays.items():
            setattr(norm, f"_{key}", value)
        norm._check_config("normalizer state")
        return norm

    @classmethod
    def from_stats(cls, method: str, *, mean: ArrayLike | Tensor | None = None, var: ArrayLike | Tensor | None = None,
                   std: ArrayLike | Tensor | None = None, min: ArrayLike | Tensor | None = None,
                   max: ArrayLike | Tensor | None = None, max_abs: ArrayLike | Tensor | None = None,
                   count: int | None = None, ddof: int | None = None,
                   with_mean: bool = True, with_std: bool = True, feature_range: tuple[float, float] = (0.0, 1.0),
                   clip: bool = False, feature_names: Sequence[str] | None = None) -> Normalizer:
        """A normalizer from statistics computed elsewhere, like Keras' ``Normalization(mean=, variance=)``:
        the same transform, inverse, ``state_dict``/``from_state_dict`` and save/load as a fitted one.

        - ``"standard"``: ``mean=`` and one of ``var=`` or ``std=`` (both is an error);
        - ``"minmax"``: ``min=`` and ``max=`` (min <= max);
        - ``"maxabs"``: ``max_abs=`` (>= 0).

        Each is one finite number per feature (a 1-D array-like or Tensor); a statistic the method does not
        take is an error, never ignored. The constructor's options (``ddof``, ``with_mean``, ``with_std``,
        ``feature_range``, ``clip``, ``feature_names``) are validated as the constructor validates them.

        ``count``: the number of rows the statistics describe. With it, the normalizer is what ``fit`` on such
        rows gives (M2 = var * (count - ddof): ``ddof``, default 1, says which variance ``var``/``std`` is) and
        ``partial_fit`` can add rows. ``count=None`` (default): unknown; the normalizer transforms, saves and
        loads, but ``partial_fit`` is an error (no weight for its statistics), ``count`` is None and ``ddof``
        cannot be given (it relates var to M2 through the count). Only the given statistics exist: a drift
        report says it has no training min/max for a standard one, no mean/std for minmax or maxabs."""
        given = {"mean": mean, "var": var, "std": std, "min": min, "max": max, "max_abs": max_abs}
        given = {k: v for k, v in given.items() if v is not None}
        if method in _GIVEN:
            wrong = [k for k in given if k not in _GIVEN[method]]
            if wrong:
                takes = " and ".join(f"{k}=" for k in _GIVEN[method] if k != "std").replace("var=", "var= (or std=)")
                raise ArgumentError(f"from_stats({method!r}) takes {takes}; {', '.join(f'{k}=' for k in wrong)} is "
                                    "not one of its statistics")
        if count is None and ddof is not None:
            raise ArgumentError(f"from_stats: ddof={ddof!r} relates the variance to M2 through the row count, and "
                                "count is None (unknown): give count= too, or leave ddof out")
        norm = cls(method, ddof=1 if ddof is None else ddof, with_mean=with_mean, with_std=with_std,
                   feature_range=feature_range, clip=clip, feature_names=feature_names)
        if count is not None and (isinstance(count, bool) or not isinstance(count, (int, np.integer))
                                  or not 1 <= count < 2**63):
            raise ArgumentError(f"from_stats: count must be a positive integer below 2**63 or None (unknown), got "
                                f"{count!r}")
        if method == "standard":
            if "var" in given and "std" in given:
                raise ArgumentError("from_stats('standard'): give var= or std=, not both")
            missing = [k for k in ("mean", "var or std") if not any(p in given for p in k.split(" or "))]
        else:
            missing = [k for k in _GIVEN[method] if k not in given]
        if missing:
            raise ArgumentError(f"from_stats({method!r}) needs {' and '.join(f'{k}=' for k in missing)}")
        arrays = {k: _given_array(k, v) for k, v in given.items()}
        shapes = {k: a.shape for k, a in arrays.items()}
        if len(set(shapes.values())) != 1:
            raise ShapeError(f"from_stats: the statistics need one value per feature each, got shapes {shapes}")
        d = next(iter(shapes.values()))[0]
        if norm.feature_names is not None and len(norm.feature_names) != d:
            raise ShapeError(f"from_stats: {len(norm.feature_names)} feature names for {d} features")
        names = norm.feature_names

        def bad_features(mask: np.ndarray) -> str:
            return name_few(np.flatnonzero(mask), show=lambda j: repr(names[j]) if names else str(j))

        for key, a in arrays.items():
            if not np.isfinite(a).all():
                raise ArgumentError(f"from_stats: {key} is not finite for feature(s) {bad_features(~np.isfinite(a))}")
        for key in ("var", "std", "max_abs"):
            if key in arrays and (arrays[key] < 0).any():
                raise ArgumentError(f"from_stats: {key} must be >= 0; negative for feature(s) "
                                    f"{bad_features(arrays[key] < 0)}")
        if method == "minmax" and (arrays["min"] > arrays["max"]).any():
            raise ArgumentError(f"from_stats: min > max for feature(s) {bad_features(arrays['min'] > arrays['max'])}")
        if method == "standard":
            v = arrays["var"] if "var" in arrays else arrays["std"] ** 2
            if count is None:
                norm._var = v
            else:
                if count <= norm.ddof:
                    raise ArgumentError(f"from_stats: a variance with ddof={norm.ddof} needs count > {norm.ddof}, got "
                                        f"count={count}")
                with np.errstate(over="ignore"):
                    m2 = v * (int(count) - norm.ddof)
                if not np.isfinite(m2).all() or not np.isfinite(v).all():
                    raise ArgumentError(f"from_stats: the variance of feature(s) {bad_features(~np.isfinite(m2))} "
                                        "overflows float64 (M2 = var * (count - ddof)); rescale the feature")
                norm._m2 = m2
            norm._mean = arrays["mean"]
        elif method == "minmax":
            norm._min, norm._max = arrays["min"], arrays["max"]
        else:
            norm._max_abs = arrays["max_abs"]
        norm.count = None if count is None else int(count)
        norm.n_features = d
        return norm

    # ---- drift ---------------------------------------------------------------------------------------------
    def drift(self, x: Any, *, max_outside: float = _drift.MAX_OUTSIDE, max_mean_shift: float = _drift.MAX_MEAN_SHIFT,
              std_ratio: tuple[float, float] = _drift.STD_RATIO,
              max_nonfinite: float = _drift.MAX_NONFINITE) -> DriftReport:
        """Check inference data against the training statistics: per feature, the fraction of values outside
        the training [min, max], the mean's shift in training standard deviations, the ratio of standard
        deviations and the fraction of NaN/inf values, and which features exceed the thresholds (see
        :class:`~tinygrad_norm.drift.DriftReport` for each threshold and why its default is what it is).

        ``x``: an array or Tensor (by position), a pandas DataFrame (its columns checked as ``transform`` checks
        them: the report names the features), or a Dask array/DataFrame, summarized blockwise on its workers in
        one pass. Statistics are float64, per-block moments merged with Chan's formula as in ``fit``. NaN and
        inf values are counted in ``nonfinite_fraction`` and left out of every other statistic."""
        self._require_fitted("drift")
        thresholds = _drift.check_thresholds(max_outside, max_mean_shift, std_ratio, max_nonfinite)
        lo, hi = self._min, self._max
        if _dask.is_collection(x):
            arr, labels = _dask.as_array(x, "drift")
            if labels is not None:
                self._check_columns(labels, "drift")
            self._check_features(arr, "drift")
            summary = _dask.summarize_drift(arr, lo, hi)
            if summary["rows"][0] == 0:
                raise ArgumentError("drift: input is empty (0 rows)")
        else:
            if _pandas.is_pandas(x):
                values, labels = _pandas.to_array(x, "drift")
                self._check_columns(labels, "drift")
                x = values
            arr, backend, _, _ = _as_2d(x, "drift")
            self._check_features(arr, "drift")
            summary = _drift.summarize(backend, arr, lo, hi)
        training: dict[str, Any] = {"count": self.count, "mean": self._mean, "std": None, "min": lo, "max": hi}
        unavailable = {}
        have = ", ".join(k for k in _STAT_KEYS if getattr(self, f"_{k}") is not None)
        source = (f"it holds only {have}, as from_stats gives them or a checkpoint written before normalizers kept all "
                  "five statistics saves them; fit it on the training data for the full baseline")
        if lo is None:
            unavailable["fraction_outside"] = f"no training min/max ({source})"
        if self._mean is None:
            unavailable["mean_shift, std_ratio"] = f"no training mean/std ({source})"
        elif self._var is None and self.count - self.ddof <= 0:
            unavailable["mean_shift, std_ratio"] = (f"a training std with ddof={self.ddof} needs more than "
                                                    f"{self.ddof} training row(s); fitted on {self.count}")
            training["std"] = np.full(self.n_features, np.nan)
        else:
            training["std"] = self.std
        features = list(self.feature_names or ([str(c) for c in self._columns] if self._columns else
                                               [f"x{j}" for j in range(self.n_features)]))
        return _drift.report(summary, features, training, self.ddof, thresholds, unavailable)

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
        rows = "an unknown number of" if self.count is None else f"{self.count}"
        lines = [f"Normalizer({', '.join(args)}, fitted on {rows} rows x {self.n_features} features)"]
        fmt = lambda a: np.array2string(np.asarray(a), precision=4, separator=", ", threshold=12)  # noqa: E731
        if self.method == "standard":
            lines += [f"  mean: {fmt(self._mean)}", f"  std:  {fmt(self.std)}"]
        elif self._min is not None:
            lines += [f"  min:  {fmt(self._min)}", f"  max:  {fmt(self._max)}"]
        else:
            lines += [f"  max|x|: {fmt(self._max_abs)}"]
        return "\n".join(lines)


def _batches(data: Any) -> list[Any] | None:
    """``data`` as a list of batches when it is a non-empty list or tuple of 2-D tables (arrays, Tensors,
    DataFrames, Dask collections); None for anything else (a nested list of numbers is one array)."""
    if not isinstance(data, (list, tuple)) or not data:
        return None
    return list(data) if all(_is_2d_table(b) for b in data) else None


def _is_2d_table(b: Any) -> bool:
    if isinstance(b, (np.ndarray, Tensor)) or _pandas.is_pandas(b) or device_of(b) != "cpu":
        return getattr(b, "ndim", None) == 2
    if _dask.is_collection(b):  # (ndim looked up on the type: a Delayed answers any attribute)
        return hasattr(type(b), "ndim") and hasattr(type(b), "shape") and b.ndim == 2
    return False


def _given_array(key: str, value: Any) -> np.ndarray:
    """A from_stats statistic as a 1-D float64 array: one number per feature."""
    if isinstance(value, Tensor):
        value = value.numpy()
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise ArgumentTypeError(f"from_stats: {key} must be one number per feature ({e})") from None
    if arr.dtype.kind not in "iuf":
        raise ArgumentTypeError(f"from_stats: {key} must be numbers (one per feature), got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.size == 0:
        hint = f" (for one feature: {key}=[value])" if arr.ndim == 0 else ""
        raise ShapeError(f"from_stats: {key} must be 1-D, one value per feature, got shape {arr.shape}{hint}")
    return arr.astype(np.float64)


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
