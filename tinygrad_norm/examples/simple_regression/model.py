"""The regression model, as Burn's ``examples/simple-regression/src/model.rs``:
Linear(8, 64) -> ReLU -> Linear(64, 1), with the fitted normalizer as its first layer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import tinygrad_norm as tn
from tinygrad_norm import nn

from .dataset import NUM_FEATURES


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


NORMALIZE_STATE = "normalize._extra_state"


def upgrade_state(state: dict[str, Any], norm: str) -> dict[str, Any]:
    """A model state dict of an earlier version, made explicit: those saved the identity layer of a
    ``--norm none`` or ``batch-minmax`` model as ``{'n_features': 8}`` alone, which now means an
    unfitted layer. Other states are returned as they are."""
    extra = state.get(NORMALIZE_STATE) if isinstance(state, dict) else None
    if (norm in ("none", "batch-minmax") and isinstance(extra, dict) and extra.get("normalizer") is None
            and "identity" not in extra):
        return {**state, NORMALIZE_STATE: {**extra, "identity": True}}
    return state
