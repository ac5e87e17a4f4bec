"""The regression model, as Burn's ``examples/simple-regression/src/model.rs``:
Linear(8, 64) -> ReLU -> Linear(64, 1), with the fitted normalizer as its first layer."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import tinygrad_norm as tn
from tinygrad_norm import nn

from .dataset import NUM_FEATURES, make_batcher


@dataclass
class RegressionModelConfig:
    num_features: int = NUM_FEATURES
    hidden_size: int = 64

    def init(self, normalizer: tn.Normalizer | None = None, device: str = "cpu") -> RegressionModel:
        return RegressionModel(self, normalizer, device)


@dataclass
class RegressionOutput:
    """What ``forward_step`` returns, like Burn's ``RegressionOutput``."""

    loss: tn.Tensor
    output: tn.Tensor
    targets: tn.Tensor


class RegressionModel(nn.Module):
    """``normalize`` holds the training split's statistics (an ``nn.Normalize`` layer), so the
    model's state dict carries them and inference applies exactly what training applied. Without a
    normalizer it is an explicit identity (``--norm none`` and ``batch-minmax``); a state dict
    loaded later decides which it is (its ``normalize._extra_state``)."""

    def __init__(self, config: RegressionModelConfig | None = None, normalizer: tn.Normalizer | None = None,
                 device: str = "cpu") -> None:
        config = config or RegressionModelConfig()
        self.config = config
        self.normalize = (nn.Normalize(normalizer, device=device) if normalizer is not None
                          else nn.Normalize(config.num_features, device=device, identity=True))
        self.input_layer = nn.Linear(config.num_features, config.hidden_size, device=device)
        self.output_layer = nn.Linear(config.hidden_size, 1, device=device)
        self.activation = nn.ReLU()

    def hidden(self, inputs: tn.Tensor) -> tn.Tensor:
        """(B, 8) raw features -> (B, hidden_size) ReLU activations (a unit that is 0 for every
        training row is dead: it passes no gradient and never recovers)."""
        return self.activation(self.input_layer(self.normalize(inputs)))

    def forward(self, inputs: tn.Tensor) -> tn.Tensor:
        """(B, 8) raw features -> (B, 1) predicted median house value (in $100,000)."""
        return self.output_layer(self.hidden(inputs))

    def forward_step(self, inputs: tn.Tensor, targets: tn.Tensor) -> RegressionOutput:
        output = self.forward(inputs)
        return RegressionOutput(nn.functional.mse_loss(output, targets), output, targets)


# the --norm settings, and the format of this model's checkpoints (training writes them, inference reads them)
NORMS = ("minmax", "standard", "none", "batch-minmax")
CHECKPOINT_FORMAT = "tinygrad_norm/simple-regression"
CHECKPOINT_VERSION = 2
MODEL_FILE, METRICS_FILE = "model.npz", "metrics.csv"
NORMALIZE_STATE = "normalize._extra_state"
FITTED_NORMS = ("minmax", "standard")  # the --norm settings whose model carries fitted statistics


def check_model(path: Path, model: RegressionModel, norm: str, what: str, device: str = "cpu",
                todo: str = "train again to re-create it") -> None:
    """A model loaded from ``path`` (``what``: which of its checkpoints) must have finite weights and the
    Normalize layer its config (``norm``) says, with statistics a training run can have made and that this
    model can apply: any doubt is a CheckpointError naming the file (ending with ``todo``), before any use."""
    def bad(text: str) -> tn.CheckpointError:
        return tn.CheckpointError(f"{path}: {text}; {todo}")

    if not all(np.isfinite(p.numpy()).all() for p in model.parameters()):
        raise bad(f"the weights of {what} are not finite (the run diverged)")
    layer = model.normalize
    if norm not in FITTED_NORMS:
        if layer.normalizer is not None or not layer.identity:
            held = f"{layer.normalizer.method!r} statistics" if layer.normalizer is not None else "an unfitted layer"
            raise bad(f"its config says --norm {norm} (no statistics), but the Normalize layer of {what} holds {held}")
        return
    normalizer = layer.normalizer
    if normalizer is None:
        raise bad(f"the Normalize layer of {what} holds no statistics, its config says --norm {norm}")
    if normalizer.method != norm:
        raise bad(f"its config says --norm {norm}, the Normalize layer of {what} holds {normalizer.method!r} "
                  "statistics")
    try:
        # a transform of an all-constant table: every spread zero, which a training split never has (train refuses
        # such data), so these statistics were not made by training
        spread = normalizer.std if norm == "standard" else normalizer.max - normalizer.min
        if not np.any(spread > 0):
            raise bad(f"the normalizer statistics of {what} say every feature is constant (a spread of 0 in all "
                      f"{normalizer.n_features} columns): statistics that cannot have come from training")
        with warnings.catch_warnings(record=True) as caught:  # shown only if the statistics turn out usable
            warnings.simplefilter("always")
            with tn.no_grad():  # the statistics as this model will apply them (float32 tensors)
                model.normalize(tn.Tensor(np.zeros((1, normalizer.n_features), np.float32), device=device))
    except tn.CheckpointError:
        raise
    except tn.TinygradNormError as e:
        raise bad(f"the normalizer statistics of {what} cannot be applied ({e})") from None
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def upgrade_state(state: dict[str, Any], norm: str) -> dict[str, Any]:
    """A model state dict of an earlier version, made explicit: those saved the identity layer of a
    ``--norm none`` or ``batch-minmax`` model as ``{'n_features': 8}`` alone, which now means an
    unfitted layer. Other states are returned as they are."""
    extra = state.get(NORMALIZE_STATE) if isinstance(state, dict) else None
    if (norm in ("none", "batch-minmax") and isinstance(extra, dict) and extra.get("normalizer") is None
            and "identity" not in extra):
        return {**state, NORMALIZE_STATE: {**extra, "identity": True}}
    return state


def predict(model: RegressionModel, features: np.ndarray, norm: str, device: str = "cpu") -> np.ndarray:
    """Predictions for rows of raw features, batched as one batch (as Burn's inference does)."""
    inputs, _ = make_batcher(norm, device).batch_arrays(features, np.zeros(len(features), np.float32))
    with tn.no_grad():
        return model(inputs).numpy().ravel()


def predict_rows(model: RegressionModel, features: np.ndarray, norm: str, device: str = "cpu") -> np.ndarray:
    """Predictions one row at a time: must equal :func:`predict` unless something depends on batch-mates."""
    return np.concatenate([predict(model, features[i:i + 1], norm, device) for i in range(len(features))])


def dead_units(model: RegressionModel, features: np.ndarray, norm: str, device: str = "cpu",
               batch_size: int = 256) -> int:
    """Hidden ReLU units that output 0 for every row of ``features`` (fed in training-sized batches)."""
    batcher = make_batcher(norm, device)
    alive = None
    with tn.no_grad():
        for lo in range(0, len(features), batch_size):
            chunk = features[lo:lo + batch_size]
            inputs, _ = batcher.batch_arrays(chunk, np.zeros(len(chunk), np.float32))
            active = (model.hidden(inputs).numpy() > 0).any(axis=0)
            alive = active if alive is None else alive | active
    return int((~alive).sum()) if alive is not None else 0
