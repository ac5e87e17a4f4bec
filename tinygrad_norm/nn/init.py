"""Parameter initialisation, torch.nn.init's functions with its signatures and formulas.

Each function writes into the tensor's existing array in place (so the views an optimizer's flat buffer holds
stay valid) and returns the tensor. Random values are drawn from ``generator`` or, by default, tn's global
generator (``tn.manual_seed`` makes them reproducible), on the CPU in float64 and then rounded to the tensor's
dtype and moved to its device, as ``tn.randn`` draws. The numbers differ from torch's (another generator); the
distributions are the same.

Fan-based initialisers (``xavier_*``, ``kaiming_*``) need at least 2 dimensions: ``fan_in = size(1) * r`` and
``fan_out = size(0) * r``, with ``r`` the product of the dimensions after the second (a convolution's receptive
field), as torch computes them. Like torch, ``kaiming_*`` leave a tensor with no elements unchanged.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError
from ..tensor import Tensor, default_generator

__all__ = ["calculate_gain", "constant_", "kaiming_normal_", "kaiming_uniform_", "normal_", "ones_", "uniform_",
           "xavier_normal_", "xavier_uniform_", "zeros_"]

_LINEAR_GAIN = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
                "sigmoid")
NONLINEARITIES = (*_LINEAR_GAIN, "tanh", "relu", "leaky_relu", "selu")
MODES = ("fan_in", "fan_out")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity, as torch's: 1 for linear layers, convolutions and sigmoid, 5/3 for
    tanh, sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for leaky_relu (``param`` the negative slope, default 0.01),
    3/4 for selu."""
    if nonlinearity in _LINEAR_GAIN:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, bool) or not isinstance(param, (int, float, np.integer, np.floating)):
            raise ArgumentError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        else:
            slope = float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4  # (torch's value, chosen for self-normalizing networks)
    raise ArgumentError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; use one of "
                        f"{', '.join(NONLINEARITIES)}")


def _check(tensor: Any, what: str, floating: bool = True) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise ArgumentTypeError(f"nn.init.{what} takes a Tensor, got {type(tensor).__name__}")
    if floating and tensor.dtype.kind != "f":
        raise DTypeError(f"nn.init.{what} fills floating-point tensors with random values, got dtype {tensor.dtype}")
    return tensor


def _write(tensor: Tensor, values: Any) -> Tensor:
    """Copy ``values`` into the tensor's own array (in place: no new array, views of it stay valid)."""
    xp = tensor._backend.xp
    xp.copyto(tensor.data, tensor._backend.asarray(np.asarray(values), tensor.dtype))
    return tensor


def _generator(generator: np.random.Generator | None, what: str) -> np.random.Generator:
    if generator is None:
        return default_generator()  # (looked up at each call: tn.manual_seed replaces it)
    if not isinstance(generator, np.random.Generator):
        raise ArgumentTypeError(f"nn.init.{what}: generator must be a numpy.random.Generator (e.g. "
                                f"tn.manual_seed(0)), got {type(generator).__name__}")
    return generator


def _calculate_fan_in_and_fan_out(tensor: Tensor, what: str = "init") -> tuple[int, int]:
    """(fan_in, fan_out) as torch computes them; tensors of fewer than 2 dimensions have none."""
    if tensor.ndim < 2:
        raise ShapeError(f"nn.init.{what}: fan in and fan out can not be computed for a tensor with fewer than 2 "
                         f"dimensions (got shape {tensor.shape}); use uniform_/normal_/constant_ for biases")
    receptive_field = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0,
             generator: np.random.Generator | None = None) -> Tensor:
    """Fill with values drawn uniformly from [a, b)."""
    _check(tensor, "uniform_")
    if not a <= b:
        raise ArgumentError(f"nn.init.uniform_ expects a <= b, got a={a}, b={b}")
    return _write(tensor, _generator(generator, "uniform_").uniform(a, b, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: np.random.Generator | None = None) -> Tensor:
    """Fill with values drawn from the normal distribution N(mean, std^2)."""
    _check(tensor, "normal_")
    if not std >= 0:
        raise ArgumentError(f"nn.init.normal_ expects std >= 0, got {std}")
    return _write(tensor, _generator(generator, "normal_").normal(mean, std, tensor.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val`` (any dtype, like torch's ``fill_``)."""
    _check(tensor, "constant_", floating=False)
    tensor.data[...] = val
    return tensor


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    return constant_(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    return constant_(tensor, 1)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: np.random.Generator | None = None) -> Tensor:
    """Glorot uniform: U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))``."""
    _check(tensor, "xavier_uniform_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, "xavier_uniform_")
    if tensor.numel() == 0:
        return tensor
    bound = gain * math.sqrt(2.0 / float(fan_in + fan_out)) * math.sqrt(3.0)
    return _write(tensor, _generator(generator, "xavier_uniform_").uniform(-bound, bound, tensor.shape))


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: np.random.Generator | None = None) -> Tensor:
    """Glorot normal: N(0, std^2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    _check(tensor, "xavier_normal_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, "xavier_normal_")
    if tensor.numel() == 0:
        return tensor
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return _write(tensor, _generator(generator, "xavier_normal_").normal(0.0, std, tensor.shape))


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str, what: str) -> float:
    if mode not in MODES:
        raise ArgumentError(f"nn.init.{what}: mode {mode!r} is not supported, use one of {', '.join(MODES)}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, what)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: np.random.Generator | None = None) -> Tensor:
    """He uniform: U(-bound, bound) with ``bound = gain * sqrt(3 / fan)``, ``gain = calculate_gain(nonlinearity,
    a)`` and ``fan`` the fan_in or fan_out (``mode``). (nn.Linear's own initialisation is this with a = sqrt(5).)"""
    _check(tensor, "kaiming_uniform_")
    if tensor.numel() == 0:  # nothing to fill (torch warns and returns it before any check, as here)
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    return _write(tensor, _generator(generator, "kaiming_uniform_").uniform(-bound, bound, tensor.shape))


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: np.random.Generator | None = None) -> Tensor:
    """He normal: N(0, std^2) with ``std = gain / sqrt(fan)``, the gain and fan as in :func:`kaiming_uniform_`."""
    _check(tensor, "kaiming_normal_")
    if tensor.numel() == 0:
        return tensor
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_")
    return _write(tensor, _generator(generator, "kaiming_normal_").normal(0.0, std, tensor.shape))
