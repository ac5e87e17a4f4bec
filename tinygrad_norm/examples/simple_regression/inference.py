"""Inference, as Burn's ``examples/simple-regression/src/inference.rs``: load the artifacts, predict
the first 1000 test rows in one batch, print one sample and draw predicted vs expected."""

from __future__ import annotations

import importlib.util
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import tinygrad_norm as tn
from tinygrad_norm.errors import ArgumentError

from .dataset import HousingDataset
from .model import (
    CHECKPOINT_FORMAT,
    FITTED_NORMS,
    MODEL_FILE,
    NORMALIZE_STATE,
    NORMS,
    READABLE_VERSIONS,
    TARGET_NORMS,
    V2_NORMS,
    RegressionModel,
    RegressionModelConfig,
    check_model,
    model_config,
    predict,
    upgrade_state,
)

COLLAPSE_RATIO = 0.05
CHECKPOINTS = ("best", "last")
# --export FORMAT PATH: what each format writes, the module it needs and how to install it
EXPORT_FORMATS = {"torch": ("torch", "pip install torch"), "onnx": ("onnx", "pip install 'tinygrad_norm[onnx]'")}


@dataclass
class InferenceResult:
    predictions: np.ndarray
    targets: np.ndarray
    norm: str
    baseline_prediction: float = math.nan  # the training targets' mean
    epoch: int = 0  # the checkpoint's epoch
    checkpoint: str = "best"
    target_norm: str = "none"  # predictions and every figure below are in the target's units either way
    drift: tn.DriftReport | None = None  # the predicted rows against the training statistics (None: the model has none)
    exported: Path | None = None  # the file --export wrote

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
    def baseline_mse(self) -> float:
        """MSE of predicting the training mean for every row: a model must beat this to be worth anything."""
        return float(np.mean((self.baseline_prediction - self.targets) ** 2))

    @property
    def spread(self) -> float:
        """std(predictions) / std(targets): near 0 when every row gets (almost) the same prediction."""
        t = float(self.targets.std(dtype=np.float64))
        return float(self.predictions.std(dtype=np.float64)) / t if t > 0 else float("nan")

    @property
    def collapsed(self) -> bool:
        """Predictions nearly constant: their spread under 5% of the targets'."""
        return bool(self.predictions.std() < COLLAPSE_RATIO * self.targets.std())


def _bad(path: Path, what: str) -> tn.CheckpointError:
    return tn.CheckpointError(f"{path}: {what}; train again to re-create it")


def load_checkpoint(artifact_dir: str | Path, checkpoint: str = "best",
                    device: str = "cpu") -> tuple[RegressionModel, dict[str, Any]]:
    """The model of the ``best`` (lowest validation loss) or ``last`` epoch, in eval mode, and the checkpoint's
    description (config, data, target_mean, epoch); clear errors for missing or corrupt artifacts. Reads
    format versions 2 (no target normalization) and 3; the config returned always has ``target_norm``."""
    if checkpoint not in CHECKPOINTS:
        raise ArgumentError(f"unknown checkpoint {checkpoint!r}; choose one of {', '.join(CHECKPOINTS)}")
    path = Path(artifact_dir) / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no trained model at {path}: run `tinygrad-norm train --artifact-dir "
                                f"{artifact_dir}` first")
    ckpt = tn.load(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise _bad(path, "a tinygrad_norm file but not a simple-regression checkpoint")
    version = ckpt.get("version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise _bad(path, f"a simple-regression checkpoint of format version {version!r}, this tinygrad_norm reads "
                         f"versions {' and '.join(map(str, READABLE_VERSIONS))}")
    config, entry = ckpt.get("config"), ckpt.get(checkpoint)
    if isinstance(config, dict) and version == 2 and "target_norm" not in config:
        config = {**config, "target_norm": "none"}  # version 2 trained on the raw targets
    norms, target_norms = (V2_NORMS, ("none",)) if version == 2 else (NORMS, TARGET_NORMS)
    if not isinstance(config, dict) or config.get("norm") not in norms \
            or config.get("target_norm") not in target_norms or not isinstance(entry, dict) \
            or not isinstance(entry.get("model"), dict) or not isinstance(entry.get("epoch"), int):
        raise _bad(path, f"its config or its {checkpoint!r} checkpoint is missing or malformed")
    weight = entry["model"].get("input_layer.weight")
    if not isinstance(weight, (tn.Tensor, np.ndarray)) or weight.ndim != 2:
        raise _bad(path, "it holds no input_layer.weight matrix")
    hidden, features = weight.shape  # the weights decide the shape; the config must agree
    if hidden != config.get("hidden_size") or features != RegressionModelConfig().num_features:
        raise _bad(path, f"its weights are {hidden}x{features}, its config says hidden_size "
                         f"{config.get('hidden_size')!r}")
    norm = config["norm"]
    state = upgrade_state(entry["model"], norm)
    extra = state.get(NORMALIZE_STATE)
    if norm in FITTED_NORMS and isinstance(extra, dict) and extra.get("normalizer") is None:
        # loaded anyway, the layer would pass raw features to weights trained on scaled ones
        raise _bad(path, f"its config says --norm {norm}, but the Normalize layer of its {checkpoint!r} checkpoint "
                         f"holds no statistics ({NORMALIZE_STATE} has no 'normalizer')")
    model = RegressionModel(model_config(norm, hidden, config["target_norm"]), device=device)
    try:
        model.load_state_dict(state)
    except (ValueError, TypeError) as e:
        raise _bad(path, f"it does not match the model ({e})") from None
    check_model(path, model, norm, f"its {checkpoint!r} checkpoint", device, target_norm=config["target_norm"])
    data = ckpt.get("data")
    info = {"config": config, "data": data if isinstance(data, dict) else {}, "target_mean": ckpt.get("target_mean"),
            "epoch": entry["epoch"], "checkpoint": checkpoint}
    return model.eval(), info


def chart(result: InferenceResult, width: int = 80, height: int = 24) -> str:
    """Predicted vs expected as a terminal scatter plot (plotext), like Burn's textplots chart;
    in colour on a terminal."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("pro")
    lo = float(min(result.targets.min(), result.predictions.min()))
    hi = float(max(result.targets.max(), result.predictions.max()))
    plt.scatter(result.targets.tolist(), result.predictions.tolist(), marker="dot", color="cyan",
                label="predicted")
    plt.plot([lo, hi], [lo, hi], marker="braille", color="red", label="perfect (y = x)")
    plt.title(f"Predicted vs expected median house value ($100k), {len(result.targets)} test rows")
    plt.xlabel("expected")
    plt.ylabel("predicted")
    text = plt.build()
    return text if sys.stdout.isatty() else plt.uncolorize(text)


def save_plot(result: InferenceResult, path: str | Path) -> None:
    plt = tn.plotting.pyplot()
    fig, ax = plt.subplots(figsize=(6, 6))
    lo = float(min(result.targets.min(), result.predictions.min()))
    hi = float(max(result.targets.max(), result.predictions.max()))
    ax.plot([lo, hi], [lo, hi], color="gray", lw=1, label="perfect")
    ax.scatter(result.targets, result.predictions, s=4, alpha=0.6, label="predicted")
    ax.set_xlabel("expected ($100k)")
    ax.set_ylabel("predicted ($100k)")
    target = f", target-norm={result.target_norm}" if result.target_norm != "none" else ""
    ax.set_title(f"norm={result.norm}{target}: MSE {result.mse:.3f}, R^2 {result.r2:.3f}")
    ax.legend()
    tn.serialization.atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120))
    plt.close(fig)


def check_drift(model: RegressionModel, features: np.ndarray, norm: str, strict: bool = False,
                log=print) -> tn.DriftReport | None:
    """The rows against the input statistics the model was trained with; one line (or a few) of what differs."""
    normalizer = getattr(model.normalize, "normalizer", None)
    if normalizer is None:
        log(f"drift: not checked (--norm {norm} keeps no training statistics in the model)")
        if strict:
            raise tn.DataError(f"--strict: the model was trained with --norm {norm}, which keeps no training "
                               "statistics to check the data against; train with --norm standard or minmax")
        return None
    report = normalizer.drift(features)
    if report.ok:
        log(f"drift: no feature of the {report.rows} rows differs from the training statistics")
        return report
    shown = tn.errors.name_few(report.flagged, lambda name: f"{name} ({', '.join(report.reasons[name])})")
    log(f"WARNING: {len(report.flagged)} feature(s) of the {report.rows} rows differ from the training statistics: "
        f"{shown}; `tinygrad-norm diagnose --model ... --data ...` shows the whole report")
    if strict:
        raise tn.DataError(f"--strict: {len(report.flagged)} feature(s) differ from the training statistics: "
                           f"{shown}")
    return report


def check_export(export: tuple[str, str] | None) -> None:
    """``--export FORMAT PATH``: a format we write, its dependency installed and a path it can take, checked
    before any work."""
    if export is None:
        return
    if not isinstance(export, (tuple, list)) or len(export) != 2:
        raise ArgumentError(f"--export takes a format and a path (--export onnx model.onnx), got {export!r}")
    kind, path = export
    if kind not in EXPORT_FORMATS:
        raise ArgumentError(f"--export: unknown format {kind!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    module, install = EXPORT_FORMATS[kind]
    if importlib.util.find_spec(module) is None:
        raise tn.MissingDependencyError(f"--export {kind} needs {module}: {install}")
    if kind == "torch" and Path(path).suffix != ".pt2":
        raise ArgumentError(f"--export torch {path}: the file is a torch.export program, whose name ends in .pt2 "
                            "(what torch.export.load expects); name it so")
    if Path(path).is_dir():
        raise ArgumentError(f"--export {kind} {path}: that is a folder; give the file to write")


def check_exportable(norm: str) -> None:
    """A model of ``--norm batch-minmax`` expects each batch scaled by itself, in the batcher: not exportable."""
    if norm == "batch-minmax":
        raise ArgumentError("--export: a --norm batch-minmax model expects each batch min-max scaled by its own "
                            "statistics (the bug this example shows), which is not part of the model; the exported "
                            "model would take raw features and predict garbage. Export a --norm minmax or standard "
                            "model")


def export_model(model: RegressionModel, export: tuple[str, str], rows: np.ndarray, norm: str,
                 log=print) -> Path:
    """Write ``model`` (its normalizers inside) as ``export`` = (format, path) says, atomically, checked on
    ``rows`` (raw features) against the model, and say what was written."""
    kind, path = export
    check_exportable(norm)
    path = Path(path)
    if kind == "torch":
        tn.export.save_torch(model, path, example_input=rows)
        how = f"a torch.export program: torch alone loads it, torch.export.load({str(path)!r}).module()(x)"
    else:
        tn.export.to_onnx(model, path, example_input=rows)
        how = (f"ONNX (opset 17): input 'input', output 'output'; e.g. onnxruntime.InferenceSession({str(path)!r})"
               ".run(None, {'input': x})")
    first = model.normalize
    if not isinstance(first, tn.nn.Normalize):
        inside = ["its BatchNorm1d and its running statistics" if isinstance(first, tn.nn.BatchNorm1d)
                  else f"its {type(first).__name__}"]
    else:
        inside = ["its input normalizer"] if first.normalizer is not None else []
    if model.denormalize is not None:
        inside.append("the target normalizer's inverse")
    held = f"{' and '.join(inside)} inside" if inside else f"no normalizer inside: --norm {norm}"
    log(f"exported the model to {path}, {how}; x is (batch, {rows.shape[1]}) raw float32 features, the output "
        f"(batch, 1) is in $100,000 ({held}); it gives this model's predictions for the {len(rows)} rows above")
    return path


def infer(artifact_dir: str | Path = "artifacts/simple-regression", data: str | None = None, device: str = "cpu",
          num_samples: int = 1000, show_chart: bool = True, plot: str | None = None, checkpoint: str = "best",
          strict: bool = False, log=print, export: tuple[str, str] | None = None) -> InferenceResult:
    """Predict the first ``num_samples`` test rows with the trained model and report how well it does.

    Before the metrics, the rows are checked against the training statistics the model carries
    (:meth:`tn.Normalizer.drift`): the flagged features are printed, or one line saying none is; with
    ``strict`` a flagged feature is a DataError (the command exits 2) before anything is predicted.

    ``export``, a (format, path) pair: after the report, the model is written to ``path`` as ``"torch"``
    (``tn.export.save_torch``: a ``.pt2`` that torch alone loads) or ``"onnx"`` (``tn.export.to_onnx``), its
    normalizers inside, atomically, and checked on the predicted rows against this model."""
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ArgumentError(f"--samples must be an integer >= 1, got {num_samples!r}")
    check_export(export)
    if plot:
        tn.plotting.pyplot()  # without matplotlib: say so now, not after the work
    model, info = load_checkpoint(artifact_dir, checkpoint, device)
    norm, target_norm = info["config"]["norm"], info["config"]["target_norm"]
    if export is not None:  # before the work
        check_exportable(norm)
    full = HousingDataset.load(data)
    trained_on = info["data"].get("fingerprint")
    trained_on = trained_on if isinstance(trained_on, str) else None
    if trained_on and full.fingerprint != trained_on:
        log(f"WARNING: {full.source} is not the table this model was trained on (sha256 of the values differs), so "
            "its 'test' split may hold rows the model trained on: the numbers below are not a fair test")
    test = full.split()["test"]
    n = min(num_samples, len(test))
    if num_samples > n:
        log(f"note: only {n} test rows exist (--samples {num_samples}); predicting all {n}")
    target_mean = info["target_mean"] if isinstance(info["target_mean"], float) else math.nan
    log(f"loaded the {checkpoint} checkpoint (epoch {info['epoch']}) from {Path(artifact_dir) / MODEL_FILE}")
    drift = check_drift(model, test.features[:n], norm, strict, log)
    result = InferenceResult(predict(model, test.features[:n], norm, device), test.targets[:n].copy(), norm,
                             target_mean, info["epoch"], checkpoint, target_norm, drift)
    log(f"Predicted {result.predictions[0]:.4f} Expected {result.targets[0]:.4f}")
    if show_chart:
        log(chart(result))
    target = f", target normalization: {target_norm}" if target_norm != "none" else ""
    log(f"test rows {n}: MSE {result.mse:.4f}  MAE {result.mae:.4f}  R^2 {result.r2:.4f}  (normalization: {norm}"
        f"{target}); baseline (predict the training mean) MSE {result.baseline_mse:.4f}")
    if result.mse >= result.baseline_mse:
        log("WARNING: the model is no better than predicting the training mean for every house.")
    if result.collapsed:
        log(f"WARNING: the predictions have collapsed to a near-constant (std {result.predictions.std():.4f} vs "
            f"the targets' {result.targets.std():.4f}). The usual cause is the normalization: statistics "
            "computed per batch (as --norm batch-minmax does) or no normalization at all. Fit the statistics on "
            "the training split and keep them with the model (--norm minmax or --norm standard).")
    if plot:
        save_plot(result, plot)
        log(f"wrote {plot}")
    if export is not None:
        result.exported = export_model(model, export, test.features[:n], norm, log)
    return result
