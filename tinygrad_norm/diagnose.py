"""Scale diagnostics: how far apart are the features, and what will that do to gradient descent?

For a linear model ``y = X w + b`` trained with MSE, the gradient for weight j is
``(2/N) * sum_i err_i * x_ij``, so its size grows with the typical magnitude of
feature j (its root mean square). Features whose magnitudes differ by 1000x give
gradients 1000x apart: one learning rate cannot suit both, and plain gradient
descent either diverges on the large one or crawls on the small one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._moments import chan_merge, column_stats
from .errors import ArgumentError, DivergenceError, ShapeError, name_few
from .normalize import _as_2d
from .normalize.inputs import is_stream, stream_names

WARN_RATIO = 100.0
TABLE_ROWS = 40  # features printed in the table: a report of a million columns stays readable
NAME_WIDTH = 24  # longer names are cut in the table and in messages


def _cut(name: str) -> str:
    return name if len(name) <= NAME_WIDTH else name[:NAME_WIDTH - 3] + "..."


def _refuse_nonfinite(bad: np.ndarray, names: Sequence[str], where: str = "data") -> None:
    """NaN/inf values (``bad``: each column's count) are an error naming the columns; nothing when there are none."""
    if bad.any():
        cols = name_few(np.flatnonzero(bad), lambda j: f"{_cut(names[j]) if j < len(names) else j}: {int(bad[j])}")
        raise ArgumentError(f"diagnose: {where} contains {int(bad.sum()):,} NaN/inf values ({cols}); drop or "
                            "impute them first")


def _stream_moments(chunks: Any, names: list[str] | None) -> tuple:
    """(count, mean, M2, min, max) per column of a stream of chunks, one chunk in memory at a time."""
    n, mean, m2, lo, hi = 0, None, None, None, None
    for k, chunk in enumerate(chunks):
        arr, backend = _as_2d(chunk[0] if isinstance(chunk, tuple) else chunk, "diagnose")[:2]
        if mean is not None and arr.shape[1] != len(mean):
            raise ShapeError(f"diagnose: chunk {k} has {arr.shape[1]} features, earlier chunks had {len(mean)}")
        stats = column_stats(backend, arr)
        if stats.bad is not None:
            _refuse_nonfinite(stats.bad, names or [f"x{j}" for j in range(arr.shape[1])], f"chunk {k}")
        with np.errstate(over="ignore", invalid="ignore"):  # (finite values too large: reported by the caller)
            n, mean, m2 = chan_merge((n, mean, m2), (stats.count, stats.mean, stats.m2))
        lo = stats.min if lo is None else np.minimum(lo, stats.min)
        hi = stats.max if hi is None else np.maximum(hi, stats.max)
    if mean is None:
        raise ArgumentError("diagnose: the iterable gave no chunks")
    return n, mean, m2, lo, hi


def check_finite_loss(loss: float, epoch: int, what: str = "loss", hint: str | None = None) -> None:
    """Stop training with a message naming the epoch when the loss stops being finite."""
    if not math.isfinite(loss):
        kind = "NaN" if math.isnan(loss) else "inf"
        raise DivergenceError(f"training diverged: the {what} became {kind} at epoch {epoch}. "
                              + (hint or "Normalize the features (e.g. --norm standard) or lower the learning rate."))


@dataclass
class FeatureStats:
    name: str
    mean: float
    std: float
    min: float
    max: float
    rms: float


@dataclass
class Diagnosis:
    features: list[FeatureStats]
    rows: int
    scale_ratio: float  # largest / smallest std among non-constant features
    gradient_ratio: float  # largest / smallest RMS: expected ratio of linear-model gradient magnitudes
    constant: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    recommendation: str = ""

    def table(self) -> str:
        head = f"{'feature':<16}{'mean':>13}{'std':>13}{'min':>13}{'max':>13}{'rms':>13}"
        rows = [head, "-" * len(head)]
        for f in self.features[:TABLE_ROWS]:
            rows.append(f"{_cut(f.name):<16}{f.mean:>13.5g}{f.std:>13.5g}{f.min:>13.5g}{f.max:>13.5g}{f.rms:>13.5g}")
        if len(self.features) > TABLE_ROWS:
            rows.append(f"... and {len(self.features) - TABLE_ROWS:,} more features (Diagnosis.features has them all)")
        return "\n".join(rows)

    def __str__(self) -> str:
        lines = [f"{self.rows} rows x {len(self.features)} features", "", self.table(), "",
                 f"largest / smallest feature std: {self.scale_ratio:.4g}x",
                 f"expected ratio of gradient magnitudes (linear model, MSE): {self.gradient_ratio:.4g}x"]
        lines += [f"WARNING: {w}" for w in self.warnings]
        lines.append(f"recommendation: {self.recommendation}")
        return "\n".join(lines)


def diagnose(x: Any, feature_names: Sequence[str] | None = None) -> Diagnosis:
    """Per-feature scale report for a 2-D array or Tensor, with a warning past a 100x spread. ``x`` may also be
    chunks read one at a time: a ``tn.datasets.iter_table`` stream of files bigger than memory (its column names
    name the features) or any iterator of 2-D chunks, summarized chunk by chunk (float64 moments merged with
    Chan's formula, as a fit merges them)."""
    names = list(feature_names) if feature_names is not None else None
    if is_stream(x):
        if names is None:
            names = stream_names(x)
        n, mean, m2, lo, hi = _stream_moments(x, names)
    else:
        arr, backend = _as_2d(x, "diagnose")[:2]
        n, mean, m2 = backend.column_moments(arr)
        lo, hi = backend.column_minmax(arr)
        if not (np.isfinite(mean).all() and np.isfinite(m2).all()):
            _refuse_nonfinite(backend.to_numpy(backend.xp.count_nonzero(~backend.xp.isfinite(arr), axis=0)),
                              names or [f"x{j}" for j in range(arr.shape[1])])
    d = len(mean)
    names = names if names is not None else [f"x{j}" for j in range(d)]
    if len(names) != d:
        raise ShapeError(f"diagnose: {len(names)} feature names for {d} features")
    with np.errstate(over="ignore", invalid="ignore"):
        std = np.sqrt(m2 / max(n - 1, 1))
        rms = np.sqrt(m2 / n + mean * mean)
    ok = np.isfinite(mean) & np.isfinite(lo) & np.isfinite(hi) & np.isfinite(m2) & np.isfinite(rms)
    if not ok.all():  # (NaN/inf data was refused above: finite values too large for float64 statistics)
        big = name_few(np.flatnonzero(~ok), lambda j: f"{_cut(names[j])} (|x| up to {max(abs(lo[j]), abs(hi[j])):.3g})")
        raise ArgumentError(f"diagnose: feature(s) {big} are too large for float64 statistics (their "
                            "squares overflow); rescale them first, e.g. divide by a power of 10")
    feats = [FeatureStats(names[j], float(mean[j]), float(std[j]), float(lo[j]), float(hi[j]), float(rms[j]))
             for j in range(d)]
    varying = std > 0
    constant = [names[j] for j in np.flatnonzero(~varying)]
    scale_ratio = float(std[varying].max() / std[varying].min()) if varying.any() else 1.0
    nonzero = rms > 0
    grad_ratio = float(rms[nonzero].max() / rms[nonzero].min()) if nonzero.any() else 1.0
    warns = []
    if constant:
        warns.append(f"{len(constant):,} constant feature(s) {name_few(constant, _cut)} carry no information; "
                     "drop them (normalizers give them scale 1)")
    if max(scale_ratio, grad_ratio) > WARN_RATIO:
        big, small = names[int(np.argmax(np.where(nonzero, rms, -np.inf)))], \
            names[int(np.argmin(np.where(nonzero, rms, np.inf)))]
        warns.append(f"features differ in scale by {max(scale_ratio, grad_ratio):.3g}x ({_cut(big)} vs {_cut(small)}): "
                     "plain gradient descent with one learning rate will diverge or crawl; normalize first")
    if max(scale_ratio, grad_ratio) <= WARN_RATIO and not constant:
        rec = "scales are comparable; normalization is optional (standard still helps conditioning)"
    else:
        rec = ("Normalizer('standard') fitted on the training split (zero mean, unit variance per feature); "
               "Normalizer('minmax') if features have known bounds and no outliers")
    return Diagnosis(feats, int(n), scale_ratio, grad_ratio, constant, warns, rec)
