"""The settings: the methods, the statistics each keeps and takes, and the validation of the constructor's
arguments (each on its own, then their combination)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from ..errors import ArgumentError, name_few

METHODS = ("standard", "minmax", "maxabs", "robust")
_STATS = {"standard": ("mean", "m2"), "minmax": ("min", "max"), "maxabs": ("min", "max"),
          "robust": ("median", "q_low", "q_high")}
# every statistic a normalizer may hold (state_dict keys): a fit keeps mean, m2, min and max whatever the method
# (and robust's quantiles: the median and the quantile_range's two); from_stats keeps what it was given (var for a
# standard normalizer of unknown count, max_abs for maxabs)
_STAT_KEYS = ("mean", "m2", "var", "min", "max", "max_abs", "median", "q_low", "q_high")
# what from_stats takes for each method
_GIVEN = {"standard": ("mean", "var", "std"), "minmax": ("min", "max"), "maxabs": ("max_abs",),
          "robust": ("median", "q_low", "q_high")}
_ROBUST_KEYS = ("quantile_range", "with_centering", "with_scaling", "unit_variance")
_CONFIG_KEYS = ("method", "ddof", "with_mean", "with_std", "feature_range", "clip", *_ROBUST_KEYS, "feature_names")
_DERIVING_KEYS = frozenset(_CONFIG_KEYS) - {"feature_names"}  # the settings the applied statistics depend on
# the options only some methods use, with their defaults: another method refuses them when not at the default
_OPTION_DEFAULTS = {"ddof": 1, "with_mean": True, "with_std": True, "feature_range": (0.0, 1.0), "clip": False,
                    "quantile_range": (25.0, 75.0), "with_centering": True, "with_scaling": True,
                    "unit_variance": False}


def configure(norm: Any, params: dict[str, Any]) -> None:
    """Validate each argument on its own and store it (the combination is ``check_config``'s)."""
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
    quantile_range, unit_variance = _quantile_range(params), bool(params.get("unit_variance", False))
    names = params["feature_names"]
    if names is not None:
        names = [str(n) for n in names]
        if len(set(names)) != len(names):
            repeated = [n for n, k in Counter(names).items() if k > 1]
            raise ArgumentError(f"feature_names: {name_few(repeated)} appear(s) more than once; each feature "
                                "needs its own name")
    # (the instance dict directly: __setattr__ would send these settings back to set_params)
    norm.__dict__.update(method=method, ddof=int(ddof), with_mean=bool(params["with_mean"]),
                         with_std=bool(params["with_std"]), feature_range=(low, high), clip=bool(params["clip"]),
                         quantile_range=quantile_range, with_centering=bool(params.get("with_centering", True)),
                         with_scaling=bool(params.get("with_scaling", True)), unit_variance=unit_variance,
                         feature_names=names,
                         # the arguments exactly as given: scikit-learn's clone() checks get_params() returns
                         # these objects
                         _params=dict(params))


def _quantile_range(params: dict[str, Any]) -> tuple[float, float]:
    """robust's (low, high) percentiles: 0 <= low < high <= 100 (scikit-learn also takes low == high, a zero
    spread for every feature: refused here). (A normalizer pickled before robust existed has none: the default.)"""
    given = params.get("quantile_range", _OPTION_DEFAULTS["quantile_range"])
    try:
        low, high = (float(v) for v in given)
    except (TypeError, ValueError):
        raise ArgumentError(f"quantile_range must be two percentiles (low, high), got {given!r}") from None
    if not 0.0 <= low < high <= 100.0:
        raise ArgumentError(f"quantile_range must be percentiles with 0 <= low < high <= 100, got {given!r}")
    return low, high


def check_config(norm: Any, what: str) -> None:
    """An option the method does not use, set away from its default, is an error (never ignored); so is robust's
    unit_variance with a quantile at 0 or 100."""
    where = f"{what}: " if what else ""
    low, high = norm.quantile_range
    if norm.method == "robust" and norm.unit_variance and not (low > 0.0 and high < 100.0):
        raise ArgumentError(f"{where}unit_variance=True divides by the normal distribution's spread between the "
                            f"quantiles, which is infinite for quantile_range={norm._params.get('quantile_range')!r}: "
                            "keep both strictly between 0 and 100, or unit_variance=False")
    unused = []
    if norm.method != "standard":
        unused += [f"{k}={getattr(norm, k)!r}" for k in ("ddof", "with_mean", "with_std")
                   if getattr(norm, k) != _OPTION_DEFAULTS[k]]
    if norm.method != "minmax" and norm.feature_range != _OPTION_DEFAULTS["feature_range"]:
        unused.append(f"feature_range={norm._params['feature_range']!r}")
    if norm.method != "robust":
        unused += [f"{k}={getattr(norm, k)!r}" for k in ("with_centering", "with_scaling", "unit_variance")
                   if getattr(norm, k) != _OPTION_DEFAULTS[k]]
        if norm.quantile_range != _OPTION_DEFAULTS["quantile_range"]:
            unused.append(f"quantile_range={norm._params.get('quantile_range')!r}")
    if norm.method == "standard" and norm.clip:
        unused.append("clip=True (standardized values have no bounds to clip to; use minmax or maxabs)")
    if norm.method == "robust" and norm.clip:
        unused.append("clip=True (robust-scaled values have no bounds to clip to; use minmax or maxabs)")
    if norm._var is not None and norm.ddof != _OPTION_DEFAULTS["ddof"]:
        unused.append(f"ddof={norm.ddof} (the variance was given without a row count, from_stats(count=None): "
                      "ddof has nothing to act on)")
    if unused:
        defaults = ", ".join(f"{k}={v!r}" for k, v in _OPTION_DEFAULTS.items()
                             if any(u.startswith(f"{k}=") for u in unused))
        shown = name_few(unused, show=str, width=100)
        raise ArgumentError(f"{where}Normalizer({norm.method!r}) does not use {shown}: remove the option (its "
                            f"default: {defaults}) or choose the method that uses it")
