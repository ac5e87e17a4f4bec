"""A fitted Normalizer as the fitted scikit-learn scaler of its method (``Normalizer.to_sklearn``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ArgumentError, MissingDependencyError
from ..normalize import statistics as _statistics


def to_sklearn(norm: Any) -> Any:
    """See :meth:`tinygrad_norm.Normalizer.to_sklearn`."""
    what = "to_sklearn"
    try:
        import sklearn
        from sklearn import preprocessing
    except ImportError:
        raise MissingDependencyError(f"{what} needs scikit-learn: pip install 'tinygrad_norm[sklearn]'") from None
    _statistics.require_fitted(norm, what)
    norm._check_config(what)
    if norm.count is None:  # from_stats(count=None): sklearn's scalers always know how many rows they saw
        raise ArgumentError(f"{what}: this normalizer was built from statistics of an unknown number of rows "
                            "(from_stats(count=None)); scikit-learn's scalers keep n_samples_seen_, so rebuild it "
                            "with from_stats(..., count=N)")
    d = norm.n_features
    shift, spread, _, constant, _ = _statistics.spread(norm, d)
    if norm.method == "standard":
        scaler = preprocessing.StandardScaler(with_mean=norm.with_mean, with_std=norm.with_std)
        if norm.with_mean or norm.with_std:
            scaler.mean_ = np.array(norm.mean, np.float64)
        else:
            scaler.mean_ = None  # (what StandardScaler keeps with neither)
        if norm.with_std:
            # the variance of the rows themselves, as sklearn's var_ is (partial_fit merges it with
            # n_samples_seen_); scale_ is our std with ddof, so transform divides by what ours divides by
            scaler.var_ = np.array(norm._m2 / norm.count, np.float64)
            scaler.scale_ = np.where(constant, 1.0, spread)
        else:
            scaler.var_ = scaler.scale_ = None
    elif norm.method == "minmax":
        scaler = preprocessing.MinMaxScaler(feature_range=norm.feature_range, clip=norm.clip)
        low = norm.feature_range[0]
        scaler.data_min_ = np.array(norm.min, np.float64)
        scaler.data_max_ = np.array(norm.max, np.float64)
        scaler.data_range_ = scaler.data_max_ - scaler.data_min_
        # ours, so a constant feature maps as ours does (scale 1; sklearn's own fit gives it high - low)
        scaler.scale_ = np.array(norm.scale, np.float64)
        scaler.min_ = low - scaler.data_min_ * scaler.scale_
    elif norm.method == "robust":
        scaler = preprocessing.RobustScaler(with_centering=norm.with_centering, with_scaling=norm.with_scaling,
                                            quantile_range=norm.quantile_range, unit_variance=norm.unit_variance)
        scaler.center_ = np.array(norm.median, np.float64) if norm.with_centering else None
        # scikit-learn's own fit: a zero spread set to 1, then divided by the normal's (unit_variance)
        unit = _statistics.constant_spread(norm)
        scaler.scale_ = np.where(constant, unit, spread) if norm.with_scaling else None
    else:
        scaler = preprocessing.MaxAbsScaler()
        if norm.clip:
            if "clip" not in scaler.get_params():
                raise ArgumentError(f"{what}: this normalizer clips (clip=True) and scikit-learn "
                                    f"{sklearn.__version__}'s MaxAbsScaler has no clip option; upgrade scikit-learn, "
                                    "or use clip=False")
            scaler.set_params(clip=True)
        scaler.max_abs_ = np.array(norm.max_abs, np.float64)
        scaler.scale_ = np.where(constant, 1.0, scaler.max_abs_)
    # a NumPy scalar for StandardScaler, as its own fit leaves it (its partial_fit takes its size); else an int
    # (RobustScaler keeps no row count)
    if norm.method != "robust":
        scaler.n_samples_seen_ = np.int64(norm.count) if norm.method == "standard" else int(norm.count)
    scaler.n_features_in_ = int(d)
    if norm.feature_names is not None:
        scaler.feature_names_in_ = np.array(norm.feature_names, dtype=object)
    if norm._output == "pandas":
        scaler.set_output(transform="pandas")
    return scaler
