"""SGD and Adam with torch.optim's update rules, fused over flat buffers the optimizer owns.

Parameters are grouped by (device, dtype), as torch's fused Adam groups them. For each group the
optimizer keeps one contiguous parameter buffer (each parameter's ``.data`` becomes a view of it),
one gradient buffer that ``step`` copies the parameters' ``.grad`` into, and its state buffers
(momentum, Adam's moments). A step is then one pass of the backend's update kernel per group
instead of a loop of small array calls per parameter. Tensors know nothing of optimizers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, CheckpointError
from ..tensor import Tensor


class _Group:
    """The parameters of one (device, dtype), their flat buffers and state."""

    def __init__(self, params: list[Tensor], state_names: tuple[str, ...]) -> None:
        self.params = params
        self.backend = params[0]._backend
        xp = self.backend.xp
        sizes = [p.numel() for p in params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int).tolist()
        dtype = params[0].dtype
        self.flat = xp.empty(self.offsets[-1], dtype=dtype)
        self.flat_grad = xp.zeros(self.offsets[-1], dtype=dtype)
        self.state = {name: xp.zeros(self.offsets[-1], dtype=dtype) for name in state_names}
        self.views: list[Any] = []
        self.grad_views = [self.flat_grad[self.slice(j)].reshape(p.shape) for j, p in enumerate(params)]
        self.index: list[int] = []
        self.uniform = True  # every member has taken the same number of steps
        self.bind()

    def bind(self) -> None:
        """Make every parameter's data a view of the flat buffer (copying its current values in)."""
        self.views = []
        for i, p in enumerate(self.params):
            view = self.flat[self.offsets[i]:self.offsets[i + 1]].reshape(p.shape)
            view[...] = p.data
            p.data = view
            self.views.append(view)

    def slice(self, i: int) -> slice:
        return slice(self.offsets[i], self.offsets[i + 1])


class Optimizer:
    _state_names: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Tensor]) -> None:
        unique: list[Tensor] = []
        seen: set[int] = set()
        for p in params:
            if not isinstance(p, Tensor):
                raise ArgumentTypeError(f"optimizer parameters must be Tensors, got {type(p).__name__}")
            if not p.requires_grad:
                raise ArgumentError(f"optimizer got a tensor of shape {p.shape} that does not require grad")
            if not p.is_leaf:
                raise ArgumentError("optimizer parameters must be leaf tensors (not results of operations)")
            if id(p) not in seen:
                seen.add(id(p))
                unique.append(p)
        if not unique:
            raise ArgumentError("optimizer got an empty parameter list (a Module keeps its layers in attributes, "
                                "nn.Sequential, nn.ModuleList or nn.ModuleDict; a plain list of layers is not seen)")
        self.params = unique
        self._steps = [0] * len(unique)  # per parameter, as torch counts them
        self._groups = self._make_groups()

    def _make_groups(self) -> list[_Group]:
        by_kind: dict[tuple[str, np.dtype], list[Tensor]] = {}
        for p in self.params:
            by_kind.setdefault((p.device, p.dtype), []).append(p)
        self._where = {}  # parameter index -> (group, index in group)
        position = {id(p): i for i, p in enumerate(self.params)}
        groups = [_Group(ps, self._state_names) for ps in by_kind.values()]
        for g in groups:
            g.index = [position[id(p)] for p in g.params]  # each member's index in self.params
            g.uniform = len({self._steps[i] for i in g.index}) == 1
            for j, p in enumerate(g.params):
                self._where[id(p)] = (g, j)
        return groups

    def _sync(self) -> None:
        """Re-bind parameters whose ``.data`` was replaced since the last step (assigned by hand, or
        moved by ``Module.to``), keeping the state; a move to another device or dtype regroups them."""
        for g in self._groups:
            for p, v in zip(g.params, g.views):  # a loop, not all(...): this runs every step
                if p.data is not v:
                    break
            else:
                continue
            if any(p.device != g.params[0].device or p.dtype != g.flat.dtype for p in g.params) or \
                    any(p.device != g.backend.name for p in g.params):
                self._regroup()
                return
            g.bind()

    def _regroup(self) -> None:
        old = {id(p): {k: g.backend.to_numpy(v[g.slice(j)]) for k, v in g.state.items()}
               for g in self._groups for j, p in enumerate(g.params)}
        self._groups = self._make_groups()
        for g in self._groups:
            for j, p in enumerate(g.params):
                for k, v in old[id(p)].items():
                    g.state[k][g.slice(j)] = g.backend.asarray(v, g.flat.dtype)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear gradients. With ``set_to_none`` (default, like torch) a parameter that gets no
        gradient in the next backward is skipped by the next step, exactly as in torch."""
        for p in self.params:
            if set_to_none or p.grad is None:
                p.grad = None if set_to_none else Tensor._make(p._backend.xp.zeros_like(p.data), p._backend)
            else:
                p.grad.data.fill(0)

    def step(self) -> None:
        # the hot path: every parameter still bound to its group's buffer, with a gradient, and the
        # same step count in each group: copy the gradients in and run one update per group
        for g in self._groups:
            if not g.uniform:
                break
            for p, view in zip(g.params, g.views):  # a loop, not all(...): this runs every step
                if p.grad is None or p.data is not view:
                    break
            else:
                continue
            break
        else:
            steps = self._steps
            for g in self._groups:
                for view, p in zip(g.grad_views, g.params):
                    view[...] = p.grad.data
                for i in g.index:
                    steps[i] += 1
                self._update(g.backend, g.flat, g.flat_grad, g.state, steps[g.index[0]])
            return
        self._sync()
        for g in self._groups:
            grads = [p.grad for p in g.params]
            if g.uniform and type(None) not in map(type, grads):  # (no Tensor.__eq__ on the way)
                for view, grad in zip(g.grad_views, grads):
                    view[...] = grad.data
                for i in g.index:
                    self._steps[i] += 1
                self._update(g.backend, g.flat, g.flat_grad, g.state, self._steps[g.index[0]])
                continue
            for j, i in enumerate(g.index):  # some parameters got no gradient: update the others one by one
                if grads[j] is not None:
                    g.grad_views[j][...] = grads[j].data
                    self._steps[i] += 1
                    sl = g.slice(j)
                    self._update(g.backend, g.flat[sl], g.flat_grad[sl], {k: v[sl] for k, v in g.state.items()},
                                 self._steps[i])
            g.uniform = len({self._steps[i] for i in g.index}) == 1

    def _update(self, backend: Any, param: Any, grad: Any, state: dict[str, Any], step: int) -> None:
        raise NotImplementedError

    # ---- state -----------------------------------------------------------------
    def hyperparameters(self) -> dict[str, Any]:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Hyperparameters, per-parameter step counts and state (one array per parameter, in parameter order)."""
        state: dict[str, list[np.ndarray]] = {k: [] for k in self._state_names}
        for p in self.params:
            g, j = self._where[id(p)]
            for k in self._state_names:
                state[k].append(np.array(g.backend.to_numpy(g.state[k][g.slice(j)])).reshape(p.shape))
        return {"type": type(self).__name__, "hyperparameters": self.hyperparameters(),
                "steps": list(self._steps), "sizes": [p.numel() for p in self.params], "state": state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (checked first: on an error nothing changes)."""
        kind = state.get("type") if isinstance(state, dict) else type(state).__name__
        if kind != type(self).__name__:
            raise CheckpointError(f"optimizer state is for {kind!r}, not {type(self).__name__}")
        sizes = [p.numel() for p in self.params]
        if list(state.get("sizes", [])) != sizes:
            raise CheckpointError(f"optimizer state is for parameters of sizes {state.get('sizes')}, these have "
                                  f"sizes {sizes}")
        arrays = state.get("state")
        steps = state.get("steps")
        if not isinstance(arrays, dict) or not isinstance(steps, list) or len(steps) != len(sizes) \
                or not all(isinstance(s, int) and s >= 0 for s in steps):
            raise CheckpointError("optimizer state has malformed steps or state")
        if set(arrays) != set(self._state_names):
            raise CheckpointError(f"optimizer state holds {sorted(arrays)}, this {type(self).__name__} keeps "
                                  f"{sorted(self._state_names)} (e.g. SGD with and without momentum)")
        hyper = state.get("hyperparameters")
        if not isinstance(hyper, dict) or set(hyper) != set(self.hyperparameters()):
            raise CheckpointError("optimizer state has different hyperparameters")
        try:  # everything checked and converted before anything is assigned
            type(self)([Tensor(np.zeros(1), requires_grad=True)], **{k: tuple(v) if isinstance(v, list) else v
                                                                     for k, v in hyper.items()})
            converted = {}
            for k in self._state_names:
                values = arrays[k]
                if not isinstance(values, list) or len(values) != len(sizes):
                    raise CheckpointError(f"optimizer state {k!r} does not fit the parameters")
                converted[k] = [np.asarray(v, dtype=np.float64).reshape(-1) for v in values]
                if [v.size for v in converted[k]] != sizes:
                    raise CheckpointError(f"optimizer state {k!r} does not fit the parameters")
        except (ArgumentError, ArgumentTypeError, TypeError, ValueError) as e:
            if isinstance(e, CheckpointError):
                raise
            raise CheckpointError(f"optimizer state is invalid: {e}") from None
        for k, v in hyper.items():
            setattr(self, k, tuple(v) if isinstance(v, list) else v)
        self._steps = [int(s) for s in steps]
        for g in self._groups:
            g.uniform = len({self._steps[i] for i in g.index}) == 1
        for i, p in enumerate(self.params):
            g, j = self._where[id(p)]
            for k in self._state_names:
                g.state[k][g.slice(j)] = g.backend.asarray(converted[k][i], g.flat.dtype)


def _check(name: str, value: float, lo: float = 0.0, hi: float | None = None) -> float:
    if not (value >= lo and (hi is None or value < hi)):
        rng = f"[{lo}, {hi})" if hi is not None else f">= {lo}"
        raise ArgumentError(f"invalid {name}: {value} (must be {rng})")
    return float(value)


class SGD(Optimizer):
    """torch.optim.SGD: p -= lr * g, with optional momentum (dampening, nesterov) and weight decay."""

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False) -> None:
        self.lr = _check("lr", lr)
        self.momentum = _check("momentum", momentum)
        self.dampening = float(dampening)
        self.weight_decay = _check("weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ArgumentError("nesterov momentum needs momentum > 0 and dampening = 0")
        self.nesterov = bool(nesterov)
        self._state_names = ("momentum_buffer",) if self.momentum else ()  # plain SGD keeps no state
        super().__init__(params)

    def hyperparameters(self) -> dict[str, Any]:
        return {"lr": self.lr, "momentum": self.momentum, "dampening": self.dampening,
                "weight_decay": self.weight_decay, "nesterov": self.nesterov}

    def _update(self, backend, param, grad, state, step):
        backend.sgd_update(param, grad, state.get("momentum_buffer"), first=step == 1, lr=self.lr,
                           momentum=self.momentum, dampening=self.dampening, weight_decay=self.weight_decay,
                           nesterov=self.nesterov)


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

    def _update(self, backend, param, grad, state, step):
        backend.adam_update(param, grad, state["exp_avg"], state["exp_avg_sq"], step=step, lr=self.lr,
                            beta1=self.betas[0], beta2=self.betas[1], eps=self.eps, weight_decay=self.weight_decay)
