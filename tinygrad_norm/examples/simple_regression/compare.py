"""``tinygrad-norm compare``: the same model, seed and split trained under every normalization and
optimizer, side by side, so the lesson is in one table (and, with ``--plot``, one figure).

Each run trains Linear(8, 64) -> ReLU -> Linear(64, 1) on the California housing training split
and reports, for the checkpoint of its best validation epoch: the test MSE and R^2, the baseline
of predicting the training mean, the prediction spread std(pred) / std(target), how far a batch
prediction is from predicting the same rows one at a time (in eval mode, as inference predicts), how
far a row's prediction moves when other rows share its batch (in train mode, as training's forward pass
computes it: BatchNorm's batch statistics), how many hidden ReLUs are dead (0 for every training row),
and the epoch where the loss became inf/NaN, if it did. Every figure is in the target's units ($100,000),
also for the runs with target normalization, so the rows compare directly.

``outliers=FRACTION`` (``compare --outliers``) first multiplies ``OUTLIER_FEATURES`` of that fraction of the
training rows (drawn with the seed) by ``OUTLIER_FACTOR``, a unit error in a few records, before any normalizer
is fitted; validation and test rows are untouched. The table then also shows how wide the bulk of the first of
those features is after each run's scaling: the interquartile range of its normalized test values (min-max
scaling by the outliers' range squeezes it towards 0, robust scaling keeps it near 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

import tinygrad_norm as tn
from tinygrad_norm.errors import ArgumentError

from .dataset import FEATURES, HousingDataset
from .inference import InferenceResult
from .model import TARGET_NORMS, dead_units, predict, predict_batches, predict_rows
from .training import TrainingConfig, TrainingResult, fit


@dataclass(frozen=True)
class Run:
    norm: str
    optimizer: str
    lr: float
    lesson: str  # what this row teaches
    target_norm: str = "none"  # --target-norm

    @property
    def label(self) -> str:
        target = f" + target {self.target_norm}" if self.target_norm != "none" else ""
        return f"{self.norm}{target}/{self.optimizer} lr {self.lr:g}"


# Measured with seed 1337 and 30 epochs (see the README for the table): each row shows one symptom.
DEFAULT_RUNS = (
    Run("standard", "adam", 1e-3, "standardized with train-split statistics: the best model"),
    Run("minmax", "adam", 1e-3, "min-max with train-split statistics (Burn's method): converges"),
    Run("robust", "adam", 1e-3, "median and IQR with train-split statistics: as good as standard on the validation "
                                "rows, but outliers stay far out: one test row (AveOccup 1243, ~1465 IQRs out) is "
                                "extrapolated, and its error is a third of the test MSE"),
    Run("none", "adam", 1e-3, "unscaled, Adam: per-weight step sizes hide the problem, but it trails"),
    Run("batch-minmax", "adam", 1e-3, "each batch scaled by itself: a row's prediction depends on its batch"),
    Run("batchnorm", "adam", 1e-3, "BatchNorm1d first: in train mode a row's output depends on its batch; eval "
                                   "mode uses running estimates"),
    Run("layernorm", "adam", 1e-3, "LayerNorm first: each house scaled by its own 8 values, mixing units"),
    Run("standard", "adam", 1e-3, "standardized inputs and targets: reported in $100,000 like every row",
        target_norm="standard"),
    Run("standard", "sgd", 1e-2, "standardized, plain SGD: converges"),
    Run("minmax", "sgd", 1e-2, "min-max, plain SGD: converges, more slowly (the fixed Burn example's ~0.56)"),
    Run("robust", "sgd", 1e-2, "median and IQR, plain SGD: the heavy tails (AveOccup, AveBedrms) stay up to 700 "
                               "IQRs out, and SGD's steps on those rows make the loss overflow"),
    Run("none", "sgd", 5e-3, "unscaled, plain SGD: gradients ~1000x apart, the loss overflows"),
    Run("none", "sgd", 1.5e-4, "unscaled, SGD small enough not to overflow: every ReLU dies, one prediction for all"),
    Run("batch-minmax", "sgd", 1e-2, "each batch scaled by itself, plain SGD"),
    Run("batchnorm", "sgd", 1e-2, "BatchNorm1d first, plain SGD: it scales the raw features, so SGD trains"),
    Run("standard", "sgd", 1e-2, "standardized inputs and targets, plain SGD", target_norm="standard"),
)


@dataclass
class Row:
    run: Run
    training: TrainingResult
    test: InferenceResult | None  # None when the run diverged before its first epoch ended
    batch_vs_rows: float = math.nan  # max |one-batch prediction - row-by-row prediction| over the test rows (eval)
    # max |prediction in one shuffle's training-sized batches - in another's| over the test rows, in train mode
    batch_vs_batch: float = math.nan
    dead: int | None = None
    # the interquartile range of OUTLIER_FEATURES[0]'s normalized test values (None: no fitted normalizer); the
    # table shows it for runs trained with outliers
    bulk_iqr: float | None = None
    outliers: int = 0  # how many training rows had the unit error

    @property
    def diverged(self) -> int | None:
        return self.training.diverged_epoch


# compare --outliers: which training features get the unit error, and how large it is
OUTLIER_FEATURES = ("MedInc", "AveRooms")
OUTLIER_FACTOR = 1000.0


def check_outliers(fraction: float) -> float:
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 <= fraction <= 1.0:
        raise ArgumentError(f"--outliers must be a fraction of the training rows, from 0 to 1, got {fraction!r}")
    return float(fraction)


def outlier_rows(n: int, fraction: float) -> int:
    """How many of ``n`` training rows ``fraction`` corrupts: at least one for any fraction above 0."""
    return 0 if fraction == 0 else max(1, round(fraction * n))


def with_outliers(train_set: HousingDataset, fraction: float, seed: int) -> HousingDataset:
    """``train_set`` with ``OUTLIER_FEATURES`` of ``fraction`` of its rows (drawn with ``seed``) multiplied by
    ``OUTLIER_FACTOR``; the targets as they were."""
    fraction = check_outliers(fraction)
    rows = np.random.default_rng(seed).choice(len(train_set), outlier_rows(len(train_set), fraction), replace=False)
    features = train_set.features.copy()
    for name in OUTLIER_FEATURES:
        features[rows, FEATURES.index(name)] *= OUTLIER_FACTOR
    return HousingDataset(features, train_set.targets, train_set.name, train_set.source, train_set.fingerprint)


def bulk_iqr(model: tn.nn.Module, features: np.ndarray) -> float | None:
    """The interquartile range of ``OUTLIER_FEATURES[0]`` after the model's fitted normalizer (None without one)."""
    layer = getattr(model, "normalize", None)
    normalizer = getattr(layer, "normalizer", None)
    if normalizer is None:
        return None
    q25, q75 = np.percentile(normalizer.transform(features)[:, FEATURES.index(OUTLIER_FEATURES[0])], [25, 75])
    return float(q75 - q25)


def compare(runs: tuple[Run, ...] | list[Run] = DEFAULT_RUNS, epochs: int = 30, seed: int = 1337,
            data: str | None = None, device: str = "cpu", batch_size: int = 256, hidden_size: int = 64,
            log=print, outliers: float = 0.0) -> list[Row]:
    """Train every run on the same split and seed; returns one Row each (nothing is written). ``outliers``: the
    fraction of training rows given a unit error first (see the module docstring)."""
    if not runs:
        raise ArgumentError("compare needs at least one run")
    outliers = check_outliers(outliers)
    splits = HousingDataset.load(data).split()
    train_set, valid_set, test_set = splits["train"], splits["valid"], splits["test"]
    if outliers:
        train_set = with_outliers(train_set, outliers, seed)
    base = TrainingConfig(num_epochs=epochs, seed=seed, device=device, batch_size=batch_size,
                          hidden_size=hidden_size, progress=False)
    for run in runs:
        if run.target_norm not in TARGET_NORMS:
            raise ArgumentError(f"unknown target_norm {run.target_norm!r} in {run}; choose one of "
                                f"{', '.join(TARGET_NORMS)}")
    rows = []
    for run in runs:
        config = replace(base, norm=run.norm, target_norm=run.target_norm, optimizer=run.optimizer,
                         learning_rate=run.lr)
        config.validate()
        log(f"training {run.label} ...")
        result = fit(config, train_set, valid_set, log=log)
        row = Row(run, result, None, outliers=outlier_rows(len(train_set), outliers))
        if result.best_state is not None:
            model = result.best_model()
            x = test_set.features
            row.test = InferenceResult(predict(model, x, run.norm, device), test_set.targets.copy(), run.norm,
                                       result.target_mean, result.best_valid[1], target_norm=run.target_norm)
            row.batch_vs_rows = float(np.max(np.abs(row.test.predictions - predict_rows(model, x, run.norm, device))))
            # the same rows, two shuffles: only the batch-mates differ (the same two for every run)
            orders = np.random.default_rng(seed).permuted(np.tile(np.arange(len(x)), (2, 1)), axis=1)
            row.batch_vs_batch = float(np.max(np.abs(predict_batches(model, x, run.norm, batch_size, orders[0], device)
                                                     - predict_batches(model, x, run.norm, batch_size, orders[1],
                                                                       device))))
            row.dead = dead_units(model, train_set.features, run.norm, device, batch_size)
            row.bulk_iqr = bulk_iqr(model, x)
        rows.append(row)
    return rows


def _f(v: float | None, fmt: str = ".4f") -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)


HEADER = ["norm", "target", "optimizer", "lr", "best valid (epoch)", "last valid", "test MSE", "test R^2",
          "baseline MSE", "spread", "distinct preds", "batch vs rows", "batch vs batch (train)", "dead ReLUs",
          "diverged at"]


BULK_HEADER = f"{OUTLIER_FEATURES[0]} IQR scaled"


def header(rows: list[Row], bulk: bool | None = None) -> list[str]:
    """The table's columns: HEADER, and the scaled bulk's width (``bulk``; None: when some row was trained with
    outliers)."""
    return HEADER + [BULK_HEADER] if _bulk(rows, bulk) else list(HEADER)


def _bulk(rows: list[Row], bulk: bool | None) -> bool:
    return any(r.outliers for r in rows) if bulk is None else bulk


def table_rows(rows: list[Row], bulk: bool | None = None) -> list[list[str]]:
    out = []
    bulk = _bulk(rows, bulk)
    for r in rows:
        t = r.training
        best, epoch = t.best_valid
        out.append([r.run.norm, r.run.target_norm, r.run.optimizer, f"{r.run.lr:g}",
                    f"{_f(best)} ({epoch})" if epoch else "-", _f(t.valid_losses[-1] if t.valid_losses else None),
                    _f(r.test.mse if r.test else None), _f(r.test.r2 if r.test else None, ".3f"),
                    _f(r.test.baseline_mse if r.test else None), _f(r.test.spread if r.test else None, ".3f"),
                    str(len(np.unique(r.test.predictions))) if r.test else "-",
                    _f(r.batch_vs_rows, ".2g"), _f(r.batch_vs_batch, ".2g"),
                    "-" if r.dead is None else f"{r.dead}/{t.config.hidden_size}",
                    f"epoch {r.diverged}" if r.diverged else "-"] + ([_f(r.bulk_iqr, ".3g")] if bulk else []))
    return out


def table(rows: list[Row]) -> str:
    """The comparison as a plain-text table (GitHub markdown)."""
    cells, columns = table_rows(rows), header(rows)
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(columns)]
    line = lambda cs: "| " + " | ".join(c.ljust(w) for c, w in zip(cs, widths)) + " |"  # noqa: E731
    return "\n".join([line(columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(c) for c in cells])


def plot(rows: list[Row], path: str) -> None:
    """Validation curves of every run side by side with each run's predicted-vs-expected scatter."""
    plt = tn.plotting.pyplot()
    cols = 3
    grid_rows = 1 + -(-len(rows) // cols)
    fig = plt.figure(figsize=(5 * cols, 4 * grid_rows))
    curves = fig.add_subplot(grid_rows, 1, 1)
    for r in rows:
        losses = r.training.valid_losses
        label = r.run.label
        if r.diverged:
            label += f" (inf/NaN at epoch {r.diverged})"
        curves.plot(np.arange(1, len(losses) + 1), losses, marker="o" if len(losses) < 3 else None, label=label)
    curves.set_yscale("log")
    curves.set_xlabel("epoch")
    curves.set_ylabel("validation MSE")
    curves.set_title("Same model, seed and split: only the feature scaling and the optimizer differ")
    curves.legend(fontsize=7, ncol=2)
    for i, r in enumerate(rows):
        ax = fig.add_subplot(grid_rows, cols, cols + i + 1)
        ax.set_title(r.run.label, fontsize=9)
        if r.test is None:
            ax.text(0.5, 0.5, f"diverged at epoch {r.diverged}:\nno model", ha="center", va="center")
            ax.set_axis_off()
            continue
        t, p = r.test.targets, r.test.predictions
        lo, hi = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
        ax.plot([lo, hi], [lo, hi], color="gray", lw=1)
        ax.scatter(t, p, s=2, alpha=0.5)
        ax.set_xlabel(f"expected (test MSE {r.test.mse:.3f}, spread {r.test.spread:.2f})", fontsize=8)
        ax.set_ylabel("predicted", fontsize=8)
    fig.tight_layout()
    tn.serialization.atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)
