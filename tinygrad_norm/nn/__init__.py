"""Layers and models: ``Module``, ``Linear``, ``ReLU``, ``Sequential``, ``ModuleList``, ``ModuleDict``,
``MSELoss``, ``Normalize``."""

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

__all__ = ["Buffer", "Linear", "Module", "ModuleDict", "ModuleList", "MSELoss", "Normalize", "Parameter", "ReLU",
           "Sequential", "Sigmoid", "Tanh", "functional"]
