"""The regression model, as Burn's ``examples/simple-regression/src/model.rs``:
Linear(8, 64) -> ReLU -> Linear(64, 1), with the fitted normalizer as its first layer."""

from __future__ import annotations

from dataclasses import dataclass

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
    normalizer it is the identity."""

    def __init__(self, config: RegressionModelConfig | None = None, normalizer: tn.Normalizer | None = None,
                 device: str = "cpu") -> None:
        config = config or RegressionModelConfig()
        self.config = config
        self.normalize = nn.Normalize(normalizer if normalizer is not None else config.num_features, device=device)
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
