"""The regression model, as Burn's ``examples/simple-regression/src/model.rs``:
Linear(8, 64) -> ReLU -> Linear(64, 1), with the fitted normalizer as its first layer."""

from __future__ import annotations

from dataclasses import dataclass

from ... import nn
from ...tensor import Tensor
from .dataset import NUM_FEATURES


@dataclass
class RegressionModelConfig:
    num_features: int = NUM_FEATURES
    hidden_size: int = 64

    def init(self, normalizer=None, device: str = "cpu") -> RegressionModel:
        return RegressionModel(self, normalizer, device)


class RegressionModel(nn.Module):
    """``normalize`` holds the training split's statistics as buffers, so ``model.npz`` carries them
    and inference applies exactly what training applied. Without a normalizer it is the identity."""

    def __init__(self, config: RegressionModelConfig | None = None, normalizer=None, device: str = "cpu") -> None:
        config = config or RegressionModelConfig()
        self.config = config
        self.normalize = nn.Normalize(normalizer if normalizer is not None else config.num_features, device=device)
        self.input_layer = nn.Linear(config.num_features, config.hidden_size, device=device)
        self.output_layer = nn.Linear(config.hidden_size, 1, device=device)
        self.activation = nn.ReLU()

    def forward(self, inputs: Tensor) -> Tensor:
        """(B, 8) raw features -> (B, 1) predicted median house value (in $100,000)."""
        x = self.normalize(inputs)
        return self.output_layer(self.activation(self.input_layer(x)))

    def forward_step(self, inputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        """(loss, output), like Burn's ``forward_step`` returning a RegressionOutput."""
        output = self.forward(inputs)
        return nn.functional.mse_loss(output, targets), output
