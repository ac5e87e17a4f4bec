"""The normalizer as data: ``state_dict`` (the config, the row count and the float64 statistics),
``from_state_dict`` (validated: a ValueError saying what is wrong) and ``from_stats`` (statistics computed
elsewhere, validated as a fit's would be)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .. import _pandas
from ..errors import ArgumentError, ArgumentTypeError, ShapeError, name_few
from ..tensor import Tensor
from . import quantiles as _quantiles
from .config import _CONFIG_KEYS, _GIVEN, _STAT_KEYS, _STATS, check_config
from .statistics import require_fitted


def config(norm: Any) -> dict[str, Any]:
    cfg = {"method": norm.method, "ddof": norm.ddof, "with_mean": norm.with_mean, "with_std": norm.with_std,
           "feature_range": list(norm.feature_range), "clip": norm.clip, "feature_names": norm.feature_names}
    if norm.method == "robust":  # (only there: a reader older than robust loads the other methods' states)
        cfg.update(quantile_range=list(norm.quantile_range), with_centering=norm.with_centering,
                   with_scaling=norm.with_scaling, unit_variance=norm.unit_variance)
    return cfg


def state_dict(norm: Any) -> dict[str, Any]:
    """What ``Normalizer.state_dict`` returns (its docstring describes the layout)."""
    require_fitted(norm, "state_dict")
    check_config(norm, "state_dict")  # (a state from_state_dict would refuse is never written)
    state: dict[str, Any] = {"config": config(norm), "count": None if norm.count is None else int(norm.count),
                             "n_features": int(norm.n_features)}
    for key in _STAT_KEYS:
        value = getattr(norm, f"_{key}")
        if value is not None:
            state[key] = np.array(value, dtype=np.float64)
    if norm._max_abs is not None:
        state["min"], state["max"] = -state["max_abs"], state["max_abs"].copy()
    if norm.method == "robust":
        state["rank_error"] = float(norm._rank_error)
        if norm._sketch is not None:  # each feature's serialized KLL sketch, end to end: partial_fit continues them
            state["sketch"] = np.frombuffer(b"".join(norm._sketch), dtype=np.uint8).copy()
            state["sketch_sizes"] = np.array([len(b) for b in norm._sketch], dtype=np.int64)
    columns = _savable_labels(norm._columns)
    if columns is not None:  # non-string column labels, still checked after a reload
        state["columns"] = columns
    return state


def from_state_dict(cls: type, state: Any) -> Any:
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
    for key in ("with_mean", "with_std", "clip", "with_centering", "with_scaling", "unit_variance"):
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
    robust_keys = [k for k in _STATS["robust"] if k in arrays]
    if robust_keys and norm.method != "robust":
        raise ArgumentError(f"normalizer state: {', '.join(map(repr, robust_keys))} are robust statistics, the method "
                            f"is {norm.method!r}")
    if "var" in arrays and (count is not None or "m2" in arrays):
        raise ArgumentError("normalizer state: 'var' is saved only for an unknown row count (count None), in "
                            "place of 'm2'")
    if "m2" in arrays and count is None:
        raise ArgumentError("normalizer state: 'm2' needs the row count it sums over; count is None")
    if ("mean" in arrays) != ("m2" in arrays or "var" in arrays) or ("min" in arrays) != ("max" in arrays):
        raise ArgumentError(f"normalizer state: statistics come in pairs (mean with m2 or var, min with max), got "
                            f"{', '.join(sorted(arrays))}")
    need = {"standard": ("mean", "m2" if count is not None else "var"), "minmax": ("min", "max"),
            "maxabs": ("max_abs",) if "max_abs" in arrays else ("min", "max"),
            "robust": _STATS["robust"]}[norm.method]
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
            or ("min" in arrays and (arrays["min"] > arrays["max"]).any()) \
            or ("q_low" in arrays and (arrays["q_low"] > arrays["q_high"]).any()):
        raise ArgumentError("normalizer state: the statistics are not finite or not consistent "
                            "(m2, var or max_abs < 0, min > max, or q_low > q_high)")
    if norm.method == "robust":
        norm._rank_error, norm._sketch = _robust_state(state, count, d)
    norm._columns = _loaded_labels(state.get("columns"), d)
    norm.count = None if count is None else int(count)
    norm.n_features = d
    for key, value in arrays.items():
        setattr(norm, f"_{key}", value)
    check_config(norm, "normalizer state")
    return norm


def _robust_state(state: dict[str, Any], count: int | None, d: int) -> tuple[float, tuple[bytes, ...] | None]:
    """A robust state's (rank_error, per-feature sketches or None), validated."""
    error = state.get("rank_error")
    if isinstance(error, bool) or not isinstance(error, (int, float)) or not 0.0 <= error < 1.0:
        raise ArgumentError(f"normalizer state: a robust state needs 'rank_error', a number in [0, 1) (0 for exact "
                            f"quantiles), got {error!r}")
    data, sizes = state.get("sketch"), state.get("sketch_sizes")
    if data is None and sizes is None:
        return float(error), None
    ok = (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 1
          and isinstance(sizes, np.ndarray) and sizes.dtype.kind in "iu" and sizes.shape == (d,)
          and (sizes > 0).all() and int(sizes.sum()) == data.size)
    if not ok:
        raise ArgumentError(f"normalizer state: 'sketch' must be a 1-D uint8 array and 'sketch_sizes' {d} positive "
                            "integers adding up to its length (what state_dict() writes)")
    if count is None:
        raise ArgumentError("normalizer state: quantile sketches need the row count they hold; count is None")
    ends = np.cumsum(sizes)
    raw = data.tobytes()
    sketches = tuple(raw[int(e - n):int(e)] for e, n in zip(ends, sizes))
    _quantiles.check_loaded(sketches, int(count))
    return float(error), sketches


def from_stats(cls: type, method: str, *, mean: ArrayLike | Tensor | None = None, var: ArrayLike | Tensor | None = None,
               std: ArrayLike | Tensor | None = None, min: ArrayLike | Tensor | None = None,
               max: ArrayLike | Tensor | None = None, max_abs: ArrayLike | Tensor | None = None,
               median: ArrayLike | Tensor | None = None, q_low: ArrayLike | Tensor | None = None,
               q_high: ArrayLike | Tensor | None = None, count: int | None = None, ddof: int | None = None,
               with_mean: bool = True, with_std: bool = True, feature_range: tuple[float, float] = (0.0, 1.0),
               clip: bool = False, quantile_range: tuple[float, float] = (25.0, 75.0), with_centering: bool = True,
               with_scaling: bool = True, unit_variance: bool = False,
               feature_names: Sequence[str] | None = None) -> Any:
    """What ``Normalizer.from_stats`` does (its docstring says what each argument means): the given
    statistics validated and set, as a fitted normalizer would hold them."""
    given = {"mean": mean, "var": var, "std": std, "min": min, "max": max, "max_abs": max_abs, "median": median,
             "q_low": q_low, "q_high": q_high}
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
               feature_range=feature_range, clip=clip, quantile_range=quantile_range, with_centering=with_centering,
               with_scaling=with_scaling, unit_variance=unit_variance, feature_names=feature_names)
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
    if method == "robust":
        lo, mid, hi = arrays["q_low"], arrays["median"], arrays["q_high"]
        disordered = (lo > mid) | (mid > hi)
        if disordered.any():
            raise ArgumentError(f"from_stats('robust'): q_low <= median <= q_high must hold (the quantiles of "
                                f"quantile_range={tuple(norm.quantile_range)} around the median); not for feature(s) "
                                f"{bad_features(disordered)}")
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
    elif method == "robust":  # taken as exact quantiles, with no sketch: it cannot take more rows
        norm._median, norm._q_low, norm._q_high = arrays["median"], arrays["q_low"], arrays["q_high"]
        norm._sketch, norm._rank_error = None, 0.0
    else:
        norm._max_abs = arrays["max_abs"]
    norm.count = None if count is None else int(count)
    norm.n_features = d
    return norm


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
