"""Step 1: adapt any input once. An array, a Tensor, a pandas DataFrame or Series (``_pandas.py``), a Dask
array or DataFrame (``_dask.py``) becomes an :class:`Adapted` record: the 2-D float array on its backend, the
column labels it came with, and how to wrap the result as the caller expects it (a DataFrame like the input,
a new DataFrame for ``set_output(transform="pandas")``, or the array as it is). Lists of batches are
recognized here too (``batches``). Nothing in this module calls back into the Normalizer class: it reads the
fitted attributes it checks against (feature count, names, column labels)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from .. import _dask, _pandas
from .._backend import Backend, backend_of, device_of, get_backend
from .._moments import check_table
from ..errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError, name_few
from ..tensor import Tensor


class _Input(NamedTuple):
    arr: Any  # 2-D float array (integer and bool input converted to float64)
    backend: Backend
    is_tensor: bool
    was_float: bool


class Adapted(NamedTuple):
    """An input, adapted: what the statistics and the kernels take, and how to give the result back."""
    arr: Any  # 2-D float array on its backend (integer and bool input converted to float64); the collection (Dask)
    backend: Backend | None  # None for a Dask collection (it is applied lazily, block by block)
    is_tensor: bool
    was_float: bool
    source: Any  # the input as given (a Tensor input is applied to itself, differentiably)
    wrap: Callable[[Any], Any] | None  # the result for the caller; None: the array as it is
    lazy: bool = False  # a Dask collection


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


def check_features(d: int, n_features: int, what: str) -> None:
    if d != n_features:
        raise ShapeError(f"{what}: input has {d} features, the normalizer was fitted on {n_features}")


def check_columns(labels: list[Any], names: list[str] | None, columns: list[Any] | None, what: str) -> None:
    """A DataFrame's column labels must be, in order, those of the DataFrame the normalizer was fitted on
    (``columns``: any labels, strings, the integers of ``pd.DataFrame(array)``, tuples) or its feature
    ``names``. Nothing to check when it has neither (fitted on arrays, no feature_names): columns then apply
    by position."""
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


_CPU = get_backend("cpu")


def adapt(x: Any, what: str, norm: Any, to_pandas: bool = False) -> Adapted:
    """``x`` for ``norm``'s transform (or inverse): checked against the fitted features (their number, and a
    DataFrame's columns), with the wrap that gives the result back as the caller expects it (``to_pandas``:
    ``set_output(transform="pandas")``). A Dask collection is returned as it is (``lazy``): it is applied
    block by block where it lives."""
    if type(x) is np.ndarray and x.dtype.kind == "f":  # the common case: a few cheap checks
        check_table(x.dtype, x.shape, what)
        if x.shape[1] != norm.n_features:
            check_features(x.shape[1], norm.n_features, what)
        return Adapted(x, _CPU, False, True, x, _frame_wrap(norm) if to_pandas else None)
    if _dask.is_collection(x):
        return Adapted(x, None, False, True, x, None, True)
    wrap = None
    if _pandas.is_pandas(x):
        values, labels = _pandas.to_array(x, what)
        check_columns(labels, norm.feature_names, norm._columns, what)
        if to_pandas:
            wrap = _like(x)
        source = values
    else:
        source = x
        if to_pandas:
            wrap = _frame_wrap(norm)
    arr, backend, is_tensor, was_float = _as_2d(source, what)
    check_features(arr.shape[1], norm.n_features, what)
    return Adapted(arr, backend, is_tensor, was_float, source, wrap)


def _like(x: Any) -> Callable[[Any], Any]:
    """The result as a pandas object like ``x`` (its index, and its columns or name)."""
    return lambda res: _pandas.like(x, res)


def _frame_wrap(norm: Any) -> Callable[[Any], Any]:
    """A NumPy result as a new DataFrame named by the output feature names; Tensors (differentiable) and CuPy
    stay as they are."""
    names = list(norm.feature_names or [f"x{j}" for j in range(norm.n_features)])
    return lambda res: _pandas.frame(res, names) if isinstance(res, np.ndarray) else res


def stream_names(data: Any) -> list[str] | None:
    """The column names of a ``tn.datasets.iter_table`` stream (they name its features); None for anything else."""
    from ..datasets._stream import TableStream  # (datasets never imports normalize: no cycle)

    return list(data.names) if isinstance(data, TableStream) else None


def is_stream(data: Any) -> bool:
    """Whether ``data`` is chunks to read one at a time, never all at once: a ``tn.datasets.iter_table`` stream or
    an iterator (a generator of 2-D chunks, a file's reader), as opposed to a table or a list of batches."""
    if stream_names(data) is not None:
        return True
    return (isinstance(data, Iterator) and not isinstance(data, (np.ndarray, Tensor)) and not hasattr(data, "__array__")
            and not _pandas.is_pandas(data) and not _dask.is_collection(data))


def check_stream_names(names: list[str] | None, norm: Any, what: str) -> None:
    """A stream's column names must be the normalizer's feature names, when it has some (from ``feature_names=``
    or an earlier fit); a normalizer fitted on a DataFrame's non-string labels takes no named stream."""
    if names is None:
        return
    twice = [n for n, k in Counter(names).items() if k > 1]
    if twice:
        raise ArgumentError(f"{what}: the stream names a column twice ({name_few(twice)}); each feature needs its own "
                            "name: read distinct columns with iter_table(..., columns=[...])")
    fitted = norm.feature_names if norm.feature_names is not None else norm._columns
    if fitted is not None and list(fitted) != names:
        raise ArgumentError(f"{what}: the stream's columns [{name_few(names)}] are not the normalizer's features "
                            f"[{name_few(list(fitted))}] ({_difference(names, list(fitted))}); read them in that "
                            "order with iter_table(..., columns=norm.feature_names)")
    if norm.n_features is not None and len(names) != norm.n_features:
        check_features(len(names), norm.n_features, what)


def stream_arrays(data: Any, norm: Any, what: str) -> Iterator[tuple[Any, Backend]]:
    """The chunks of a stream, one at a time, each as (2-D float array, backend), checked against ``norm``'s
    features (a chunk that is a tuple gives its first item; a DataFrame's columns are checked by name)."""
    check_stream_names(stream_names(data), norm, what)
    for chunk in data:
        chunk = chunk[0] if isinstance(chunk, tuple) else chunk
        if _pandas.is_pandas(chunk):
            chunk, labels = _pandas.to_array(chunk, what)
            check_columns(labels, norm.feature_names, norm._columns, what)
        arr, backend, _, _ = _as_2d(chunk, what)
        check_features(arr.shape[1], norm.n_features, what)
        yield arr, backend


def batches(data: Any) -> list[Any] | None:
    """``data`` as a list of batches when it is a non-empty list or tuple of 2-D tables (arrays, Tensors,
    DataFrames, Dask collections); None for anything else (a nested list of numbers is one array)."""
    if not isinstance(data, (list, tuple)) or not data:
        return None
    return list(data) if all(_is_2d_table(b) for b in data) else None


_batches = batches


def _is_2d_table(b: Any) -> bool:
    if isinstance(b, (np.ndarray, Tensor)) or _pandas.is_pandas(b) or device_of(b) != "cpu":
        return getattr(b, "ndim", None) == 2
    if _dask.is_collection(b):  # (ndim looked up on the type: a Delayed answers any attribute)
        return hasattr(type(b), "ndim") and hasattr(type(b), "shape") and b.ndim == 2
    return False
