"""The model as a ``torch.nn.Module`` (``to_torch``) and as a file torch alone loads (``save_torch``)."""

from __future__ import annotations

import io
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import nn
from ..errors import ArgumentError, ArgumentTypeError
from ..serialization import atomic_write
from .layers import check_same, kind_of, layer_types, model_dtype, ordered_layers, probe_input, reference_output


class Normalize(torch.nn.Module):
    """tinygrad_norm's ``nn.Normalize`` in torch: ``(x - shift) * scale + offset``, clipped to
    ``[clip_min, clip_max]`` when the normalizer clips; with ``invert``, ``(x - offset) / scale + shift`` (its
    inverse_transform; clipping is not undone). The statistics are float64 buffers (saved by ``state_dict``,
    moved by ``.to()``), cast to the input's dtype at each call as tinygrad_norm casts them: a float32 input
    gets the same float32 numbers. ``offset`` (minmax with a range not starting at 0) and the clip bounds are
    None, and absent from the state dict, when the normalizer has none."""

    def __init__(self, shift: np.ndarray, scale: np.ndarray, offset: np.ndarray | None,
                 clip: tuple[float, float] | None, invert: bool, method: str) -> None:
        super().__init__()
        as64 = lambda a: torch.tensor(np.asarray(a, np.float64))  # noqa: E731 (copies: nothing shared with ours)
        self.register_buffer("shift", as64(shift))
        self.register_buffer("scale", as64(scale))
        self.register_buffer("offset", None if offset is None else as64(offset))
        self.register_buffer("clip_min", None if clip is None else as64(clip[0]))
        self.register_buffer("clip_max", None if clip is None else as64(clip[1]))
        self.invert = invert
        self.method = method

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shift, scale = self.shift.to(x.dtype), self.scale.to(x.dtype)
        if self.invert:
            if self.offset is not None:
                x = x - self.offset.to(x.dtype)
            return x / scale + shift
        y = (x - shift) * scale
        if self.offset is not None:
            y = y + self.offset.to(x.dtype)
        if self.clip_min is not None:
            y = torch.clamp(y, self.clip_min.to(y.dtype), self.clip_max.to(y.dtype))
        return y

    def extra_repr(self) -> str:
        clip = f", clip=({float(self.clip_min)}, {float(self.clip_max)})" if self.clip_min is not None else ""
        return f"method={self.method!r}, features={self.shift.numel()}{clip}, invert={self.invert}"


def _tensor(t: Any, dtype: torch.dtype) -> torch.Tensor:
    return torch.tensor(np.array(t.numpy(), copy=True)).to(dtype)


def _copy(param: torch.Tensor, value: Any) -> None:
    with torch.no_grad():
        param.copy_(_tensor(value, param.dtype))


def _normalize(layer: nn.Normalize) -> torch.nn.Module:
    if layer.normalizer is None:  # an explicit identity (unfitted layers were refused before)
        return torch.nn.Identity()
    norm = layer.normalizer
    shift, scale, offset = norm._affine()
    clip = None if layer.invert else norm.clip_range
    return Normalize(shift, scale, offset, clip, layer.invert, norm.method)


def _linear(layer: nn.Linear, dtype: torch.dtype) -> torch.nn.Module:
    out = torch.nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None, dtype=dtype)
    _copy(out.weight, layer.weight)
    if layer.bias is not None:
        _copy(out.bias, layer.bias)
    return out


def _batch_norm(layer: nn.BatchNorm1d, dtype: torch.dtype) -> torch.nn.Module:
    out = torch.nn.BatchNorm1d(layer.num_features, eps=layer.eps, momentum=layer.momentum, affine=layer.affine,
                               track_running_stats=layer.track_running_stats, dtype=dtype)
    if layer.affine:
        _copy(out.weight, layer.weight)
        if layer.bias is None:  # bias=False (torch's BatchNorm1d has no such option): F.batch_norm takes bias None
            out.bias = None
        else:
            _copy(out.bias, layer.bias)
    if layer.track_running_stats:
        _copy(out.running_mean, layer.running_mean)
        _copy(out.running_var, layer.running_var)
        out.num_batches_tracked.fill_(int(layer.num_batches_tracked.numpy()))
    return out


def _layer_norm(layer: nn.LayerNorm, dtype: torch.dtype) -> torch.nn.Module:
    out = torch.nn.LayerNorm(layer.normalized_shape, eps=layer.eps, elementwise_affine=layer.elementwise_affine,
                             bias=layer.bias is not None, dtype=dtype)
    if layer.weight is not None:
        _copy(out.weight, layer.weight)
    if layer.bias is not None:
        _copy(out.bias, layer.bias)
    return out


def convert(layer: nn.Module, kind: str, dtype: torch.dtype) -> torch.nn.Module:
    """torch's module for one of our layers (``kind``: its class name in layers.LAYER_NAMES)."""
    if kind == "Normalize":
        return _normalize(layer)
    if kind == "Linear":
        return _linear(layer, dtype)
    if kind == "BatchNorm1d":
        return _batch_norm(layer, dtype)
    if kind == "LayerNorm":
        return _layer_norm(layer, dtype)
    if kind == "Dropout":
        return torch.nn.Dropout(layer.p)
    if kind == "Flatten":
        return torch.nn.Flatten(layer.start_dim, layer.end_dim)
    if kind == "LeakyReLU":
        return torch.nn.LeakyReLU(layer.negative_slope)
    if kind == "GELU":
        return torch.nn.GELU(approximate=layer.approximate)
    if kind in ("Softmax", "LogSoftmax"):
        return getattr(torch.nn, kind)(dim=layer.dim)
    if kind in ("ReLU", "Sigmoid", "Tanh", "Identity", "SiLU"):
        return getattr(torch.nn, kind)()
    raise ArgumentError(f"no torch translation for {kind}")  # pragma: no cover - LAYER_NAMES and this table agree


def to_torch(model: nn.Module, example_input: Any = None) -> torch.nn.Sequential:
    """See :func:`tinygrad_norm.export.to_torch`."""
    what = "to_torch"
    layers = ordered_layers(model, what)
    dtype = model_dtype(model)
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    types = layer_types()
    # torch's module names cannot hold dots: a nested layer 'block.0' is 'block_0'
    module = torch.nn.Sequential(OrderedDict((name.replace(".", "_"), convert(layer, kind_of(layer, types), tdtype))
                                             for name, layer in layers))
    probe = probe_input(layers, example_input, dtype, what)
    ours = reference_output(model, probe, what)
    module.eval()
    with torch.no_grad():
        theirs = module(torch.from_numpy(probe)).numpy()
    check_same(model, ours, theirs, what)
    module.train(model.training)
    for (_, layer), copy in zip(layers, module):  # each layer in the mode it is in here (a frozen BatchNorm, ...)
        copy.train(layer.training)
    return module


def save_torch(model: nn.Module, path: str | os.PathLike, example_input: Any = None) -> Path:
    """See :func:`tinygrad_norm.export.save_torch`."""
    what = "save_torch"
    if not isinstance(path, (str, os.PathLike)):
        raise ArgumentTypeError(f"{what}: path must be a file path (str or os.PathLike), got {type(path).__name__}")
    if Path(path).suffix != ".pt2":  # torch.export.load reads other names only after a warning
        raise ArgumentError(f"{what}: {os.fspath(path)!r}: a torch.export program's file name ends in .pt2 (what "
                            "torch.export.load expects); name it so")
    module = to_torch(model, example_input).eval()
    layers = ordered_layers(model, what)
    probe = probe_input(layers, example_input, model_dtype(model), what)
    if len(probe) < 2:  # torch.export specializes a batch dimension traced at size 1
        probe = np.concatenate([probe, probe])
    sample = torch.from_numpy(probe)
    program = torch.export.export(module, (sample,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    ours = reference_output(model, probe, what)

    def verify(tmp: Path) -> None:  # the file as torch loads it computes what the model computes
        with torch.no_grad():  # (from the bytes: the temporary file's name does not end in .pt2)
            loaded = torch.export.load(io.BytesIO(tmp.read_bytes()))
            check_same(model, ours, loaded.module()(sample).numpy(), what)

    return atomic_write(path, lambda f: torch.export.save(program, f), verify=verify)
