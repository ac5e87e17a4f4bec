"""Fitted normalizers: statistics computed once on the training set, kept with the model,
applied identically at inference.

``Normalizer("standard" | "minmax" | "maxabs")`` fits per-feature statistics in
float64 (exact per-block moments merged with Chan et al.'s formula, so
``partial_fit`` over any split of the rows equals ``fit`` on all of them) and
applies them as one fused ``(x - shift) * scale + offset`` pass on the backend
of the data (blocked multi-threaded NumPy on the CPU, our kernels on CUDA).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ._backend import Backend, chan_merge, get_backend
from .function import Affine
from .tensor import Tensor

METHODS = ("standard", "minmax", "maxabs")


class NormalizerWarning(UserWarning):
    """A fitted feature is constant, so it cannot be scaled (its scale is set to 1)."""


def _as_2d(x: Any, what: str) -> tuple[Any, Backend, bool]:
    """(2-D float array, its backend, whether the input was a Tensor); clear errors for bad input."""
    if isinstance(x, Tensor):
        arr, backend, is_tensor = x.data, x._backend, True
    elif hasattr(x, "__cuda_array_interface__"):
        backend = get_backend("cuda")
        arr, is_tensor = x, False
    else:
        backend, is_tensor = get_backend("cpu"), False
        try:
            arr = np.asarray(x)
        except (ValueError, TypeError) as e:
            raise TypeError(f"{what}: input is not a rectangular numeric array ({e})") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what}: input must be numeric, got dtype {arr.dtype}; convert text columns first")
    if arr.ndim != 2:
        hint = " (use x.reshape(-1, 1) for a single feature)" if arr.ndim == 1 else ""
        raise ValueError(f"{what}: expected a 2-D array (rows, features), got shape {tuple(arr.shape)}{hint}")
    if arr.shape[0] == 0:
        raise ValueError(f"{what}: input is empty (0 rows)")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float32)  # integers and bools become float32, the default dtype
    return arr, backend, is_tensor


class Normalizer:
    """Per-feature scaling fitted on training data.

    method:
        ``"standard"``: (x - mean) / std, std with ``ddof`` (default 1, like torch.std);
        ``with_mean`` / ``with_std`` switch each part off.
        ``"minmax"``: (x - min) / (max - min) mapped into ``feature_range`` (default (0, 1));
        ``clip=True`` clips values outside the training range.
        ``"maxabs"``: x / max|x|.
    A constant feature gets scale 1 (its output is the range's low end, 0 by default)
    and a NormalizerWarning; NaN or inf in fit data is a ValueError.
    """

    def __init__(self, method: str = "standard", *, ddof: int = 1, with_mean: bool = True, with_std: bool = True,
                 feature_range: tuple[float, float] = (0.0, 1.0), clip: bool = False,
                 feature_names: Sequence[str] | None = None) -> None:
        if method not in METHODS:
            raise ValueError(f"unknown normalization method {method!r}; choose one of {', '.join(METHODS)}")
        if not feature_range[0] < feature_range[1]:
            raise ValueError(f"feature_range must be (low, high) with low < high, got {feature_range}")
        if ddof < 0:
            raise ValueError(f"ddof must be >= 0, got {ddof}")
        self.method = method
        self.ddof = int(ddof)
        self.with_mean = bool(with_mean)
        self.with_std = bool(with_std)
        self.feature_range = (float(feature_range[0]), float(feature_range[1]))
        self.clip = bool(clip)
        self.feature_names = list(feature_names) if feature_names is not None else None
        self.reset()

    # ---- fitting ------------------------------------------------------------------
    def reset(self) -> Normalizer:
        self.count = 0
        self.n_features: int | None = None
        self._mean = self._m2 = self._min = self._max = None
        self._derived = None
        return self

    @property
    def is_fitted(self) -> bool:
        return self.count > 0

    def fit(self, data: Any) -> Normalizer:
        """Fit on an array/Tensor, or on an iterable of chunks (e.g. a data loader; a chunk that is a
        tuple contributes its first item, the features)."""
        self.reset()
        if isinstance(data, (np.ndarray, Tensor, list)) or hasattr(data, "__cuda_array_interface__"):
            return self.partial_fit(data)
        if not isinstance(data, Iterable):
            raise TypeError(f"fit() takes an array, a Tensor or an iterable of chunks, got {type(data).__name__}")
        for chunk in data:
            self.partial_fit(chunk[0] if isinstance(chunk, tuple) else chunk)
        if not self.is_fitted:
            raise ValueError("fit(): the iterable gave no chunks")
        return self

    def partial_fit(self, chunk: Any) -> Normalizer:
        """Update the statistics with one more chunk of rows (any number of chunks, any sizes)."""
        x, backend, _ = _as_2d(chunk, "partial_fit")
        if self.n_features is not None and x.shape[1] != self.n_features:
            raise ValueError(f"partial_fit: chunk has {x.shape[1]} features, earlier chunks had {self.n_features}")
        if self.feature_names is not None and len(self.feature_names) != x.shape[1]:
            raise ValueError(f"partial_fit: {len(self.feature_names)} feature names for {x.shape[1]} features")
        if self.method == "standard":
            n, mean, m2 = backend.column_moments(x)
            self._check_finite(x, backend, mean, m2)
            prev = (self.count, self._mean, self._m2) if self.is_fitted else (0, mean * 0, m2 * 0)
            self.count, self._mean, self._m2 = chan_merge(prev, (n, mean, m2))
        else:
            lo, hi = backend.column_minmax(x)
            self._check_finite(x, backend, lo, hi)
            self._min = lo if self._min is None else np.minimum(self._min, lo)
            self._max = hi if self._max is None else np.maximum(self._max, hi)
            self.count += x.shape[0]
        self.n_features = x.shape[1]
        self._derived = None
        return self

    def _name(self, j: int) -> str:
        return repr(self.feature_names[j]) if self.feature_names else f"{j}"

    def _check_finite(self, x: Any, backend: Backend, *stats: np.ndarray) -> None:
        if all(np.isfinite(s).all() for s in stats):
            return
        xp = backend.xp
        bad = backend.to_numpy(xp.count_nonzero(~xp.isfinite(x), axis=0))
        if not bad.any():
            raise ValueError("statistics overflowed: the data's values are too large for their dtype; "
                             "convert to float64 first")
        cols = ", ".join(f"feature {self._name(j)}: {int(bad[j])}" for j in np.flatnonzero(bad))
        raise ValueError(f"fit data contains {int(bad.sum())} NaN/inf value(s) ({cols}); "
                         "drop or impute them before fitting")

    # ---- fitted statistics ----------------------------------------------------------
    def _require_fitted(self, what: str) -> None:
        if not self.is_fitted:
            raise RuntimeError(f"{what}: this Normalizer is not fitted yet; call fit(X_train) first")

    @property
    def mean(self) -> np.ndarray | None:
        return self._mean

    @property
    def var(self) -> np.ndarray | None:
        if self._m2 is None:
            return None
        if self.count - self.ddof <= 0:
            raise ValueError(f"variance with ddof={self.ddof} needs more than {self.ddof} row(s); "
                             f"fitted on {self.count}")
        return self._m2 / (self.count - self.ddof)

    @property
    def std(self) -> np.ndarray | None:
        v = self.var
        return None if v is None else np.sqrt(v)

    @property
    def min(self) -> np.ndarray | None:
        return self._min

    @property
    def max(self) -> np.ndarray | None:
        return self._max

    @property
    def shift(self) -> np.ndarray:
        return self._affine()[0]

    @property
    def scale(self) -> np.ndarray:
        """What each feature is multiplied by after the shift."""
        return self._affine()[1]

    @property
    def offset(self) -> np.ndarray | None:
        return self._affine()[2]

    def _affine(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(shift, scale, offset) so that transform(x) = (x - shift) * scale + offset, in float64."""
        self._require_fitted("transform")
        if self._derived is not None:
            return self._derived
        d = self.n_features
        offset = None
        if self.method == "standard":
            shift = self._mean.copy() if self.with_mean else np.zeros(d)
            spread = self.std if self.with_std else np.ones(d)
            tiny = 10 * np.finfo(np.float64).eps * np.maximum(np.abs(self._mean), 1.0)
            constant = spread <= tiny
            what = "std 0"
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
        if constant.any():
            names = ", ".join(self._name(j) for j in np.flatnonzero(constant))
            warnings.warn(f"{self.method} normalizer: feature(s) {names} are constant ({what}) in the fit data; "
                          "their scale is set to 1 (they carry no information: consider dropping them)",
                          NormalizerWarning, stacklevel=3)
        scale = 1.0 / np.where(constant, 1.0, spread)
        self._derived = (shift, scale, offset)
        return self._derived

    # ---- applying ---------------------------------------------------------------
    def _check_features(self, x: Any, what: str) -> None:
        if x.shape[1] != self.n_features:
            raise ValueError(f"{what}: input has {x.shape[1]} features, the normalizer was fitted on "
                             f"{self.n_features}")

    def transform(self, x: Any, out: Any = None) -> Any:
        """Normalize ``x`` with the fitted statistics; returns the same kind (array or Tensor).

        ``out`` (arrays only) receives the result without allocating; ``out=x`` works in place.
        A Tensor input stays differentiable.
        """
        self._require_fitted("transform")
        arr, backend, is_tensor = _as_2d(x, "transform")
        self._check_features(arr, "transform")
        shift, scale, offset = self._affine()
        clip = self.feature_range if (self.method == "minmax" and self.clip) else None
        if is_tensor:
            src = x if x.dtype.kind == "f" else Tensor._make(arr, backend)
            return Affine.apply(src, shift=shift, scale=scale, offset=offset, clip=clip)
        if out is not None and (out.shape != arr.shape or out.dtype != arr.dtype):
            raise ValueError(f"transform: out has shape {out.shape} / dtype {out.dtype}, "
                             f"needs {arr.shape} / {arr.dtype}")
        res = backend.affine_apply(arr, shift, scale, offset, out=out)
        if clip is not None:
            backend.xp.clip(res, clip[0], clip[1], out=res)
        return res

    __call__ = transform

    def fit_transform(self, x: Any) -> Any:
        return self.fit(x).transform(x)

    def inverse_transform(self, y: Any) -> Any:
        """Map normalized values back to the original units (e.g. predicted targets)."""
        self._require_fitted("inverse_transform")
        arr, backend, is_tensor = _as_2d(y, "inverse_transform")
        self._check_features(arr, "inverse_transform")
        shift, scale, offset = self._affine()
        res = backend.affine_apply(arr, shift, scale, offset, inverse=True)
        return Tensor._make(res, backend) if is_tensor else res

    # ---- state -----------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {"method": self.method, "ddof": self.ddof, "with_mean": self.with_mean, "with_std": self.with_std,
                "feature_range": list(self.feature_range), "clip": self.clip, "feature_names": self.feature_names}

    def state_dict(self) -> dict[str, Any]:
        self._require_fitted("state_dict")
        state: dict[str, Any] = {"config": self.config(), "count": int(self.count)}
        for key in ("mean", "m2", "min", "max"):
            value = getattr(self, f"_{key}")
            if value is not None:
                state[key] = np.array(value, dtype=np.float64)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> Normalizer:
        cfg = state.get("config", {})
        if cfg.get("method", self.method) != self.method:
            raise ValueError(f"state is for a {cfg.get('method')!r} normalizer, this one is {self.method!r}")
        need = ("mean", "m2") if self.method == "standard" else ("min", "max")
        missing = [k for k in need if k not in state]
        if missing or "count" not in state:
            raise KeyError(f"normalizer state is missing {missing or ['count']}")
        arrays = {k: np.asarray(state[k].numpy() if isinstance(state[k], Tensor) else state[k], dtype=np.float64)
                  for k in need}
        if len({a.shape for a in arrays.values()}) != 1 or arrays[need[0]].ndim != 1:
            raise ValueError(f"normalizer state arrays have inconsistent shapes: "
                             f"{ {k: a.shape for k, a in arrays.items()} }")
        self.reset()
        for k, v in cfg.items():
            if k in ("ddof", "with_mean", "with_std", "clip", "feature_names"):
                setattr(self, k, v)
            elif k == "feature_range":
                self.feature_range = (float(v[0]), float(v[1]))
        self.count = int(state["count"])
        for k, a in arrays.items():
            setattr(self, f"_{k}", a)
        self.n_features = arrays[need[0]].shape[0]
        return self

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> Normalizer:
        cfg = state.get("config")
        if not cfg or "method" not in cfg:
            raise KeyError("normalizer state has no config/method")
        return cls(cfg["method"]).load_state_dict(state)

    def __repr__(self) -> str:
        args = [repr(self.method)]
        if self.method == "standard":
            args.append(f"ddof={self.ddof}")
        if self.method == "minmax" and (self.feature_range != (0.0, 1.0) or self.clip):
            args.append(f"feature_range={self.feature_range}, clip={self.clip}")
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
    arr, backend, is_tensor = _as_2d(x, "standardize")
    mean = np.asarray(mean, dtype=np.float64).reshape(-1)
    std = np.asarray(std, dtype=np.float64).reshape(-1)
    if mean.shape != (arr.shape[1],) or std.shape != (arr.shape[1],):
        raise ValueError(f"standardize: mean {mean.shape} and std {std.shape} need one value per column "
                         f"({arr.shape[1]})")
    if is_tensor:
        return Affine.apply(x, shift=mean, scale=1.0 / std, offset=None, clip=None)
    return backend.affine_apply(arr, mean, 1.0 / std, None, out=out)
