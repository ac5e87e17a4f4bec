"""Learning-rate schedulers with torch.optim.lr_scheduler's rules (torch 2.13), formula for formula.

A scheduler reads and writes its optimizer's ``param_groups`` (plain dicts), as torch's does. ``step()``
uses torch's recursive ("chainable") ``get_lr``: each new lr is computed from the group's current
``group["lr"]`` with the same float operations in the same order as torch, so a run gives torch's
learning rates to the last bit, and a change made to ``group["lr"]`` by hand or by another scheduler
carries on. ``step(epoch)`` (deprecated in torch too) uses the closed forms.

``state_dict()`` holds what torch's holds (every attribute but the optimizer), in values that ``tn.save``
stores (numbers, strings, lists, dicts), so a checkpoint resumes the schedule exactly.

Deliberate differences from torch:

- torch wraps ``optimizer.step`` to warn when ``scheduler.step()`` comes first; we do not patch the optimizer.
- ``MultiStepLR.state_dict()["milestones"]`` is the sorted list of milestones (repeats kept), not a
  ``Counter`` (whose integer keys a checkpoint cannot store); ``load_state_dict`` takes either.
- ``load_state_dict`` checks the keys against this scheduler's (a StepLR's state loaded into a cosine
  schedule is refused, not merged); on an error nothing changes.
- A few values torch would only trip over later (a ``ZeroDivisionError`` at some step) are refused up
  front: ``step_size``, ``T_max`` and ``OneCycleLR``'s steps must be positive, ``last_epoch`` an int >= -1.
- Learning rates are Python floats (torch also allows tensors in ``group["lr"]``).
- ReduceLROnPlateau's "param groups changed since min_lr was given" is an ArgumentError (a RuntimeError in torch).
"""

from __future__ import annotations

import copy
import math
import types
import warnings
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from ..errors import ArgumentError, ArgumentTypeError, name_few
from .optimizer import Optimizer

__all__ = ["ChainedScheduler", "CosineAnnealingLR", "ExponentialLR", "LRScheduler", "LambdaLR", "LinearLR",
           "MissingInitialLRError", "MultiStepLR", "OneCycleLR", "ReduceLROnPlateau", "SequentialLR", "StepLR"]

_EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being deprecated where possible "
    "(as in torch). Please use `scheduler.step()` to step the scheduler. During the deprecation, if epoch "
    "is different from None, the closed form is used instead of the chainable form, where available.")


class MissingInitialLRError(ArgumentError, KeyError):
    """A scheduler resumed with ``last_epoch >= 0`` on param groups without ``"initial_lr"`` (a KeyError, as
    torch's, and an ArgumentError)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def _check_optimizer(optimizer: Any, who: str) -> None:
    if not isinstance(optimizer, Optimizer):
        raise ArgumentTypeError(f"{who} needs a tinygrad_norm optimizer (tn.optim.SGD, tn.optim.Adam, ...), "
                                f"got {type(optimizer).__module__}.{type(optimizer).__name__}")


def _check_int(value: Any, name: str, who: str, low: int, wrong_type: type[Exception] = ArgumentTypeError) -> None:
    """``value`` must be an int >= ``low``; ``wrong_type`` is the error for a non-int (torch's OneCycleLR raises
    ValueError there)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise wrong_type(f"{who}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value < low:
        raise ArgumentError(f"{who}: {name} must be >= {low}, got {value}")


def _per_group(name: str, optimizer: Optimizer, value: Any) -> list[Any]:
    """One value per param group: a list/tuple of that length, or one value for all (torch's ``_format_param``)."""
    groups = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != groups:
            raise ArgumentError(f"{name} must have the same length as optimizer.param_groups. "
                                f"{name} has {len(value)} values, param_groups has {groups}.")
        return list(value)
    return [value] * groups


def _lrs(optimizer: Optimizer) -> list[float]:
    return [group["lr"] for group in optimizer.param_groups]


class LRScheduler:
    """Base of the schedulers: torch.optim.lr_scheduler.LRScheduler.

    Subclasses define :meth:`get_lr` (the chainable rule, reading ``group["lr"]`` at ``last_epoch``) and
    may define ``_get_closed_form_lr`` (used by the deprecated ``step(epoch)``). Constructing a scheduler
    sets each group's ``"initial_lr"`` (if absent) and takes the first step (``last_epoch`` becomes 0).
    """

    _get_lr_called_within_step: bool = False
    _is_initial: bool = False

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        who = type(self).__name__
        _check_optimizer(optimizer, who)
        _check_int(last_epoch, "last_epoch", who, -1)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise MissingInitialLRError(
                        f"param 'initial_lr' is not specified in param_groups[{i}] when resuming scheduler with "
                        f"last_epoch >= 0 ({who}, last_epoch={last_epoch}). This typically happens when you resume "
                        "from a checkpoint without loading the optimizer's state first (load it, then make the "
                        "scheduler), or pass last_epoch >= 0 for a fresh run (leave it at -1).")
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The next learning rate of each param group (called by :meth:`step`; use :meth:`get_last_lr` to read)."""
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """The learning rates the last step set, one per param group (a copy)."""
        return list(self._last_lr)

    def step(self, epoch: int | None = None) -> None:
        """Advance one step (call it after ``optimizer.step()``). ``epoch`` is deprecated, as in torch: it
        sets ``last_epoch`` and uses the closed form where there is one."""
        self._step_count += 1
        if epoch is not None:
            warnings.warn(_EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        self._get_lr_called_within_step = True
        try:
            if epoch is None:
                self.last_epoch += 1
                values = self.get_lr()
            else:
                self.last_epoch = epoch
                closed_form = getattr(self, "_get_closed_form_lr", None)
                values = closed_form() if closed_form is not None else self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            group["lr"] = lr
        self._last_lr: list[float] = _lrs(self.optimizer)

    def _warn_get_lr_outside_step(self) -> None:
        if not self._get_lr_called_within_step:
            warnings.warn("To get the last learning rate computed by the scheduler, please use `get_last_lr()`.",
                          UserWarning, stacklevel=3)

    # ---- state -----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer (torch's content), as values ``tn.save`` can store (copies)."""
        return {key: copy.deepcopy(value) for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (also torch's, for these schedulers). The keys are checked
        first against this scheduler's: on an error nothing changes."""
        self._check_state_keys(state_dict)
        self.__dict__.update(copy.deepcopy(state_dict))

    def _check_state_keys(self, state_dict: Any) -> None:
        who = type(self).__name__
        if not isinstance(state_dict, dict):
            raise ArgumentTypeError(f"{who}.load_state_dict needs the dict that state_dict() returned, "
                                    f"got {type(state_dict).__name__}")
        expected = set(self.state_dict())
        missing = sorted(expected - set(state_dict))
        unexpected = sorted(set(state_dict) - expected)
        if missing or unexpected:
            parts = ([f"missing {name_few(missing)}"] if missing else []) + \
                    ([f"unexpected {name_few(unexpected)}"] if unexpected else [])
            raise ArgumentError(f"{who}.load_state_dict: this is not a {who}'s state ({'; '.join(parts)}); "
                                f"load the state saved from a {who} with the same settings")


class _LRScheduler(LRScheduler):
    """torch's old name, kept for code that subclasses it."""


class LambdaLR(LRScheduler):
    """torch.optim.lr_scheduler.LambdaLR: lr = initial_lr * lr_lambda(epoch), one function or one per group.

    ``state_dict`` leaves out functions and lambdas (their slot is None) and keeps the ``__dict__`` of
    callable objects, as torch's does.
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
                 last_epoch: int = -1) -> None:
        _check_optimizer(optimizer, "LambdaLR")
        self.optimizer = optimizer
        if not isinstance(lr_lambda, (list, tuple)):
            self.lr_lambdas = [lr_lambda] * len(optimizer.param_groups)
        else:
            if len(lr_lambda) != len(optimizer.param_groups):
                raise ArgumentError(f"Expected {len(optimizer.param_groups)} lr_lambdas (one per param group), "
                                    f"but got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        for fn in self.lr_lambdas:
            if not callable(fn):
                raise ArgumentTypeError(f"lr_lambda should be a function of the epoch, but got {type(fn).__name__}")
        super().__init__(optimizer, last_epoch)

    def state_dict(self) -> dict[str, Any]:
        state = {key: copy.deepcopy(value) for key, value in self.__dict__.items()
                 if key not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) else copy.deepcopy(fn.__dict__)
                               for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._check_state_keys(state_dict)
        lambdas = state_dict["lr_lambdas"]
        if not isinstance(lambdas, list) or len(lambdas) != len(self.lr_lambdas):
            raise ArgumentError(f"LambdaLR.load_state_dict: lr_lambdas holds {lambdas!r}, not one entry per "
                                f"function ({len(self.lr_lambdas)})")
        self.__dict__.update({k: copy.deepcopy(v) for k, v in state_dict.items() if k != "lr_lambdas"})
        for fn, saved in zip(self.lr_lambdas, lambdas):
            if saved is not None:
                fn.__dict__.update(copy.deepcopy(saved))

    def get_lr(self) -> list[float]:
        self._warn_get_lr_outside_step()
        return [base_lr * fn(self.last_epoch) for fn, base_lr in zip(self.lr_lambdas, self.base_lrs, strict=True)]


class StepLR(LRScheduler):
    """torch.optim.lr_scheduler.StepLR: multiply the lr by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        _check_int(step_size, "step_size", "StepLR", 1)
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        self._warn_get_lr_outside_step()
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return _lrs(self.optimizer)
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    """torch.optim.lr_scheduler.MultiStepLR: multiply the lr by ``gamma`` at each milestone (by gamma**n at
    one listed n times). ``state_dict()["milestones"]`` is their sorted list (a Counter in torch)."""

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.milestones = self._counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _counter(milestones: Any) -> Counter:
        if isinstance(milestones, dict):  # torch's Counter
            milestones = Counter(milestones).elements()
        try:
            items = list(milestones)
        except TypeError:
            raise ArgumentTypeError(f"MultiStepLR: milestones must be a list of epoch indices, "
                                    f"got {type(milestones).__name__}") from None
        bad = [m for m in items if isinstance(m, bool) or not isinstance(m, int)]
        if bad:
            raise ArgumentTypeError(f"MultiStepLR: milestones must be ints, got {name_few(bad)}")
        return Counter(items)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["milestones"] = sorted(self.milestones.elements())
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._check_state_keys(state_dict)
        milestones = self._counter(state_dict["milestones"])
        super().load_state_dict(state_dict)
        self.milestones = milestones

    def get_lr(self) -> list[float]:
        self._warn_get_lr_outside_step()
        if self.last_epoch not in self.milestones:
            return _lrs(self.optimizer)
        return [group["lr"] * self.gamma ** self.milestones[self.last_epoch] for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        milestones = sorted(self.milestones.elements())
        return [base_lr * self.gamma ** bisect_right(milestones, self.last_epoch) for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    """torch.optim.lr_scheduler.ExponentialLR: multiply the lr by ``gamma`` every epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        self._warn_get_lr_outside_step()
        if self._is_initial:  # resuming: the constructor's step must not move one step ahead
            return _lrs(self.optimizer)
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** self.last_epoch for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """torch.optim.lr_scheduler.CosineAnnealingLR: eta_min + (base_lr - eta_min) (1 + cos(pi t / T_max)) / 2,
    computed by torch's recursion (which keeps following the cosine past T_max, back up and down)."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        if isinstance(T_max, bool) or not isinstance(T_max, (int, float)):
            raise ArgumentTypeError(f"CosineAnnealingLR: T_max must be a number of steps, got {type(T_max).__name__}")
        if not T_max > 0:
            raise ArgumentError(f"CosineAnnealingLR: T_max must be positive, got {T_max}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        self._warn_get_lr_outside_step()
        if self._is_initial:
            return _lrs(self.optimizer)
        if self._step_count == 1 and self.last_epoch > 0:  # the first step after resuming with last_epoch
            return [self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(self.last_epoch * math.pi / self.T_max)) / 2
                    for base_lr in self.base_lrs]
        if (self.last_epoch - 1 - self.T_max) % (2 * self.T_max) == 0:  # at the bottom: the recursion would divide by 0
            return [group["lr"] + (base_lr - self.eta_min) * (1 - math.cos(math.pi / self.T_max)) / 2
                    for base_lr, group in zip(self.base_lrs, self.optimizer.param_groups, strict=True)]
        return [(1 + math.cos(math.pi * self.last_epoch / self.T_max))
                / (1 + math.cos(math.pi * (self.last_epoch - 1) / self.T_max))
                * (group["lr"] - self.eta_min) + self.eta_min
                for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base_lr in self.base_lrs]


class LinearLR(LRScheduler):
    """torch.optim.lr_scheduler.LinearLR: the lr's factor goes linearly from ``start_factor`` to ``end_factor``
    over ``total_iters`` steps, then stays."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1) -> None:
        if start_factor > 1.0 or start_factor <= 0:
            raise ArgumentError("Starting multiplicative factor expected to be greater than 0 and less or equal "
                                f"to 1, got start_factor={start_factor}.")
        if end_factor > 1.0 or end_factor < 0:
            raise ArgumentError(f"Ending multiplicative factor expected to be between 0 and 1, got "
                                f"end_factor={end_factor}.")
        _check_int(total_iters, "total_iters", "LinearLR", 0)
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        self._warn_get_lr_outside_step()
        if self.last_epoch == 0:
            return [group["lr"] * self.start_factor for group in self.optimizer.param_groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return _lrs(self.optimizer)
        change = self.end_factor - self.start_factor
        return [group["lr"] * (1.0 + change / (self.total_iters * self.start_factor + (self.last_epoch - 1) * change))
                for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        if self.total_iters == 0:  # torch divides by zero here
            return [base_lr * self.start_factor for base_lr in self.base_lrs]
        return [base_lr * (self.start_factor + (self.end_factor - self.start_factor)
                           * min(self.total_iters, self.last_epoch) / self.total_iters)
                for base_lr in self.base_lrs]


class OneCycleLR(LRScheduler):
    """torch.optim.lr_scheduler.OneCycleLR: the 1cycle policy (fastai's two phases, or the paper's three with
    ``three_phase``), cosine or linear; with ``cycle_momentum`` SGD's ``momentum`` or Adam's beta1 cycles
    inversely to the lr. Stepping more than ``total_steps`` times raises ValueError, as in torch."""

    def __init__(self, optimizer: Optimizer, max_lr: float | list[float], total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: Literal["cos", "linear"] = "cos", cycle_momentum: bool = True,
                 base_momentum: float | list[float] = 0.85, max_momentum: float | list[float] = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        _check_optimizer(optimizer, "OneCycleLR")
        self.optimizer = optimizer
        if total_steps is not None:
            _check_int(total_steps, "total_steps", "OneCycleLR", 1, ArgumentError)
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            _check_int(epochs, "epochs", "OneCycleLR", 1, ArgumentError)
            _check_int(steps_per_epoch, "steps_per_epoch", "OneCycleLR", 1, ArgumentError)
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ArgumentError("OneCycleLR: you must define either total_steps OR (epochs AND steps_per_epoch)")

        if not isinstance(pct_start, float) or pct_start < 0 or pct_start > 1:  # a float, as torch requires
            raise ArgumentError(f"OneCycleLR: expected float between 0 and 1 pct_start, but got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ArgumentError(f"OneCycleLR: anneal_strategy must be one of 'cos' or 'linear', instead got "
                                f"{anneal_strategy!r}")
        warmup_end = float(pct_start * self.total_steps) - 1
        if three_phase:
            self._schedule_phases = [
                {"end_step": warmup_end, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": float(2 * pct_start * self.total_steps) - 2, "start_lr": "max_lr",
                 "end_lr": "initial_lr", "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
                {"end_step": self.total_steps - 1, "start_lr": "initial_lr", "end_lr": "min_lr",
                 "start_momentum": "max_momentum", "end_momentum": "max_momentum"},
            ]
        else:
            self._schedule_phases = [
                {"end_step": warmup_end, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": self.total_steps - 1, "start_lr": "max_lr", "end_lr": "min_lr",
                 "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
            ]
        self._anneal_func_type = anneal_strategy

        max_lrs = _per_group("max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for group, top in zip(optimizer.param_groups, max_lrs):
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor

        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            defaults = getattr(optimizer, "defaults", None)
            keys = defaults if isinstance(defaults, dict) else optimizer.param_groups[0]
            if "momentum" not in keys and "betas" not in keys:
                raise ArgumentError(f"OneCycleLR: optimizer must support momentum or beta1 with `cycle_momentum` "
                                    f"option enabled; {type(optimizer).__name__} has neither: pass "
                                    "cycle_momentum=False")
            self.use_beta1 = "betas" in keys
            max_momentums = _per_group("max_momentum", optimizer, max_momentum)
            base_momentums = _per_group("base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                for top, bottom, group in zip(max_momentums, base_momentums, optimizer.param_groups, strict=True):
                    if self.use_beta1:
                        group["betas"] = (top, *group["betas"][1:])
                    else:
                        group["momentum"] = top
                    group["max_momentum"] = top
                    group["base_momentum"] = bottom
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        self._warn_get_lr_outside_step()
        step_num = self.last_epoch
        if step_num > self.total_steps:
            raise ArgumentError(f"Tried to step {step_num} times. The specified number of total steps is "
                                f"{self.total_steps} (OneCycleLR: make it with a larger total_steps, or epochs and "
                                "steps_per_epoch, for a longer run)")
        lrs = []
        last = len(self._schedule_phases) - 1
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step_num <= end_step or i == last:
                    pct = (step_num - start_step) / (end_step - start_step)
                    lrs.append(self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
                    if self.cycle_momentum:
                        momentum = self._anneal(group[phase["start_momentum"]], group[phase["end_momentum"]], pct)
                        if self.use_beta1:
                            group["betas"] = (momentum, *group["betas"][1:])
                        else:
                            group["momentum"] = momentum
                    break
                start_step = phase["end_step"]
        return lrs


class ReduceLROnPlateau(LRScheduler):
    """torch.optim.lr_scheduler.ReduceLROnPlateau: multiply the lr by ``factor`` (down to ``min_lr``) when the
    metric passed to ``step(metric)`` has not improved for more than ``patience`` steps.

    As in torch, a NaN metric counts as a step without improvement.
    """

    def __init__(self, optimizer: Optimizer, mode: Literal["min", "max"] = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: Literal["rel", "abs"] = "rel",
                 cooldown: int = 0, min_lr: list[float] | float = 0, eps: float = 1e-8) -> None:
        if factor >= 1.0:
            raise ArgumentError(f"ReduceLROnPlateau: factor should be < 1.0, got {factor}")
        _check_optimizer(optimizer, "ReduceLROnPlateau")
        _check_int(patience, "patience", "ReduceLROnPlateau", 0)
        _check_int(cooldown, "cooldown", "ReduceLROnPlateau", 0)
        self.factor = factor
        self.optimizer = optimizer
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(optimizer.param_groups):
                raise ArgumentError(f"ReduceLROnPlateau: expected {len(optimizer.param_groups)} min_lrs (one per "
                                    f"param group), got {len(min_lr)}")
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = _lrs(optimizer)
        self._init_is_better(mode=mode, threshold=threshold, threshold_mode=threshold_mode)
        self._reset()

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def step(self, metrics: Any, epoch: int | None = None) -> None:  # type: ignore[override]
        """Record this step's metric (a number or a one-element tensor) and reduce the lr if it has plateaued."""
        current = self._as_float(metrics)
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            warnings.warn(_EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self.last_epoch = epoch
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = _lrs(self.optimizer)

    @staticmethod
    def _as_float(metrics: Any) -> float:
        item = getattr(metrics, "item", None)
        try:
            return float(item() if callable(item) else metrics)
        except (TypeError, ValueError) as e:
            raise ArgumentTypeError(f"ReduceLROnPlateau.step needs the metric as a number or a one-element tensor, "
                                    f"got {type(metrics).__name__} ({e})") from None

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise ArgumentError(f"ReduceLROnPlateau: the optimizer has {len(groups)} param groups but "
                                    f"min_lr was given for {len(self.min_lrs)}; set `min_lrs` to one per group")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    @staticmethod
    def _check_modes(mode: Any, threshold_mode: Any) -> None:
        if mode not in ("min", "max"):
            raise ArgumentError(f"ReduceLROnPlateau: mode {mode!r} is unknown; use 'min' or 'max'")
        if threshold_mode not in ("rel", "abs"):
            raise ArgumentError(f"ReduceLROnPlateau: threshold mode {threshold_mode!r} is unknown; use 'rel' or 'abs'")

    def _init_is_better(self, mode: str, threshold: float, threshold_mode: str) -> None:
        self._check_modes(mode, threshold_mode)
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._check_state_keys(state_dict)
        self._check_modes(state_dict["mode"], state_dict["threshold_mode"])
        self.__dict__.update(copy.deepcopy(state_dict))
        self._init_is_better(mode=self.mode, threshold=self.threshold, threshold_mode=self.threshold_mode)


def _check_members(who: str, optimizer: Optimizer, schedulers: Sequence[Any]) -> None:
    if len(schedulers) < 1:
        raise ArgumentError(f"{who} expects at least one scheduler, but got no scheduler.")
    for i, scheduler in enumerate(schedulers):
        if not isinstance(scheduler, LRScheduler):
            raise ArgumentTypeError(f"{who}: the scheduler at index {i} is a {type(scheduler).__name__}, "
                                    "not a tinygrad_norm scheduler")
        if isinstance(scheduler, ReduceLROnPlateau):
            raise ArgumentError(f"{who} does not support `ReduceLROnPlateau` scheduler as it requires additional "
                                f"kwargs to be specified when calling `step`, but got one at index {i} in the "
                                "given schedulers sequence.")
        if scheduler.optimizer is not optimizer:
            raise ArgumentError(f"{who} expects all schedulers to belong to the same optimizer, but got scheduler "
                                f"{type(scheduler).__name__} at index {i} with another optimizer.")


class _Composite(LRScheduler):
    """State of a scheduler made of others: its own attributes and each member's state_dict."""

    _schedulers: list[LRScheduler]

    def state_dict(self) -> dict[str, Any]:
        state = {key: copy.deepcopy(value) for key, value in self.__dict__.items()
                 if key not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._check_state_keys(state_dict)
        members = state_dict["_schedulers"]
        if not isinstance(members, list) or len(members) != len(self._schedulers):
            raise ArgumentError(f"{type(self).__name__}.load_state_dict: _schedulers must hold "
                                f"{len(self._schedulers)} states, one per scheduler")
        for s, member in zip(self._schedulers, members):
            s._check_state_keys(member)
        self.__dict__.update({k: copy.deepcopy(v) for k, v in state_dict.items() if k != "_schedulers"})
        for s, member in zip(self._schedulers, members):
            s.load_state_dict(member)


class SequentialLR(_Composite):
    """torch.optim.lr_scheduler.SequentialLR: ``schedulers[i]`` runs from ``milestones[i - 1]`` on, each
    starting from its own first step."""

    def __init__(self, optimizer: Optimizer, schedulers: list[LRScheduler], milestones: list[int],
                 last_epoch: int = -1) -> None:
        _check_optimizer(optimizer, "SequentialLR")
        _check_members("SequentialLR", optimizer, schedulers)
        if len(milestones) != len(schedulers) - 1:
            raise ArgumentError("Sequential Schedulers expects number of schedulers provided to be one more than "
                                f"the number of milestone points, but got number of schedulers {len(schedulers)} "
                                f"and the number of milestones to be equal to {len(milestones)}")
        self._schedulers = list(schedulers)
        self._milestones = list(milestones)
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:  # back to the initial lrs: undo the members' first steps
            group["lr"] = group["initial_lr"]
        self._undo(self)
        idx = bisect_right(self._milestones, 0)
        self._schedulers[idx]._initial_step()
        self._last_lr = self._schedulers[idx].get_last_lr()

    def _undo(self, scheduler: Any) -> None:
        if isinstance(scheduler, _Composite):
            for s in scheduler._schedulers:
                self._undo(s)
        else:
            scheduler.last_epoch -= 1

    def step(self) -> None:  # type: ignore[override]
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()


class ChainedScheduler(_Composite):
    """torch.optim.lr_scheduler.ChainedScheduler: one ``step()`` steps every scheduler in turn."""

    def __init__(self, schedulers: Sequence[LRScheduler], optimizer: Optimizer | None = None) -> None:
        if len(schedulers) < 1:
            raise ArgumentError("ChainedScheduler expects at least one scheduler to be chained, but got no scheduler.")
        optimizer = optimizer or schedulers[0].optimizer
        _check_optimizer(optimizer, "ChainedScheduler")
        _check_members("ChainedScheduler", optimizer, schedulers)
        self._schedulers = list(schedulers)
        self.optimizer = optimizer
        self._last_lr = _lrs(self._schedulers[-1].optimizer)

    def step(self) -> None:  # type: ignore[override]
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = _lrs(self._schedulers[-1].optimizer)
