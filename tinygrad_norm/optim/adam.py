"""torch.optim.Adam and AdamW over the optimizer's flat buffers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..tensor import Tensor
from .optimizer import ArgumentTypeError, Optimizer, _Bucket, check_flag, check_range

_AMSGRAD = 1  # flag: the parameter has a max_exp_avg_sq (amsgrad was on at one of its steps)


class Adam(Optimizer):
    """torch.optim.Adam: bias-corrected first and second moment estimates, with torch's ``amsgrad``
    (``max_exp_avg_sq``), ``maximize`` and ``decoupled_weight_decay`` (AdamW's rule). ``foreach``/``fused``/
    ``capturable``/``differentiable`` are accepted only at their defaults (None/False), and ``lr``/``betas``
    only as numbers (torch's Tensor learning rates belong to its capturable mode)."""

    _hyper_keys = ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "decoupled_weight_decay",
                   "foreach", "capturable", "differentiable", "fused")
    _state_names = ("exp_avg", "exp_avg_sq")
    _flag_defaults = {"amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
                      "differentiable": False, "fused": None, "decoupled_weight_decay": False}
    _counts_steps = True

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 amsgrad: bool = False, *, foreach: bool | None = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False) -> None:
        if isinstance(betas, list):
            betas = tuple(betas)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad,
                    "maximize": maximize, "foreach": foreach, "capturable": capturable,
                    "differentiable": differentiable, "fused": fused, "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any], where: str) -> None:
        super()._check_hyperparameters(group, where)
        check_range(where, "lr", group["lr"], label="learning rate")
        check_range(where, "eps", group["eps"], label="epsilon")
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ArgumentTypeError(f"{where}: betas must be a pair (beta1, beta2), got {betas!r}")
        check_range(where, "betas[0]", betas[0], hi=1.0, label="beta parameter at index 0")
        check_range(where, "betas[1]", betas[1], hi=1.0, label="beta parameter at index 1")
        check_range(where, "weight_decay", group["weight_decay"])
        for k in ("amsgrad", "maximize", "decoupled_weight_decay"):
            check_flag(where, k, group[k])

    def _kernel(self, b: _Bucket, sl: slice | None, hyper: tuple, flags: int) -> tuple[Callable[[int], None], int]:
        lr, (beta1, beta2), eps, weight_decay, amsgrad, maximize, decoupled, _, _, _, _ = hyper  # (_: SWITCHES)
        if amsgrad:
            b.allocate("max_exp_avg_sq")  # zeros, as torch initializes it
            param, grad, m, v, vmax = self._arrays(b, sl, "exp_avg", "exp_avg_sq", "max_exp_avg_sq")
        else:
            (param, grad, m, v), vmax = self._arrays(b, sl, "exp_avg", "exp_avg_sq"), None
        run = b.backend.adam_kernel(param, grad, m, v, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                                    weight_decay=weight_decay, max_exp_avg_sq=vmax, maximize=maximize,
                                    decoupled=decoupled)
        return run, flags | _AMSGRAD if amsgrad else flags

    def _state_keys(self, flags: int) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if flags & _AMSGRAD else ("exp_avg", "exp_avg_sq")

    def _flags_of(self, keys: set[str]) -> int | None:
        return {frozenset({"exp_avg", "exp_avg_sq"}): 0,
                frozenset({"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}): _AMSGRAD}.get(frozenset(keys))


class AdamW(Adam):
    """torch.optim.AdamW: Adam with decoupled weight decay (``p *= 1 - lr * weight_decay`` each step, not
    added to the gradient), torch's default ``weight_decay=1e-2``. Always decoupled, as torch's AdamW
    (also after loading a state dict)."""

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 amsgrad: bool = False, *, maximize: bool = False, foreach: bool | None = None,
                 capturable: bool = False, differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        for group in self.param_groups:  # torch's AdamW.__setstate__
            group["decoupled_weight_decay"] = True
