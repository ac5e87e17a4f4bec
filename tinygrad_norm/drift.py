"""Inference data checked against the training statistics: :meth:`Normalizer.drift` and :class:`DriftReport`.

Every fitted normalizer keeps the count, mean, M2, min and max of each training feature whatever its method
(``_moments.column_stats``). ``drift(x)`` summarizes ``x`` the same way (per-block float64 summaries merged with
Chan's formula: in memory block by block, a Dask collection blockwise on its workers in one pass) plus, per
feature, how many values lie outside the training [min, max] and how many are not finite, and compares.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._moments import SUMMARY, column_stats, empty_summary, merge_summaries
from .errors import ArgumentError, name_few

# default thresholds (see DriftReport for why)
MAX_OUTSIDE = 0.01
MAX_MEAN_SHIFT = 0.5
STD_RATIO = (0.5, 2.0)
MAX_NONFINITE = 0.0
_BLOCK_BYTES = 16 << 20  # in-memory drift: rows are summarized in blocks of about this many float64 bytes
_SHOWN = 20  # rows of the str() table; longer feature lists are abbreviated with a count
_WIDTH = 100  # columns of the str() table at most


@dataclass(frozen=True, eq=False)
class DriftReport:
    """How new data compares, feature by feature, with the statistics a normalizer was fitted on.

    Per feature (arrays in the order of the features, NaN where a statistic cannot be computed):

    - ``fraction_outside``: the fraction of the feature's finite values outside the training [min, max].
    - ``mean_shift``: (new mean - training mean) / training std: for a standard normalizer, the mean of the
      transformed values. A constant training feature gives 0 for the same mean, else +-inf.
    - ``std_ratio``: new std / training std (both with the normalizer's ``ddof``); 1 for a constant feature
      that stays constant, inf for one that does not. NaN for new data of ``ddof`` rows or fewer.
    - ``nonfinite_fraction``: the fraction of values that are NaN or +-inf. They are counted here only: every
      other statistic is of the finite values (a training set never has any: fit refuses them).
    - ``mean``, ``std``: the new data's (finite values, the normalizer's ``ddof``).

    A feature is **flagged** when any check exceeds its threshold (keyword arguments of ``drift()``):

    - ``fraction_outside > max_outside`` (default 0.01). For n training rows, a new value drawn from the same
      continuous distribution falls outside the training range with probability 2 / (n + 1) (0.2% for
      n = 1000), so more than 1% of values outside means the inputs left the range the model was trained on:
      extrapolation, and for minmax/maxabs outputs beyond ``feature_range``. Below ~200 training rows
      2 / (n + 1) itself exceeds 1%: raise the threshold there.
    - ``|mean_shift| > max_mean_shift`` (default 0.5 training std). Half a standard deviation is a "medium"
      effect (Cohen's d = 0.5), a shift a model's inputs should not undergo unnoticed, and far beyond the
      sampling noise of a mean (std / sqrt(m): 0.5 std is 5 standard errors at m = 100 rows).
    - ``std_ratio`` outside ``std_ratio`` (default (0.5, 2.0)): the spread halved or doubled (variance / 4 or
      x 4); a std estimated from m rows of a light-tailed feature varies by about 1 / sqrt(2 m) (7% at
      m = 100), far less. Not judged for a **heavy-tailed** feature, one whose most extreme training value
      alone holds more than ``HEAVY_TAIL_SHARE`` (10%) of the training variance (``(x - mean)^2 / M2``;
      about 0.1% for 16,640 normal values): its std is set by a few rows, so any sample without them has a
      far smaller one (California housing's AveOccup: one district holds 53%, and 1000 test rows give a
      ratio of 0.16). ``heavy_tailed`` lists them; their ratio is still reported.
    - ``nonfinite_fraction > max_nonfinite`` (default 0): the training data had no NaN or inf, so any means
      the pipeline changed (a missing imputer, a parse failure) and the model would see NaN.

    ``reasons`` maps each flagged feature to the checks it failed: ``"outside"``, ``"mean"``, ``"std"``,
    ``"non-finite"`` (the table's flag column). A NaN statistic (nothing to compare) flags nothing;
    ``unavailable`` names the statistics the normalizer has no baseline for and why (e.g. a checkpoint
    written before normalizers kept all five statistics has only its method's; ``from_stats`` has only the
    given ones). ``ok`` is True when no feature is flagged by the checks that could be computed.

    ``str(report)`` is a table under 100 columns (flagged features first when the list is long);
    ``report.to_dict()`` is JSON-serializable plain data.
    """

    features: list[str]
    rows: int
    training_rows: int | None
    fraction_outside: np.ndarray
    mean_shift: np.ndarray
    std_ratio: np.ndarray
    nonfinite_fraction: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    flagged: list[str]
    reasons: dict[str, list[str]]
    thresholds: dict[str, Any]
    unavailable: dict[str, str] = field(default_factory=dict)
    heavy_tailed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no feature is flagged (by the checks that could be computed: see ``unavailable``)."""
        return not self.flagged

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, floats, strings, None): ``json.dumps(report.to_dict())`` works, strict JSON
        included. NaN and +-inf (strict JSON has neither) become None; ``flagged`` and ``reasons`` still say
        which features an infinite shift or ratio flagged."""
        def plain(a: np.ndarray) -> list[float | None]:
            return [float(v) if math.isfinite(v) else None for v in a.tolist()]

        return {"features": list(self.features), "rows": int(self.rows),
                "training_rows": None if self.training_rows is None else int(self.training_rows),
                "fraction_outside": plain(self.fraction_outside), "mean_shift": plain(self.mean_shift),
                "std_ratio": plain(self.std_ratio), "nonfinite_fraction": plain(self.nonfinite_fraction),
                "mean": plain(self.mean), "std": plain(self.std), "flagged": list(self.flagged),
                "reasons": {k: list(v) for k, v in self.reasons.items()},
                "thresholds": {k: list(v) if isinstance(v, tuple) else v for k, v in self.thresholds.items()},
                "unavailable": dict(self.unavailable), "heavy_tailed": list(self.heavy_tailed), "ok": self.ok}

    def __repr__(self) -> str:
        return (f"DriftReport({self.rows:,} rows x {len(self.features)} features, "
                f"flagged: [{name_few(self.flagged)}])")

    def __str__(self) -> str:
        d = len(self.features)
        trained = "an unknown number of" if self.training_rows is None else f"{self.training_rows:,}"
        lines = [f"Drift of {self.rows:,} rows against {trained} training rows: {d} feature(s), "
                 f"{len(self.flagged)} flagged"]
        order = list(range(d))
        if d > _SHOWN:  # the flagged features first, then the others, in their order
            flagged = set(self.flagged)
            order = ([j for j in order if self.features[j] in flagged]
                     + [j for j in order if self.features[j] not in flagged])[:_SHOWN]
        width = max(7, min(20, max(len(self.features[j]) for j in order)))
        header = f"{'feature':<{width}}  {'outside':>8}  {'mean shift':>10}  {'std ratio':>9}  {'non-finite':>10}  flag"
        lines += [header, "  ".join("-" * n for n in (width, 8, 10, 9, 10, 4))]
        for j in order:
            name = self.features[j]
            name = name if len(name) <= width else name[:width - 3] + "..."
            why = ", ".join(self.reasons.get(self.features[j], []))
            row = (f"{name:<{width}}  {_percent(self.fraction_outside[j]):>8}  "
                   f"{_number(self.mean_shift[j], '+.2f'):>10}  {_number(self.std_ratio[j], '.2f'):>9}  "
                   f"{_percent(self.nonfinite_fraction[j]):>10}  {why}")
            lines.append(row.rstrip())
        if d > len(order):
            hidden = len(self.flagged) - sum(self.features[j] in set(self.flagged) for j in order)
            lines.append(f"... and {d - len(order):,} more feature(s)" + (f", {hidden:,} of them flagged" if hidden
                                                                         else ", none flagged"))
        t = self.thresholds
        low, high = t["std_ratio"]
        notes = [f"flagged when: outside > {100 * t['max_outside']:g}%, |mean shift| > {t['max_mean_shift']:g} "
                 f"training std, std ratio outside [{low:g}, {high:g}], non-finite > {100 * t['max_nonfinite']:g}%"]
        if self.heavy_tailed:
            notes.append(f"std ratio not judged for {len(self.heavy_tailed)} heavy-tailed feature(s) "
                         f"{name_few(self.heavy_tailed, str)} (one training value holds over "
                         f"{100 * HEAVY_TAIL_SHARE:g}% of the variance)")
        notes += [f"not computed: {what}: {why}" for what, why in self.unavailable.items()]
        lines += [textwrap.fill(note, width=_WIDTH, subsequent_indent="  ") for note in notes]
        return "\n".join(lines)


def _percent(v: float) -> str:
    if not math.isfinite(v):
        return "-"
    return f"{100 * v:.2f}%" if v < 0.1 else f"{100 * v:.1f}%"


def _number(v: float, fmt: str) -> str:
    if math.isnan(v):
        return "-"
    if math.isinf(v):
        return "+inf" if v > 0 else "-inf"
    return format(v, fmt)


def check_thresholds(max_outside: Any, max_mean_shift: Any, std_ratio: Any, max_nonfinite: Any) -> dict[str, Any]:
    """The thresholds as floats, or an ArgumentError saying which one cannot work."""
    def fraction(name: str, v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not 0 <= v <= 1:
            raise ArgumentError(f"drift: {name} must be a fraction between 0 and 1, got {v!r}")
        return float(v)

    out = {"max_outside": fraction("max_outside", max_outside), "max_nonfinite": fraction("max_nonfinite",
                                                                                         max_nonfinite)}
    if (isinstance(max_mean_shift, bool) or not isinstance(max_mean_shift, (int, float, np.integer, np.floating))
            or not 0 <= max_mean_shift < math.inf):
        raise ArgumentError(f"drift: max_mean_shift must be a finite number >= 0 (training stds), got "
                            f"{max_mean_shift!r}")
    out["max_mean_shift"] = float(max_mean_shift)
    try:
        low, high = (float(v) for v in std_ratio)
    except (TypeError, ValueError):
        raise ArgumentError(f"drift: std_ratio must be two numbers (low, high), got {std_ratio!r}") from None
    if not (0 <= low <= 1 <= high):
        raise ArgumentError(f"drift: std_ratio must be (low, high) with 0 <= low <= 1 <= high, got {std_ratio!r}")
    out["std_ratio"] = (low, high)
    return out


# ---- per-block summaries (in memory and on Dask's workers) ----------------------------------------------------
def block_summary(backend: Any, x: Any, lo: np.ndarray | None, hi: np.ndarray | None) -> np.ndarray:
    """One block's (d,) ``_moments.SUMMARY`` for a drift: moments, min and max of each column's finite
    values, its count of non-finite values, and of finite values outside [lo, hi] (0 without bounds). Finite
    blocks take the fit's kernels (``column_stats``); a block with NaN/inf is summarized in float64 NumPy
    (CuPy) over its finite values."""
    rows, d = x.shape
    if rows == 0:
        return empty_summary(d)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)  # as the fit: integers are exact in float64
    xp = backend.xp
    out = np.zeros(d, SUMMARY)
    out["rows"] = rows
    stats = column_stats(backend, x)
    with np.errstate(invalid="ignore", over="ignore"):
        if stats.bad is None or not stats.bad.any():  # finite (moments that overflow stay inf: a huge spread)
            out["n"], out["mean"], out["m2"], out["min"], out["max"] = (rows, stats.mean, stats.m2, stats.min,
                                                                      stats.max)
            finite = None
        else:
            x = x.astype(np.float64)
            finite = xp.isfinite(x)
            n = finite.sum(axis=0)
            mean = xp.where(finite, x, 0.0).sum(axis=0) / xp.maximum(n, 1)
            dev = xp.where(finite, x - mean, 0.0)
            out["n"] = backend.to_numpy(n)
            out["mean"] = backend.to_numpy(mean)
            out["m2"] = backend.to_numpy((dev * dev).sum(axis=0))
            out["min"] = backend.to_numpy(xp.where(finite, x, np.inf).min(axis=0))
            out["max"] = backend.to_numpy(xp.where(finite, x, -np.inf).max(axis=0))
            out["nonfinite"] = rows - out["n"]
        if lo is not None:
            beyond = (x < xp.asarray(lo)) | (x > xp.asarray(hi))
            if finite is not None:
                beyond &= finite  # (an inf is counted as non-finite, not as outside)
            out["outside"] = backend.to_numpy(xp.count_nonzero(beyond, axis=0))
    return out


def summarize(backend: Any, x: Any, lo: np.ndarray | None, hi: np.ndarray | None) -> np.ndarray:
    """The (d,) summary of an in-memory 2-D array, block by block (~16 MiB of float64 each, so the outside
    counts and a NaN block's float64 copy stay small), merged as Dask's blocks are."""
    rows_per = max(1, _BLOCK_BYTES // (8 * x.shape[1]))
    parts = [block_summary(backend, x[i:i + rows_per], lo, hi) for i in range(0, x.shape[0], rows_per)]
    return merge_summaries(np.stack(parts))


def summarize_chunks(chunks: Iterable[tuple[Any, Any]], lo: np.ndarray | None, hi: np.ndarray | None) -> np.ndarray:
    """The (d,) summary of a stream of (array, backend) chunks, each summarized as an in-memory array and merged
    in order (Chan's formula): one chunk in memory at a time."""
    total = None
    for x, backend in chunks:
        part = summarize(backend, x, lo, hi)
        total = part if total is None else merge_summaries(np.stack([total, part]))
    if total is None:
        raise ArgumentError("drift: the iterable gave no chunks")
    return total


# ---- the report ----------------------------------------------------------------------------------------------
def report(summary: np.ndarray, features: list[str], training: dict[str, Any], ddof: int,
           thresholds: dict[str, Any], unavailable: dict[str, str]) -> DriftReport:
    """Compare a (d,) summary of new data with the training statistics (``training``: count, mean, std, min,
    max, each None when unknown) under ``thresholds``."""
    rows = int(summary["rows"][0])
    n = summary["n"].astype(np.float64)
    d = len(features)
    nan = np.full(d, np.nan)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        mean = np.where(n > 0, summary["mean"], np.nan)
        std = np.where(n - ddof > 0, np.sqrt(summary["m2"] / (n - ddof)), np.nan)
        nonfinite = summary["nonfinite"] / rows
        outside = summary["outside"] / n if training["min"] is not None else nan.copy()
        outside = np.where(n > 0, outside, np.nan)
        if training["mean"] is not None:
            t_mean, t_std = training["mean"], training["std"]
            diff = mean - t_mean
            shift = np.where(t_std > 0, diff / t_std, np.where(diff == 0, 0.0, np.sign(diff) * np.inf))
            ratio = np.where(t_std > 0, std / t_std, np.where(std == 0, 1.0, np.inf))
            ratio = np.where(np.isnan(std) | np.isnan(t_std), np.nan, ratio)
            shift = np.where(np.isnan(mean) | np.isnan(t_std), np.nan, shift)
        else:
            shift, ratio = nan.copy(), nan.copy()
    low, high = thresholds["std_ratio"]
    heavy = _heavy_tailed(training, ddof, d)
    checks = [("outside", outside > thresholds["max_outside"]),
              ("mean", np.abs(shift) > thresholds["max_mean_shift"]),
              ("std", ((ratio < low) | (ratio > high)) & ~heavy),
              ("non-finite", nonfinite > thresholds["max_nonfinite"])]
    reasons: dict[str, list[str]] = {}
    for j, name in enumerate(features):
        why = [label for label, hit in checks if hit[j]]
        if why:
            reasons[name] = why
    flagged = [name for name in features if name in reasons]
    return DriftReport(features=list(features), rows=rows, training_rows=training["count"],
                       fraction_outside=outside, mean_shift=shift, std_ratio=ratio, nonfinite_fraction=nonfinite,
                       mean=mean, std=std, flagged=flagged, reasons=reasons, thresholds=dict(thresholds),
                       unavailable=dict(unavailable), heavy_tailed=[f for f, h in zip(features, heavy) if h])


HEAVY_TAIL_SHARE = 0.1  # a feature whose most extreme training value holds more of its variance is heavy-tailed


def _heavy_tailed(training: dict[str, Any], ddof: int, d: int) -> np.ndarray:
    """Per feature: its most extreme training value alone holds over HEAVY_TAIL_SHARE of the training M2 (all
    False when the count, mean, std, min or max is unknown)."""
    if any(training.get(k) is None for k in ("count", "mean", "std", "min", "max")):
        return np.zeros(d, bool)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        m2 = np.asarray(training["std"], np.float64) ** 2 * (training["count"] - ddof)
        mean = np.asarray(training["mean"], np.float64)
        extreme = np.maximum((np.asarray(training["max"]) - mean) ** 2, (np.asarray(training["min"]) - mean) ** 2)
        return np.asarray((m2 > 0) & (extreme > HEAVY_TAIL_SHARE * m2))


__all__ = ["DriftReport"]
