"""Layers and models, named as in torch.nn.

- containers: ``Module``, ``Sequential``, ``ModuleList``, ``ModuleDict``; ``Parameter``, ``Buffer``
- layers: ``Linear``, ``Identity``, ``Flatten``, ``Dropout``, ``Normalize``, ``BatchNorm1d``, ``LayerNorm``
- activations: ``ReLU``, ``LeakyReLU``, ``GELU``, ``SiLU``, ``Sigmoid``, ``Tanh``, ``Softmax``, ``LogSoftmax``
- losses: ``MSELoss``, ``L1Loss``, ``HuberLoss``, ``SmoothL1Loss``, ``BCEWithLogitsLoss``, ``CrossEntropyLoss``
- ``functional`` (the same as functions: ``tn.nn.functional.cross_entropy``, ...), ``init`` (``kaiming_uniform_``,
  ``xavier_normal_``, ...) and ``utils`` (``clip_grad_norm_``, ``clip_grad_value_``)
"""

from . import functional, init, utils
from .activation import GELU, LeakyReLU, LogSoftmax, SiLU, Softmax
from .dropout import Dropout
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, SmoothL1Loss
from .modules import (
    Buffer,
    Flatten,
    Identity,
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

__all__ = ["BCEWithLogitsLoss", "BatchNorm1d", "Buffer", "CrossEntropyLoss", "Dropout", "Flatten", "GELU",
           "HuberLoss", "Identity", "L1Loss", "LayerNorm", "LeakyReLU", "Linear", "LogSoftmax", "Module", "ModuleDict",
           "ModuleList", "MSELoss", "Normalize", "Parameter", "ReLU", "Sequential", "SiLU", "Sigmoid", "SmoothL1Loss",
           "Softmax", "Tanh", "functional", "init", "utils"]
