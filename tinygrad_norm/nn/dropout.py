"""Dropout, the one layer that behaves differently in ``train()`` and ``eval()`` mode without state."""

from __future__ import annotations

from ..errors import ArgumentError
from ..tensor import Tensor
from . import functional as F
from .modules import Module


class Dropout(Module):
    """In training, zeroes each element with probability ``p`` and scales the rest by ``1 / (1 - p)``; in eval
    mode, the identity (torch.nn.Dropout). The mask comes from tn's seeded generator, so ``tn.manual_seed``
    makes it reproducible (the masks differ from torch's, whose generator is another). ``inplace=True`` is
    refused: an in-place op could overwrite an array the autograd graph saved."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        p = F._number(p, "p", "Dropout")
        if not 0.0 <= p <= 1.0:
            raise ArgumentError(f"dropout probability has to be between 0 and 1, but got {p}")
        F._no_inplace(inplace, "Dropout")
        self.p = p

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p: {self.p}"
