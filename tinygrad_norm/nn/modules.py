"""Module, the layers, and parameters/buffers that a state_dict carries."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from .._backend import get_backend
from ..tensor import Tensor, default_generator
from . import functional as F


class Parameter(Tensor):
    """A trainable tensor of a Module (requires_grad=True)."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None, device: str | None = None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype, device=device)


class Buffer(Tensor):
    """A non-trainable tensor of a Module that is saved with it (e.g. normalization statistics)."""

    __slots__ = ()

    def __init__(self, data: Any, dtype: Any = None, device: str | None = None):
        super().__init__(data, requires_grad=False, dtype=dtype, device=device)


class Module:
    """Base class of layers and models. Parameters, buffers and sub-modules are found
    by looking at the instance's attributes, in the order they were assigned."""

    training: bool = True

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ---- traversal ----------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value

    def _named_tensors(self, kind: type, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            pre, mod = stack.pop(0)
            for name, value in vars(mod).items():
                if isinstance(value, kind) and id(value) not in seen:
                    seen.add(id(value))
                    yield pre + name, value
            stack[0:0] = [(f"{pre}{name}.", child) for name, child in mod.named_children()]

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        return self._named_tensors(Parameter)

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_buffers(self) -> Iterator[tuple[str, Buffer]]:
        return self._named_tensors(Buffer)

    def num_params(self) -> int:
        return sum(p.size for p in self.parameters())

    # ---- state ------------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, Tensor]:
        """Parameters and buffers by dotted name, as detached tensors sharing memory."""
        out: OrderedDict[str, Tensor] = OrderedDict()
        for name, t in self._named_tensors((Parameter, Buffer)):
            out[name] = t.detach()
        return out

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> None:
        """Copy values into the existing tensors in place (so optimizer views stay valid).

        Names and shapes are checked first; nothing is changed if any check fails.
        """
        own = dict(self._named_tensors((Parameter, Buffer)))
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        values = {}
        for k, v in state.items():
            if k not in own:
                continue
            arr = v.numpy() if isinstance(v, Tensor) else np.asarray(v)
            if tuple(arr.shape) != own[k].shape:
                problems.append(f"{k}: shape {tuple(arr.shape)} in the state dict, {own[k].shape} in the model")
            values[k] = arr
        if problems:
            raise KeyError(f"load_state_dict for {type(self).__name__} failed: " + "; ".join(problems))
        for k, arr in values.items():
            t = own[k]
            t._backend.xp.copyto(t.data, t._backend.asarray(arr, t.dtype))

    def train(self, mode: bool = True) -> Module:
        self.training = mode
        for _, child in self.named_children():
            child.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def to(self, device: str) -> Module:
        """Move every parameter and buffer to ``device`` in place."""
        backend = get_backend(device)
        for _, t in self._named_tensors((Parameter, Buffer)):
            if t._backend is not backend:
                t.data = backend.asarray(t.data, t.dtype)
                t._backend = backend
                t.grad = None
                t._grad_buf = None
        return self

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    # ---- summary, in the style of Burn's model summary ----------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        own = sum(p.size for name, p in vars(self).items() if isinstance(p, Parameter))
        if not children:
            fields = [f for f in (self.extra_repr(),) if f]
            if own:
                fields.append(f"params: {own}")
            return f"{type(self).__name__} {{{', '.join(fields)}}}" if fields else type(self).__name__
        lines = [f"{type(self).__name__} {{"]
        for name, child in children:
            lines.append("  " + f"{name}: {child!r}".replace("\n", "\n  "))
        lines.append(f"  params: {self.num_params()}")
        lines.append("}")
        return "\n".join(lines)


class Linear(Module):
    """``y = x @ weight.T + bias`` with weight (out_features, in_features), initialised like
    torch.nn.Linear: uniform in ±1/sqrt(in_features) for weight and bias."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype: Any = None,
                 device: str = "cpu", generator: np.random.Generator | None = None) -> None:
        if in_features <= 0 or out_features <= 0:
            raise ValueError(f"Linear needs positive sizes, got in_features={in_features}, "
                             f"out_features={out_features}")
        gen = generator or default_generator()
        bound = 1.0 / math.sqrt(in_features)
        dtype = np.dtype(dtype or np.float32)
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(gen.uniform(-bound, bound, (out_features, in_features)).astype(dtype),
                                dtype=dtype, device=device)
        self.bias = (Parameter(gen.uniform(-bound, bound, (out_features,)).astype(dtype), dtype=dtype,
                               device=device) if bias else None)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"d_input: {self.in_features}, d_output: {self.out_features}, bias: {str(self.bias is not None).lower()}"


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class MSELoss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = reduction

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(pred, target, self.reduction)

    def extra_repr(self) -> str:
        return f"reduction: {self.reduction}"


class Sequential(Module):
    """Layers applied in order; their state_dict names are '0.weight', '1.bias', ... like torch."""

    def __init__(self, *layers: Module) -> None:
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential takes Modules; item {i} is {type(layer).__name__}")
        self.layers = list(layers)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for i, layer in enumerate(self.layers):
            yield str(i), layer

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)


class Normalize(Module):
    """Applies a fitted Normalizer inside a model, so its statistics travel with the model.

    The statistics are stored as float64 buffers (``shift``, ``scale``, ``offset``), so
    ``state_dict()`` / ``load_state_dict()`` and ``tn.save`` carry them; gradients flow
    through to the input. ``Normalize(8)`` makes an identity layer for 8 features, to be filled by
    ``load_state_dict`` (how a model is rebuilt from a checkpoint).
    """

    def __init__(self, normalizer: Any, device: str = "cpu") -> None:
        from ..normalize import Normalizer

        if isinstance(normalizer, Normalizer):
            shift, scale, offset = normalizer.shift, normalizer.scale, normalizer.offset
            self.method = normalizer.method
            clip = normalizer.feature_range if normalizer.method == "minmax" and normalizer.clip else None
        elif isinstance(normalizer, int):
            shift, scale, offset = np.zeros(normalizer), np.ones(normalizer), None
            self.method = "identity"
            clip = None
        else:
            raise TypeError(f"Normalize takes a fitted Normalizer or a number of features, "
                            f"got {type(normalizer).__name__}")
        self.n_features = int(shift.shape[0])
        self.clip_range = clip
        self.shift = Buffer(shift, dtype=np.float64, device=device)
        self.scale = Buffer(scale, dtype=np.float64, device=device)
        self.offset = Buffer(offset if offset is not None else np.zeros(self.n_features), dtype=np.float64,
                             device=device)

    def forward(self, x: Tensor) -> Tensor:
        from ..function import Affine

        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"Normalize: expected input of shape (N, {self.n_features}), got {x.shape}")
        if x._backend is not self.shift._backend:
            raise RuntimeError(f"Normalize: input on {x.device}, statistics on {self.shift.device}; "
                               "move the model or the input with .to(device)")
        return Affine.apply(x, shift=self.shift.data, scale=self.scale.data, offset=self.offset.data,
                            clip=self.clip_range)

    def extra_repr(self) -> str:
        return f"method: {self.method}, d_input: {self.n_features}"
