"""SGD and Adam with torch.optim's update rules, fused over one flat buffer.

At construction the optimizer moves every parameter into one contiguous buffer
(each parameter's ``.data`` becomes a view of it) and gives each parameter a
view of one flat gradient buffer that ``backward()`` writes into. A step is
then one pass of the backend's update kernel over all parameters at once,
instead of a loop of small array calls per parameter.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .errors import ArgumentError, ArgumentTypeError, ShapeError
from .tensor import Tensor


class Optimizer:
    _state_names: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Tensor]) -> None:
        unique: list[Tensor] = []
        seen: set[int] = set()
        for p in params:
            if not isinstance(p, Tensor):
                raise ArgumentTypeError(f"optimizer parameters must be Tensors, got {type(p).__name__}")
            if not p.requires_grad:
                raise ShapeError(f"optimizer got a tensor of shape {p.shape} that does not require grad")
            if not p.is_leaf:
                raise ArgumentError("optimizer parameters must be leaf tensors (not results of operations)")
            if id(p) not in seen:
                seen.add(id(p))
                unique.append(p)
        if not unique:
            raise ArgumentError("optimizer got an empty parameter list")
        first = unique[0]
        for p in unique:
            if p._backend is not first._backend or p.dtype != first.dtype:
                raise ArgumentError(f"all parameters must share one device and dtype; got {first.device}/{first.dtype} "
                                 f"and {p.device}/{p.dtype}")
        self.params = unique
        self._backend = first._backend
        self._steps = [0] * len(unique)  # per parameter, as torch counts them
        self._flatten()
        xp = self._backend.xp
        self._state = {name: xp.zeros(self._flat.shape, dtype=self._flat.dtype) for name in self._state_names}

    def _flatten(self) -> None:
        xp = self._backend.xp
        sizes = [p.size for p in self.params]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int).tolist()
        dtype = self.params[0].dtype
        self._flat = xp.empty(self._offsets[-1], dtype=dtype)
        self._flat_grad = xp.zeros(self._offsets[-1], dtype=dtype)
        for i, p in enumerate(self.params):
            lo, hi = self._offsets[i], self._offsets[i + 1]
            view = self._flat[lo:hi].reshape(p.shape)
            view[...] = p.data
            p.data = view
            p._grad_buf = self._flat_grad[lo:hi].reshape(p.shape)
            if p.grad is not None:
                p._grad_buf[...] = p.grad.data
                p.grad = Tensor._make(p._grad_buf, p._backend)
        self._views = [p.data for p in self.params]

    def _sync(self) -> None:
        """Re-link parameters whose ``.data`` was replaced (e.g. assigned by hand) since the last step."""
        if any(p.data is not v for p, v in zip(self.params, self._views)):
            old = {name: buf.copy() for name, buf in getattr(self, "_state", {}).items()}
            self._flatten()
            self._state = old
        for p in self.params:
            if p.grad is not None and p.grad.data is not p._grad_buf:
                p._backend.xp.copyto(p._grad_buf, p.grad.data)
                p.grad = Tensor._make(p._grad_buf, p._backend)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear gradients. With ``set_to_none`` (default, like torch) a parameter that gets no
        gradient in the next backward is skipped by the next step, exactly as in torch."""
        for p in self.params:
            p.grad = None
        if not set_to_none:
            self._flat_grad.fill(0)
            for p in self.params:
                p.grad = Tensor._make(p._grad_buf, p._backend)

    def step(self) -> None:
        self._sync()
        have = [p.grad is not None for p in self.params]
        if not any(have):
            return
        if all(have) and len(set(self._steps)) == 1:
            self._steps = [s + 1 for s in self._steps]
            self._update(self._flat, self._flat_grad, self._state, self._steps[0])
            return
        for i in range(len(self.params)):  # some parameters got no gradient: update the others one by one
            if have[i]:
                lo, hi = self._offsets[i], self._offsets[i + 1]
                self._steps[i] += 1
                state = {k: v[lo:hi] for k, v in self._state.items()}
                self._update(self._flat[lo:hi], self._flat_grad[lo:hi], state, self._steps[i])

    def _update(self, param: Any, grad: Any, state: dict[str, Any], step: int) -> None:
        raise NotImplementedError

    # ---- state -----------------------------------------------------------------
    def hyperparameters(self) -> dict[str, Any]:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        be = self._backend
        return {"type": type(self).__name__, "hyperparameters": self.hyperparameters(),
                "steps": list(self._steps), "sizes": [p.size for p in self.params],
                "state": {k: np.array(be.to_numpy(v)) for k, v in self._state.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("type") != type(self).__name__:
            raise ArgumentError(f"optimizer state is for {state.get('type')!r}, not {type(self).__name__}")
        sizes = [p.size for p in self.params]
        if list(state.get("sizes", [])) != sizes:
            raise ArgumentError(f"optimizer state is for parameters of sizes {state.get('sizes')}, "
                             f"these have sizes {sizes}")
        for k in self._state_names:
            if k not in state["state"]:
                raise ArgumentError(f"optimizer state is missing {k!r}")
        for k, v in state["hyperparameters"].items():
            setattr(self, k, tuple(v) if isinstance(v, list) else v)
        self._steps = [int(s) for s in state["steps"]]
        for k in self._state_names:
            self._backend.xp.copyto(self._state[k], self._backend.asarray(np.asarray(state["state"][k]),
                                                                         self._flat.dtype))


def _check(name: str, value: float, lo: float = 0.0, hi: float | None = None) -> float:
    if not (value >= lo and (hi is None or value < hi)):
        rng = f"[{lo}, {hi})" if hi is not None else f">= {lo}"
        raise ArgumentError(f"invalid {name}: {value} (must be {rng})")
    return float(value)


class SGD(Optimizer):
    """torch.optim.SGD: p -= lr * g, with optional momentum (dampening, nesterov) and weight decay."""

    _state_names = ("momentum_buffer",)

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False) -> None:
        self.lr = _check("lr", lr)
        self.momentum = _check("momentum", momentum)
        self.dampening = float(dampening)
        self.weight_decay = _check("weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ArgumentError("nesterov momentum needs momentum > 0 and dampening = 0")
        self.nesterov = bool(nesterov)
        super().__init__(params)

    def hyperparameters(self) -> dict[str, Any]:
        return {"lr": self.lr, "momentum": self.momentum, "dampening": self.dampening,
                "weight_decay": self.weight_decay, "nesterov": self.nesterov}

    def _update(self, param, grad, state, step):
        self._backend.sgd_update(param, grad, state["momentum_buffer"], first=step == 1, lr=self.lr,
                                 momentum=self.momentum, dampening=self.dampening,
                                 weight_decay=self.weight_decay, nesterov=self.nesterov)


class Adam(Optimizer):
    """torch.optim.Adam (no amsgrad): bias-corrected first and second moment estimates."""

    _state_names = ("exp_avg", "exp_avg_sq")

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        self.lr = _check("lr", lr)
        self.betas = (_check("beta1", betas[0], 0.0, 1.0), _check("beta2", betas[1], 0.0, 1.0))
        self.eps = _check("eps", eps)
        self.weight_decay = _check("weight_decay", weight_decay)
        super().__init__(params)

    def hyperparameters(self) -> dict[str, Any]:
        return {"lr": self.lr, "betas": list(self.betas), "eps": self.eps, "weight_decay": self.weight_decay}

    def _update(self, param, grad, state, step):
        self._backend.adam_update(param, grad, state["exp_avg"], state["exp_avg_sq"], step=step, lr=self.lr,
                                  beta1=self.betas[0], beta2=self.betas[1], eps=self.eps,
                                  weight_decay=self.weight_decay)
