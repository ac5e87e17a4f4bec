"""Layers and models: ``Module``, ``Linear``, ``ReLU``, ``Sequential``, ``ModuleList``, ``ModuleDict``,
``MSELoss``, ``Normalize``, ``BatchNorm1d``, ``LayerNorm``."""

from . import functional
from .modules import (
    Buffer,
    Linear,
    Module,
    ModuleDict,
    ModuleList,
    MSELoss,
    Normalize,
    Parameter,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
)
from .normalization import BatchNorm1d, LayerNorm

__all__ = ["BatchNorm1d", "Buffer", "LayerNorm", "Linear", "Module", "ModuleDict", "ModuleList", "MSELoss",
           "Normalize", "Parameter", "ReLU", "Sequential", "Sigmoid", "Tanh", "functional"]
