"""Training, as Burn's ``examples/simple-regression/src/training.rs``: Adam 1e-3, batch 256,
100 epochs, seed 1337; per-epoch train and validation loss; artifacts in ``artifact_dir``.

Artifacts (each written atomically, so an interrupted run leaves the previous ones loadable):
``config.json``, ``model.npz`` (parameters, normalizer statistics, config; rewritten after every
epoch) and ``metrics.csv`` (epoch, train loss, valid loss).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ... import optim, serialization
from ..._backend import get_backend
from ...diagnose import check_finite_loss
from ...normalize import Normalizer
from ...tensor import manual_seed, no_grad
from .dataset import FEATURES, BatchMinMax, DataLoader, HousingBatcher, HousingDataset
from .model import RegressionModel, RegressionModelConfig

NORMS = ("minmax", "standard", "none", "batch-minmax")
CHECKPOINT_FORMAT = "tinygrad_norm/simple-regression"


@dataclass
class TrainingConfig:
    num_epochs: int = 100
    batch_size: int = 256
    learning_rate: float = 1e-3
    seed: int = 1337
    hidden_size: int = 64
    norm: str = "minmax"
    device: str = "cpu"
    artifact_dir: str = "artifacts/simple-regression"
    data: str | None = None
    progress: bool = True

    def validate(self) -> None:
        if self.norm not in NORMS:
            raise ValueError(f"unknown --norm {self.norm!r}; choose one of {', '.join(NORMS)}")
        for name in ("num_epochs", "batch_size", "hidden_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        get_backend(self.device)  # unknown or unavailable device: a clear error before any work


@dataclass
class TrainingResult:
    config: TrainingConfig
    train_losses: list[float] = field(default_factory=list)
    valid_losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    model: RegressionModel | None = None

    @property
    def best_valid(self) -> tuple[float, int]:
        """(lowest validation MSE, its 1-based epoch)."""
        i = int(np.argmin(self.valid_losses))
        return self.valid_losses[i], i + 1

    def summary(self) -> str:
        """The learner summary, in the layout of Burn's."""
        rows = ["| Split | Metric | Min.     | Epoch    | Max.     | Epoch    |",
                "|-------|--------|----------|----------|----------|----------|"]
        for split, values in (("Train", self.train_losses), ("Valid", self.valid_losses)):
            lo, hi = int(np.argmin(values)), int(np.argmax(values))
            rows.append(f"| {split} | Loss   | {values[lo]:<8.4f} | {lo + 1:<8} | {values[hi]:<8.4f} | {hi + 1:<8} |")
        return "\n".join(rows)


def _write_metrics(path: Path, result: TrainingResult) -> None:
    def write(f):
        f.write("epoch,train_loss,valid_loss\n")
        for i, (t, v) in enumerate(zip(result.train_losses, result.valid_losses), start=1):
            f.write(f"{i},{t!r},{v!r}\n")
    serialization.atomic_write(path, write, mode="w")


def _evaluate(model: RegressionModel, loader: DataLoader) -> float:
    total, count = 0.0, 0
    with no_grad():
        for inputs, targets in loader:
            loss, _ = model.forward_step(inputs, targets)
            total += loss.item() * len(targets)
            count += len(targets)
    return total / count


def train(config: TrainingConfig | None = None, log=print) -> TrainingResult:
    """Train the model; returns per-epoch losses and the trained model, and writes the artifacts."""
    from tqdm import tqdm

    config = config or TrainingConfig()
    config.validate()
    start = time.perf_counter()
    splits = HousingDataset.load(config.data).split()
    train_set, valid_set = splits["train"], splits["valid"]

    normalizer = None
    if config.norm in ("minmax", "standard"):  # fitted ONCE, on the training split only
        normalizer = Normalizer(config.norm, feature_names=FEATURES).fit(train_set.features)
    manual_seed(config.seed)
    model = RegressionModelConfig(hidden_size=config.hidden_size).init(normalizer, device=config.device)
    batcher = HousingBatcher(config.device, BatchMinMax() if config.norm == "batch-minmax" else None)
    train_loader = DataLoader(train_set, batcher, config.batch_size, shuffle=True, seed=config.seed)
    valid_loader = DataLoader(valid_set, batcher, config.batch_size)
    optimizer = optim.Adam(model.parameters(), lr=config.learning_rate)

    out_dir = Path(config.artifact_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = asdict(config)
    serialization.atomic_write(out_dir / "config.json", lambda f: json.dump(cfg, f, indent=2), mode="w")
    log(f"{model}\n")
    log(f"train {len(train_set)} rows, valid {len(valid_set)} rows; normalization: {config.norm}"
        + (f" (statistics of the train split: {normalizer!r})" if normalizer is not None else ""))

    result = TrainingResult(config, model=model)
    hint = ("Normalize the inputs (--norm minmax or --norm standard)" if config.norm == "none"
            else "Lower the learning rate (--lr).")
    for epoch in range(1, config.num_epochs + 1):
        model.train()
        total, count = 0.0, 0
        bar = tqdm(train_loader, desc=f"Epoch {epoch}/{config.num_epochs}", leave=False, unit="batch",
                   disable=not config.progress, dynamic_ncols=True)
        for i, (inputs, targets) in enumerate(bar):
            optimizer.zero_grad()
            loss, _ = model.forward_step(inputs, targets)
            value = loss.item()
            check_finite_loss(value, epoch, "training loss", hint)
            loss.backward()
            optimizer.step()
            total += value * len(targets)
            count += len(targets)
            if i % 8 == 0:
                bar.set_postfix(loss=f"{total / count:.4f}", refresh=False)
        bar.close()
        model.eval()
        valid = _evaluate(model, valid_loader)
        check_finite_loss(valid, epoch, "validation loss", hint)
        result.train_losses.append(total / count)
        result.valid_losses.append(valid)
        log(f"Epoch {epoch:>3}/{config.num_epochs}  train loss {total / count:.4f}  valid loss {valid:.4f}")
        save_checkpoint(out_dir / "model.npz", model, normalizer, config, epoch)
        _write_metrics(out_dir / "metrics.csv", result)
    result.seconds = time.perf_counter() - start
    best, best_epoch = result.best_valid
    log(f"\n{result.summary()}\n\nbest valid MSE {best:.4f} at epoch {best_epoch}; "
        f"{config.num_epochs} epochs in {result.seconds:.1f} s; artifacts in {out_dir}")
    return result


def save_checkpoint(path: Path, model: RegressionModel, normalizer: Normalizer | None, config: TrainingConfig,
                    epoch: int) -> None:
    serialization.save({"format": CHECKPOINT_FORMAT, "epoch": epoch, "config": asdict(config),
                        "model": model.state_dict(),
                        "normalizer": normalizer.state_dict() if normalizer is not None else None}, path)
