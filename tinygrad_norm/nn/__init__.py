"""Layers and models: ``Module``, ``Linear``, ``ReLU``, ``Sequential``, ``MSELoss``, ``Normalize``."""

from . import functional
from .modules import Buffer, Linear, Module, MSELoss, Normalize, Parameter, ReLU, Sequential, Sigmoid, Tanh

__all__ = ["Buffer", "Linear", "Module", "MSELoss", "Normalize", "Parameter", "ReLU", "Sequential", "Sigmoid", "Tanh",
           "functional"]
