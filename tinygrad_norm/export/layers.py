"""The layers a model's forward applies, in order (what every exporter translates), a probe batch, and the
check that a translation computes what the model computes.

A model is read as a chain of layers, each applied to the output of the one before:

- ``nn.Sequential`` is its layers (nested Sequentials are walked);
- a layer of ours (``Linear``, ``Normalize``, ``BatchNorm1d``, ... see :data:`LAYERS`) is itself; a subclass counts
  as its base only while it keeps the base's ``forward``;
- any other Module (a user's model, whose ``forward`` is Python code that cannot be translated in general)
  declares its chain with ``export_layers(self) -> Sequence[Module]``: the layers its ``forward`` applies, in
  that order (each may be a Sequential or another such Module). Whether ``forward`` really does that is
  checked at every export on a probe batch: a model whose forward differs is an error, never a silently
  different exported model.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import nn
from ..errors import ArgumentError, ArgumentTypeError, NotFittedError, ShapeError, name_few
from ..tensor import Tensor, no_grad

# the layers an exporter translates (those of tn.nn that this tinygrad_norm has)
LAYER_NAMES = ("Normalize", "Linear", "ReLU", "Sigmoid", "Tanh", "BatchNorm1d", "LayerNorm", "Dropout", "Identity",
               "Flatten", "LeakyReLU", "GELU", "SiLU", "Softmax", "LogSoftmax")
PROBE_ROWS = 64
# the probe check: |theirs - ours| <= RTOL * (max(1, max|ours|) + |ours|). Float32 outputs of the same layers
# computed by another library differ by its other summation orders and fused kernels, a few 1e-7 relative;
# a model computing something else differs by far more
RTOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-9}


def layer_types() -> dict[type, str]:
    """tn.nn's exportable layer classes, by name."""
    return {cls: name for name in LAYER_NAMES if (cls := getattr(nn, name, None)) is not None}


def kind_of(layer: nn.Module, types: dict[type, str]) -> str | None:
    """The exportable layer ``layer`` is (its class name), or None: a subclass that overrides ``forward`` is
    no longer its base."""
    for cls in type(layer).__mro__:
        if cls in types:
            return types[cls] if type(layer).forward is cls.forward else None
    return None


def _declares(module: nn.Module) -> bool:
    return callable(getattr(type(module), "export_layers", None))


def ordered_layers(model: nn.Module, what: str) -> list[tuple[str, nn.Module]]:
    """``model`` as (name, layer) pairs, input to output; names are the layers' names in ``model`` (its
    ``named_modules``), or their position for a layer it does not hold. Unsupported layers and unfitted
    Normalize layers are one error naming them all."""
    if not isinstance(model, nn.Module):
        raise ArgumentTypeError(f"{what} takes a tinygrad_norm nn.Module, got {type(model).__name__}")
    types = layer_types()
    names = {id(m): name for name, m in model.named_modules()}
    layers = list(_walk(model, "", types, names, ()))
    if not layers:
        raise ArgumentError(f"{what}: {type(model).__name__} has no layers to export (an empty Sequential or "
                            "export_layers())")
    unsupported = [f"{name or '(the model)'} ({type(layer).__name__})" for name, layer in layers
                   if kind_of(layer, types) is None]
    if unsupported:
        raise ArgumentError(
            f"{what}: {len(unsupported)} layer(s) cannot be exported: {name_few(unsupported, str)}. Exported layers: "
            f"{', '.join(t for t in types.values())}, in nn.Sequential; a Module of your own (a subclass that "
            "overrides forward) exports when it defines export_layers(), returning the layers its forward applies "
            "in order (see tn.export)")
    unfitted = [name or "(the model)" for name, layer in layers
                if isinstance(layer, nn.Normalize) and not layer.is_fitted and not layer.identity]
    if unfitted:
        raise NotFittedError(f"{what}: Normalize layer(s) {name_few(unfitted, str)} hold no fitted normalizer, so "
                             "there are no statistics to export; fit them (nn.Normalize(tn.Normalizer().fit(X))) or "
                             "load the state dict that holds them")
    return [(name or "0", layer) for name, layer in layers]


def _walk(module: nn.Module, name: str, types: dict[type, str], names: dict[int, str],
          above: tuple[int, ...]) -> Iterator[tuple[str, nn.Module]]:
    if id(module) in above:
        raise ArgumentError(f"export_layers() of {type(module).__name__} returns a module that holds it (a cycle)")
    if _declares(module):
        declared = module.export_layers()
        if isinstance(declared, (nn.Module, str)) or not hasattr(declared, "__iter__"):
            raise ArgumentTypeError(f"{type(module).__name__}.export_layers() must return a sequence of Modules, got "
                                    f"{type(declared).__name__}")
        children = list(declared)
    elif type(module).forward is nn.Sequential.forward and isinstance(module, nn.Sequential):
        children = list(module)
    else:
        yield name, module
        return
    for i, child in enumerate(children):
        if not isinstance(child, nn.Module):
            raise ArgumentTypeError(f"{type(module).__name__}.export_layers() item {i} is a {type(child).__name__}, "
                                    "not a Module")
        child_name = names.get(id(child), f"{name}.{i}" if name else str(i))
        yield from _walk(child, child_name, types, names, (*above, id(module)))


def declaring(model: nn.Module) -> list[str]:
    """The modules of ``model`` whose chain of layers comes from their own export_layers()."""
    return [f"{type(m).__name__}.export_layers()" for _, m in model.named_modules() if _declares(m)]


def model_dtype(model: nn.Module) -> np.dtype:
    """The dtype of the model's floating-point parameters and buffers (float32 when it has none); mixed
    float dtypes are an error (an exported graph has one)."""
    dtypes = {t.dtype for t in [*model.parameters(), *(b for _, b in model.named_buffers())] if t.dtype.kind == "f"}
    if len(dtypes) > 1:
        raise ArgumentError(f"the model mixes parameter dtypes {sorted(map(str, dtypes))}: make them one with "
                            "model.float() or model.double() before exporting")
    return dtypes.pop() if dtypes else np.dtype(np.float32)


def _device(model: nn.Module) -> str:
    for t in [*model.parameters(), *(b for _, b in model.named_buffers())]:
        return t.device
    return "cpu"


def _width(layer: nn.Module) -> int | None:
    if isinstance(layer, nn.Normalize):
        return layer.n_features
    if isinstance(layer, nn.Linear):
        return layer.in_features
    if isinstance(layer, nn.BatchNorm1d):
        return layer.num_features
    if isinstance(layer, nn.LayerNorm) and len(layer.normalized_shape) == 1:
        return layer.normalized_shape[0]
    return None


def probe_input(layers: list[tuple[str, nn.Module]], example_input: Any, dtype: np.dtype, what: str) -> np.ndarray:
    """The batch a translation is checked on: ``example_input`` (rows of the model's input), else
    ``PROBE_ROWS`` rows drawn with a fixed seed, in raw units when the first layer is a fitted Normalize (its
    normalized values spread over -1.4 to 2.4: inside and outside a min-max range, so clipping is exercised)."""
    width = next((w for _, layer in layers if (w := _width(layer)) is not None), None)
    if example_input is not None:
        arr = example_input.numpy() if isinstance(example_input, Tensor) else np.asarray(example_input)
        if arr.dtype.kind not in "biuf":
            raise ArgumentTypeError(f"{what}: example_input must be numeric, got dtype {arr.dtype}")
        if arr.ndim != 2 or arr.shape[0] == 0 or (width is not None and arr.shape[1] != width):
            need = f"(N, {width})" if width is not None else "(N, features)"
            raise ShapeError(f"{what}: example_input must be a 2-D batch {need} with N >= 1, got shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise ArgumentError(f"{what}: example_input holds NaN or inf: the check needs finite rows")
        return np.ascontiguousarray(arr, dtype=dtype)
    if width is None:
        raise ArgumentError(f"{what}: the model's input width cannot be read from its layers (its first Linear, "
                            "Normalize, BatchNorm1d or LayerNorm comes after a layer that changes it, or there is "
                            "none): pass example_input=, a batch of its input")
    z = np.random.default_rng(0).standard_normal((PROBE_ROWS, width)) * 0.75 + 0.5
    first = layers[0][1]
    if isinstance(first, nn.Normalize) and first.is_fitted and not first.invert:
        z = first.normalizer.inverse_transform(z)
    return z.astype(dtype)


def reference_output(model: nn.Module, x: np.ndarray, what: str) -> np.ndarray:
    """``model(x)`` in eval mode (what an exported graph computes), without a graph; each module's own mode
    is put back after."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with no_grad():
            out = model(Tensor(x, dtype=x.dtype, device=_device(model)))
    finally:
        for m, mode in modes:
            m.training = mode
    if not isinstance(out, Tensor):
        raise ArgumentTypeError(f"{what}: {type(model).__name__}.forward returns a {type(out).__name__}; an exported "
                                "model returns one Tensor")
    return out.numpy()


def check_same(model: nn.Module, ours: np.ndarray, theirs: np.ndarray, what: str) -> None:
    """The exported model's outputs on the probe must be ours to the dtype's rounding (``RTOL``)."""
    rtol = RTOL.get(np.dtype(ours.dtype), 1e-2)
    theirs = np.asarray(theirs)
    declared = declaring(model)
    why = (f"{type(model).__name__}'s forward() does not apply the layers {' / '.join(declared)} declares, in that "
           "order: make export_layers() return exactly the layers forward() applies" if declared else
           "please report this as a bug of tinygrad_norm's exporter")
    if theirs.shape != ours.shape:
        raise ArgumentError(f"{what}: the exported model gives outputs of shape {theirs.shape} where the model gives "
                            f"{ours.shape}: {why}; nothing was exported")
    with np.errstate(invalid="ignore"):
        allowed = rtol * (max(1.0, float(np.nanmax(np.abs(ours), initial=0.0))) + np.abs(ours))
        diff = np.abs(theirs.astype(np.float64) - ours)
        bad = ~((diff <= allowed) | (np.isnan(ours) & np.isnan(theirs)))
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        worst = float(np.nanmax(np.where(bad, diff, 0.0)))
        raise ArgumentError(f"{what}: the exported model's outputs differ from {type(model).__name__}'s on a probe "
                            f"batch of {len(ours)} rows ({int(bad.sum())} of {bad.size} values, the first in row "
                            f"{row}, by up to {worst:.3g}; rounding allows {rtol:g} relative): {why}; nothing was "
                            "exported")

