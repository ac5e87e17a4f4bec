"""Inference, as Burn's ``examples/simple-regression/src/inference.rs``: load the artifacts, predict
the first 1000 test rows in one batch, print one sample and draw predicted vs expected."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ... import serialization
from ...tensor import no_grad
from .dataset import BatchMinMax, HousingBatcher, HousingDataset
from .model import RegressionModel, RegressionModelConfig
from .training import CHECKPOINT_FORMAT

COLLAPSE_RATIO = 0.05


@dataclass
class InferenceResult:
    predictions: np.ndarray
    targets: np.ndarray
    norm: str

    @property
    def mse(self) -> float:
        return float(np.mean((self.predictions - self.targets) ** 2))

    @property
    def mae(self) -> float:
        return float(np.mean(np.abs(self.predictions - self.targets)))

    @property
    def r2(self) -> float:
        ss_res = np.sum((self.targets - self.predictions) ** 2)
        ss_tot = np.sum((self.targets - self.targets.mean()) ** 2)
        return float(1 - ss_res / ss_tot) if ss_tot > 0 else float("nan")  # undefined for constant targets

    @property
    def collapsed(self) -> bool:
        """Predictions nearly constant: their spread under 5% of the targets'."""
        return bool(self.predictions.std() < COLLAPSE_RATIO * self.targets.std())


def load_model(artifact_dir: str | Path, device: str = "cpu") -> tuple[RegressionModel, dict]:
    """The trained model and its training config; clear errors for missing or corrupt artifacts."""
    artifact_dir = Path(artifact_dir)
    model_path = artifact_dir / "model.npz"
    if not model_path.is_file():
        raise FileNotFoundError(f"no trained model at {model_path}: run `tinygrad-norm train "
                                f"--artifact-dir {artifact_dir}` first")
    ckpt = serialization.load(model_path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise serialization.CheckpointError(f"{model_path} is a tinygrad_norm file but not a simple-regression "
                                            "checkpoint; train again to re-create it")
    config = ckpt["config"]
    model = RegressionModel(RegressionModelConfig(hidden_size=int(config["hidden_size"])), device=device)
    try:
        model.load_state_dict(ckpt["model"])
    except KeyError as e:
        raise serialization.CheckpointError(f"{model_path} does not match the model: {e}") from None
    model.eval()
    return model, config


def predict(model: RegressionModel, features: np.ndarray, norm: str, device: str = "cpu") -> np.ndarray:
    """Predictions for rows of raw features, batched as one batch (as Burn's inference does)."""
    batcher = HousingBatcher(device, BatchMinMax() if norm == "batch-minmax" else None)
    inputs, _ = batcher.batch_arrays(features, np.zeros(len(features), np.float32))
    with no_grad():
        return model(inputs).numpy().ravel()


def chart(result: InferenceResult, width: int = 80, height: int = 24) -> str:
    """Predicted vs expected as a terminal scatter plot (plotext), like Burn's textplots chart."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    lo = float(min(result.targets.min(), result.predictions.min()))
    hi = float(max(result.targets.max(), result.predictions.max()))
    plt.plot([lo, hi], [lo, hi], marker="dot", label="perfect")
    plt.scatter(result.targets.tolist(), result.predictions.tolist(), marker="dot", label="predicted")
    plt.title(f"Predicted vs expected median house value ($100k), {len(result.targets)} test rows")
    plt.xlabel("expected")
    plt.ylabel("predicted")
    text = plt.build()
    return text if sys.stdout.isatty() else plt.uncolorize(text)


def save_plot(result: InferenceResult, path: str | Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise RuntimeError("--plot needs matplotlib: pip install -e '.[plot]'") from e
    fig, ax = plt.subplots(figsize=(6, 6))
    lo = float(min(result.targets.min(), result.predictions.min()))
    hi = float(max(result.targets.max(), result.predictions.max()))
    ax.plot([lo, hi], [lo, hi], color="gray", lw=1, label="perfect")
    ax.scatter(result.targets, result.predictions, s=4, alpha=0.6, label="predicted")
    ax.set_xlabel("expected ($100k)")
    ax.set_ylabel("predicted ($100k)")
    ax.set_title(f"norm={result.norm}: MSE {result.mse:.3f}, R^2 {result.r2:.3f}")
    ax.legend()
    serialization.atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120))
    plt.close(fig)


def infer(artifact_dir: str | Path = "artifacts/simple-regression", data: str | None = None, device: str = "cpu",
          num_samples: int = 1000, show_chart: bool = True, plot: str | None = None, log=print) -> InferenceResult:
    """Predict the first ``num_samples`` test rows with the trained model and report how well it does."""
    model, config = load_model(artifact_dir, device)
    if data is None and config.get("data"):
        data = config["data"] if Path(config["data"]).is_file() else None
    test = HousingDataset.load(data).split()["test"]
    n = min(num_samples, len(test))
    result = InferenceResult(predict(model, test.features[:n], config["norm"], device), test.targets[:n].copy(),
                             config["norm"])
    log(f"Predicted {result.predictions[0]:.4f} Expected {result.targets[0]:.4f}")
    if show_chart:
        log(chart(result))
    log(f"test rows {n}: MSE {result.mse:.4f}  MAE {result.mae:.4f}  R^2 {result.r2:.4f}  (normalization: "
        f"{config['norm']})")
    if result.collapsed:
        log(f"WARNING: the predictions have collapsed to a near-constant (std {result.predictions.std():.4f} vs "
            f"the targets' {result.targets.std():.4f}). The usual cause is the normalization: statistics "
            "computed per batch (as --norm batch-minmax does) or no normalization at all. Fit the statistics on "
            "the training split and keep them with the model (--norm minmax or --norm standard).")
    if plot:
        save_plot(result, plot)
        log(f"wrote {plot}")
    return result
