"""The regression model, as Burn's ``examples/simple-regression/src/model.rs``:
Linear(8, 64) -> ReLU -> Linear(64, 1), with the fitted normalizer as its first layer (or, with
``--norm batchnorm`` / ``layernorm``, a BatchNorm1d / LayerNorm there) and, with ``--target-norm``, the
target normalizer's inverse as its last layer, so ``model(x)`` predicts in the target's own units."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import tinygrad_norm as tn
from tinygrad_norm import nn
from tinygrad_norm.errors import ArgumentError

from .dataset import NUM_FEATURES, make_batcher

# the first layer of the model: nn.Normalize (fitted statistics, or an explicit identity), or a layer that
# normalizes by statistics of its own (BatchNorm1d: of the batch, and running estimates; LayerNorm: of each row)
NORM_LAYERS = ("normalize", "batchnorm", "layernorm")
# --target-norm: how the training targets are scaled for the loss ("none": Burn's recipe, the raw targets)
TARGET_NORMS = ("none", "standard", "minmax")


@dataclass
class RegressionModelConfig:
    num_features: int = NUM_FEATURES
    hidden_size: int = 64
    norm_layer: str = "normalize"  # one of NORM_LAYERS
    target_norm: str = "none"  # not "none": the last layer is nn.Normalize(target normalizer, invert=True)

    def init(self, normalizer: tn.Normalizer | None = None, device: str = "cpu",
             target_normalizer: tn.Normalizer | None = None) -> RegressionModel:
        return RegressionModel(self, normalizer, device, target_normalizer)


@dataclass
class RegressionOutput:
    """What ``forward_step`` returns, like Burn's ``RegressionOutput``: ``output`` and ``targets`` in the
    target's own units; ``loss`` is what training minimizes (in normalized units under target normalization:
    ``RegressionModel.target_mse_factor`` converts it)."""

    loss: tn.Tensor
    output: tn.Tensor
    targets: tn.Tensor


class RegressionModel(nn.Module):
    """``normalize`` holds the training split's statistics (an ``nn.Normalize`` layer), so the
    model's state dict carries them and inference applies exactly what training applied. Without a
    normalizer it is an explicit identity (``--norm none`` and ``batch-minmax``); a state dict
    loaded later decides which it is (its ``normalize._extra_state``). With ``config.norm_layer``
    ``"batchnorm"`` or ``"layernorm"`` it is an ``nn.BatchNorm1d`` / ``nn.LayerNorm`` instead.

    With ``config.target_norm``, ``denormalize`` (the last layer) is ``nn.Normalize(target normalizer,
    invert=True)``: the network learns normalized targets and ``model(x)`` returns them in the target's
    units. Without a target normalizer it is a bare ``Normalize(1, invert=True)`` that a checkpoint fills."""

    def __init__(self, config: RegressionModelConfig | None = None, normalizer: tn.Normalizer | None = None,
                 device: str = "cpu", target_normalizer: tn.Normalizer | None = None) -> None:
        config = config or RegressionModelConfig()
        if config.norm_layer not in NORM_LAYERS:
            raise ArgumentError(f"unknown norm_layer {config.norm_layer!r}; choose one of {', '.join(NORM_LAYERS)}")
        if config.target_norm not in TARGET_NORMS:
            raise ArgumentError(f"unknown target_norm {config.target_norm!r}; choose one of {', '.join(TARGET_NORMS)}")
        self.config = config
        n = config.num_features
        if config.norm_layer == "normalize":
            self.normalize = (nn.Normalize(normalizer, device=device) if normalizer is not None
                              else nn.Normalize(n, device=device, identity=True))
        elif normalizer is not None:  # it would be dropped: BatchNorm and LayerNorm compute their own statistics
            raise ArgumentError(f"norm_layer {config.norm_layer!r} normalizes by statistics of its own; a fitted "
                                "normalizer goes with norm_layer 'normalize'")
        else:
            self.normalize = (nn.BatchNorm1d(n, device=device) if config.norm_layer == "batchnorm"
                              else nn.LayerNorm(n, device=device))
        self.input_layer = nn.Linear(n, config.hidden_size, device=device)
        self.output_layer = nn.Linear(config.hidden_size, 1, device=device)
        self.activation = nn.ReLU()
        self.denormalize: nn.Normalize | None = None  # (None is no layer: the state dict has no key for it)
        if config.target_norm == "none":
            if target_normalizer is not None:
                raise ArgumentError("a target normalizer needs target_norm 'standard' or 'minmax' in the config")
        elif target_normalizer is None:
            self.denormalize = nn.Normalize(1, device=device, invert=True)  # filled by load_state_dict
        else:
            if target_normalizer.method != config.target_norm:
                raise ArgumentError(f"the config says target_norm {config.target_norm!r}, the target normalizer is "
                                    f"{target_normalizer.method!r}")
            self.denormalize = nn.Normalize(target_normalizer, device=device, invert=True)

    def hidden(self, inputs: tn.Tensor) -> tn.Tensor:
        """(B, 8) raw features -> (B, hidden_size) ReLU activations (a unit that is 0 for every
        training row is dead: it passes no gradient and never recovers)."""
        return self.activation(self.input_layer(self.normalize(inputs)))

    def forward(self, inputs: tn.Tensor) -> tn.Tensor:
        """(B, 8) raw features -> (B, 1) predicted median house value (in $100,000)."""
        out = self.output_layer(self.hidden(inputs))
        return out if self.denormalize is None else self.denormalize(out)

    def export_layers(self) -> list[nn.Module]:
        """The layers ``forward`` applies, in order: what ``tn.export`` translates (and checks against forward)."""
        layers = [self.normalize, self.input_layer, self.activation, self.output_layer]
        return layers if self.denormalize is None else [*layers, self.denormalize]

    def forward_step(self, inputs: tn.Tensor, targets: tn.Tensor) -> RegressionOutput:
        """The training step's loss: the MSE to ``targets`` (B, 1), or, under target normalization, the MSE
        between the network's normalized output and the normalized targets (scikit-learn's
        TransformedTargetRegressor: the regressor learns transformed targets)."""
        if self.denormalize is None:
            output = self.forward(inputs)
            return RegressionOutput(nn.functional.mse_loss(output, targets), output, targets)
        normalized = self.output_layer(self.hidden(inputs))
        output = self.denormalize(normalized)  # (first: an unfilled layer raises NotFittedError here)
        loss = nn.functional.mse_loss(normalized, self.denormalize.normalizer.transform(targets))
        return RegressionOutput(loss, output, targets)

    @property
    def target_mse_factor(self) -> float:
        """What a ``forward_step`` loss is multiplied by to be the MSE in the target's own units: 1 without
        target normalization, else the square of the inverse map's slope (an affine map scales every error
        by it), so training reports its loss in the units of every other figure without another pass."""
        if self.denormalize is None:
            return 1.0
        if self.denormalize.normalizer is None:
            raise tn.NotFittedError("the model's target layer holds no normalizer: load a state dict that holds one")
        lo, hi = self.denormalize.normalizer.inverse_transform(np.array([[0.0], [1.0]])).ravel()
        return float((hi - lo) ** 2)


# the --norm settings, and the format of this model's checkpoints (training writes them, inference reads them)
NORMS = ("minmax", "standard", "none", "batch-minmax", "batchnorm", "layernorm", "robust")
CHECKPOINT_FORMAT = "tinygrad_norm/simple-regression"
# 3: config["target_norm"] (and the model's denormalize layer), --norm batchnorm, layernorm and robust (its files
# are refused by a reader older than robust, by their --norm). Version 2 files
# (no target normalization, the first four --norm settings) are still read.
CHECKPOINT_VERSION = 3
READABLE_VERSIONS = (2, 3)
V2_NORMS = NORMS[:4]
MODEL_FILE, METRICS_FILE = "model.npz", "metrics.csv"
NORMALIZE_STATE = "normalize._extra_state"
DENORMALIZE_STATE = "denormalize._extra_state"
FITTED_NORMS = ("minmax", "standard", "robust")  # the --norm settings whose model carries fitted statistics


def norm_layer(norm: str) -> str:
    """The first layer (one of NORM_LAYERS) the ``--norm`` setting ``norm`` gives the model."""
    return norm if norm in ("batchnorm", "layernorm") else "normalize"


def model_config(norm: str, hidden_size: int, target_norm: str = "none") -> RegressionModelConfig:
    """The architecture a run's settings give: what a bare model is built from before a checkpoint fills it."""
    return RegressionModelConfig(hidden_size=hidden_size, norm_layer=norm_layer(norm), target_norm=target_norm)


def check_model(path: Path, model: RegressionModel, norm: str, what: str, device: str = "cpu",
                todo: str = "train again to re-create it", target_norm: str = "none") -> None:
    """A model loaded from ``path`` (``what``: which of its checkpoints) must have finite weights, the
    Normalize layer its config (``norm``) says, with statistics a training run can have made and that this
    model can apply, and, under ``target_norm``, an inverted target layer of that method likewise: any doubt
    is a CheckpointError naming the file (ending with ``todo``), before any use."""
    def bad(text: str) -> tn.CheckpointError:
        return tn.CheckpointError(f"{path}: {text}; {todo}")

    if not all(np.isfinite(p.numpy()).all() for p in model.parameters()):
        raise bad(f"the weights of {what} are not finite (the run diverged)")
    for name, buffer in model.named_buffers():  # BatchNorm's running statistics: eval mode divides by them
        values = buffer.numpy()
        if not np.isfinite(values).all() or (name.endswith("running_var") and (values < 0).any()):
            raise bad(f"the {name} of {what} holds values no training run makes (not finite, or a negative "
                      "variance)")
    if target_norm != "none":
        _check_statistics(bad, model.denormalize, target_norm, f"the target layer of {what}", device)
    if norm in ("batchnorm", "layernorm"):  # (the layer's type comes from the config the model was built from)
        return
    layer = model.normalize
    if norm not in FITTED_NORMS:
        if layer.normalizer is not None or not layer.identity:
            held = f"{layer.normalizer.method!r} statistics" if layer.normalizer is not None else "an unfitted layer"
            raise bad(f"its config says --norm {norm} (no statistics), but the Normalize layer of {what} holds {held}")
        return
    _check_statistics(bad, layer, norm, f"the Normalize layer of {what}", device)


def _check_statistics(bad, layer: nn.Normalize, method: str, label: str, device: str) -> None:
    """``layer`` (called ``label``) holds ``method`` statistics a training run can have made, which apply."""
    normalizer = layer.normalizer
    flag = "--target-norm" if layer.invert else "--norm"
    if normalizer is None:
        raise bad(f"{label} holds no statistics, its config says {flag} {method}")
    if normalizer.method != method:
        raise bad(f"its config says {flag} {method}, {label} holds {normalizer.method!r} statistics")
    try:
        # a transform of an all-constant table: every spread zero, which a training split never has (train refuses
        # such data), so these statistics were not made by training
        spread = normalizer.std if method == "standard" else normalizer.max - normalizer.min
        if not np.any(spread > 0):
            raise bad(f"the statistics of {label} say every feature is constant (a spread of 0 in all "
                      f"{normalizer.n_features} columns): statistics that cannot have come from training")
        with warnings.catch_warnings(record=True) as caught:  # shown only if the statistics turn out usable
            warnings.simplefilter("always")
            with tn.no_grad():  # the statistics as this model will apply them (float32 tensors)
                layer(tn.Tensor(np.zeros((1, normalizer.n_features), np.float32), device=device))
    except tn.CheckpointError:
        raise
    except tn.TinygradNormError as e:
        raise bad(f"the statistics of {label} cannot be applied ({e})") from None
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


@contextlib.contextmanager
def evaluating(model: RegressionModel) -> Iterator[RegressionModel]:
    """``model`` in eval mode for the block (BatchNorm normalizes by its running statistics and leaves them
    alone), then back in the mode it was in."""
    was = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was)


def predict(model: RegressionModel, features: np.ndarray, norm: str, device: str = "cpu") -> np.ndarray:
    """Predictions for rows of raw features, batched as one batch (as Burn's inference does), in eval mode."""
    inputs, _ = make_batcher(norm, device).batch_arrays(features, np.zeros(len(features), np.float32))
    with tn.no_grad(), evaluating(model):
        return model(inputs).numpy().ravel()


def predict_rows(model: RegressionModel, features: np.ndarray, norm: str, device: str = "cpu") -> np.ndarray:
    """Predictions one row at a time: must equal :func:`predict` unless something depends on batch-mates."""
    return np.concatenate([predict(model, features[i:i + 1], norm, device) for i in range(len(features))])


def predict_batches(model: RegressionModel, features: np.ndarray, norm: str, batch_size: int, order: np.ndarray,
                    device: str = "cpu") -> np.ndarray:
    """The rows' predictions as training's forward pass makes them: in train mode, the rows taken in ``order``
    (a permutation) in batches of ``batch_size``, returned in the rows' own order. What a row gets here may
    depend on its batch-mates (BatchNorm in train mode normalizes by the batch's statistics). It runs on a copy
    of the model, whose running statistics move; ``model``'s do not. A last batch of one row joins the one
    before (a batch of one has no batch statistics)."""
    copy = RegressionModel(model.config, device=device)
    copy.load_state_dict(model.state_dict())
    copy.train()
    batcher = make_batcher(norm, device)
    n = len(features)
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    out = np.empty(n, np.float32)
    with tn.no_grad():
        for lo, hi in zip(starts, [*starts[1:], n]):
            idx = order[lo:hi]
            inputs, _ = batcher.batch_arrays(features[idx], np.zeros(len(idx), np.float32))
            out[idx] = copy(inputs).numpy().ravel()
    return out


def dead_units(model: RegressionModel, features: np.ndarray, norm: str, device: str = "cpu",
               batch_size: int = 256) -> int:
    """Hidden ReLU units that output 0 for every row of ``features`` (fed in training-sized batches, eval mode)."""
    batcher = make_batcher(norm, device)
    alive = None
    with tn.no_grad(), evaluating(model):
        for lo in range(0, len(features), batch_size):
            chunk = features[lo:lo + batch_size]
            inputs, _ = batcher.batch_arrays(chunk, np.zeros(len(chunk), np.float32))
            active = (model.hidden(inputs).numpy() > 0).any(axis=0)
            alive = active if alive is None else alive | active
    return int((~alive).sum()) if alive is not None else 0
