"""Learning-rate schedulers against torch.optim.lr_scheduler: one schedule, twin optimizers, compared step by step.

Each case is one function ``make(m, optimizer)`` called with ``m = torch.optim.lr_scheduler`` on a torch optimizer
and with ``m = tn.optim.lr_scheduler`` on ours, so the two are built from the same text.

Tolerance on learning rates (and momenta, betas, ReduceLROnPlateau's counters): relative 1e-12, no absolute
slack. Our schedulers do torch's Python-float (IEEE double) operations in the same order, so in practice the
values are equal bit for bit; 1e-12 does not rely on that (an equivalent expression in another order rounds
differently, ~1e-16 a step, well under 1e-12 after hundreds of steps), while a step taken early or late, a wrong
phase or a wrong formula moves an lr by far more (1e-4 relative or more in these schedules). Where torch's
recursion and its closed form differ by more than rounding (a hand edit of ``group["lr"]``, schedulers stacked
on one optimizer, resuming with ``last_epoch``), the chaining and last_epoch tests tell them apart.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.optim.lr_scheduler as torch_sched
from test_optim import twin_mlps as _twin_mlps

import tinygrad_norm as tn
from tinygrad_norm import nn
from tinygrad_norm.errors import ArgumentError, ArgumentTypeError, TinygradNormError
from tinygrad_norm.optim import lr_scheduler as our_sched

REL = 1e-12
GROUP_LRS = (0.1, 0.03)  # two param groups with different lrs

OPTIMIZERS = {
    "sgd": (lambda g: tn.optim.SGD(g, lr=0.1, momentum=0.9), lambda g: torch.optim.SGD(g, lr=0.1, momentum=0.9)),
    # momentum 0: OneCycleLR's cycling turns it on, and torch makes the momentum buffer then
    "sgd_plain": (lambda g: tn.optim.SGD(g, lr=0.1), lambda g: torch.optim.SGD(g, lr=0.1)),
    "adam": (lambda g: tn.optim.Adam(g, lr=0.1, betas=(0.9, 0.99)),
             lambda g: torch.optim.Adam(g, lr=0.1, betas=(0.9, 0.99))),
}
if hasattr(tn.optim, "AdamW"):
    OPTIMIZERS["adamw"] = (lambda g: tn.optim.AdamW(g, lr=0.1), lambda g: torch.optim.AdamW(g, lr=0.1))


class StatefulLambda:
    """A callable object: LambdaLR saves its ``__dict__`` (a plain function is left out)."""

    def __init__(self, base: float) -> None:
        self.base = base
        self.calls = 0

    def __call__(self, epoch: int) -> float:
        self.calls += 1  # the output depends on the state, so a resume that loses it is seen
        return self.base ** epoch * (1.0 if self.calls % 3 else 0.5)


CASES = {
    "LambdaLR": lambda m, o: m.LambdaLR(o, lambda e: 0.97 ** e),
    "LambdaLR_per_group": lambda m, o: m.LambdaLR(o, [lambda e: 1 / (1 + 0.1 * e), StatefulLambda(0.99)]),
    "StepLR": lambda m, o: m.StepLR(o, step_size=7, gamma=0.5),
    "StepLR_default_gamma": lambda m, o: m.StepLR(o, step_size=30),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[80, 10, 50, 50], gamma=0.3),  # unsorted, 50 twice
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.99),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=50),  # 300 steps: three times down and up
    "CosineAnnealingLR_eta_min": lambda m, o: m.CosineAnnealingLR(o, T_max=37, eta_min=1e-4),
    "LinearLR_default": lambda m, o: m.LinearLR(o),
    "LinearLR_warmup": lambda m, o: m.LinearLR(o, start_factor=0.1, total_iters=40),
    "LinearLR_decay": lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=100),
    "OneCycleLR": lambda m, o: m.OneCycleLR(o, max_lr=0.1, total_steps=300),
    "OneCycleLR_linear_three_phase": lambda m, o: m.OneCycleLR(o, max_lr=[0.1, 0.3], total_steps=300,
                                                               anneal_strategy="linear", three_phase=True),
    "OneCycleLR_epochs": lambda m, o: m.OneCycleLR(o, max_lr=0.05, epochs=10, steps_per_epoch=30, pct_start=0.25,
                                                   div_factor=10.0, final_div_factor=100.0,
                                                   base_momentum=[0.8, 0.7], max_momentum=[0.9, 0.95]),
    "OneCycleLR_no_momentum": lambda m, o: m.OneCycleLR(o, max_lr=0.1, total_steps=300, cycle_momentum=False),
    "SequentialLR": lambda m, o: m.SequentialLR(o, [m.LinearLR(o, start_factor=0.1, total_iters=10),
                                                    m.CosineAnnealingLR(o, T_max=90)], milestones=[10]),
    "ChainedScheduler": lambda m, o: m.ChainedScheduler([m.ExponentialLR(o, gamma=0.99),
                                                         m.StepLR(o, step_size=10, gamma=0.5)]),
}
STEPS = 300


# ---- helpers ----------------------------------------------------------------------------------------------
def twin_optimizers(kind: str, lrs=GROUP_LRS, seed: int = 0, values=None):
    """Ours and torch's optimizer of one kind, one param group (a float64 3-vector) per lr."""
    rng = np.random.default_rng(seed)
    values = values if values is not None else [rng.standard_normal(3) for _ in lrs]
    ours_p = [tn.Tensor(v, dtype="float64", requires_grad=True) for v in values]
    ref_p = [torch.tensor(v, requires_grad=True) for v in values]
    make_ours, make_ref = OPTIMIZERS[kind]
    ours = make_ours([{"params": [p], "lr": lr} for p, lr in zip(ours_p, lrs)])
    ref = make_ref([{"params": [p], "lr": lr} for p, lr in zip(ref_p, lrs)])
    return ours, ref, ours_p, ref_p


def train_step(opt, params, sched, metric=None) -> None:
    """One step of a quadratic loss (every gradient non-zero), then the scheduler's step."""
    opt.zero_grad()
    loss = 0
    for i, p in enumerate(params):
        loss = loss + ((p - 0.5 * i) * (p - 0.5 * i)).sum()
    loss.backward()
    opt.step()
    sched.step() if metric is None else sched.step(metric)


def snapshot(opt, sched) -> list:
    """What a schedule sets: each group's lr, momentum and betas, and the scheduler's last lrs."""
    groups = [[g["lr"], g.get("momentum"), list(g["betas"]) if "betas" in g else None] for g in opt.param_groups]
    return [groups, list(sched.get_last_lr())]


def plain(value):
    """A state-dict value with torch's containers made plain (Counter -> sorted list, tuple -> list)."""
    if isinstance(value, dict) and value and all(isinstance(k, int) for k in value):
        return sorted(k for k, n in value.items() for _ in range(n))  # torch's milestones Counter
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def assert_close(ours, ref, where: str = "") -> None:
    """Equal structure; floats within REL (relative, no absolute slack), everything else equal."""
    if isinstance(ref, dict):
        assert isinstance(ours, dict) and set(ours) == set(ref), f"{where}: keys {sorted(ours)} vs {sorted(ref)}"
        for k in ref:
            assert_close(ours[k], ref[k], f"{where}[{k!r}]")
    elif isinstance(ref, (list, tuple)):
        assert isinstance(ours, (list, tuple)) and len(ours) == len(ref), f"{where}: {ours!r} vs {ref!r}"
        for i, (a, b) in enumerate(zip(ours, ref)):
            assert_close(a, b, f"{where}[{i}]")
    elif isinstance(ref, float) and not isinstance(ours, bool):
        assert isinstance(ours, (int, float)), f"{where}: {ours!r} vs {ref!r}"
        assert ours == ref or math.isclose(ours, ref, rel_tol=REL, abs_tol=0.0), f"{where}: {ours!r} vs torch {ref!r}"
    else:
        assert ours == ref, f"{where}: {ours!r} vs torch {ref!r}"


def run_twins(case, kind: str, steps: int = STEPS):
    """Both schedules over ``steps`` training steps; returns (ours, torch) histories and the schedulers."""
    ours, ref, ours_p, ref_p = twin_optimizers(kind)
    s_ours, s_ref = case(our_sched, ours), case(torch_sched, ref)
    h_ours, h_ref = [snapshot(ours, s_ours)], [snapshot(ref, s_ref)]
    for _ in range(steps):
        train_step(ours, ours_p, s_ours)
        train_step(ref, ref_p, s_ref)
        h_ours.append(snapshot(ours, s_ours))
        h_ref.append(snapshot(ref, s_ref))
    return h_ours, h_ref, (s_ours, s_ref), (ours_p, ref_p)


# ---- the schedules ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(OPTIMIZERS))
@pytest.mark.parametrize("name", list(CASES))
def test_schedule_matches_torch(name, kind):
    """300 steps: every lr (and momentum/betas) equal to torch's, the state dicts equal, the parameters too
    (float64 3-vectors: rtol 1e-10 allows the fused update's rounding over 300 steps, not a wrong lr)."""
    h_ours, h_ref, (s_ours, s_ref), (ours_p, ref_p) = run_twins(CASES[name], kind)
    for step, (a, b) in enumerate(zip(h_ours, h_ref)):
        assert_close(a, b, f"{name}/{kind} step {step}")
    assert len({h[0][0][0] for h in h_ref}) > 3, "the schedule must move the lr for this test to mean anything"
    assert_close(plain(s_ours.state_dict()), plain(s_ref.state_dict()), f"{name} state_dict")
    for p, r in zip(ours_p, ref_p):
        np.testing.assert_allclose(p.numpy(), r.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_state_dict_round_trip_through_save_resumes_identically(name, tmp_path):
    """Save optimizer + scheduler after 120 of 300 steps (tn.save), rebuild everything fresh (the scheduler before
    the optimizer's state is loaded, as torch recommends), load, continue: bit-identical to an uninterrupted run."""
    case = CASES[name]
    whole, _, whole_p, _ = twin_optimizers("sgd")
    s_whole = case(our_sched, whole)
    first, _, first_p, _ = twin_optimizers("sgd")
    s_first = case(our_sched, first)
    for _ in range(120):
        train_step(whole, whole_p, s_whole)
        train_step(first, first_p, s_first)
    path = tn.save({"optimizer": first.state_dict(), "scheduler": s_first.state_dict(),
                    "params": [p.numpy() for p in first_p]}, tmp_path / "ckpt.npz")
    ckpt = tn.load(path)
    resumed, _, resumed_p, _ = twin_optimizers("sgd", values=ckpt["params"])
    s_resumed = case(our_sched, resumed)
    resumed.load_state_dict(ckpt["optimizer"])
    s_resumed.load_state_dict(ckpt["scheduler"])
    for step in range(120, STEPS):
        train_step(whole, whole_p, s_whole)
        train_step(resumed, resumed_p, s_resumed)
        assert snapshot(resumed, s_resumed) == snapshot(whole, s_whole), f"step {step}"
    for p, q in zip(resumed_p, whole_p):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    assert s_resumed.state_dict() == s_whole.state_dict()


def test_onecycle_cycles_sgd_momentum_and_adam_beta1():
    """Momentum goes max -> base at the lr's peak -> max, inversely to the lr; Adam's beta2 is left alone."""
    for kind in ("sgd", "adam"):
        h_ours, h_ref, *_ = run_twins(CASES["OneCycleLR"], kind, steps=299)
        momenta = [h[0][0][1] if kind == "sgd" else h[0][0][2][0] for h in h_ours]
        lrs = [h[0][0][0] for h in h_ours]
        peak = int(np.argmax(lrs))
        assert momenta[0] == pytest.approx(0.95) and momenta[peak] == pytest.approx(0.85)
        assert momenta[-1] == pytest.approx(0.95, abs=1e-4) and peak == 89  # pct_start 0.3 of 300 steps
        if kind == "adam":
            assert {h[0][0][2][1] for h in h_ours} == {0.99}
        assert_close(h_ours, h_ref, kind)


def test_onecycle_raises_when_stepped_past_total_steps():
    ours, ref, ours_p, ref_p = twin_optimizers("sgd")
    s_ours = our_sched.OneCycleLR(ours, max_lr=0.1, total_steps=20)
    s_ref = torch_sched.OneCycleLR(ref, max_lr=0.1, total_steps=20)
    for _ in range(20):  # torch allows total_steps steps after the constructor's
        train_step(ours, ours_p, s_ours)
        train_step(ref, ref_p, s_ref)
    with pytest.raises(ValueError, match="Tried to step 21 times. The specified number of total steps is 20"):
        train_step(ref, ref_p, s_ref)
    with pytest.raises(ArgumentError, match="Tried to step 21 times. The specified number of total steps is 20"):
        train_step(ours, ours_p, s_ours)


# ---- chaining, resuming with last_epoch, the deprecated epoch argument ------------------------------------
def test_chainable_schedulers_and_hand_edits_follow_torch():
    """Two schedulers stepping one optimizer, and lrs changed by hand: the recursive forms carry both on."""
    for build in (lambda m, o: [m.StepLR(o, step_size=5, gamma=0.7), m.ExponentialLR(o, gamma=0.98)],
                  lambda m, o: [m.CosineAnnealingLR(o, T_max=40, eta_min=1e-3), m.MultiStepLR(o, [30, 60])],
                  lambda m, o: [m.LinearLR(o, start_factor=0.2, total_iters=25)]):
        ours, ref, ours_p, ref_p = twin_optimizers("adam")
        many_ours, many_ref = build(our_sched, ours), build(torch_sched, ref)
        for step in range(150):
            for opt, params, scheds in ((ours, ours_p, many_ours), (ref, ref_p, many_ref)):
                if step in (17, 90):
                    opt.param_groups[1]["lr"] *= 3.0
                train_step(opt, params, scheds[0])
                for s in scheds[1:]:
                    s.step()
            assert_close([g["lr"] for g in ours.param_groups], [g["lr"] for g in ref.param_groups], f"step {step}")
            assert_close([s.get_last_lr() for s in many_ours], [s.get_last_lr() for s in many_ref])


RESUMABLE = {
    "StepLR": lambda m, o, e: m.StepLR(o, step_size=4, gamma=0.5, last_epoch=e),
    "ExponentialLR": lambda m, o, e: m.ExponentialLR(o, gamma=0.9, last_epoch=e),
    "CosineAnnealingLR": lambda m, o, e: m.CosineAnnealingLR(o, T_max=30, eta_min=0.001, last_epoch=e),
    "LinearLR": lambda m, o, e: m.LinearLR(o, start_factor=0.25, total_iters=40, last_epoch=e),
    "LambdaLR": lambda m, o, e: m.LambdaLR(o, lambda k: 0.95 ** k, last_epoch=e),
    "MultiStepLR": lambda m, o, e: m.MultiStepLR(o, [25, 35], last_epoch=e),
}


@pytest.mark.parametrize("name", list(RESUMABLE))
def test_last_epoch_resumes_like_torch(name):
    """``last_epoch=20`` on groups holding ``initial_lr`` (torch's resume path, e.g. its CosineAnnealingLR first
    step after resuming)."""
    ours, ref, ours_p, ref_p = twin_optimizers("sgd")
    for opt in (ours, ref):
        for g, lr in zip(opt.param_groups, (0.2, 0.05)):
            g["initial_lr"] = lr
    s_ours, s_ref = RESUMABLE[name](our_sched, ours, 20), RESUMABLE[name](torch_sched, ref, 20)
    for step in range(60):
        train_step(ours, ours_p, s_ours)
        train_step(ref, ref_p, s_ref)
        assert_close(snapshot(ours, s_ours), snapshot(ref, s_ref), f"{name} step {step}")
    assert_close(plain(s_ours.state_dict()), plain(s_ref.state_dict()))


def test_resuming_without_initial_lr_raises_torchs_key_error():
    ours, ref, _, _ = twin_optimizers("sgd")
    with pytest.raises(KeyError, match="initial_lr"):
        torch_sched.StepLR(ref, step_size=3, last_epoch=5)
    with pytest.raises(KeyError, match=r"param 'initial_lr' is not specified in param_groups\[0\]") as info:
        our_sched.StepLR(ours, step_size=3, last_epoch=5)
    assert isinstance(info.value, ArgumentError)
    assert str(info.value).startswith("param 'initial_lr'")  # not KeyError's quoted repr


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR_eta_min",
                                  "LinearLR_warmup", "LambdaLR"])
def test_deprecated_epoch_argument_uses_the_closed_form_like_torch(name):
    ours, ref, _, _ = twin_optimizers("sgd")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s_ref = CASES[name](torch_sched, ref)
    s_ours = CASES[name](our_sched, ours)
    for epoch in (3, 10, 11, 49, 50, 51, 7, 120):
        with pytest.warns(UserWarning, match="deprecated"):
            s_ours.step(epoch)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s_ref.step(epoch)
        assert_close(s_ours.get_last_lr(), s_ref.get_last_lr(), f"epoch {epoch}")


def test_get_lr_outside_step_warns_like_torch():
    ours, _, _, _ = twin_optimizers("sgd")
    sched = our_sched.StepLR(ours, step_size=3)
    with pytest.warns(UserWarning, match="get_last_lr"):
        sched.get_lr()


@pytest.mark.parametrize("base", ["LRScheduler", "_LRScheduler"])
def test_user_subclass_like_torchs(base):
    """A scheduler a user writes against torch's base class works the same on ours."""
    def make(m, o):
        class Halving(getattr(m, base)):
            def get_lr(self):
                halve = self.last_epoch > 0 and self.last_epoch % 3 == 0
                return [g["lr"] * (0.5 if halve else 1.0) for g in self.optimizer.param_groups]
        return Halving(o)

    h_ours, h_ref, *_ = run_twins(make, "sgd", steps=30)
    assert_close(h_ours, h_ref)


SCHEDULE_KEYS = ("lr", "initial_lr", "max_lr", "min_lr", "momentum", "max_momentum", "base_momentum", "betas")


def test_loads_a_torch_state_dict():
    """A torch scheduler's state (MultiStepLR's Counter included) loads into ours and continues the same."""
    for name in ("MultiStepLR", "CosineAnnealingLR", "OneCycleLR"):
        ours, ref, ours_p, ref_p = twin_optimizers("sgd")
        s_ref = CASES[name](torch_sched, ref)
        for _ in range(55):
            train_step(ref, ref_p, s_ref)
        s_ours = CASES[name](our_sched, ours)
        for g, rg in zip(ours.param_groups, ref.param_groups):  # what loading the optimizer's state would restore
            g.update({k: v for k, v in rg.items() if k in SCHEDULE_KEYS})
        s_ours.load_state_dict(s_ref.state_dict())
        for step in range(100):
            train_step(ours, ours_p, s_ours)
            train_step(ref, ref_p, s_ref)
            assert_close(snapshot(ours, s_ours), snapshot(ref, s_ref), f"{name} step {step}")


# ---- ReduceLROnPlateau ---------------------------------------------------------------------------------------
def plateau_metrics(n: int = 240, seed: int = 4) -> list[float]:
    """Improving stretches, long plateaus with noise, a rise, repeats, one NaN and one inf."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        level = 1.0 / (1 + i // 40) + (0.3 if 100 <= i < 130 else 0.0)
        out.append(float(level + 1e-3 * rng.standard_normal()) if i % 9 else float(level))
    out[57], out[58], out[150] = out[56], math.nan, math.inf
    return out


PLATEAU = {
    "defaults": dict(),
    "max_abs_cooldown_min_lr_per_group": dict(mode="max", factor=0.5, patience=3, threshold=0.01,
                                              threshold_mode="abs", cooldown=4, min_lr=[1e-3, 1e-2]),
    "min_rel_eps": dict(mode="min", factor=0.3, patience=0, threshold=0.05, cooldown=2, min_lr=0.004, eps=0.01),
    "min_abs": dict(factor=0.7, patience=5, threshold=1e-3, threshold_mode="abs", min_lr=1e-3),
}


@pytest.mark.parametrize("name", list(PLATEAU))
def test_reduce_on_plateau_matches_torch(name, tmp_path):
    kwargs = PLATEAU[name]
    metrics = plateau_metrics()
    if kwargs.get("mode") == "max":
        metrics = [-m for m in metrics]
    ours, ref, ours_p, ref_p = twin_optimizers("sgd")
    s_ours, s_ref = our_sched.ReduceLROnPlateau(ours, **kwargs), torch_sched.ReduceLROnPlateau(ref, **kwargs)
    for step, m in enumerate(metrics):
        train_step(ours, ours_p, s_ours, m)
        train_step(ref, ref_p, s_ref, m)
        assert_close(snapshot(ours, s_ours), snapshot(ref, s_ref), f"{name} step {step}")
        assert_close(plain(s_ours.state_dict()), plain(s_ref.state_dict()), f"{name} state at step {step}")
        if step == 111:  # a round trip mid-plateau
            saved = s_ours.state_dict()
            s_ours = our_sched.ReduceLROnPlateau(ours, **kwargs)
            s_ours.load_state_dict(tn.load(tn.save(saved, tmp_path / "s.npz")))
    lrs = [g["lr"] for g in ours.param_groups]
    assert lrs[0] < GROUP_LRS[0] * 0.5, "the metrics must trigger reductions for this test to mean anything"
    if "eps" in kwargs:
        assert min(lrs) > kwargs["min_lr"], "eps blocks the last, small reductions"
    elif "min_lr" in kwargs:
        floor = kwargs["min_lr"] if isinstance(kwargs["min_lr"], list) else [kwargs["min_lr"]] * 2
        assert lrs == pytest.approx(floor), "long enough to reach min_lr"


def test_reduce_on_plateau_takes_a_tensor_metric_and_round_trips_at_start(tmp_path):
    ours, _, _, _ = twin_optimizers("sgd")
    sched = our_sched.ReduceLROnPlateau(ours, patience=0)
    saved = tn.load(tn.save(sched.state_dict(), tmp_path / "s.npz"))
    assert saved["best"] == math.inf and saved == sched.state_dict()
    sched.step(tn.Tensor([2.0]))
    sched.step(tn.Tensor(3.0))
    assert sched.best == 2.0 and sched.get_last_lr() == pytest.approx([0.01, 0.003])
    with pytest.raises(TypeError, match="metric"):
        sched.step("low")


# ---- parameter trajectories (float32 MLPs) --------------------------------------------------------------------
def twin_mlps(seed: int = 0):
    return _twin_mlps(seed, hidden=32)


TRAJECTORIES = {
    "OneCycleLR_sgd_momentum": ("sgd", lambda m, o: m.OneCycleLR(o, max_lr=[0.05, 0.02], total_steps=60)),
    "OneCycleLR_adam_betas": ("adam", lambda m, o: m.OneCycleLR(o, max_lr=0.01, total_steps=60, three_phase=True)),
    "CosineAnnealingLR_adam": ("adam", lambda m, o: m.CosineAnnealingLR(o, T_max=20, eta_min=1e-4)),
    "ReduceLROnPlateau_sgd": ("sgd", lambda m, o: m.ReduceLROnPlateau(o, factor=0.5, patience=1)),
}


@pytest.mark.parametrize("name", list(TRAJECTORIES))
def test_parameter_trajectory_matches_torch(name):
    """60 steps on the same batches, two param groups (one per layer): losses within rtol 1e-5 and the final
    parameters within rtol 1e-5, atol 1e-6 (float32 rounding of the forward/backward, as in test_optim.py);
    the lrs exactly as torch's (ReduceLROnPlateau gets our loss in both, so one metric drives both)."""
    kind, make = TRAJECTORIES[name]
    ours, ref = twin_mlps()
    lr = 0.01 if kind == "sgd" else 1e-3

    def groups(model):
        return [{"params": list(model[0].parameters()), "lr": lr},
                {"params": list(model[2].parameters()), "lr": lr / 2}]

    make_ours, make_ref = {"sgd": (lambda g: tn.optim.SGD(g, lr=lr, momentum=0.9),
                                   lambda g: torch.optim.SGD(g, lr=lr, momentum=0.9)),
                           "adam": (lambda g: tn.optim.Adam(g, lr=lr), lambda g: torch.optim.Adam(g, lr=lr))}[kind]
    opt, ref_opt = make_ours(groups(ours)), make_ref(groups(ref))
    sched, ref_sched = make(our_sched, opt), make(torch_sched, ref_opt)
    rng = np.random.default_rng(1)
    w = rng.standard_normal((8, 1))
    for step in range(60):
        x = rng.standard_normal((64, 8)).astype(np.float32)
        y = (np.tanh(x @ w) + 0.1 * rng.standard_normal((64, 1))).astype(np.float32)
        opt.zero_grad()
        loss = nn.functional.mse_loss(ours(tn.Tensor(x)), tn.Tensor(y))
        loss.backward()
        opt.step()
        ref_opt.zero_grad()
        ref_loss = torch.nn.functional.mse_loss(ref(torch.from_numpy(x)), torch.from_numpy(y))
        ref_loss.backward()
        ref_opt.step()
        if isinstance(sched, our_sched.ReduceLROnPlateau):
            sched.step(loss)
            ref_sched.step(loss.item())
        else:
            sched.step()
            ref_sched.step()
        np.testing.assert_allclose(loss.item(), ref_loss.item(), rtol=1e-5, err_msg=f"loss at step {step}")
        assert_close(snapshot(opt, sched), snapshot(ref_opt, ref_sched), f"step {step}")
    assert len(opt.param_groups) == 2
    for (k, v), (_, rv) in zip(ours.state_dict().items(), ref.state_dict().items()):
        np.testing.assert_allclose(v.numpy(), rv.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)


# ---- errors ------------------------------------------------------------------------------------------------
ERRORS = {
    "LambdaLR_count": (lambda m, o: m.LambdaLR(o, [lambda e: 1.0]), ValueError, "lr_lambdas"),
    "LinearLR_start_0": (lambda m, o: m.LinearLR(o, start_factor=0), ValueError, "Starting multiplicative"),
    "LinearLR_start_big": (lambda m, o: m.LinearLR(o, start_factor=1.5), ValueError, "Starting multiplicative"),
    "LinearLR_end": (lambda m, o: m.LinearLR(o, end_factor=-0.5), ValueError, "Ending multiplicative"),
    "OneCycleLR_no_length": (lambda m, o: m.OneCycleLR(o, max_lr=0.1), ValueError, "total_steps OR"),
    "OneCycleLR_total_0": (lambda m, o: m.OneCycleLR(o, 0.1, total_steps=0), ValueError, "total_steps"),
    "OneCycleLR_total_float": (lambda m, o: m.OneCycleLR(o, 0.1, total_steps=10.0), ValueError, "total_steps"),
    "OneCycleLR_epochs_0": (lambda m, o: m.OneCycleLR(o, 0.1, epochs=0, steps_per_epoch=5), ValueError, "epochs"),
    "OneCycleLR_steps_per_epoch": (lambda m, o: m.OneCycleLR(o, 0.1, epochs=3, steps_per_epoch=-1), ValueError,
                                   "steps_per_epoch"),
    "OneCycleLR_int_pct": (lambda m, o: m.OneCycleLR(o, 0.1, total_steps=9, pct_start=1), ValueError, "pct_start"),
    "OneCycleLR_pct": (lambda m, o: m.OneCycleLR(o, 0.1, total_steps=9, pct_start=1.5), ValueError, "pct_start"),
    "OneCycleLR_anneal": (lambda m, o: m.OneCycleLR(o, 0.1, total_steps=9, anneal_strategy="exp"), ValueError,
                          "anneal_strategy"),
    "OneCycleLR_max_lr": (lambda m, o: m.OneCycleLR(o, [0.1, 0.2, 0.3], total_steps=9), ValueError,
                          "max_lr must have the same length"),
    "OneCycleLR_momentum": (lambda m, o: m.OneCycleLR(o, 0.1, total_steps=9, base_momentum=[0.8]), ValueError,
                            "base_momentum must have the same length"),
    "Plateau_factor": (lambda m, o: m.ReduceLROnPlateau(o, factor=1.0), ValueError, "actor should be < 1.0"),
    "Plateau_mode": (lambda m, o: m.ReduceLROnPlateau(o, mode="avg"), ValueError, "avg"),
    "Plateau_threshold_mode": (lambda m, o: m.ReduceLROnPlateau(o, threshold_mode="pct"), ValueError, "pct"),
    "Plateau_min_lr": (lambda m, o: m.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "min_lrs"),
    "Sequential_milestones": (lambda m, o: m.SequentialLR(o, [m.StepLR(o, 2), m.StepLR(o, 3)], milestones=[]),
                              ValueError, "milestone"),
    "Sequential_empty": (lambda m, o: m.SequentialLR(o, [], milestones=[]), ValueError, "at least one"),
    "Sequential_plateau": (lambda m, o: m.SequentialLR(o, [m.StepLR(o, 2), m.ReduceLROnPlateau(o)], [3]),
                           ValueError, "ReduceLROnPlateau"),
    "Chained_empty": (lambda m, o: m.ChainedScheduler([]), ValueError, "at least one"),
    "Chained_plateau": (lambda m, o: m.ChainedScheduler([m.ReduceLROnPlateau(o)]), ValueError, "ReduceLROnPlateau"),
    "not_an_optimizer": (lambda m, o: m.StepLR([o], 3), TypeError, "Optimizer|optimizer"),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_argument_errors_like_torchs(name):
    """The same bad call raises the same built-in class in torch and in ours (ours also a TinygradNormError)."""
    make, kind, match = ERRORS[name]
    ours, ref, _, _ = twin_optimizers("sgd")
    with pytest.raises(kind, match=match):
        make(torch_sched, ref)
    with pytest.raises(kind, match=match) as info:
        make(our_sched, ours)
    assert isinstance(info.value, TinygradNormError)


def test_errors_torch_would_raise_late_or_not_at_all():
    """Deliberate differences: values that only fail later in torch (or silently misbehave) are refused up front."""
    ours, ref, _, _ = twin_optimizers("sgd")
    for make, kind, match in (
            (lambda o: our_sched.StepLR(o, step_size=0), ArgumentError, "step_size must be >= 1"),
            (lambda o: our_sched.StepLR(o, step_size=2.5), ArgumentTypeError, "step_size must be an int"),
            (lambda o: our_sched.CosineAnnealingLR(o, T_max=0), ArgumentError, "T_max must be positive"),
            (lambda o: our_sched.ReduceLROnPlateau(o, patience=-1), ArgumentError, "patience"),
            (lambda o: our_sched.ExponentialLR(o, 0.9, last_epoch=-2), ArgumentError, "last_epoch"),
            (lambda o: our_sched.MultiStepLR(o, [3, 4.5]), ArgumentTypeError, "4.5"),
            (lambda o: our_sched.LambdaLR(o, 0.5), ArgumentTypeError, "function"),
            (lambda o: our_sched.StepLR(ref, 3), ArgumentTypeError, "torch.optim.sgd.SGD")):
        with pytest.raises(kind, match=match):
            make(ours)


def test_load_state_dict_refuses_another_schedulers_state_and_changes_nothing():
    ours, _, _, _ = twin_optimizers("sgd")
    cosine = our_sched.CosineAnnealingLR(ours, T_max=10)
    before = cosine.state_dict()
    step_state = our_sched.StepLR(twin_optimizers("sgd")[0], step_size=3).state_dict()
    with pytest.raises(ArgumentError, match="not a CosineAnnealingLR's state .*missing 'T_max'.*unexpected 'gamma'"):
        cosine.load_state_dict(step_state)
    with pytest.raises(ArgumentTypeError, match="dict"):
        cosine.load_state_dict([1, 2])
    assert cosine.state_dict() == before
