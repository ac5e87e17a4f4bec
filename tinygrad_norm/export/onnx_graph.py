"""The model as an ONNX graph (``to_onnx``), built node by node with ``onnx.helper``."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .. import __version__, nn
from ..errors import ArgumentError, ArgumentTypeError
from ..serialization import atomic_write
from .layers import check_same, kind_of, layer_types, model_dtype, ordered_layers, probe_input, reference_output

# opset 17: the first with LayerNormalization; IR version 8 is the one of ONNX 1.12, which introduced opset 17,
# so runtimes from onnxruntime 1.12 on load the file
OPSET = 17
IR_VERSION = 8
ELEM_TYPE = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}


class _Graph:
    """Nodes and initializers under construction; ``value`` names the current output."""

    def __init__(self, dtype: np.dtype, value: str) -> None:
        self.dtype = dtype
        self.value = value
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def const(self, name: str, array: Any) -> str:
        self.initializers.append(numpy_helper.from_array(np.asarray(array, self.dtype), name))
        return name

    def op(self, op_type: str, name: str, *inputs: str, **attrs: Any) -> str:
        """Apply ``op_type`` to the current value (and ``inputs``), making its output the current value."""
        out = f"{name}/{op_type}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op_type, [self.value, *inputs], [out], name=out, **attrs))
        self.value = out
        return out

    def node(self, op_type: str, name: str, inputs: list[str], **attrs: Any) -> str:
        """A node on any inputs (the current value unchanged)."""
        out = f"{name}/{op_type}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


def _normalize(g: _Graph, name: str, layer: nn.Normalize) -> None:
    if layer.normalizer is None:  # an explicit identity (unfitted layers were refused before)
        g.op("Identity", name)
        return
    norm = layer.normalizer
    shift, scale, offset = norm._affine()
    if layer.invert:  # (x - offset) / scale + shift, as tinygrad_norm computes it
        if offset is not None:
            g.op("Sub", name, g.const(f"{name}.offset", offset))
        g.op("Div", name, g.const(f"{name}.scale", scale))
        g.op("Add", name, g.const(f"{name}.shift", shift))
        return
    g.op("Sub", name, g.const(f"{name}.shift", shift))
    g.op("Mul", name, g.const(f"{name}.scale", scale))
    if offset is not None:
        g.op("Add", name, g.const(f"{name}.offset", offset))
    if norm.clip_range is not None:
        low, high = norm.clip_range
        g.op("Clip", name, g.const(f"{name}.clip_min", low), g.const(f"{name}.clip_max", high))


def _array(t: Any) -> np.ndarray:
    return np.array(t.numpy(), copy=True)


def _linear(g: _Graph, name: str, layer: nn.Linear) -> None:
    inputs = [g.const(f"{name}.weight", _array(layer.weight))]
    if layer.bias is not None:
        inputs.append(g.const(f"{name}.bias", _array(layer.bias)))
    g.op("Gemm", name, *inputs, transB=1)  # x @ W.T + b, W (out, in) as torch keeps it


def _batch_norm(g: _Graph, name: str, layer: nn.BatchNorm1d) -> None:
    if not layer.track_running_stats:  # it normalizes by each batch's statistics even in eval mode
        raise ArgumentError(f"to_onnx: BatchNorm1d {name!r} has track_running_stats=False, so it normalizes every "
                            "batch by the batch's own statistics: ONNX's BatchNormalization takes fixed ones; train "
                            "with running statistics, or use LayerNorm")
    n = layer.num_features
    weight = _array(layer.weight) if layer.weight is not None else np.ones(n)
    bias = _array(layer.bias) if layer.bias is not None else np.zeros(n)
    g.op("BatchNormalization", name, g.const(f"{name}.weight", weight), g.const(f"{name}.bias", bias),
         g.const(f"{name}.running_mean", _array(layer.running_mean)),
         g.const(f"{name}.running_var", _array(layer.running_var)), epsilon=layer.eps)


def _layer_norm(g: _Graph, name: str, layer: nn.LayerNorm) -> None:
    shape = layer.normalized_shape
    inputs = [g.const(f"{name}.weight", _array(layer.weight) if layer.weight is not None else np.ones(shape))]
    if layer.bias is not None:
        inputs.append(g.const(f"{name}.bias", _array(layer.bias)))
    g.op("LayerNormalization", name, *inputs, axis=-len(shape), epsilon=layer.eps)


def _gelu(g: _Graph, name: str, layer: Any) -> None:
    """torch's GELU, composed (opset 17 has no Gelu): x/2 (1 + erf(x / sqrt 2)), or with ``approximate='tanh'``
    x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    x = g.value
    if layer.approximate == "tanh":
        cube = g.node("Mul", name, [g.node("Mul", name, [x, x]), x])
        inner = g.node("Add", name, [x, g.node("Mul", name, [cube, g.const(f"{name}.c", 0.044715)])])
        g.value = g.node("Tanh", name, [g.node("Mul", name, [inner, g.const(f"{name}.k", math.sqrt(2 / math.pi))])])
    elif layer.approximate == "none":
        g.value = g.node("Erf", name, [g.node("Div", name, [x, g.const(f"{name}.sqrt2", math.sqrt(2.0))])])
    else:
        raise ArgumentError(f"to_onnx: GELU {name!r} has approximate={layer.approximate!r}; 'none' and 'tanh' export")
    g.op("Add", name, g.const(f"{name}.one", 1.0))
    g.op("Mul", name, x)
    g.op("Mul", name, g.const(f"{name}.half", 0.5))


def _flatten(g: _Graph, name: str, layer: Any) -> None:
    if layer.end_dim != -1:  # ONNX's Flatten always flattens up to the last axis
        raise ArgumentError(f"to_onnx: Flatten {name!r} has end_dim={layer.end_dim}; only end_dim=-1 exports "
                            "(ONNX's Flatten)")
    g.op("Flatten", name, axis=layer.start_dim)


def add_layer(g: _Graph, name: str, layer: nn.Module, kind: str) -> None:
    """The nodes of one of our layers (``kind``: its class name in layers.LAYER_NAMES), in eval mode."""
    if kind == "Normalize":
        _normalize(g, name, layer)
    elif kind == "Linear":
        _linear(g, name, layer)
    elif kind == "BatchNorm1d":
        _batch_norm(g, name, layer)
    elif kind == "LayerNorm":
        _layer_norm(g, name, layer)
    elif kind == "GELU":
        _gelu(g, name, layer)
    elif kind == "Flatten":
        _flatten(g, name, layer)
    elif kind == "LeakyReLU":
        if g.dtype == np.float32:
            g.op("LeakyRelu", name, alpha=float(layer.negative_slope))
        else:  # (LeakyRelu's alpha is a float32 attribute: a float64 slope as a constant keeps all its digits)
            x = g.value
            positive = g.node("Greater", name, [x, g.const(f"{name}.zero", 0.0)])
            scaled = g.node("Mul", name, [x, g.const(f"{name}.negative_slope", layer.negative_slope)])
            g.value = g.node("Where", name, [positive, x, scaled])
    elif kind == "SiLU":
        g.op("Mul", name, g.node("Sigmoid", name, [g.value]))
    elif kind in ("Softmax", "LogSoftmax"):  # (opset 13 on: along one axis, as torch's dim)
        g.op(kind, name, axis=int(layer.dim))
    elif kind in ("Identity", "Dropout"):  # dropout in eval mode passes its input through
        g.op("Identity", name)
    elif kind in ("ReLU", "Sigmoid", "Tanh"):
        g.op({"ReLU": "Relu"}.get(kind, kind), name)
    else:  # pragma: no cover - LAYER_NAMES and this table agree
        raise ArgumentError(f"no ONNX translation for {kind}")


def _evaluate(proto: onnx.ModelProto, input_name: str, x: np.ndarray) -> np.ndarray:
    """The graph run by onnx's own NumPy runtime (no onnxruntime needed), whose Erf is made exact in float64
    (the reference one computes it in float32)."""
    from onnx.reference import ReferenceEvaluator
    from onnx.reference.op_run import OpRun

    class Erf(OpRun):
        op_domain = ""

        def _run(self, x):
            return (np.vectorize(math.erf, otypes=[x.dtype])(x),)

    return ReferenceEvaluator(proto, new_ops=[Erf]).run(None, {input_name: x})[0]


def build(model: nn.Module, example_input: Any = None, input_name: str = "input",
          output_name: str = "output") -> tuple[onnx.ModelProto, np.ndarray, np.ndarray]:
    """The checked ONNX model, the probe batch and the model's outputs on it."""
    what = "to_onnx"
    for label, value in (("input_name", input_name), ("output_name", output_name)):
        if not isinstance(value, str) or not value:
            raise ArgumentTypeError(f"{what}: {label} must be a non-empty string, got {value!r}")
    if input_name == output_name:
        raise ArgumentError(f"{what}: input_name and output_name are both {input_name!r}; they must differ")
    layers = ordered_layers(model, what)
    dtype = model_dtype(model)
    probe = probe_input(layers, example_input, dtype, what)
    ours = reference_output(model, probe, what)
    g = _Graph(dtype, input_name)
    types = layer_types()
    for name, layer in layers:
        add_layer(g, name, layer, kind_of(layer, types))
    g.op("Identity", "output")
    g.nodes[-1].output[0] = output_name
    elem = ELEM_TYPE[np.dtype(dtype)]
    graph = helper.make_graph(
        g.nodes, type(model).__name__,
        [helper.make_tensor_value_info(input_name, elem, ["batch", probe.shape[1]])],
        [helper.make_tensor_value_info(output_name, elem, ["batch", *ours.shape[1:]])], g.initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
                              producer_name="tinygrad_norm", producer_version=__version__,
                              doc_string=f"{type(model).__name__} exported by tinygrad_norm: input {input_name!r} "
                                         f"(batch, {probe.shape[1]}) raw features, output {output_name!r} "
                                         f"(batch, {', '.join(map(str, ours.shape[1:]))}); normalizers inside")
    onnx.checker.check_model(proto, full_check=True)
    theirs = _evaluate(proto, input_name, probe)
    check_same(model, ours, theirs, what)
    return proto, probe, ours


def to_onnx(model: nn.Module, path: str | os.PathLike, example_input: Any = None, input_name: str = "input",
            output_name: str = "output") -> onnx.ModelProto:
    """See :func:`tinygrad_norm.export.to_onnx`."""
    if not isinstance(path, (str, os.PathLike)):
        raise ArgumentTypeError(f"to_onnx: path must be a file path (str or os.PathLike), got {type(path).__name__}")
    proto, _, _ = build(model, example_input, input_name, output_name)
    data = proto.SerializeToString()
    atomic_write(Path(path), lambda f: f.write(data), verify=lambda tmp: onnx.checker.check_model(str(tmp)))
    return proto
