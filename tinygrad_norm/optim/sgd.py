"""torch.optim.SGD over the optimizer's flat buffers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..tensor import Tensor
from .optimizer import ArgumentError, Optimizer, _Bucket, check_flag, check_range

_MOMENTUM = 1  # flag: the parameter has a momentum buffer (torch creates it, as a copy of the gradient, on first use)


class SGD(Optimizer):
    """torch.optim.SGD: ``p -= lr * g`` with optional momentum (dampening, nesterov), weight decay and
    ``maximize``. The defaults are torch 2.x's (``lr=1e-3``); ``foreach``/``fused``/``differentiable`` are
    accepted only at their defaults (None/False)."""

    _hyper_keys = ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize",
                   "foreach", "differentiable", "fused")
    _flag_defaults = {"nesterov": False, "maximize": False, "foreach": None, "differentiable": False, "fused": None}

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False, fused: bool | None = None) -> None:
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov, "maximize": maximize, "foreach": foreach, "differentiable": differentiable,
                    "fused": fused}
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any], where: str) -> None:
        super()._check_hyperparameters(group, where)
        check_range(where, "lr", group["lr"], label="learning rate")
        check_range(where, "momentum", group["momentum"])
        check_range(where, "dampening", group["dampening"], lo=-float("inf"))
        check_range(where, "weight_decay", group["weight_decay"])
        check_flag(where, "nesterov", group["nesterov"])
        check_flag(where, "maximize", group["maximize"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ArgumentError(f"{where}: Nesterov momentum requires a momentum and zero dampening (got momentum "
                                f"{group['momentum']}, dampening {group['dampening']})")

    def _kernel(self, b: _Bucket, sl: slice | None, hyper: tuple, flags: int) -> tuple[Callable[[int], None], int]:
        lr, momentum, dampening, weight_decay, nesterov, maximize, _, _, _ = hyper  # (_: SWITCHES)
        if momentum:
            b.allocate("momentum_buffer")
            param, grad, buf = self._arrays(b, sl, "momentum_buffer")
        else:
            (param, grad), buf = self._arrays(b, sl), None
        run = b.backend.sgd_kernel(param, grad, buf, first=not flags & _MOMENTUM, lr=lr, momentum=momentum,
                                   dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
                                   maximize=maximize)
        return run, flags | _MOMENTUM if momentum else flags

    def _state_keys(self, flags: int) -> tuple[str, ...]:
        return ("momentum_buffer",) if flags & _MOMENTUM else ()

    def _flags_of(self, keys: set[str]) -> int | None:
        return {frozenset(): 0, frozenset({"momentum_buffer"}): _MOMENTUM}.get(frozenset(keys))
