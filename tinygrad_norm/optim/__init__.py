"""Optimizers with torch.optim's update rules (fused over flat buffers) and ``lr_scheduler``."""

from . import lr_scheduler
from .optimizer import SGD, Adam, Optimizer

__all__ = ["Adam", "Optimizer", "SGD", "lr_scheduler"]
