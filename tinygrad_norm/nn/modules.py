"""Module, the layers, and parameters/buffers that a state_dict carries."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from .._backend import get_backend
from ..errors import ArgumentError, ArgumentTypeError, DTypeError, GraphError, NotFittedError, ShapeError
from ..function import Affine
from ..function import Linear as _LinearOp
from ..function import LinearReLU as _LinearReLUOp
from ..function import LinearReLULinear as _LinearReLULinearOp
from ..normalize import Normalizer
from ..tensor import Tensor, default_generator
from . import functional as F

EXTRA_STATE = "_extra_state"
_linear = _LinearOp.apply
_linear_relu = _LinearReLUOp.apply
_linear_relu_linear = _LinearReLULinearOp.apply


class IncompatibleKeys(NamedTuple):
    """What :meth:`Module.load_state_dict` returns, like torch's ``_IncompatibleKeys``: the model's keys the
    state dict lacked and the state dict's keys the model has no place for (both empty after a strict load)."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"IncompatibleKeys(missing_keys={self.missing_keys}, unexpected_keys={self.unexpected_keys})"


def _some(keys: list[str], shown: int = 3) -> str:
    """'3 missing keys: a, b, c' or '40 unexpected keys: a, b, c and 37 more': a long list stays readable."""
    head = ", ".join(keys[:shown])
    return head + (f" and {len(keys) - shown} more" if len(keys) > shown else "")


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
        """Sub-modules held in attributes, including those in plain lists, tuples and dicts of an attribute
        (named ``'layers.0'``, ``'heads.a'``: the names nn.ModuleList / nn.ModuleDict would give them)."""
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{i}", item
            elif isinstance(value, dict):
                for key, item in value.items():
                    if isinstance(item, Module):
                        yield f"{name}.{key}", item

    def children(self) -> Iterator[Module]:
        return (child for _, child in self.named_children())

    def modules(self) -> Iterator[Module]:
        """This module and every sub-module, depth first."""
        return (m for _, m in self.named_modules())

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
        return sum(p.numel() for p in self.parameters())

    # ---- state ------------------------------------------------------------------
    def get_extra_state(self) -> Any:
        """State that is not a tensor (e.g. a normalizer's settings), saved under ``'<prefix>_extra_state'``.

        Override together with :meth:`set_extra_state` (as in torch); the value may hold numbers,
        strings, lists, dicts and arrays (what ``tn.save`` stores)."""
        raise NotImplementedError

    def set_extra_state(self, state: Any) -> None:
        """Restore what :meth:`get_extra_state` returned; raise ValueError (changing nothing) if it is invalid."""
        raise NotImplementedError

    def _check_extra_state(self, state: Any) -> Any:
        """Validate ``state`` without changing anything; return what :meth:`set_extra_state` will need.
        The default passes ``state`` through; override it when validation can fail."""
        return state

    def _has_extra_state(self) -> bool:
        return type(self).get_extra_state is not Module.get_extra_state

    def named_modules(self, memo: set[Module] | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """This module and every sub-module, depth first, with dotted names ('' for this one), like torch's: a
        module held twice is yielded once (under its first name) unless ``remove_duplicate=False``; ``memo`` is
        the set of modules already yielded."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if self in memo:
                return
            memo.add(self)
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every sub-module (depth first, children before their parent) and then on this module;
        returns this module, like torch's (``model.apply(init_weights)``)."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` of every parameter (``False`` freezes the module); returns the module, like
        torch's."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def _extra_state_keys(self) -> dict[str, Module]:
        return {f"{name}.{EXTRA_STATE}" if name else EXTRA_STATE: m
                for name, m in self.named_modules(remove_duplicate=False) if m._has_extra_state()}

    def state_dict(self) -> OrderedDict[str, Any]:
        """Parameters and buffers by dotted name, as detached tensors sharing memory, plus the
        ``'_extra_state'`` of modules that keep non-tensor state (like torch)."""
        out: OrderedDict[str, Any] = OrderedDict()
        for name, t in self._named_tensors((Parameter, Buffer)):
            out[name] = t.detach()
        for key, module in self._extra_state_keys().items():
            out[key] = module.get_extra_state()
        return out

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy values into the existing tensors in place (so optimizer views stay valid) and restore
        the modules' extra state; returns ``(missing_keys, unexpected_keys)`` as torch does (the module
        itself is not returned: ``model.load_state_dict(...)`` on its own line).

        With ``strict`` (the default) a missing or unexpected key is an error naming them; with
        ``strict=False`` they are skipped and returned. Everything is checked first (names, shapes,
        dtypes, extra state): nothing changes if any check fails.
        """
        if not isinstance(state, Mapping):
            raise ArgumentTypeError(f"load_state_dict takes a dict of name -> tensor, got {type(state).__name__}")
        own: dict[str, Any] = dict(self._named_tensors((Parameter, Buffer)))
        extra = self._extra_state_keys()
        expected = set(own) | set(extra)
        missing = [k for k in [*own, *extra] if k not in state]
        unexpected = [str(k) for k in state if k not in expected]
        problems: list[str] = []
        kinds: set[type] = set()  # a ShapeError only when every problem is a shape mismatch
        if strict and missing:
            problems.append(f"{len(missing)} missing key{'s' * (len(missing) > 1)}: {_some(missing)}")
            kinds.add(ArgumentError)
        if strict and unexpected:
            problems.append(f"{len(unexpected)} unexpected key{'s' * (len(unexpected) > 1)}: {_some(unexpected)}")
            kinds.add(ArgumentError)
        values, extras = {}, {}
        for k, v in state.items():
            if k in extra:
                try:
                    extras[k] = extra[k]._check_extra_state(v)
                except (ValueError, TypeError, KeyError) as e:
                    problems.append(f"{k}: {e}")
                    kinds.add(ArgumentError)
                continue
            if k not in own:
                continue
            t = own[k]
            try:
                arr = v.numpy() if isinstance(v, Tensor) else np.asarray(v)
                if arr.dtype.kind not in "biuf":
                    raise DTypeError(f"dtype {arr.dtype} is not numeric")
                if tuple(arr.shape) != t.shape:
                    raise ShapeError(f"shape {tuple(arr.shape)} in the state dict, {t.shape} in the model")
                values[k] = t._backend.asarray(arr, t.dtype)
            except (ValueError, TypeError) as e:
                problems.append(f"{k}: {e}")
                kinds.add(ShapeError if isinstance(e, ShapeError) else ArgumentError)
        if problems:
            error = ShapeError if kinds == {ShapeError} else ArgumentError
            hint = ("; pass strict=False to load the keys that match (it returns the others)"
                    if strict and (missing or unexpected) else "")
            raise error(f"load_state_dict for {type(self).__name__} failed (nothing was changed): "
                        + "; ".join(problems) + hint)
        for k, arr in values.items():
            own[k]._backend.xp.copyto(own[k].data, arr)
        for k, checked in extras.items():
            extra[k].set_extra_state(checked)
        return IncompatibleKeys(missing, unexpected)

    def train(self, mode: bool = True) -> Module:
        self.training = mode
        for _, child in self.named_children():
            child.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def to(self, device: str) -> Module:
        """Move every parameter and buffer to ``device`` in place."""
        get_backend(device)  # an unknown device is an error before anything moves
        for _, t in self._named_tensors((Parameter, Buffer)):
            t.to_(device)
        return self

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self) -> Module:
        return self.to("cuda")

    def _cast_floats(self, dtype: Any) -> Module:
        dtype = np.dtype(dtype)
        for _, t in self._named_tensors((Parameter, Buffer)):
            if t.dtype.kind == "f" and t.dtype != dtype:
                t.data = t.data.astype(dtype)  # an optimizer made earlier regroups its parameters at its next step
                t.grad = None
        return self

    def float(self) -> Module:
        """Floating-point parameters and buffers to float32, in place."""
        return self._cast_floats(np.float32)

    def double(self) -> Module:
        """Floating-point parameters and buffers to float64, in place."""
        return self._cast_floats(np.float64)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    # ---- summary, in the style of Burn's model summary ----------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        own = sum(p.numel() for name, p in vars(self).items() if isinstance(p, Parameter))
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
            raise ArgumentError(f"Linear needs positive sizes, got in_features={in_features}, "
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
        w, b = self.weight, self.bias
        be, dt = w._backend, w.data.dtype
        if (type(x) is Tensor and x._backend is be and x.data.dtype is dt and b is not None and b._backend is be
                and b.data.dtype is dt):
            return _linear(x, w, b)  # the checks F.linear would make, passed: the hot path skips them
        return F.linear(x, w, b)

    def forward_relu(self, x: Tensor) -> Tensor:
        """``relu(self(x))`` as one graph node (what Sequential runs for this layer and a ReLU after it)."""
        w, b = self.weight, self.bias
        be, dt = w._backend, w.data.dtype
        if (type(x) is Tensor and x._backend is be and x.data.dtype is dt and b is not None and b._backend is be
                and b.data.dtype is dt):
            return _linear_relu(x, w, b)
        return F.relu(F.linear(x, w, b))

    def forward_relu_linear(self, x: Tensor, then: Linear) -> Tensor:
        """``then(relu(self(x)))`` as one graph node (what Sequential runs for this layer, a ReLU and a last
        Linear ``then``)."""
        w, b, w2, b2 = self.weight, self.bias, then.weight, then.bias
        be, dt = w._backend, w.data.dtype
        if (type(x) is Tensor and x._backend is be and x.data.dtype is dt and b is not None and b2 is not None
                and b._backend is be and w2._backend is be and b2._backend is be and b.data.dtype is dt
                and w2.data.dtype is dt and b2.data.dtype is dt):
            return _linear_relu_linear(x, w, b, w2, b2)
        return then(self.forward_relu(x))

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


class Identity(Module):
    """Returns its input, like torch.nn.Identity (a placeholder for a layer switched off). As torch's, it takes
    any constructor arguments and uses none: the layer it stands in for can be swapped without editing them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def forward(self, input: Any) -> Any:
        return input


class Flatten(Module):
    """Merges dimensions ``start_dim..end_dim`` (inclusive) into one, like torch.nn.Flatten: (N, C, L) to (N, C*L)
    by default (the batch dimension 0 is kept)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        for name, value in (("start_dim", start_dim), ("end_dim", end_dim)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ArgumentTypeError(f"Flatten: {name} must be an int, got {value!r}")
        self.start_dim = int(start_dim)
        self.end_dim = int(end_dim)

    def forward(self, input: Tensor) -> Tensor:
        return F.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim: {self.start_dim}, end_dim: {self.end_dim}"


class MSELoss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = reduction

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(pred, target, self.reduction)

    def extra_repr(self) -> str:
        return f"reduction: {self.reduction}"


class Sequential(Module):
    """Layers applied in order; their state_dict names are '0.weight', '1.bias', ... like torch.

    A ``Linear`` directly followed by a ``ReLU`` runs as one fused graph node: the same numbers,
    one node and one activation array fewer per step. A Linear, a ReLU and a Linear that no ReLU follows (a
    model's last layers) run as one node too (``function.LinearReLULinear``)."""

    def __init__(self, *layers: Module) -> None:
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise ArgumentTypeError(f"Sequential takes Modules; item {i} is {type(layer).__name__}")
        self.layers = list(layers)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for i, layer in enumerate(self.layers):
            yield str(i), layer

    def forward(self, x: Any) -> Any:
        layers = self.layers
        n = len(layers)
        i = 0
        while i < n:
            layer = layers[i]
            # a Linear and the ReLU after it run as one fused node (exact types: a subclass may
            # change what forward does)
            if type(layer) is Linear and i + 1 < n and type(layers[i + 1]) is ReLU:
                if i + 2 < n and type(layers[i + 2]) is Linear and (i + 3 == n or type(layers[i + 3]) is not ReLU):
                    x = layer.forward_relu_linear(x, layers[i + 2])
                    i += 3
                else:
                    x = layer.forward_relu(x)
                    i += 2
            else:
                x = layer(x)
                i += 1
        return x

    def __getitem__(self, i: int | slice) -> Module:
        """One layer, or for a slice a Sequential of those layers (the same objects, as in torch; its
        state_dict numbers them from 0, where torch keeps their original numbers)."""
        if isinstance(i, slice):
            return Sequential(*self.layers[i])
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)


class ModuleList(Module):
    """Sub-modules in a list, registered like torch.nn.ModuleList (state_dict names '0.weight', ...)."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        self._items: list[Module] = []
        self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        if not isinstance(module, Module):
            raise ArgumentTypeError(f"ModuleList takes Modules, got {type(module).__name__}")
        self._items.append(module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for i, m in enumerate(self._items):
            yield str(i), m

    def __getitem__(self, i: int) -> Module:
        return self._items[i]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._items)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise GraphError("ModuleList has no forward(): iterate over it in your module's forward()")


class ModuleDict(Module):
    """Sub-modules by name, registered like torch.nn.ModuleDict (state_dict names 'name.weight', ...)."""

    def __init__(self, modules: Mapping[str, Module] | None = None) -> None:
        self._items: dict[str, Module] = {}
        for k, m in (modules or {}).items():
            self[k] = m

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(key, str) or not isinstance(module, Module):
            raise ArgumentTypeError(f"ModuleDict maps str to Module, got {type(key).__name__} -> "
                                    f"{type(module).__name__}")
        self._items[key] = module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self._items.items()

    def __getitem__(self, key: str) -> Module:
        return self._items[key]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def keys(self):
        return self._items.keys()

    def values(self):
        return self._items.values()

    def items(self):
        return self._items.items()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise GraphError("ModuleDict has no forward(): use its modules in your module's forward()")


class _NormalizeState(NamedTuple):
    """What a Normalize layer holds, checked: a fitted normalizer, or none (then an identity or unfitted)."""

    normalizer: Normalizer | None
    identity: bool


class Normalize(Module):
    """Applies a fitted Normalizer inside a model, so its statistics travel with the model.

    ``state_dict()`` carries the whole normalizer under ``'<prefix>_extra_state'``: its method,
    options (ddof, with_mean/with_std, feature_range, clip), feature names, row count and float64
    statistics. ``Normalize(8)`` is an unfitted layer for 8 features, a place for a checkpoint's
    normalizer: ``load_state_dict`` turns it into exactly the saved transform (how a model is
    rebuilt from a checkpoint); called before that, it raises NotFittedError (never a silent
    identity). ``Normalize(8, identity=True)`` passes its input through on purpose (a model without
    normalization), and says so in its state. Gradients flow through to the input.

    ``Normalize(norm, invert=True)`` applies ``norm.inverse_transform`` instead, differentiably (Keras's
    ``Normalization(invert=True)``): as a model's last layer it maps outputs learned in normalized units back
    to the targets' units (clipping, if the normalizer clips, is not undone). Its state says it is inverted,
    so a bare ``Normalize(1, invert=True)`` is filled by ``load_state_dict``, and the state of an inverted
    layer never loads into a forward one, or the reverse (the same statistics, the opposite map).
    """

    def __init__(self, normalizer: Normalizer | int, device: str = "cpu", identity: bool = False,
                 invert: bool = False) -> None:
        if not isinstance(identity, bool):
            raise ArgumentTypeError(f"Normalize: identity must be True or False, got {identity!r}")
        if not isinstance(invert, bool):
            raise ArgumentTypeError(f"Normalize: invert must be True or False, got {invert!r}")
        if identity and invert:  # an identity has no statistics to invert: refused rather than ignored
            raise ArgumentError("Normalize: invert=True applies a normalizer's inverse_transform; an identity layer "
                                "(identity=True) has no normalizer to invert")
        if isinstance(normalizer, Normalizer):
            if not normalizer.is_fitted:
                raise ArgumentError("Normalize needs a fitted Normalizer: call .fit(X_train) first")
            if identity:
                raise ArgumentError("Normalize: identity=True passes inputs through, so it takes a number of "
                                    "features, not a Normalizer")
            self.normalizer: Normalizer | None = Normalizer.from_state_dict(normalizer.state_dict())  # a copy
            self.n_features = int(normalizer.n_features)
        elif isinstance(normalizer, (int, np.integer)) and not isinstance(normalizer, bool) and normalizer > 0:
            self.normalizer = None
            self.n_features = int(normalizer)
        else:
            raise ArgumentTypeError(f"Normalize takes a fitted Normalizer or a positive number of features, "
                            f"got {normalizer!r}")
        self.identity = identity
        self.invert = invert
        get_backend(device)  # an unknown device is an error here, as for other layers
        self._device_stats: dict[tuple[str, Any], tuple[tuple, tuple[Any, Any, Any]]] = {}

    @property
    def method(self) -> str:
        if self.normalizer is not None:
            return self.normalizer.method
        return "identity" if self.identity else "not fitted"

    @property
    def is_fitted(self) -> bool:
        """True when the layer holds a fitted normalizer (an identity layer holds none)."""
        return self.normalizer is not None

    def get_extra_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"n_features": self.n_features}
        if self.normalizer is not None:
            state["normalizer"] = self.normalizer.state_dict()
        elif self.identity:
            state["identity"] = True
        if self.invert:  # (absent when False: a forward layer's state is what it always was)
            state["invert"] = True
        return state

    def _check_extra_state(self, state: Any) -> _NormalizeState:
        if not isinstance(state, dict) or not isinstance(state.get("n_features"), int):
            raise ArgumentError("Normalize state must be a dict with 'n_features' (what get_extra_state() returns)")
        if state["n_features"] != self.n_features:
            raise ArgumentError(f"Normalize state is for {state['n_features']} features, this layer has "
                             f"{self.n_features}")
        identity = state.get("identity", False)
        if not isinstance(identity, bool):
            raise ArgumentError(f"Normalize state: 'identity' must be true or false, got {identity!r}")
        invert = state.get("invert", False)
        if not isinstance(invert, bool):
            raise ArgumentError(f"Normalize state: 'invert' must be true or false, got {invert!r}")
        if invert != self.invert:  # the same statistics would map the other way: never loaded silently
            def kind(inv: bool) -> str:
                return "an inverted layer (invert=True)" if inv else "a forward layer (invert=False)"
            raise ArgumentError(f"Normalize state is of {kind(invert)}, this layer is {kind(self.invert)}; build "
                                f"the layer with invert={invert}")
        if state.get("normalizer") is None:
            return _NormalizeState(None, identity)
        if identity:
            raise ArgumentError("Normalize state holds a normalizer and says identity: it cannot be both")
        normalizer = Normalizer.from_state_dict(state["normalizer"])
        if normalizer.n_features != self.n_features:
            raise ShapeError(f"Normalize state holds a normalizer of {normalizer.n_features} features for a layer of "
                             f"{self.n_features}")
        return _NormalizeState(normalizer, False)

    def set_extra_state(self, state: Any) -> None:
        checked = state if isinstance(state, _NormalizeState) else self._check_extra_state(state)
        self.normalizer, self.identity = checked.normalizer, checked.identity
        self._device_stats.clear()

    def _stats(self, x: Tensor) -> tuple[Any, Any, Any]:
        """shift/scale/offset as arrays of x's dtype on x's device, made once per (device, dtype) for the
        normalizer's current statistics (a refit, a changed setting or another normalizer makes them anew)."""
        derived = self.normalizer._affine()  # the same tuple until the statistics change
        key = (x.device, x.dtype)
        entry = self._device_stats.get(key)
        if entry is None or entry[0] is not derived:
            shift, scale, offset = derived
            self.normalizer._check_tensor_safe(x.dtype, "Normalize")
            be = x._backend
            entry = self._device_stats[key] = (derived, (be.asarray(shift, x.dtype), be.asarray(scale, x.dtype),
                                                         None if offset is None else be.asarray(offset, x.dtype)))
        return entry[1]

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise ArgumentTypeError(f"Normalize takes a Tensor, got {type(x).__name__}; wrap arrays with tn.Tensor(x)")
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ShapeError(f"Normalize: expected input of shape (N, {self.n_features}), got {x.shape}")
        if self.normalizer is None:
            if self.identity:
                return x
            # an unfitted layer passing raw features on would train or predict on the wrong scale, silently
            raise NotFittedError(f"Normalize({self.n_features}) holds no fitted normalizer: pass a fitted "
                                 "tn.Normalizer, load a state dict that holds one (model.load_state_dict(tn.load("
                                 f"path))), or use Normalize({self.n_features}, identity=True) to pass inputs through")
        if x.dtype.kind != "f":  # integers and bools: what Normalizer.transform gives (float64 maths, float32 out)
            return self.normalizer.inverse_transform(x) if self.invert else self.normalizer.transform(x)
        shift, scale, offset = self._stats(x)
        if self.invert:  # (x - offset) / scale + shift, gradient g / scale; clipping is not undone
            return Affine.apply(x, shift=shift, scale=scale, offset=offset, clip=None, inverse=True)
        return Affine.apply(x, shift=shift, scale=scale, offset=offset, clip=self.normalizer.clip_range)

    def extra_repr(self) -> str:
        clip = ", clip: true" if self.normalizer is not None and self.normalizer.clip else ""
        method = self.method
        if method == "not fitted":  # a place for a checkpoint's statistics, which no one should take for a no-op
            method = "not fitted (load a state dict; it is no identity)"
        invert = ", invert: true" if self.invert else ""
        return f"method: {method}, d_input: {self.n_features}{clip}{invert}"
