"""Models leave the library: to torch (:func:`to_torch`, :func:`save_torch`), to ONNX (:func:`to_onnx`) and,
for a fitted normalizer, to scikit-learn (:meth:`tinygrad_norm.Normalizer.to_sklearn`).

What exports: a model that is a chain of layers, each applied to the output of the one before: an
``nn.Sequential`` of ``Normalize`` (fitted, forward or ``invert=True``, or an explicit identity), ``Linear``,
``BatchNorm1d``, ``LayerNorm``, the activations (``ReLU``, ``Sigmoid``, ``Tanh``, ``LeakyReLU``, ``GELU``,
``SiLU``, ``Softmax``, ``LogSoftmax``), ``Dropout``, ``Identity`` and ``Flatten`` (those of them this
tinygrad_norm has), nested freely.

A Module of your own (its ``forward`` is Python code, which no exporter can translate in general) declares
the chain its forward applies::

    class Model(nn.Module):
        def forward(self, x):
            return self.out(self.act(self.hidden(self.norm(x))))

        def export_layers(self):  # the layers forward() applies, in order
            return [self.norm, self.hidden, self.act, self.out]

Every export runs the exported model and ours on a probe batch (``example_input``, else 64 rows drawn with
a fixed seed, in raw units when the first layer is a fitted Normalize) and compares their outputs; a forward
that does not do what ``export_layers()`` says (a skipped layer, another order, a residual connection) is an
``ArgumentError`` and nothing is exported: never a silently different model. A layer that cannot be exported
is an ``ArgumentError`` naming every such layer; an unfitted ``Normalize`` is a ``NotFittedError``.

Exported models compute what ``model.eval()`` computes (BatchNorm1d by its running statistics, Dropout
passing its input through); the torch module of :func:`to_torch` keeps each layer's train/eval mode.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import MissingDependencyError
from .layers import LAYER_NAMES


def _need(module: str, install: str, what: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(f"{what} needs {module}: pip install {install}")


def to_torch(model: Any, example_input: Any = None) -> Any:
    """``model`` as a ``torch.nn.Sequential`` with the same layers and weights (copies: training one leaves the
    other alone). Linear, BatchNorm1d, LayerNorm and the activations are torch's own modules; a fitted
    ``nn.Normalize`` is :class:`tinygrad_norm.export.torch_module.Normalize`, whose statistics are registered
    buffers (float64, cast to the input's dtype as ours are), so ``.to()``, ``state_dict()`` and
    ``torch.save`` carry them; clipping included.

    Children are named as the layers are in ``model`` (``model.named_modules()``): a Sequential's ``'0'``,
    ``'1'``, ..., so its parameters' state-dict keys are ours; a nested layer's dots become underscores
    (``'block.0'`` is ``'block_0'``: torch's names cannot hold dots). The parameters are float32 or float64
    as ours are. The module is checked against ``model`` on a probe batch before it is returned (see the
    module docstring). ``torch.save(module)`` pickles the Normalize class, so loading that file needs
    tinygrad_norm; :func:`save_torch` writes one that needs torch alone. Needs torch."""
    _need("torch", "torch", "to_torch")
    from .torch_module import to_torch as convert

    return convert(model, example_input)


def save_torch(model: Any, path: str | os.PathLike, example_input: Any = None) -> Path:
    """Write ``model`` to ``path`` as a ``torch.export`` program (``.pt2``), which torch alone loads, without
    tinygrad_norm: ``torch.export.load(path).module()(x)`` takes (batch, features) rows of the model's dtype,
    any batch size, and returns what ``model.eval()`` returns. The file is written atomically (a temporary file
    renamed over ``path`` once it loaded and computed the probe's outputs again: a failed export leaves an
    existing file as it was). Returns the path. Needs torch."""
    _need("torch", "torch", "save_torch")
    from .torch_module import save_torch as write

    return write(model, path, example_input)


def to_onnx(model: Any, path: str | os.PathLike, example_input: Any = None, *, input_name: str = "input",
            output_name: str = "output") -> Any:
    """Write ``model`` to ``path`` as an ONNX model (opset 17, IR version 8) and return the ``onnx.ModelProto``.

    The graph: one input ``input_name`` of shape ``("batch", features)`` (a dynamic batch dimension) and the
    model's dtype (float32 or float64), one output ``output_name`` of shape ``("batch", ...)``. Normalizers are
    constant initializers, ``Sub``/``Mul``/``Add`` then ``Clip`` (inverted: ``Sub``/``Div``/``Add``); Linear is
    ``Gemm`` (transB=1); BatchNorm1d is ``BatchNormalization`` with its running statistics, LayerNorm
    ``LayerNormalization``; ReLU, Sigmoid, Tanh, LeakyReLU, Softmax and LogSoftmax their ONNX ops; GELU and SiLU
    are composed (``Erf``/``Tanh``, ``Sigmoid``: opset 17 has neither); Dropout and Identity ``Identity``.
    Initializers are named after our state-dict keys (``'input_layer.weight'``). onnxruntime runs every such
    graph but one: it has no float64 ``Erf``, so a float64 model with ``GELU()`` (not ``'tanh'``) is valid ONNX
    that it refuses; export the float32 model (``model.float()``).

    The model is checked by ``onnx.checker`` (full check) and run by ONNX's reference evaluator on a probe
    batch against ours before anything is written; the file is written atomically (a failed export leaves an
    existing file as it was). Needs onnx (``pip install 'tinygrad_norm[onnx]'``); onnxruntime runs the file."""
    _need("onnx", "'tinygrad_norm[onnx]'", "to_onnx")
    from .onnx_graph import to_onnx as write

    return write(model, path, example_input, input_name, output_name)


__all__ = ["LAYER_NAMES", "save_torch", "to_onnx", "to_torch"]
