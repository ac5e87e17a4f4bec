"""A port of torch's own optimizer tests for SGD, Adam and AdamW (torch 2.13).

Sources: ``torch/testing/_internal/common_optimizers.py`` (``optim_inputs_func_sgd/_adam/_adamw``, the
configurations; ``get_error_inputs_for_all_optims`` and ``optim_error_inputs_func_*``, the error inputs) and
``test/test_optim.py`` (``TestOptimRenewed``). Each configuration runs here as a trajectory comparison
against torch itself (weight 10x5, bias 10, loss ``(weight @ input + bias).pow(2).sum()`` as in torch's
tests, 50 steps, float32 and float64), plus torch's per-configuration checks that apply to us: a bias group
without weight decay, a group whose lr is almost 0, zero gradients, parameters without gradients, the state
dict (deterministic, resumable, storable, loadable without newer flags or with a plain-number step), repr.
Each error input is run through torch and through us: the verdict (raises or warns, and the exception
class) must agree.

Configurations not ported, and why (counted in SKIPPED):
"""

from __future__ import annotations

import warnings
from copy import deepcopy

import numpy as np
import pytest
import torch

import tinygrad_norm as tn

CLASSES = {"SGD": (tn.optim.SGD, torch.optim.SGD), "Adam": (tn.optim.Adam, torch.optim.Adam),
           "AdamW": (tn.optim.AdamW, torch.optim.AdamW)}

# optim_inputs_func_sgd (device="cpu")
SGD_INPUTS = {
    "default": {}, "non-default lr": {"lr": 1e-2}, "non-zero weight_decay": {"weight_decay": 0.5},
    "momentum": {"momentum": 0.9}, "maximize": {"weight_decay": 0.1, "maximize": True},
    "dampening": {"momentum": 0.9, "dampening": 0.5},
    "weight_decay w/ momentum": {"momentum": 0.9, "weight_decay": 0.1},
    "nesterov": {"momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
}
# optim_inputs_func_adam (device="cpu"); optim_inputs_func_adamw returns the same list
ADAM_INPUTS = {
    "default": {}, "non-default lr": {"lr": 0.01}, "nonzero weight_decay": {"weight_decay": 0.1},
    "maximize": {"weight_decay": 0.1, "maximize": True}, "amsgrad": {"weight_decay": 0.1, "amsgrad": True},
}
INPUTS = {"SGD": SGD_INPUTS, "Adam": ADAM_INPUTS, "AdamW": ADAM_INPUTS}

# torch's configurations that need a torch-only feature: (optimizer, desc, why)
SKIPPED = [
    ("SGD", "tensor lr", "lr=torch.tensor(0.001): a Tensor learning rate (we take numbers; a Tensor lr is refused)"),
    *[(kind, desc, "CUDA-only in torch (capturable and/or Tensor lr/betas)") for kind in ("Adam", "AdamW")
      for desc in ("capturable", "capturable, amsgrad", "Tensor lr with capturable and amsgrad",
                   "Tensor lr, Tensor betas, with capturable and amsgrad", "Tensor lr, Tensor betas, with capturable")],
    *[(kind, "Tensor lr", "MPS-only in torch (a Tensor learning rate)") for kind in ("Adam", "AdamW")],
    # TestOptimRenewed tests over these optimizers that have no counterpart here
    ("all", "test_complex / test_complex_2d", "complex parameters (our tensors are real)"),
    ("SGD", "test_rosenbrock_sparse", "sparse gradients"),
    ("all", "foreach/fused/differentiable variants (test_foreach_matches_forloop, test_fused_matches_forloop, "
     "test_tensor_lr, ...)", "torch-only implementation switches; ours refuses them (see the error inputs below)"),
    ("all", "hooks (step pre/post, state_dict pre/post, load_state_dict pre/post)", "no optimizer hooks here"),
    ("all", "test_state_dict_with_cuda_params / multi-GPU / peak memory", "device placement tests of torch's own"),
]
__doc__ += "".join(f"\n- {kind}: {desc}: {why}" for kind, desc, why in SKIPPED) + "\n"

CONFIGS = [pytest.param(kind, desc, id=f"{kind}-{desc}") for kind in INPUTS for desc in INPUTS[kind]]
DTYPES = [pytest.param(np.float32, id="float32"), pytest.param(np.float64, id="float64")]
# torch's loss has values ~10-100; float32 rounding of ~1e-7 per op grows over 50 steps (SGD with lr 1e-3 to
# 1e-2 on a quadratic is a contraction, Adam steps are lr-bounded): rtol 1e-5 with an atol for values
# passing near 0 (Adam on weights whose gradient is ~0). float64: ~1e-16 per op, rtol 1e-10.
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}
# the loss starts at ~50 (a sum of 10 squares), so its rounding is ~1e-5 absolute in float32 (~1e-14 in
# float64) however close to 0 it gets when SGD converges
LOSS_ATOL = {np.float32: 1e-5, np.float64: 1e-11}


def problem(dtype, seed: int = 0):
    """torch's weight (10, 5), bias (10) and input (5), as NumPy arrays."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in ((10, 5), (10,), (5,))]


class Twin:
    """The same parameters in both libraries; ``loss()`` backpropagates torch's test loss in each."""

    def __init__(self, dtype, seed: int = 0):
        w, b, x = problem(dtype, seed)
        self.ours = [tn.Tensor(w, dtype=dtype, requires_grad=True), tn.Tensor(b, dtype=dtype, requires_grad=True)]
        self.x = tn.Tensor(x, dtype=dtype)
        self.ref = [torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)]
        self.rx = torch.tensor(x)

    def loss(self, opt, ref_opt) -> tuple[float, float]:
        opt.zero_grad()
        ref_opt.zero_grad()
        w, b = self.ours
        loss = ((w @ self.x + b) ** 2).sum()
        loss.backward()
        rw, rb = self.ref
        ref_loss = (rw.mv(self.rx) + rb).pow(2).sum()
        ref_loss.backward()
        return loss.item(), ref_loss.item()

    def check(self, dtype, what: str) -> None:
        for p, rp, name in zip(self.ours, self.ref, ("weight", "bias")):
            np.testing.assert_allclose(p.numpy(), rp.detach().numpy(), **TOL[dtype], err_msg=f"{what}: {name}")


def both(kind, ours_params, ref_params, kwargs):
    cls, ref_cls = CLASSES[kind]
    return cls(ours_params, **kwargs), ref_cls(ref_params, **kwargs)


def steps(twin, opt, ref_opt, n, dtype, what):
    for i in range(n):
        loss, ref_loss = twin.loss(opt, ref_opt)
        assert np.isfinite(ref_loss)
        np.testing.assert_allclose(loss, ref_loss, rtol=TOL[dtype]["rtol"], atol=LOSS_ATOL[dtype],
                                   err_msg=f"{what}: loss at step {i}")
        opt.step()
        ref_opt.step()
    twin.check(dtype, what)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind,desc", CONFIGS)
def test_configuration_follows_torch(kind, desc, dtype):
    """The trajectory (torch's test_forloop_goes_right_direction, made exact), then the direction check."""
    kwargs = INPUTS[kind][desc]
    twin = Twin(dtype)
    opt, ref_opt = both(kind, twin.ours, twin.ref, kwargs)
    assert opt.defaults == ref_opt.defaults and repr(opt) == repr(ref_opt)  # test_optimizer_can_be_printed
    initial, _ = twin.loss(opt, ref_opt)
    steps(twin, opt, ref_opt, 50, dtype, desc)
    final, _ = twin.loss(opt, ref_opt)
    assert (final > initial) if kwargs.get("maximize") else (final < initial)


@pytest.mark.parametrize("kind,desc", CONFIGS)
def test_param_groups_weight_decay(kind, desc):
    """torch's test_param_groups_weight_decay: the bias in a group without weight decay."""
    kwargs = INPUTS[kind][desc]
    twin = Twin(np.float32)
    groups = lambda w, b: [dict(params=[w], **kwargs), dict(params=[b], **{**kwargs, "weight_decay": 0.0})]  # noqa: E731
    opt, ref_opt = both(kind, groups(*twin.ours), groups(*twin.ref), {})
    steps(twin, opt, ref_opt, 20, np.float32, desc)


@pytest.mark.parametrize("kind,desc", CONFIGS)
def test_param_groups_lr(kind, desc):
    """torch's test_param_groups_lr: an outer lr of 1e-28 for a group of an irrelevant parameter, whose
    random gradients must leave it unchanged."""
    kwargs = {**INPUTS[kind][desc]}
    kwargs.setdefault("lr", 1e-3)
    twin = Twin(np.float32)
    start = np.random.default_rng(5).standard_normal(2).astype(np.float32)
    irrelevant, ref_irrelevant = tn.Tensor(start, requires_grad=True), torch.tensor(start, requires_grad=True)
    opt, ref_opt = both(kind, [dict(params=twin.ours, **kwargs), dict(params=[irrelevant])],
                        [dict(params=twin.ref, **kwargs), dict(params=[ref_irrelevant])], {"lr": 1e-28})
    rng = np.random.default_rng(6)
    for _ in range(20):
        twin.loss(opt, ref_opt)
        g = rng.random(2).astype(np.float32)
        irrelevant.grad, ref_irrelevant.grad = tn.Tensor(g), torch.tensor(g)
        opt.step()
        ref_opt.step()
    twin.check(np.float32, desc)
    np.testing.assert_array_equal(irrelevant.numpy(), ref_irrelevant.detach().numpy())
    np.testing.assert_array_equal(irrelevant.numpy(), start)


@pytest.mark.parametrize("kind,desc", CONFIGS)
def test_step_is_noop_for_zero_grads(kind, desc):
    kwargs = {**INPUTS[kind][desc]}
    if kwargs.get("weight_decay", 0) != 0:  # torch skips these: weight decay moves parameters anyway
        return
    if kind == "AdamW":
        kwargs["lr"] = 1e-5  # AdamW's default decay moves them by lr * 1e-2, as torch notes
    start = np.random.default_rng(0).standard_normal((5, 1)).astype(np.float32)
    p, rp = tn.Tensor(start, requires_grad=True), torch.tensor(start, requires_grad=True)
    opt, ref_opt = both(kind, [p], [rp], kwargs)
    p.grad, rp.grad = tn.zeros(5, 1), torch.zeros(5, 1)
    opt.step()
    ref_opt.step()
    np.testing.assert_allclose(p.numpy(), rp.detach().numpy(), rtol=1e-6)  # torch's assertEqual tolerance
    np.testing.assert_allclose(p.numpy(), start, rtol=1e-6)


@pytest.mark.parametrize("kind,desc", CONFIGS)
def test_step_is_noop_when_params_have_no_grad(kind, desc):
    start = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    params = [tn.Tensor(start) for _ in range(2)]  # requires_grad=False, as in torch's test
    opt = CLASSES[kind][0](params, **INPUTS[kind][desc])
    assert opt.step(lambda: tn.Tensor([1.0])).item() == 1.0
    for p in params:
        np.testing.assert_array_equal(p.numpy(), start)


@pytest.mark.parametrize("kind,desc", CONFIGS)
def test_state_dict_deterministic(kind, desc, tmp_path):
    """torch's test_state_dict_deterministic and test_save_load_equality_with_weights_only: after 10 steps
    a fresh optimizer over cloned parameters loads the state dict, the two then step identically, and
    their state dicts are equal; the state dict survives tn.save/tn.load unchanged."""
    kwargs = INPUTS[kind][desc]
    twin = Twin(np.float32)
    opt, ref_opt = both(kind, twin.ours, twin.ref, kwargs)
    steps(twin, opt, ref_opt, 10, np.float32, desc)
    clones = [tn.Tensor(p.numpy(), requires_grad=True) for p in twin.ours]
    opt_c = CLASSES[kind][0](clones, **kwargs)
    sd = opt.state_dict()
    opt_c.load_state_dict(deepcopy(sd))
    for _ in range(10):
        for o, (w, b) in ((opt, twin.ours), (opt_c, clones)):
            o.zero_grad()
            ((w @ twin.x + b) ** 2).sum().backward()
            o.step()
        for p, c in zip(twin.ours, clones):
            np.testing.assert_array_equal(p.numpy(), c.numpy())
    assert_state_dicts_equal(opt.state_dict(), opt_c.state_dict())
    tn.save({"optim": sd}, tmp_path / "o.npz")
    assert_state_dicts_equal(tn.load(tmp_path / "o.npz")["optim"], sd)


def assert_state_dicts_equal(a, b):
    assert a["type"] == b["type"]
    assert [{k: tuple(v) if isinstance(v, list) and k == "betas" else v for k, v in g.items()}
            for g in a["param_groups"]] == [{k: tuple(v) if isinstance(v, list) and k == "betas" else v
                                             for k, v in g.items()} for g in b["param_groups"]]
    assert [sorted(e) for e in a["state"]] == [sorted(e) for e in b["state"]]
    for ea, eb in zip(a["state"], b["state"]):
        for k in ea:
            np.testing.assert_array_equal(ea[k], eb[k], err_msg=k)


@pytest.mark.parametrize("kind,desc", CONFIGS)
def test_can_load_older_state_dict_and_nontensor_step(kind, desc):
    """torch's test_can_load_older_state_dict (the flags added after the first release deleted from every
    group) and test_load_nontensor_step (step as a plain number; ours always is): loading goes on exactly
    as in torch, which does the same to its own state dict."""
    kwargs = INPUTS[kind][desc]
    twin = Twin(np.float64)
    opt, ref_opt = both(kind, twin.ours, twin.ref, kwargs)
    steps(twin, opt, ref_opt, 3, np.float64, desc)
    not_og_supported_flags = ("foreach", "differentiable", "fused", "maximize", "capturable")
    for o in (opt, ref_opt):
        sd = deepcopy(o.state_dict())
        for g in sd["param_groups"]:
            for flag in not_og_supported_flags:
                g.pop(flag, None)
        for entry in (sd["state"] if isinstance(sd["state"], list) else sd["state"].values()):
            if torch.is_tensor(entry.get("step")):
                entry["step"] = entry["step"].item()
        o.load_state_dict(sd)
    assert opt.param_groups[0]["maximize"] is ref_opt.param_groups[0]["maximize"] is False
    steps(twin, opt, ref_opt, 5, np.float64, desc)


# ---- error inputs ---------------------------------------------------------------------------------------------
def error_inputs(kind):
    """get_error_inputs_for_all_optims + optim_error_inputs_func_<kind> (device "cpu", plus the CUDA-only
    ones that torch's constructor raises on any device): (desc, params, kwargs), each a function of the
    library (tn or torch) so both get the same arguments."""
    def sample(lib):
        if lib is tn:
            return tn.Tensor(np.ones((1, 1)), requires_grad=True), tn.Tensor(np.ones((1, 1)), requires_grad=True)
        return torch.nn.Parameter(torch.ones(1, 1)), torch.nn.Parameter(torch.ones(1, 1))

    def tensor(lib, value):
        return tn.Tensor(value) if lib is tn else torch.tensor(value)

    cases = [
        ("invalid param type", lambda lib: (sample(lib)[0], {})),
        ("a param group cannot have duplicate parameters", lambda lib: ([sample(lib)[0]] * 2, {})),
        ("duplicate parameters should not occur across param groups either",
         lambda lib: ((lambda p: [{"params": p}, {"params": p}])(sample(lib)[0]), {})),
        ("Tensor lr must be 1-element", lambda lib: ([sample(lib)[0]], {"lr": tensor(lib, [0.001, 0.001])})),
        ("all optimizer params should be with/without names",
         lambda lib: ((lambda p, q: [("weight", p), q])(*sample(lib)), {})),
        ("all optimizer param groups should be with/without names",
         lambda lib: ((lambda p, q: [{"params": [p], "lr": 1e-2}, {"params": [("weight", q)]}])(*sample(lib)), {})),
    ]
    if kind == "SGD":
        cases.append(("momentum should be between 0 and 1", lambda lib: ([sample(lib)[0]], {"lr": 1e-2,
                                                                                            "momentum": -0.5})))
    else:
        cases += [
            ("beta1 should be between 0 and 1", lambda lib: ([sample(lib)[0]], {"lr": 1e-2, "betas": (1.0, 0.0)})),
            ("weight_decay should > 0", lambda lib: ([sample(lib)[0]], {"lr": 1e-2, "weight_decay": -1})),
            ("lr as Tensor doesn't work with foreach & not capturable",
             lambda lib: ([sample(lib)[0]], {"lr": tensor(lib, 0.001), "foreach": True})),
            ("betas must be either both floats or both Tensors (second a Tensor)",
             lambda lib: ([sample(lib)[0]], {"lr": 1e-2, "betas": (0.9, tensor(lib, 0.99))})),
            ("betas must be either both floats or both Tensors (first a Tensor)",
             lambda lib: ([sample(lib)[0]], {"lr": 1e-2, "betas": (tensor(lib, 0.9), 0.99)})),
            ("betas[0] as a Tensor is not supported for capturable=False and foreach=True",
             lambda lib: ([sample(lib)[0]], {"lr": 1e-2, "betas": (tensor(lib, 0.9), tensor(lib, 0.99)),
                                             "foreach": True})),
        ]
    cases += [  # CUDA-only in torch's list, but its constructor raises them on the CPU too
        ("`fused` and `foreach` cannot be `True` together", lambda lib: ([sample(lib)[0]], {"foreach": True,
                                                                                           "fused": True})),
        ("`fused` does not support `differentiable`", lambda lib: ([sample(lib)[0]], {"fused": True,
                                                                                     "differentiable": True})),
    ]
    return cases


ERRORS = [pytest.param(kind, desc, make, id=f"{kind}-{desc}") for kind in CLASSES for desc, make in error_inputs(kind)]


def verdict(cls, params, kwargs):
    """The exception class the constructor raises, the warning category it emits, or None."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cls(params, **kwargs)
        except Exception as e:  # noqa: BLE001 - the verdict is the class
            return type(e)
    categories = [w.category for w in caught if issubclass(w.category, UserWarning)]
    return categories[0] if categories else None


@pytest.mark.parametrize("kind,desc,make", ERRORS)
def test_error_input_gets_torchs_verdict(kind, desc, make):
    cls, ref_cls = CLASSES[kind]
    theirs, ours = verdict(ref_cls, *make(torch)), verdict(cls, *make(tn))
    assert theirs is not None, "torch accepts this: not an error input any more"
    if theirs is RuntimeError:  # torch refuses the fused/foreach pair; we refuse either switch: a ValueError
        assert ours is not None and issubclass(ours, ValueError), ours
    else:
        assert ours is not None and issubclass(ours, theirs), f"torch: {theirs.__name__}, ours: {ours}"


def test_the_port_covers_torchs_current_lists():
    """Were torch's lists to change (a new configuration or error input), this port must follow."""
    common = pytest.importorskip("torch.testing._internal.common_optimizers")
    for kind, func in (("SGD", common.optim_inputs_func_sgd), ("Adam", common.optim_inputs_func_adam),
                       ("AdamW", common.optim_inputs_func_adamw)):
        for device in ("cpu", "cuda"):
            for oi in func(device):
                ported = INPUTS[kind].get(oi.desc)
                if ported is not None:
                    assert ported == oi.kwargs, (kind, oi.desc)
                else:
                    assert (kind, oi.desc) in {(k, d) for k, d, _ in SKIPPED}, (kind, oi.desc)
    for kind, func in (("SGD", common.optim_error_inputs_func_sgd), ("Adam", common.optim_error_inputs_func_adam),
                       ("AdamW", common.optim_error_inputs_func_adamw)):
        ours = {d for d, _ in error_inputs(kind)}
        for ei in func("cpu", torch.float32):
            desc = ei.optimizer_error_input.desc.rstrip(".").replace("\\", "")  # (one is a regex)
            assert desc in ours or any(d.startswith(desc) for d in ours), (kind, desc)
