"""Activation layers beyond ReLU/Sigmoid/Tanh (in ``modules.py``): ``LeakyReLU``, ``GELU``, ``SiLU``, ``Softmax``,
``LogSoftmax``, each a thin Module over its function in ``functional.py`` with torch's constructor arguments.

Deliberate differences from torch: ``inplace=True`` is refused (an in-place op could overwrite an array the graph
saved), and ``Softmax``/``LogSoftmax`` need ``dim`` (torch guesses it, with a deprecation warning).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError
from ..tensor import Tensor
from . import functional as F
from .modules import Module


def _dim_given(dim: Any, what: str) -> int:
    if dim is None:
        raise ArgumentError(f"{what} needs dim=, the dimension to normalize over (e.g. {what}(dim=1) for (N, C) "
                            "logits); torch's implicit choice of it is deprecated")
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise ArgumentTypeError(f"{what}: dim must be an int, got {dim!r}")
    return int(dim)  # (its range is checked against each input)


class LeakyReLU(Module):
    """``x`` where positive, else ``negative_slope * x`` (torch.nn.LeakyReLU)."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        self.negative_slope = F._number(negative_slope, "negative_slope", "LeakyReLU")
        F._no_inplace(inplace, "LeakyReLU")

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope: {self.negative_slope}"


class GELU(Module):
    """``x * Phi(x)``, exact (``approximate='none'``, through erf) or torch's tanh approximation
    (``approximate='tanh'``), like torch.nn.GELU."""

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in F.GELU_APPROXIMATIONS:
            raise ArgumentError(f"GELU: approximate must be one of {F.GELU_APPROXIMATIONS}, got {approximate!r}")
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate: {self.approximate}"


class SiLU(Module):
    """``x * sigmoid(x)`` (torch.nn.SiLU)."""

    def __init__(self, inplace: bool = False) -> None:
        F._no_inplace(inplace, "SiLU")

    def forward(self, input: Tensor) -> Tensor:
        return F.silu(input)


class Softmax(Module):
    """Softmax along ``dim``: the entries along it are positive and sum to 1 (torch.nn.Softmax)."""

    def __init__(self, dim: int | None = None) -> None:
        self.dim = _dim_given(dim, "Softmax")

    def forward(self, input: Tensor) -> Tensor:
        return F.softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim: {self.dim}"


class LogSoftmax(Module):
    """log(softmax) along ``dim``, computed stably (torch.nn.LogSoftmax)."""

    def __init__(self, dim: int | None = None) -> None:
        self.dim = _dim_given(dim, "LogSoftmax")

    def forward(self, input: Tensor) -> Tensor:
        return F.log_softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim: {self.dim}"
