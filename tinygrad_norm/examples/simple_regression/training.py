"""Training, as Burn's ``examples/simple-regression/src/training.rs``: Adam 1e-3 (or SGD), batch 256,
100 epochs, seed 1337; per-epoch train and validation loss; artifacts in ``artifact_dir``.

Burn's Learner features, as options: ``weight_decay`` (the optimizer's), a learning-rate ``scheduler``
(tn.optim.lr_scheduler, stepped once per epoch; see SCHEDULERS), ``early_stopping`` (Burn's
MetricEarlyStoppingStrategy on the valid loss), iterations per second in the progress bar, Burn's
learner summary at the end, and the best epoch's metrics on the test split (MSE, RMSE, MAE).

Artifacts, published when the run completes, as one unit (an interrupted or failed run leaves the
previous ones untouched):

- ``model.npz``: the config, which data it was trained on (source, sha256 fingerprint, rows), the
  training targets' mean (the baseline), two checkpoints of the model (normalizer statistics
  included): ``best`` (lowest validation loss) and ``last``, ``test``: the best epoch's metrics on the
  test split (see :func:`regression_metrics`), and ``history``: every epoch's learning rate and where the run
  stopped;
- ``metrics.csv``: epoch, train loss, valid loss (MSE in the target's units, with or without
  ``--target-norm``).

Both are written into a new folder ``runs/<run id>/``; then one atomic rename points the symlink
``current`` at it. ``model.npz`` and ``metrics.csv`` in the artifact folder are symlinks to
``current/model.npz`` and ``current/metrics.csv``, so whatever moment a run is killed at, a reader of
those paths sees all of the old run or all of the new one, never one run's model beside another's
metrics. The run before the current one is kept (a reader may still be reading it); older ones go.

While it runs, ``checkpoints/epoch-N.npz`` holds a recent epoch's whole state (model, optimizer,
the scheduler, early stopping, the shuffling generator, the history; written every 2 s, after the last
epoch, and on Ctrl-C for the last finished epoch), so ``train --resume`` continues an interrupted run
bit-identically from there; ``.lock`` keeps a second run out of the folder.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import math
import os
import secrets
import shutil
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import tinygrad_norm as tn
from tinygrad_norm import nn
from tinygrad_norm.errors import ArgumentError, ArtifactError

from .dataset import FEATURES, TARGET, DataError, HousingDataset, make_batcher
from .model import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    DENORMALIZE_STATE,
    FITTED_NORMS,
    METRICS_FILE,
    MODEL_FILE,
    NORMALIZE_STATE,
    NORMS,
    READABLE_VERSIONS,
    TARGET_NORMS,
    RegressionModel,
    check_model,
    dead_units,
    evaluating,
    model_config,
    upgrade_state,
)

OPTIMIZERS = ("adam", "sgd")
DEFAULT_LR = {"adam": 1e-3, "sgd": 1e-2}
# --scheduler: the learning rate per epoch (tn.optim.lr_scheduler, stepped after each epoch's validation).
# none: constant (Burn's example). step: StepLR, x0.1 every third of --epochs (two drops). cosine:
# CosineAnnealingLR from the lr to 0 over --epochs. plateau: ReduceLROnPlateau on the valid loss, x0.1 after 5
# epochs without a 1e-4 relative improvement (torch's defaults but patience 5, shorter than a 100-epoch run's).
SCHEDULERS = ("none", "step", "cosine", "plateau")
PLATEAU = {"mode": "min", "factor": 0.1, "patience": 5, "threshold": 1e-4}
SPANS_EPOCHS = ("step", "cosine")  # schedules shaped by --epochs: a resume must keep it
USD = 100_000  # the target's unit: the median house value in $100,000
RUNS_DIR, CURRENT = "runs", "current"  # runs/<run id>/ holds one run's artifacts; current -> runs/<published>
# flags become allocations: keep them to sizes this example can mean
LIMITS = {"num_epochs": 1_000_000, "batch_size": 1 << 24, "hidden_size": 1 << 16}


@dataclass
class TrainingConfig:
    num_epochs: int = 100
    batch_size: int = 256
    learning_rate: float | None = None  # None: 1e-3 for adam (Burn's), 1e-2 for sgd
    optimizer: str = "adam"
    seed: int = 1337
    hidden_size: int = 64
    norm: str = "minmax"
    target_norm: str = "none"  # "standard"/"minmax": the loss is in normalized target units (reports are not)
    weight_decay: float = 0.0  # the optimizer's weight_decay (an L2 term in the gradient, as torch.optim's)
    scheduler: str = "none"  # one of SCHEDULERS
    early_stopping: int | None = None  # patience: stop when the valid loss has not improved for that many epochs
    device: str = "cpu"
    artifact_dir: str = "artifacts/simple-regression"
    data: str | None = None
    progress: bool | None = None  # None: a progress bar when stderr is a terminal
    verbose: bool = False

    @property
    def lr(self) -> float:
        return DEFAULT_LR[self.optimizer] if self.learning_rate is None else float(self.learning_rate)

    def validate(self) -> None:
        if self.norm not in NORMS:
            raise ArgumentError(f"unknown --norm {self.norm!r}; choose one of {', '.join(NORMS)}")
        if self.target_norm not in TARGET_NORMS:
            raise ArgumentError(f"unknown --target-norm {self.target_norm!r}; choose one of {', '.join(TARGET_NORMS)}")
        if self.optimizer not in OPTIMIZERS:
            raise ArgumentError(f"unknown --optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        flags = (("num_epochs", "--epochs"), ("batch_size", "--batch-size"), ("hidden_size", "--hidden-size"))
        for name, flag in flags:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= LIMITS[name]:
                raise ArgumentError(f"{flag} must be an integer from 1 to {LIMITS[name]}, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise ArgumentError(f"--seed must be an integer from 0 to 2**32 - 1, got {self.seed!r}")
        if self.learning_rate is not None and not (isinstance(self.learning_rate, (int, float))
                                                   and math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ArgumentError(f"--lr must be a finite number > 0, got {self.learning_rate!r}")
        if isinstance(self.weight_decay, bool) or not isinstance(self.weight_decay, (int, float)) \
                or not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ArgumentError(f"--weight-decay must be a finite number >= 0, got {self.weight_decay!r}")
        if self.scheduler not in SCHEDULERS:
            raise ArgumentError(f"unknown --scheduler {self.scheduler!r}; choose one of {', '.join(SCHEDULERS)}")
        patience = self.early_stopping
        if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int)
                                     or not 1 <= patience <= LIMITS["num_epochs"]):
            raise ArgumentError(f"--early-stopping must be a number of epochs from 1 to {LIMITS['num_epochs']}, got "
                                f"{patience!r}")
        tn.get_backend(self.device)  # unknown or unavailable device: a clear error before any work


@dataclass
class TrainingResult:
    config: TrainingConfig
    # per-epoch MSEs in the target's units ($100,000 squared), also under --target-norm
    train_losses: list[float] = field(default_factory=list)
    valid_losses: list[float] = field(default_factory=list)
    diverged_epoch: int | None = None  # the epoch whose loss became inf/NaN (training stopped there)
    seconds: float = 0.0
    model: RegressionModel | None = None  # after the last epoch
    best_state: dict[str, Any] | None = None  # the model's state dict at the best epoch
    target_mean: float = 0.0  # of the training split: the baseline prediction
    data: dict[str, Any] = field(default_factory=dict)  # source, fingerprint, rows
    learning_rates: list[float] = field(default_factory=list)  # the lr each epoch trained with
    stopped_epoch: int | None = None  # the epoch after which early stopping ended the run
    iterations_per_s: float = 0.0  # training batches (forward, backward, step) per second, this session's epochs
    test: dict[str, Any] | None = None  # regression_metrics of the best epoch's model (train() fills it)

    @property
    def best_valid(self) -> tuple[float, int]:
        """(lowest validation MSE, its 1-based epoch); (nan, 0) if no epoch finished."""
        if not self.valid_losses:
            return math.nan, 0
        i = int(np.argmin(self.valid_losses))
        return self.valid_losses[i], i + 1

    def best_model(self) -> RegressionModel:
        """A copy of the model as it was at the best epoch."""
        model = RegressionModel(self.model.config, device=self.config.device)
        model.load_state_dict(self.best_state)
        return model.eval()

    def summary(self) -> str:
        """Burn's learner summary (``LearnerSummary``'s Display): for each split and metric, the lowest and
        highest value with its epoch (the first epoch of the lowest, the last of the highest, as Rust's
        ``min_by``/``max_by`` pick). Loss is the MSE in $100,000 squared; the test split is measured once, with
        the best epoch's model; its RMSE and MAE are in dollars."""
        series: list[tuple[str, str, list[tuple[int, float]]]] = [
            ("Train", "Loss", list(enumerate(self.train_losses, 1)))]
        if self.config.scheduler != "none":
            series.append(("Train", "Learning Rate", list(enumerate(self.learning_rates, 1))))
        series.append(("Valid", "Loss", list(enumerate(self.valid_losses, 1))))
        if self.test:
            at = self.test["epoch"]
            series += [("Test", "Loss", [(at, self.test["mse"])]), ("Test", "RMSE ($)", [(at, self.test["rmse_usd"])]),
                       ("Test", "MAE ($)", [(at, self.test["mae_usd"])])]
        rows = []
        for split, name, entries in series:
            if entries:
                lo = min(entries, key=lambda e: e[1])
                hi = max(reversed(entries), key=lambda e: e[1])
                rows.append((split, name, _burn_value(lo[1]), str(lo[0]), _burn_value(hi[1]), str(hi[0])))
        ws = 5  # "Train"
        wm = max(len("Metric"), *(len(name) for _, name, _ in series))
        # Burn's columns are 9 wide (a value of more digits pushes its row out); here they widen to fit
        wv = max(9, *(len(r[k]) + 1 for r in rows for k in (2, 4))) if rows else 9
        we = max(9, *(len(r[k]) + 1 for r in rows for k in (3, 5))) if rows else 9
        lines = [f"{'':=>24} Learner Summary {'':=>24}", f"Total Epochs: {len(self.valid_losses)}", "", "",
                 f"| {'Split':<{ws}} | {'Metric':<{wm}} | {'Min.':<{wv}}| {'Epoch':<{we}}| {'Max.':<{wv}}| "
                 f"{'Epoch':<{we}}|",
                 f"|{'':->{ws + 2}}|{'':->{wm + 2}}|{'':->{wv + 1}}|{'':->{we + 1}}|{'':->{wv + 1}}|{'':->{we + 1}}|"]
        for split, name, lo, lo_epoch, hi, hi_epoch in rows:
            lines.append(f"| {split:<{ws}} | {name:<{wm}} | {lo:<{wv}}| {lo_epoch:<{we}}| {hi:<{wv}}| "
                         f"{hi_epoch:<{we}}|")
        return "\n".join(lines)


def _burn_value(value: float) -> str:
    """A value as Burn's summary prints it: 3 decimals, or Rust's scientific form below 0.01."""
    if value < 1e-2:
        mantissa, exponent = f"{value:.3e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    return f"{value:.3f}"


def evaluate(model: RegressionModel, loader: tn.data.DataLoader) -> float:
    """Mean squared error of the model's predictions over every row the loader gives, in the target's units
    (what ``model(x)`` returns, whatever units training's loss is in)."""
    total, count = 0.0, 0
    with tn.no_grad():
        for inputs, targets in loader:
            loss = nn.functional.mse_loss(model(inputs), targets)
            total += loss.item() * len(targets)
            count += len(targets)
    return total / count


def _copy_state(model: RegressionModel) -> dict[str, Any]:
    return {k: (tn.Tensor(v.numpy().copy(), dtype=v.dtype) if isinstance(v, tn.Tensor) else v)
            for k, v in model.state_dict().items()}


def _progress(config: TrainingConfig):
    """One bar over the epochs (train and valid loss in it); none when stderr is not a terminal."""
    show = config.progress if config.progress is not None else sys.stderr.isatty()
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=config.num_epochs, desc="training", unit="epoch", dynamic_ncols=True)


@dataclass
class _Run:
    """Everything a training run carries from epoch to epoch (what an epoch checkpoint saves)."""

    model: RegressionModel
    optimizer: tn.optim.Optimizer
    train_loader: tn.data.DataLoader
    valid_loader: tn.data.DataLoader
    scheduler: Any = None  # a tn.optim.lr_scheduler scheduler, or None (--scheduler none)
    early_stopping: EarlyStopping | None = None


class EarlyStopping:
    """Burn's ``MetricEarlyStoppingStrategy`` on the valid loss (``Direction::Lowest``,
    ``StoppingCondition::NoImprovementSince { n_epochs: patience }``): after each epoch, a loss below the best
    so far becomes the best; otherwise the run stops once ``patience`` epochs have passed since the best one.
    ``state_dict`` / ``load_state_dict`` carry it across a resume."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best_value = math.inf  # (Burn: f64::MAX)
        self.best_epoch = 1  # (Burn's initial value)

    def should_stop(self, epoch: int, value: float) -> bool:
        if value < self.best_value:
            self.best_value, self.best_epoch = value, epoch
            return False
        return epoch - self.best_epoch >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"patience": self.patience, "best_value": self.best_value, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or state.get("patience") != self.patience \
                or not isinstance(state.get("best_epoch"), int) or not isinstance(state.get("best_value"), float):
            raise ArgumentError(f"not the state of an early stopping with patience {self.patience}: {state!r}")
        self.best_value, self.best_epoch = state["best_value"], state["best_epoch"]


def _scheduler(config: TrainingConfig, optimizer: tn.optim.Optimizer) -> Any:
    """The --scheduler setting's scheduler (see SCHEDULERS), or None."""
    schedulers = tn.optim.lr_scheduler
    if config.scheduler == "step":
        return schedulers.StepLR(optimizer, step_size=-(-config.num_epochs // 3), gamma=0.1)
    if config.scheduler == "cosine":
        return schedulers.CosineAnnealingLR(optimizer, T_max=config.num_epochs)
    if config.scheduler == "plateau":
        return schedulers.ReduceLROnPlateau(optimizer, **PLATEAU)
    return None


def _build(config: TrainingConfig, train_set: HousingDataset, valid_set: HousingDataset) -> _Run:
    normalizer = target_normalizer = None
    if config.norm in FITTED_NORMS:  # fitted ONCE, on the training split only
        normalizer = tn.Normalizer(config.norm, feature_names=FEATURES).fit(train_set.features)
    if config.norm == "batchnorm":  # train mode normalizes each batch by its own statistics: a row alone has none
        rows, size = len(train_set), config.batch_size
        if size == 1 or rows % size == 1:
            left = "every batch is one row" if size == 1 else f"the last batch of {rows} rows in batches of {size} " \
                                                              "is one row"
            raise ArgumentError(f"--norm batchnorm normalizes each training batch by the batch's mean and variance, "
                                f"which one row does not have: {left}; choose another --batch-size")
    if config.target_norm != "none":  # fitted ONCE, on the training targets only
        if not np.ptp(train_set.targets):
            raise DataError(f"{train_set.source}: the target is constant in the training split ({len(train_set)} "
                            f"rows): --target-norm {config.target_norm} has no spread to scale by")
        target_normalizer = tn.Normalizer(config.target_norm, feature_names=[TARGET]).fit(
            train_set.targets.reshape(-1, 1))
    tn.manual_seed(config.seed)
    model = model_config(config.norm, config.hidden_size, config.target_norm).init(
        normalizer, device=config.device, target_normalizer=target_normalizer)
    batcher = make_batcher(config.norm, config.device)
    params = model.parameters()
    kind = tn.optim.Adam if config.optimizer == "adam" else tn.optim.SGD
    optimizer = kind(params, lr=config.lr, weight_decay=config.weight_decay)
    return _Run(model, optimizer,
                tn.data.DataLoader(train_set, config.batch_size, shuffle=True, seed=config.seed, collate_fn=batcher),
                tn.data.DataLoader(valid_set, config.batch_size, collate_fn=batcher),
                scheduler=_scheduler(config, optimizer),
                early_stopping=EarlyStopping(config.early_stopping) if config.early_stopping else None)


def fit(config: TrainingConfig, train_set: HousingDataset, valid_set: HousingDataset, log=print,
        show_model: bool = False, resume_from: dict[str, Any] | None = None,
        on_epoch: Callable[[TrainingResult, _Run], None] | None = None) -> TrainingResult:
    """Train on ``train_set``, validating every epoch; stops at the first inf/NaN loss (recording its
    epoch in ``diverged_epoch``) instead of raising, and when early stopping says so (``stopped_epoch``).
    After each epoch's validation the scheduler steps (ReduceLROnPlateau on the valid loss). Writes nothing
    itself: ``on_epoch(result, run)`` is called after every epoch (``train`` saves its epoch checkpoints
    there). ``resume_from`` is an epoch checkpoint to continue from; ``show_model`` logs the model summary."""
    config.validate()
    start = time.perf_counter()
    run = _build(config, train_set, valid_set)
    model, optimizer = run.model, run.optimizer
    if show_model:
        log(f"{model}\n")
    result = TrainingResult(config, model=model, target_mean=float(np.mean(train_set.targets, dtype=np.float64)),
                            data={"source": train_set.source, "fingerprint": train_set.fingerprint,
                                  "rows": len(train_set) + len(valid_set)})
    if resume_from is not None:
        _restore(resume_from, result, run)
    to_target_units = model.target_mse_factor  # a training loss in normalized units -> the target's (1.0 without)
    best = min(result.valid_losses, default=math.inf)
    first = len(result.valid_losses) + 1
    bar = _progress(config)
    if bar is not None:
        bar.update(first - 1)
    train_seconds, iterations = 0.0, 0
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported as divergence below
            for epoch in range(first, config.num_epochs + 1):
                model.train()
                lr = optimizer.param_groups[0]["lr"]  # what this epoch trains with
                total, count, batches = 0.0, 0, 0
                started = time.perf_counter()
                for inputs, targets in run.train_loader:
                    optimizer.zero_grad()
                    loss = model.forward_step(inputs, targets).loss
                    value = loss.item()
                    if not math.isfinite(value):
                        result.diverged_epoch = epoch
                        break
                    loss.backward()
                    optimizer.step()
                    total += value * len(targets)
                    count += len(targets)
                    batches += 1
                if result.diverged_epoch is not None:
                    break
                seconds = time.perf_counter() - started
                train_seconds, iterations = train_seconds + seconds, iterations + batches
                model.eval()
                valid = evaluate(model, run.valid_loader)
                if not math.isfinite(valid):
                    result.diverged_epoch = epoch
                    break
                train_loss = total / count * to_target_units
                result.train_losses.append(train_loss)
                result.valid_losses.append(valid)
                result.learning_rates.append(lr)
                if valid < best:
                    best, result.best_state = valid, _copy_state(model)
                if config.scheduler == "plateau":
                    run.scheduler.step(valid)
                elif run.scheduler is not None:
                    run.scheduler.step()
                if run.early_stopping is not None and run.early_stopping.should_stop(epoch, valid):
                    result.stopped_epoch = epoch
                if on_epoch is not None:  # (after the scheduler and early stopping: their state is this epoch's)
                    on_epoch(result, run)
                speed = batches / seconds if seconds > 0 else math.inf
                if bar is not None:
                    bar.set_postfix_str(f"train {train_loss:.4f}  valid {valid:.4f}  best {best:.4f}  "
                                        f"{speed:,.0f} it/s" + (f"  lr {lr:.3g}" if config.scheduler != "none" else ""),
                                        refresh=False)
                    bar.update()
                if config.verbose:
                    log(f"Epoch {epoch:>3}/{config.num_epochs}  train loss {train_loss:.4f}  valid loss {valid:.4f}  "
                        f"{speed:,.0f} it/s" + (f"  lr {lr:.3g}" if config.scheduler != "none" else ""))
                if result.stopped_epoch is not None:
                    break
    finally:
        if bar is not None:
            bar.close()
    result.seconds = time.perf_counter() - start
    result.iterations_per_s = iterations / train_seconds if train_seconds > 0 else 0.0
    return result


def regression_metrics(model: RegressionModel, loader: tn.data.DataLoader, epoch: int) -> dict[str, Any]:
    """The model's errors over every row the loader gives (eval mode): ``mse`` in the target's units
    ($100,000 squared, as the losses), ``rmse_usd`` and ``mae_usd`` in dollars; ``epoch`` says which
    epoch's model it is. Errors are summed in float64."""
    squares = absolute = 0.0
    rows = 0
    with tn.no_grad(), evaluating(model):
        for inputs, targets in loader:
            err = model(inputs).numpy().astype(np.float64) - targets.numpy().astype(np.float64)
            squares += float(np.sum(err * err))
            absolute += float(np.sum(np.abs(err)))
            rows += err.size
    mse = squares / rows
    return {"checkpoint": "best", "epoch": epoch, "rows": rows, "mse": mse, "rmse_usd": math.sqrt(mse) * USD,
            "mae_usd": absolute / rows * USD}


# ---- epoch checkpoints (for --resume) and the published artifacts -------------------------------------------
CHECKPOINT_DIR = "checkpoints"
# settings a resumed run must share with the run it continues (the number of epochs may grow)
_RESUME_KEYS = ("batch_size", "learning_rate", "optimizer", "seed", "hidden_size", "norm", "target_norm",
                "weight_decay", "scheduler", "early_stopping")
# 4: the config's weight_decay, scheduler and early_stopping; the scheduler's and early stopping's state, every
# epoch's learning rate and the stopped epoch. Versions 2 and 3 resume as runs without them (model.npz stays 3:
# what it gained is only added keys).
EPOCH_VERSION = 4
RESUMABLE_VERSIONS = (*READABLE_VERSIONS, EPOCH_VERSION)
_BEFORE_4 = {"target_norm": "none", "weight_decay": 0.0, "scheduler": "none", "early_stopping": None}


def _epoch_path(out_dir: Path, epoch: int) -> Path:
    return out_dir / CHECKPOINT_DIR / f"epoch-{epoch}.npz"


def _epoch_state(result: TrainingResult, run: _Run, copy: bool = False) -> dict[str, Any]:
    """The finished epoch's full state (model, optimizer, scheduler, early stopping, shuffling generator,
    history); ``copy``: detached from the live run (the model's tensors and the lists change as training goes
    on; the state dicts are copies already)."""
    return {"format": CHECKPOINT_FORMAT + "/epoch", "version": EPOCH_VERSION, "config": asdict(result.config),
            "data": result.data, "epoch": len(result.valid_losses),
            "model": _copy_state(run.model) if copy else run.model.state_dict(), "best_state": result.best_state,
            "optimizer": run.optimizer.state_dict(), "loader_rng": run.train_loader.rng_state,
            "scheduler": run.scheduler.state_dict() if run.scheduler is not None else None,
            "early_stopping": run.early_stopping.state_dict() if run.early_stopping is not None else None,
            "stopped_epoch": result.stopped_epoch,
            "learning_rates": list(result.learning_rates) if copy else result.learning_rates,
            "train_losses": list(result.train_losses) if copy else result.train_losses,
            "valid_losses": list(result.valid_losses) if copy else result.valid_losses}


def _write_epoch(out_dir: Path, state: dict[str, Any]) -> Path:
    """Write an epoch state as ``checkpoints/epoch-N.npz``; older ones are removed."""
    path = _epoch_path(out_dir, state["epoch"])
    tn.save(state, path)
    for old in path.parent.glob("epoch-*.npz"):
        if old != path:
            old.unlink(missing_ok=True)
    tn.serialization.sweep_stale_temps(path.parent, r"epoch-\d+\.npz")  # a killed run's half-written checkpoint
    return path


def _save_epoch(out_dir: Path, result: TrainingResult, run: _Run) -> None:
    """The latest epoch's full state, written now."""
    _write_epoch(out_dir, _epoch_state(result, run))


CHECKPOINT_EVERY_S = 2.0  # a checkpoint costs ~5 ms; a 100-epoch run takes ~1.5 s: save about every 2 s


class _EpochSaver:
    """Saves an epoch checkpoint when CHECKPOINT_EVERY_S have passed since the last one, and always after
    the last epoch: a killed run loses at most that much work, and saving stays off the training's time.
    Between saves it keeps a copy of the last finished epoch's state in memory (tens of microseconds), which
    :meth:`flush` writes when Ctrl-C arrives: an interrupted run resumes from the epoch it last finished."""

    def __init__(self, out_dir: Path, last_epoch: int) -> None:
        self.out_dir, self.last_epoch, self.saved_at = out_dir, last_epoch, time.perf_counter()
        self.pending: dict[str, Any] | None = None  # the last finished epoch's state, when not on disk yet

    def __call__(self, result: TrainingResult, run: _Run) -> None:
        now = time.perf_counter()
        last = len(result.valid_losses) == self.last_epoch or result.stopped_epoch is not None
        if last or now - self.saved_at >= CHECKPOINT_EVERY_S:
            self.pending = None
            _save_epoch(self.out_dir, result, run)
            self.saved_at = time.perf_counter()
        else:
            self.pending = _epoch_state(result, run, copy=True)

    def flush(self) -> None:
        """Write the last finished epoch's state if the timer has not yet."""
        state, self.pending = self.pending, None
        if state is not None:
            _write_epoch(self.out_dir, state)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`train`. ``epoch`` is the last finished epoch of this run whose state is saved in
    ``checkpoint`` (``train --resume`` continues after it), or None when there is none to resume from."""

    def __init__(self, epoch: int | None, checkpoint: Path | None) -> None:
        super().__init__(f"interrupted after epoch {epoch}" if epoch else "interrupted before an epoch finished")
        self.epoch, self.checkpoint = epoch, checkpoint


def _checkpoint_epoch(path: Path | None) -> int | None:
    return int(path.stem.split("-", 1)[1]) if path is not None else None


def _interrupted(out_dir: Path, saver: _EpochSaver | None, resumable: bool) -> TrainingInterrupted:
    """What Ctrl-C leaves to resume from: the last finished epoch, written now if it was not yet."""
    if saver is not None:
        try:
            saver.flush()
        except (KeyboardInterrupt, OSError, tn.TinygradNormError):  # a second Ctrl-C, a full disk: the older one stays
            pass
    if saver is None and not resumable:  # this run has not started: what is on disk is another run's
        return TrainingInterrupted(None, None)
    path = latest_epoch_checkpoint(out_dir)
    return TrainingInterrupted(_checkpoint_epoch(path), path)


def latest_epoch_checkpoint(out_dir: Path) -> Path | None:
    """The newest ``checkpoints/epoch-N.npz`` (the largest N), or None."""
    found = []
    for p in (out_dir / CHECKPOINT_DIR).glob("epoch-*.npz"):
        n = p.stem.split("-", 1)[1]
        if n.isdigit():
            found.append((int(n), p))
    return max(found)[1] if found else None


def _load_resume(out_dir: Path, config: TrainingConfig, fingerprint: str | None) -> dict[str, Any]:
    path = latest_epoch_checkpoint(out_dir)
    if path is None:
        raise FileNotFoundError(f"--resume: no epoch checkpoint in {out_dir / CHECKPOINT_DIR}; train without "
                                "--resume to start a run")
    state = tn.load(path)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT + "/epoch" \
            or state.get("version") not in RESUMABLE_VERSIONS or not isinstance(state.get("config"), dict):
        raise tn.CheckpointError(f"{path} is not an epoch checkpoint of this version; train without --resume")
    saved = state["config"]
    if state["version"] < EPOCH_VERSION:  # what earlier versions had not: target normalization (2), the rest (3)
        saved = {**_BEFORE_4, **saved}
    differ = [f"{k} {saved.get(k)!r} (checkpoint) vs {getattr(config, k)!r}" for k in _RESUME_KEYS
              if saved.get(k) != getattr(config, k)]
    if differ:
        raise ArgumentError(f"--resume: the interrupted run used other settings: {'; '.join(differ)}; pass the same "
                         "flags (or train without --resume)")
    if isinstance(state.get("epoch"), int) and state["epoch"] > config.num_epochs:
        raise ArgumentError(f"--resume: the run already has {state['epoch']} epochs; pass --epochs "
                            f"{state['epoch']} or more")
    if config.scheduler in SPANS_EPOCHS and saved.get("num_epochs") != config.num_epochs:
        raise ArgumentError(f"--resume: --scheduler {config.scheduler} is shaped by --epochs, and the run was "
                            f"planned for {saved.get('num_epochs')!r}; pass --epochs {saved.get('num_epochs')!r} (a "
                            "longer schedule is another run: train without --resume)")
    if state.get("stopped_epoch") is not None:
        stopper = state.get("early_stopping") or {}
        raise ArgumentError(f"--resume: the run stopped early after epoch {state['stopped_epoch']} (--early-stopping "
                            f"{config.early_stopping}: no better valid loss since epoch {stopper.get('best_epoch')}); "
                            "it has finished. Train without --resume to start another")
    if fingerprint and (state.get("data") or {}).get("fingerprint") != fingerprint:
        raise ArgumentError("--resume: the data differs from the interrupted run's (sha256 of the values); pass the "
                         "same --data")
    for key in ("model", "best_state"):
        if isinstance(state.get(key), dict):
            state[key] = upgrade_state(state[key], config.norm)
            extra = state[key].get(NORMALIZE_STATE)
            if config.norm in FITTED_NORMS and not (isinstance(extra, dict) and extra.get("normalizer") is not None):
                raise tn.CheckpointError(f"{path}: its config says --norm {config.norm}, but its {key!r} holds no "
                                         "normalizer statistics; train without --resume")
            target = state[key].get(DENORMALIZE_STATE)
            if config.target_norm != "none" and not (isinstance(target, dict) and target.get("normalizer") is not None):
                raise tn.CheckpointError(f"{path}: its config says --target-norm {config.target_norm}, but its {key!r} "
                                         "holds no target statistics; train without --resume")
            # the checks infer makes of model.npz, before an epoch of training builds on these weights
            model = RegressionModel(model_config(config.norm, config.hidden_size, config.target_norm),
                                    device=config.device)
            try:
                model.load_state_dict(state[key])
            except (ValueError, TypeError) as e:
                raise tn.CheckpointError(f"{path}: its {key!r} does not match the model ({e}); train without "
                                         "--resume") from None
            check_model(path, model, config.norm, f"its {key!r}", config.device, todo="train without --resume",
                        target_norm=config.target_norm)
    return state


def _restore(state: dict[str, Any], result: TrainingResult, run: _Run) -> None:
    try:
        run.model.load_state_dict(upgrade_state(state["model"], result.config.norm))
        run.optimizer.load_state_dict(state["optimizer"])
        run.train_loader.rng_state = state["loader_rng"]
        if run.scheduler is not None:
            run.scheduler.load_state_dict(state["scheduler"])
        if run.early_stopping is not None:
            run.early_stopping.load_state_dict(state["early_stopping"])
        result.train_losses = [float(v) for v in state["train_losses"]]
        result.valid_losses = [float(v) for v in state["valid_losses"]]
        # before version 4 every epoch trained with the one learning rate
        lrs = state["learning_rates"] if state["version"] >= EPOCH_VERSION else [result.config.lr] * state["epoch"]
        result.learning_rates = [float(v) for v in lrs]
        result.best_state = state["best_state"]
    except (KeyError, TypeError, ValueError) as e:
        raise tn.CheckpointError(f"the epoch checkpoint cannot be resumed from ({type(e).__name__}: {e}); "
                                 "train without --resume") from None
    if len(result.valid_losses) != state.get("epoch") or len(result.train_losses) != len(result.valid_losses) \
            or len(result.learning_rates) != len(result.valid_losses):
        raise tn.CheckpointError("the epoch checkpoint's history does not match its epoch; train without --resume")


def _new_run_id() -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"


def _link(name: str) -> str:
    return os.path.join(CURRENT, name)  # relative: the artifact folder can be moved or copied whole


def _current_run(out_dir: Path) -> str | None:
    """The run folder name ``current`` points to, or None."""
    try:
        target = os.readlink(out_dir / CURRENT)
    except OSError:
        return None
    head, name = os.path.split(target)
    return name if head == RUNS_DIR else None


def _adopt_links(out_dir: Path) -> None:
    """Make model.npz and metrics.csv the links to ``current/...``, without changing what a reader sees at
    any moment. A folder of the old layout (plain files) gets their copies as a run of its own first."""
    names = (MODEL_FILE, METRICS_FILE)
    ours = {n: (out_dir / n).is_symlink() and os.readlink(out_dir / n) == _link(n) for n in names}
    shown = [n for n in names if not ours[n] and (out_dir / n).is_file()]
    if shown:  # the old layout: what is shown now becomes a run, then current, before a file is replaced
        run_id = _new_run_id()
        folder = out_dir / RUNS_DIR / run_id
        folder.mkdir(parents=True)
        for n in names:
            if (out_dir / n).is_file():
                data = (out_dir / n).read_bytes()
                tn.serialization.atomic_write(folder / n, lambda f, d=data: f.write(d))
        tn.serialization.atomic_symlink(out_dir / CURRENT, os.path.join(RUNS_DIR, run_id))
    for n in names:
        if not ours[n]:
            tn.serialization.atomic_symlink(out_dir / n, _link(n))  # the same content it showed, or nothing


def _remove_old_runs(out_dir: Path, keep: set[str]) -> None:
    for entry in (out_dir / RUNS_DIR).iterdir():
        if entry.name not in keep:
            shutil.rmtree(entry, ignore_errors=True)


def save_artifacts(result: TrainingResult, out_dir: Path) -> None:
    """Publish model.npz (best and last checkpoints, config, data fingerprint) and metrics.csv as one unit:
    both are written into a new ``runs/<run id>/``, then one atomic rename points ``current`` at it."""
    best_loss, best_epoch = result.best_valid
    n = len(result.valid_losses)
    run_id = _new_run_id()
    folder = out_dir / RUNS_DIR / run_id
    folder.mkdir(parents=True)
    try:
        tn.save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": asdict(result.config),
                 "data": result.data, "target_mean": result.target_mean,
                 "best": {"epoch": best_epoch, "valid_loss": best_loss, "model": result.best_state},
                 "last": {"epoch": n, "valid_loss": result.valid_losses[-1], "model": result.model.state_dict()},
                 "test": result.test,
                 "history": {"learning_rates": result.learning_rates, "stopped_epoch": result.stopped_epoch}},
                folder / MODEL_FILE)

        def write(f):
            f.write("epoch,train_loss,valid_loss\n")
            for i, (t, v) in enumerate(zip(result.train_losses, result.valid_losses), start=1):
                f.write(f"{i},{t!r},{v!r}\n")
        tn.serialization.atomic_write(folder / METRICS_FILE, write, mode="w")
        _adopt_links(out_dir)
        previous = _current_run(out_dir)  # kept: a reader may be reading it right now
        tn.serialization.atomic_symlink(out_dir / CURRENT, os.path.join(RUNS_DIR, run_id))  # the publication
    except BaseException:
        if _current_run(out_dir) != run_id:  # not published: the half-written run goes
            shutil.rmtree(folder, ignore_errors=True)
        raise
    _remove_old_runs(out_dir, {run_id, previous})


@contextlib.contextmanager
def _exclusive(out_dir: Path):
    """Hold ``out_dir/.lock`` for the run: a second run into the same folder is refused, naming the first."""
    lock = out_dir / ".lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)  # never truncate a symlink's target
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise ArtifactError(f"another training run (pid {other}) is writing to {out_dir}; wait for it to finish "
                               "or choose another --artifact-dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock; the kernel also does if the process dies


def _check_folder(path: Path, label: str) -> None:
    """``path`` (called ``label`` in messages), if anything is there, must be a folder or a symlink to one."""
    if not os.path.lexists(path):
        return
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise OSError(f"{label} is a symlink loop (it leads back to itself): remove the link or choose "
                          "another --artifact-dir") from None
        if e.errno == errno.ENOENT:
            raise FileNotFoundError(f"{label} is a symlink to {os.readlink(path)}, which does not exist: "
                                    "create that folder, remove the link, or choose another --artifact-dir") from None
        raise
    if not stat.S_ISDIR(mode):
        raise NotADirectoryError(f"{label} is a file, not a directory: remove it or choose another "
                                 "--artifact-dir")


def _prepare_dir(out_dir: Path) -> None:
    """Fail before any work when the artifacts could not be written."""
    existing = out_dir  # the deepest part of the path that is there (a symlink counts, even a broken one)
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    _check_folder(existing, f"--artifact-dir {out_dir}" + ("" if existing == out_dir else f": its parent {existing}"))
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in (CHECKPOINT_DIR, RUNS_DIR):
        _check_folder(out_dir / name, str(out_dir / name))
    if os.path.lexists(out_dir / CURRENT) and not (out_dir / CURRENT).is_symlink():
        raise FileExistsError(f"{out_dir / CURRENT} is not the link train keeps to the published run: remove it or "
                              "choose another --artifact-dir")
    for name in (MODEL_FILE, METRICS_FILE):
        if (out_dir / name).is_dir() and not (out_dir / name).is_symlink():
            raise IsADirectoryError(f"{out_dir / name} is a directory, so the trained model could not be saved "
                                    "there: remove it or choose another --artifact-dir")
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write to {out_dir}: permission denied; choose another --artifact-dir")
    (out_dir / CHECKPOINT_DIR).mkdir(exist_ok=True)
    if not os.access(out_dir / CHECKPOINT_DIR, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write to {out_dir / CHECKPOINT_DIR}: permission denied; choose another "
                              "--artifact-dir")


def train(config: TrainingConfig | None = None, log=print, resume: bool = False) -> TrainingResult:
    """Train the model, write the artifacts and report; returns per-epoch losses and the trained model.

    Every epoch's state goes to ``checkpoints/epoch-N.npz`` in the artifact folder; ``model.npz`` and
    ``metrics.csv`` are published, together, only when the run completes. ``resume`` continues an
    interrupted (or finished, with more epochs) run from its latest epoch checkpoint, bit-identically.
    Raises DivergenceError (publishing nothing) when the loss becomes inf or NaN, and
    :class:`TrainingInterrupted` (a KeyboardInterrupt) on Ctrl-C, after saving the last finished epoch.
    """

    config = config or TrainingConfig()
    if config.data is not None:
        config.data = str(Path(config.data).resolve())  # infer may run from another directory
    config.validate()
    out_dir = Path(config.artifact_dir)
    _prepare_dir(out_dir)
    with _exclusive(out_dir):
        saver = None
        try:
            splits = HousingDataset.load(config.data).split()
            train_set, valid_set, test_set = splits["train"], splits["valid"], splits["test"]
            if not np.ptp(train_set.features, axis=0).any():  # (a checkpoint of such statistics is refused too)
                raise DataError(f"{train_set.source}: every feature is constant in the training split "
                                f"({len(train_set)} rows): there is nothing to learn from; check the data")
            start_state = _load_resume(out_dir, config, train_set.fingerprint) if resume else None
            if start_state is None:
                for old in (out_dir / CHECKPOINT_DIR).glob("epoch-*.npz"):  # a new run: the old one's states go
                    old.unlink()
            saver = _EpochSaver(out_dir, config.num_epochs)
            if config.norm == "none":
                for warning in tn.diagnose(train_set.features, feature_names=FEATURES).warnings:
                    log(f"WARNING: {warning}")
            log(f"data: {train_set.source}; train {len(train_set)} rows, valid {len(valid_set)} rows; normalization: "
                f"{config.norm}"
                + (f"; target normalization: {config.target_norm} (losses reported in the target's units)"
                   if config.target_norm != "none" else "")
                + f"; optimizer: {config.optimizer} (lr {config.lr:g}"
                + (f", weight decay {config.weight_decay:g}" if config.weight_decay else "") + ")"
                + (f"; scheduler: {config.scheduler}" if config.scheduler != "none" else "")
                + (f"; early stopping: patience {config.early_stopping}" if config.early_stopping else "")
                + (f"; resuming after epoch {start_state['epoch']}" if start_state else ""))
            result = fit(config, train_set, valid_set, log=log, show_model=True, resume_from=start_state,
                         on_epoch=saver)
            if result.diverged_epoch is not None:
                for old in (out_dir / CHECKPOINT_DIR).glob("epoch-*.npz"):
                    old.unlink()
                hint = ("Normalize the inputs (--norm minmax or --norm standard)." if config.norm == "none"
                        else "Lower the learning rate (--lr).")
                raise tn.DivergenceError(f"training diverged: the loss became inf/NaN at epoch "
                                         f"{result.diverged_epoch}. {hint} Nothing was published.")
            test_loader = tn.data.DataLoader(test_set, config.batch_size,
                                             collate_fn=make_batcher(config.norm, config.device))
            result.test = regression_metrics(result.best_model(), test_loader, result.best_valid[1])
            save_artifacts(result, out_dir)
        except KeyboardInterrupt:
            raise _interrupted(out_dir, saver, resume) from None
    best, best_epoch = result.best_valid
    baseline = float(np.mean((valid_set.targets.astype(np.float64) - result.target_mean) ** 2))
    dead = dead_units(result.best_model(), train_set.features, config.norm, config.device, config.batch_size)
    epochs, test = len(result.valid_losses), result.test
    log(f"\n{result.summary()}\n")
    if result.stopped_epoch is not None:
        log(f"early stopping: no better valid loss for {config.early_stopping} epochs since epoch {best_epoch}; "
            f"stopped after epoch {epochs} of {config.num_epochs}")
    log(f"best valid MSE {best:.4f} at epoch {best_epoch} (last {result.valid_losses[-1]:.4f}); baseline "
        f"(predict the training mean) {baseline:.4f}; {epochs} epochs in {result.seconds:.1f} s "
        f"({result.iterations_per_s:,.0f} it/s); artifacts in {out_dir} (infer uses the best epoch)")
    log(f"test split ({test['rows']} rows, epoch {test['epoch']}'s model): MSE {test['mse']:.4f} ($100,000 squared), "
        f"RMSE ${test['rmse_usd']:,.0f}, MAE ${test['mae_usd']:,.0f}")
    if best >= baseline:
        log("WARNING: the model is no better than predicting the training mean for every house. "
            + ("Normalize the features (--norm minmax or --norm standard)."
               if config.norm in ("none", "batch-minmax", "layernorm")
               else "Train longer or change the learning rate."))
    if dead:
        level = "WARNING" if 2 * dead > config.hidden_size else "note"
        log(f"{level}: {dead} of {config.hidden_size} hidden ReLU units are dead (0 for every training row): they "
            "pass no gradient and never recover"
            + (". Unscaled inputs are the usual cause: --norm standard." if config.norm == "none" else "."))
    return result
