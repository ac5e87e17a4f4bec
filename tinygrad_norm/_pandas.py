"""pandas input and output for the normalizers: DataFrames (numeric columns) and Series (one feature).

pandas is never imported here unless the input already is a pandas object (it is then in
``sys.modules``) or the user asked for pandas output with ``set_output(transform="pandas")``.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

import numpy as np

from .errors import ArgumentError, DTypeError, name_few


def is_pandas(x: Any) -> bool:
    """True for a pandas DataFrame or Series; never imports pandas (an object of it means it is loaded)."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(x, (pd.DataFrame, pd.Series))


def feature_names(labels: list[Any]) -> list[str] | None:
    """Column labels as feature names when they are all strings (scikit-learn's rule); otherwise None:
    labels such as 0..n-1 from a DataFrame built on an array, or a MultiIndex's tuples, name nothing (they
    are still checked at transform: see ``Normalizer._check_columns``)."""
    return labels if labels and all(isinstance(c, str) for c in labels) else None


def check_unique(labels: list[Any], what: str) -> None:
    """Repeated column labels are an error: which column would a statistic be for?"""
    if len(set(labels)) != len(labels):
        repeated = [c for c, k in Counter(labels).items() if k > 1]
        raise ArgumentError(f"{what}: column label(s) {name_few(repeated)} appear more than once: each feature needs "
                            "its own label (rename the columns, e.g. df.columns = [...], or select each one once)")


def check_numeric(columns: Any, dtypes: Any, what: str) -> None:
    """A TypeError naming the non-numeric columns (bool columns count as numbers, as in arrays)."""
    from pandas.api import types

    bad = [(c, dt) for c, dt in zip(columns, dtypes)
           if not (types.is_bool_dtype(dt) or (types.is_numeric_dtype(dt) and not types.is_complex_dtype(dt)))]
    if bad:
        shown = name_few(bad, show=lambda item: f"{item[0]!r} ({item[1]})")
        raise DTypeError(f"{what}: column(s) {shown} are not numeric; select the numeric columns "
                         "(df.select_dtypes('number')) or encode the others as numbers first")
    if len(columns) == 0:
        raise ArgumentError(f"{what}: the DataFrame has no columns")


def values_dtype(dtypes: Any) -> np.dtype:
    """The array dtype a table converts to: its one NumPy dtype when every column has it (float32 stays
    float32), else float64 (mixed columns, pandas' nullable dtypes; a missing value becomes NaN)."""
    kinds = set(dtypes)
    if len(kinds) == 1:
        (dt,) = kinds
        if isinstance(dt, np.dtype):
            return dt
    return np.dtype(np.float64)


def output_dtype(dtypes: Any) -> np.dtype:
    """What transform returns for such a table: float data keeps its dtype, the rest becomes float32
    (the in-memory rule for integer and bool arrays)."""
    dt = values_dtype(dtypes)
    return dt if dt.kind == "f" else np.dtype(np.float32)


def to_array(x: Any, what: str) -> tuple[np.ndarray, list[Any]]:
    """(values as a 2-D array, the column labels) of a DataFrame, or of a Series as one feature."""
    pd = sys.modules["pandas"]
    frame = x.to_frame() if isinstance(x, pd.Series) else x
    check_numeric(frame.columns, frame.dtypes, what)
    dtype = values_dtype(frame.dtypes)
    if dtype.kind == "f":
        values = frame.to_numpy(dtype=dtype, na_value=np.nan)
    else:
        values = frame.to_numpy(dtype=dtype)
    return values, list(frame.columns)


def like(x: Any, values: Any) -> Any:
    """``values`` as the same kind of pandas object as ``x``: same index, same columns (or name)."""
    pd = sys.modules["pandas"]
    if isinstance(x, pd.Series):
        return pd.Series(values[:, 0], index=x.index, name=x.name)
    return pd.DataFrame(values, index=x.index, columns=x.columns)


def frame(values: np.ndarray, columns: list[str]) -> Any:
    """An array result as a DataFrame (``set_output(transform="pandas")`` with array input, as scikit-learn)."""
    import pandas as pd

    return pd.DataFrame(values, columns=columns)
