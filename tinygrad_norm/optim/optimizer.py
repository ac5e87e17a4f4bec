"""torch.optim.Optimizer: parameter groups, fused updates over flat buffers the optimizer owns, state dicts.

As in torch, ``param_groups`` is a list of plain dicts (``"params"`` plus every hyperparameter, and whatever
else a scheduler stores there); they are read at every step, so ``opt.param_groups[0]["lr"] = 0.01`` takes
effect at the next one. Within each group the parameters are bucketed by (device, dtype), as torch's fused
Adam groups them. For each bucket the optimizer keeps one contiguous parameter buffer (each parameter's
``.data`` becomes a view of it), one gradient buffer that ``step`` copies the parameters' ``.grad`` into, and
its state buffers (momentum, Adam's moments). A step is one pass of the backend's update kernel per bucket
instead of a loop of small array calls per parameter. Tensors know nothing of optimizers.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from operator import itemgetter
from types import MappingProxyType
from typing import Any

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, CheckpointError, DTypeError
from ..tensor import Tensor, set_grad_enabled

# torch's implementation switches: our single implementation is already fused per bucket, so only their
# defaults (None/False) are accepted
SWITCHES = ("foreach", "fused", "capturable", "differentiable")


class _Bucket:
    """The parameters of one (param group, device, dtype): flat buffers and state."""

    def __init__(self, params: list[Tensor], group: int, index: list[int], state_names: tuple[str, ...]) -> None:
        self.params = params
        self.group = group  # index into Optimizer.param_groups
        self.index = index  # each member's index in the optimizer's parameter order (state_dict's numbering)
        self.backend = params[0]._backend
        xp = self.backend.xp
        sizes = [p.numel() for p in params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int).tolist()
        self.dtype = params[0].dtype
        self.flat = xp.empty(self.offsets[-1], dtype=self.dtype)
        self.flat_grad = xp.zeros(self.offsets[-1], dtype=self.dtype)
        self.state: dict[str, Any] = {}
        self.allocate(*state_names)
        self.views: list[Any] = []
        self.grad_views = [self.flat_grad[self.slice(j)].reshape(p.shape) for j, p in enumerate(params)]
        self.uniform = True  # every member has taken the same steps and holds the same state
        # (hyperparameters, flags, run): the whole bucket's update prepared for those settings, reused while
        # they hold (the buffers it binds are this bucket's, never replaced)
        self.kernel: tuple[tuple, int, Callable[[int], None]] | None = None
        self.bind()

    def allocate(self, *names: str) -> None:
        """Zero-filled state buffers (torch's initial moments); optional state is allocated on first use."""
        for name in names:
            if name not in self.state:
                self.state[name] = self.backend.xp.zeros(self.offsets[-1], dtype=self.dtype)

    def bind(self) -> None:
        """Make every parameter's data a view of the flat buffer (copying its current values in)."""
        self.views = []
        for i, p in enumerate(self.params):
            view = self.flat[self.offsets[i]:self.offsets[i + 1]].reshape(p.shape)
            view[...] = p.data
            p.data = view
            self.views.append(view)

    def slice(self, j: int) -> slice:
        return slice(self.offsets[j], self.offsets[j + 1])


def _typename(obj: Any) -> str:
    t = type(obj)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


class Optimizer:
    """torch.optim.Optimizer: ``params`` is an iterable of Tensors, of ``(name, Tensor)`` pairs, or of dicts
    (parameter groups: ``{"params": [...], "lr": ...}``, missing keys taken from ``defaults``).

    Differences from torch, deliberate: a parameter listed twice in one group is used once (torch warns,
    as we do, and would update it twice); hyperparameters are validated for every group, also when changed
    through ``param_groups`` (torch checks only the constructor's); ``state_dict`` returns copies of the
    state arrays (torch returns its live tensors) with ``"state"`` a list indexed by parameter number (torch:
    a dict with int keys, which ``tn.save`` cannot store), and records the optimizer's class in ``"type"``.
    """

    # subclasses: the hyperparameters a step reads (kernel arguments first, then SWITCHES), the state
    # buffers every parameter has, and whether torch counts a per-parameter "step"
    _hyper_keys: tuple[str, ...] = ()
    _state_names: tuple[str, ...] = ()
    _counts_steps = False
    _flag_defaults: dict[str, Any] = {}  # what a group saved before a flag existed gets for it

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], defaults: dict[str, Any]) -> None:
        if isinstance(params, Tensor):
            raise ArgumentTypeError("params argument given to the optimizer should be an iterable of Tensors or "
                                    f"dicts, but got {_typename(params)} (wrap it in a list: [tensor])")
        if isinstance(params, dict):
            raise ArgumentTypeError("params argument given to the optimizer should be an iterable of Tensors or "
                                    "dicts, but got a dict (a parameter group goes in a list: [{'params': ...}])")
        self._check_hyperparameters(defaults, "optimizer")
        self.defaults = defaults
        self.param_groups: list[dict[str, Any]] = []
        self._hyper = itemgetter(*self._hyper_keys)
        self._params: list[Tensor] = []  # every group's parameters, in order: the state dict's numbering
        self._steps: list[int] = []  # per parameter, as torch counts them
        self._flags: list[int] = []  # per parameter: optional state it holds (subclass bits)
        self._buckets: list[_Bucket] = []
        self._seen: list[Any] = []  # per group: the hyperparameters last validated
        self._layout: list[tuple[list, int]] = []  # per group: its params list and length when bucketed
        param_groups = list(params)
        if not param_groups:
            raise ArgumentError("optimizer got an empty parameter list (a Module keeps its layers in attributes, "
                                "nn.Sequential, nn.ModuleList or nn.ModuleDict; a plain list of layers is not seen)")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    # ---- parameter groups ----------------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """torch.optim.Optimizer.add_param_group: append a group (its missing hyperparameters from
        ``defaults``), e.g. layers unfrozen during fine-tuning. The dict itself becomes the group, as in torch."""
        if not isinstance(param_group, dict):
            raise ArgumentTypeError(f"param_group must be a dict, but got {_typename(param_group)}")
        if "params" not in param_group:
            raise ArgumentError(f"param_group needs a 'params' entry; it has {sorted(param_group)}")
        params, names = self._parse_params(param_group["params"])
        if any(("param_names" in g) != (names is not None) for g in self.param_groups):
            raise ArgumentError("all optimizer param groups should be with/without names. cannot add param group "
                                f"{'with' if names is not None else 'without'} names to the optimizer")
        group = {**self.defaults, **param_group}
        self._check_hyperparameters(group, f"parameter group {len(self.param_groups)}")
        unique = list({id(p): p for p in params}.values())
        if len(unique) != len(params):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; each is used once "
                          "(torch would update it twice)", UserWarning, stacklevel=3)
        taken = {id(p) for p in self._params}
        if any(id(p) in taken for p in unique):
            raise ArgumentError("some parameters appear in more than one parameter group")
        param_group.clear()
        param_group.update(group)
        param_group["params"] = unique
        if names is not None:
            first = {}
            for p, n in zip(params, names):
                first.setdefault(id(p), n)
            param_group["param_names"] = [first[id(p)] for p in unique]
        self.param_groups.append(param_group)
        start = len(self._params)
        self._params.extend(unique)
        self._steps.extend([0] * len(unique))
        self._flags.extend([0] * len(unique))
        self._seen.append(None)
        self._layout.append((param_group["params"], len(unique)))
        self._buckets.extend(self._bucket_group(len(self.param_groups) - 1, list(range(start, len(self._params)))))

    @staticmethod
    def _parse_params(params: Any) -> tuple[list[Tensor], list[str] | None]:
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise ArgumentTypeError("optimizer parameters need to be organized in ordered collections, but the "
                                    "ordering of tensors in sets will change between runs. Please use a list instead.")
        else:
            try:
                params = list(params)
            except TypeError:
                raise ArgumentTypeError("a parameter group's 'params' must be a Tensor or an iterable of Tensors, "
                                        f"got {_typename(params)}") from None
        named = [isinstance(p, tuple) for p in params]
        if any(named) and not all(named):
            raise ArgumentError("all optimizer params should be with/without names. Some param names are missing")
        names = None
        if named and all(named):
            if any(len(p) != 2 or not isinstance(p[0], str) for p in params):
                raise ArgumentTypeError("named parameters must be (str, Tensor) pairs, as named_parameters() gives")
            names, params = [p[0] for p in params], [p[1] for p in params]
        for p in params:
            if not isinstance(p, Tensor):
                raise ArgumentTypeError(f"optimizer can only optimize Tensors, but one of the params is {_typename(p)}")
            if not p.is_leaf:
                raise ArgumentError("can't optimize a non-leaf Tensor (the result of an operation); optimize the "
                                    "leaf it came from, or .detach().requires_grad_() a copy")
            if p.dtype.kind != "f":
                raise DTypeError(f"optimizer parameters must be floating point, got a {p.dtype} tensor of shape "
                                 f"{p.shape}")
        return params, names

    def _bucket_group(self, group: int, index: list[int]) -> list[_Bucket]:
        by_kind: dict[tuple[str, np.dtype], list[int]] = {}
        for i in index:
            p = self._params[i]
            by_kind.setdefault((p.device, p.dtype), []).append(i)
        buckets = []
        for members in by_kind.values():
            b = _Bucket([self._params[i] for i in members], group, members, self._state_names)
            self._check_uniform(b)
            buckets.append(b)
        return buckets

    def _check_uniform(self, b: _Bucket) -> None:
        counts = self._counts_steps
        b.uniform = len({(self._steps[i] if counts else 0, self._flags[i]) for i in b.index}) == 1

    def _rebuild(self) -> None:
        """Re-bucket every group, keeping each parameter's step count and state: after ``param_groups`` was
        edited by hand (a group appended, a params list changed) or a parameter moved to another device or
        dtype. (Replacing one parameter of a list by another in place, same length, is not seen: use
        add_param_group.)"""
        old: dict[int, tuple[int, int, dict[str, np.ndarray]]] = {}
        for b in self._buckets:
            for j, p in enumerate(b.params):
                i = b.index[j]
                old[id(p)] = (self._steps[i], self._flags[i],
                              {k: b.backend.to_numpy(v[b.slice(j)]).copy() for k, v in b.state.items()})
        groups = []
        for i, g in enumerate(self.param_groups):
            if not isinstance(g, dict) or "params" not in g:
                raise ArgumentTypeError(f"param_groups[{i}] is not a parameter group dict with 'params'")
            params, _ = self._parse_params(g["params"])
            g["params"] = list({id(p): p for p in params}.values())
            for k, v in self.defaults.items():
                g.setdefault(k, v)
            groups.append(g)
        flat = [p for g in groups for p in g["params"]]
        if len({id(p) for p in flat}) != len(flat):
            raise ArgumentError("some parameters appear in more than one parameter group")
        self._params = flat
        self._steps = [old.get(id(p), (0, 0, None))[0] for p in flat]
        self._flags = [old.get(id(p), (0, 0, None))[1] for p in flat]
        self._seen = [None] * len(groups)
        self._layout = [(g["params"], len(g["params"])) for g in groups]
        self._buckets = []
        start = 0
        for gi, g in enumerate(groups):
            self._buckets.extend(self._bucket_group(gi, list(range(start, start + len(g["params"])))))
            start += len(g["params"])
        for b in self._buckets:
            for j, p in enumerate(b.params):
                saved = old.get(id(p), (0, 0, {}))[2]
                if saved:
                    b.allocate(*saved)
                for k, v in saved.items():
                    b.state[k][b.slice(j)] = b.backend.asarray(v, b.dtype)

    def _check_layout(self) -> None:
        groups = self.param_groups
        if len(groups) != len(self._layout):
            self._rebuild()
            return
        for g, (params, n) in zip(groups, self._layout):  # a loop, not all(...): this runs every step
            if g["params"] is not params or len(params) != n:
                self._rebuild()
                return

    # ---- hyperparameters ----------------------------------------------------------------------------------
    def _check_hyperparameters(self, group: dict[str, Any], where: str) -> None:
        """Validate one group's (or the defaults') hyperparameters: subclasses check their ranges."""
        for k in SWITCHES:
            if k in group and group[k] not in (None, False):
                raise ArgumentError(f"{where}: {k}={group[k]!r} is a torch implementation switch this library does "
                                    "not have (every step here is one fused kernel per device and dtype); leave it "
                                    "at None or False")
        for k in self._hyper_keys:
            v = group.get(k)
            if isinstance(v, Tensor) or type(v).__module__.startswith("torch") or \
                    (isinstance(v, (tuple, list)) and any(isinstance(x, Tensor) for x in v)):
                raise ArgumentError(f"{where}: {k} as a Tensor is not supported; pass a Python number (a tensor "
                                    "learning rate is torch's capturable/CUDA-graph feature)")

    def _group_hyper(self, gi: int) -> tuple:
        """The group's hyperparameters for a step, validated again whenever they changed (cheap when not)."""
        group = self.param_groups[gi]
        try:
            values = self._hyper(group)
        except KeyError as e:
            raise ArgumentError(f"param_groups[{gi}] lost its {e.args[0]!r} entry; put it back "
                                f"(default {self.defaults.get(e.args[0])!r})") from None
        if values != self._seen[gi]:
            self._check_hyperparameters(group, f"param_groups[{gi}]")
            # a copy of any list (betas=[0.9, 0.999]): the next step's values compare equal to it by value,
            # and unequal once the group's list is changed in place
            self._seen[gi] = tuple(list(v) if isinstance(v, list) else v for v in values)
        return self._seen[gi]

    # ---- stepping ------------------------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear gradients. With ``set_to_none`` (default, like torch) a parameter that gets no
        gradient in the next backward is skipped by the next step, exactly as in torch."""
        if set_to_none:  # (the common case first: this runs every step)
            for group in self.param_groups:
                for p in group["params"]:
                    p.grad = None
            return
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    p.grad = Tensor._make(p._backend.xp.zeros_like(p.data), p._backend)
                else:
                    p.grad.data.fill(0)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; ``closure`` (re-evaluates the model and
        returns the loss) is called first, with grad mode on, and its result returned, as in torch."""
        loss = None
        if closure is not None:
            with set_grad_enabled(True):
                loss = closure()
        groups, layout = self.param_groups, self._layout
        if len(groups) != len(layout):
            self._rebuild()
        else:
            for g, (params, n) in zip(groups, layout):  # (inlined _check_layout: this runs every step)
                if g["params"] is not params or len(params) != n:
                    self._rebuild()
                    break
        # the hot path: every parameter still bound to its bucket's buffer, with a gradient, and the
        # same steps and state in each bucket: copy the gradients in (while checking: should a check
        # fail, the general path below copies them again) and run one update per bucket
        for b in self._buckets:
            if not b.uniform:
                break
            for p, view, grad_view in zip(b.params, b.views, b.grad_views):  # a loop, not all(...)
                grad = p.grad
                if grad is None or p.data is not view:
                    break
                grad_view[...] = grad.data
            else:
                continue
            break
        else:
            steps, flags, hyper = self._steps, self._flags, self._hyper
            for b in self._buckets:
                index = b.index
                for i in index:
                    steps[i] += 1
                first = index[0]
                values = hyper(groups[b.group])
                kernel = b.kernel
                if kernel is not None and kernel[1] == flags[first] and kernel[0] == values:
                    kernel[2](steps[first])  # the settings of the last step: its prepared update
                else:
                    self._update_bucket(b, steps[first])
            return loss
        self._sync()
        for b in self._buckets:
            hyper = self._group_hyper(b.group)
            grads = [p.grad for p in b.params]
            if b.uniform and type(None) not in map(type, grads):  # (no Tensor.__eq__ on the way)
                for view, grad in zip(b.grad_views, grads):
                    view[...] = grad.data
                for i in b.index:
                    self._steps[i] += 1
                self._update_bucket(b, self._steps[b.index[0]])
                continue
            for j, i in enumerate(b.index):  # some parameters got no gradient: update the others one by one
                if grads[j] is not None:
                    b.grad_views[j][...] = grads[j].data
                    self._steps[i] += 1
                    self._flags[i] = self._update(b, b.slice(j), hyper, self._steps[i], self._flags[i])
            self._check_uniform(b)
        return loss

    def _sync(self) -> None:
        """Re-bind parameters whose ``.data`` was replaced since the last step (assigned by hand, or
        moved by ``Module.to``), keeping the state; a move to another device or dtype re-buckets them."""
        for b in self._buckets:
            for p, v in zip(b.params, b.views):  # a loop, not all(...): this runs every step
                if p.data is not v:
                    break
            else:
                continue
            if any(p.dtype != b.dtype or p.device != b.backend.name for p in b.params):
                self._rebuild()
                return
            b.bind()

    def _update_bucket(self, b: _Bucket, step: int) -> None:
        """Update all of bucket ``b`` (every member at ``step``) with its group's hyperparameters, validated
        if they changed; the prepared update is kept for the next step when the members' state flags did not
        change (a first step allocates optional state, and SGD's first momentum step differs)."""
        values = self._group_hyper(b.group)
        first = b.index[0]
        run, new = self._kernel(b, None, values, self._flags[first])
        run(step)
        if new == self._flags[first]:
            b.kernel = (values, new, run)
        else:
            b.kernel = None
            for i in b.index:
                self._flags[i] = new

    def _update(self, b: _Bucket, sl: slice | None, hyper: tuple, step: int, flags: int) -> int:
        """One update of bucket ``b`` (or its slice ``sl``) with the group's hyperparameters; returns the
        members' new state flags."""
        run, new = self._kernel(b, sl, hyper, flags)
        run(step)
        return new

    def _kernel(self, b: _Bucket, sl: slice | None, hyper: tuple, flags: int) -> tuple[Callable[[int], None], int]:
        """The backend's update of bucket ``b`` (or its slice ``sl``) with these hyperparameters, as ``run(step)``,
        and the members' state flags after it (allocating the optional state it needs)."""
        raise NotImplementedError

    @staticmethod
    def _arrays(b: _Bucket, sl: slice | None, *names: str) -> list[Any]:
        arrays = [b.flat, b.flat_grad, *(b.state[n] for n in names)]
        return arrays if sl is None else [a[sl] for a in arrays]

    # ---- state ---------------------------------------------------------------------------------------------
    def _state_keys(self, flags: int) -> tuple[str, ...]:
        """The state buffers a parameter with these flags has, once it has stepped (torch's state keys)."""
        raise NotImplementedError

    def _flags_of(self, keys: set[str]) -> int:
        """The flags of a parameter whose loaded state has these keys (inverse of _state_keys)."""
        raise NotImplementedError

    def _has_state(self, i: int) -> bool:
        """Whether torch would hold state for parameter ``i``: after its first step (Adam), or once it has
        a momentum buffer (SGD, which counts no steps)."""
        return self._steps[i] > 0 if self._counts_steps else bool(self._state_keys(self._flags[i]))

    def _param_state(self, b: _Bucket, j: int) -> dict[str, Any]:
        i = b.index[j]
        if not self._has_state(i):
            return {}
        out: dict[str, Any] = {"step": self._steps[i]} if self._counts_steps else {}
        shape = b.params[j].shape
        for k in self._state_keys(self._flags[i]):
            out[k] = np.array(b.backend.to_numpy(b.state[k][b.slice(j)])).reshape(shape)
        return out

    @property
    def state(self) -> dict[Tensor, Any]:
        """torch's ``optimizer.state``: parameter -> its state (``step`` and Tensors viewing the optimizer's
        buffers, so in-place changes to them are seen by the next step). A read-only snapshot of which
        parameters have state: assigning into it raises."""
        out: dict[Tensor, Any] = {}
        for b in self._buckets:
            for j, p in enumerate(b.params):
                i = b.index[j]
                if not self._has_state(i):
                    continue
                entry: dict[str, Any] = {"step": self._steps[i]} if self._counts_steps else {}
                for k in self._state_keys(self._flags[i]):
                    entry[k] = Tensor._make(b.state[k][b.slice(j)].reshape(p.shape), b.backend)
                out[p] = MappingProxyType(entry)
        return out

    def state_dict(self) -> dict[str, Any]:
        """torch's layout: ``{"state": [per parameter: {"step", state arrays} or {} before its first step],
        "param_groups": [each group's hyperparameters and extra keys, "params": parameter numbers]}``,
        plus ``"type"`` (the class name). Storable by ``tn.save``."""
        self._check_layout()  # param_groups edited by hand: number what is there now
        where = {id(p): (b, j) for b in self._buckets for j, p in enumerate(b.params)}
        state = [self._param_state(*where[id(p)]) for p in self._params]
        groups = []
        start = 0
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            packed["params"] = list(range(start, start + len(g["params"])))
            start += len(g["params"])
            groups.append(packed)
        return {"type": type(self).__name__, "state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch.optim.Optimizer.load_state_dict: the saved groups' hyperparameters (and extra keys) replace
        the current ones, keys they lack are filled in (flags off, as torch does for older checkpoints; other
        hyperparameters from ``defaults``), and each parameter
        gets its saved state. Everything is checked first: on an error nothing changes. Also loads the layout
        earlier versions of this library saved (``"hyperparameters"``, ``"steps"``, ``"sizes"``)."""
        if not isinstance(state_dict, dict):
            raise CheckpointError(f"optimizer state must be a dict (from state_dict()), got {_typename(state_dict)}")
        kind = state_dict.get("type", type(self).__name__)
        if kind != type(self).__name__:
            raise CheckpointError(f"optimizer state is for {kind!r}, not {type(self).__name__}")
        self._check_layout()  # param_groups edited by hand: load into what is there now
        if "hyperparameters" in state_dict:
            state_dict = self._from_legacy(state_dict)
        groups, state = self._checked(state_dict)
        for old, new in zip(self.param_groups, groups):
            new["params"] = old["params"]
            if "param_names" in old and "param_names" not in new:
                new["param_names"] = old["param_names"]
        self.param_groups[:] = groups
        self._seen = [None] * len(groups)
        self._layout = [(g["params"], len(g["params"])) for g in groups]
        where = {id(p): (b, j) for b in self._buckets for j, p in enumerate(b.params)}
        for i, (p, entry) in enumerate(zip(self._params, state)):
            b, j = where[id(p)]
            self._steps[i], self._flags[i], arrays = entry
            b.allocate(*arrays)
            for k, buffer in b.state.items():
                buffer[b.slice(j)] = b.backend.asarray(arrays[k], b.dtype) if k in arrays else 0
        for b in self._buckets:
            b.kernel = None
            self._check_uniform(b)

    def _checked(self, state_dict: dict[str, Any]) -> tuple[list[dict], list[tuple[int, int, dict]]]:
        """The saved groups (defaults filled in, hyperparameters validated) and per-parameter
        (step, flags, flat float64 arrays), or a CheckpointError."""
        saved_groups, saved_state = state_dict.get("param_groups"), state_dict.get("state")
        if not isinstance(saved_groups, list) or not all(isinstance(g, dict) for g in saved_groups):
            raise CheckpointError("optimizer state has no list of parameter group dicts under 'param_groups'")
        if len(saved_groups) != len(self.param_groups):
            raise CheckpointError(f"loaded state dict has a different number of parameter groups "
                                  f"({len(saved_groups)}; this optimizer has {len(self.param_groups)})")
        groups = []
        numbers: list[Any] = []
        for gi, (g, mine) in enumerate(zip(saved_groups, self.param_groups)):
            params = g.get("params")
            if not isinstance(params, list) or len(params) != len(mine["params"]):
                raise CheckpointError(f"loaded state dict contains a parameter group that doesn't match the size "
                                      f"of optimizer's group {gi} ({len(params) if isinstance(params, list) else '?'}"
                                      f" parameters, this group has {len(mine['params'])})")
            numbers.extend(params)
            # keys an older checkpoint lacks: flags added since are off (torch's __setstate__), the rest defaults
            group = {**self.defaults, **self._flag_defaults, **{k: v for k, v in g.items() if k != "params"}}
            if isinstance(group.get("betas"), list):
                group["betas"] = tuple(group["betas"])
            try:
                self._check_hyperparameters(group, f"saved parameter group {gi}")
            except (ArgumentError, ArgumentTypeError, TypeError, ValueError) as e:
                raise CheckpointError(f"optimizer state is invalid: {e}") from None
            groups.append(group)
        if sorted(n for n in numbers if isinstance(n, int)) != list(range(len(self._params))):
            raise CheckpointError("optimizer state's parameter numbers are not 0..n-1, each once")
        if not isinstance(saved_state, list) or len(saved_state) != len(self._params):
            raise CheckpointError(f"optimizer state holds no list of {len(self._params)} per-parameter states "
                                  "under 'state'")
        by_number = dict(zip(numbers, (p for g in self.param_groups for p in g["params"])))
        position = {id(p): i for i, p in enumerate(self._params)}
        state: list[Any] = [None] * len(self._params)
        for n, entry in enumerate(saved_state):
            p = by_number[n]
            state[position[id(p)]] = self._checked_entry(n, entry, p)
        return groups, state

    def _checked_entry(self, n: int, entry: Any, p: Tensor) -> tuple[int, int, dict[str, np.ndarray]]:
        if not isinstance(entry, dict):
            raise CheckpointError(f"optimizer state of parameter {n} is a {_typename(entry)}, not a dict")
        if not entry:
            return 0, 0, {}
        keys = set(entry) - {"step"}
        flags = self._flags_of(keys)
        if flags is None or set(self._state_keys(flags)) != keys:
            raise CheckpointError(f"optimizer state of parameter {n} holds {sorted(entry)}, which a "
                                  f"{type(self).__name__} never keeps")
        step = entry.get("step", 1)
        if hasattr(step, "item") and np.ndim(step) == 0:  # torch's 0-d step tensor, or a NumPy scalar
            step = step.item()
        if isinstance(step, float) and step.is_integer():
            step = int(step)
        if not isinstance(step, int) or isinstance(step, bool) or step < 1 or ("step" in entry) != self._counts_steps:
            raise CheckpointError(f"optimizer state of parameter {n} has a malformed step {entry.get('step')!r}")
        arrays = {}
        for k in keys:
            try:
                a = np.asarray(entry[k], dtype=np.float64)
            except (TypeError, ValueError):
                raise CheckpointError(f"optimizer state {k!r} of parameter {n} is not numeric") from None
            if a.size != p.numel():
                raise CheckpointError(f"optimizer state {k!r} of parameter {n} has {a.size} values, the parameter "
                                      f"{p.numel()}")
            arrays[k] = a.reshape(-1)
        return step, flags, arrays

    def _from_legacy(self, old: dict[str, Any]) -> dict[str, Any]:
        """The state dict earlier versions saved (one group: "hyperparameters", per-parameter "steps",
        "sizes", and "state" as {name: [one array per parameter]}) in today's layout."""
        if len(self.param_groups) != 1:
            raise CheckpointError(f"this optimizer state (saved by an earlier version) is for one parameter group; "
                                  f"this optimizer has {len(self.param_groups)}")
        hyper, steps, sizes, arrays = (old.get(k) for k in ("hyperparameters", "steps", "sizes", "state"))
        mine = [p.numel() for p in self._params]
        if not isinstance(sizes, list) or sizes != mine:
            raise CheckpointError(f"optimizer state is for parameters of sizes {sizes}, these have sizes {mine}")
        if not isinstance(hyper, dict) or not isinstance(arrays, dict) or not isinstance(steps, list) \
                or len(steps) != len(mine) or not all(isinstance(s, int) and s >= 0 for s in steps) \
                or not all(isinstance(v, list) and len(v) == len(mine) for v in arrays.values()):
            raise CheckpointError("optimizer state has malformed hyperparameters, steps or state")
        state = []
        for i, s in enumerate(steps):
            entry = {k: v[i] for k, v in arrays.items()} if s > 0 else {}
            if entry and self._counts_steps:
                entry["step"] = s
            state.append(entry)
        return {"state": state, "param_groups": [{**hyper, "params": list(range(len(mine)))}]}

    def __repr__(self) -> str:
        text = f"{type(self).__name__} ("  # torch's format, blank line between groups and all
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            text += "".join(f"    {k}: {group[k]}\n" for k in sorted(group) if k != "params")
        return text + ")"


def check_range(where: str, name: str, value: Any, lo: float = 0.0, hi: float | None = None, label: str = "") -> None:
    """torch's ``if not lo <= value (< hi): raise ValueError("Invalid ...")`` for one hyperparameter."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ArgumentTypeError(f"{where}: {name} must be a number, got {_typename(value)} {value!r}")
    if not (value >= lo and (hi is None or value < hi)):
        rng = f"in [{lo}, {hi})" if hi is not None else f">= {lo}"
        raise ArgumentError(f"{where}: Invalid {label or name} value: {value} (must be {rng})")


def check_flag(where: str, name: str, value: Any) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(f"{where}: {name} must be True or False, got {_typename(value)} {value!r}")
