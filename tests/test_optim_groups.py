"""Parameter groups, AdamW, amsgrad, maximize and state dicts: long trajectories against torch.optim.

Every run trains the Burn example's 8 -> 64 -> ReLU -> 1 MLP (``twin_mlps``: ours with a torch twin's
weights) on the same batches with both libraries and compares every loss and the final parameters.

Tolerances: float32 rtol 1e-5 on losses and rtol 1e-5/atol 1e-6 on parameters, as in test_optim.py (our
matmuls sum in another order than torch's, ~1e-7 relative per step; Adam divides two tiny numbers for a
weight whose gradient is near zero, where that rounding is relatively larger, hence the atol). float64: the
same differences are ~1e-16 per step, so rtol 1e-9/atol 1e-11 leaves 5 orders of magnitude for 50 steps of
growth while any wrong rule (a missed weight decay, a wrong bias correction) is off by far more.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from test_optim import batches, twin_mlps

import tinygrad_norm as tn
from tinygrad_norm import nn

TOL = {np.float32: dict(loss=1e-5, rtol=1e-5, atol=1e-6), np.float64: dict(loss=1e-9, rtol=1e-9, atol=1e-11)}
DTYPES = [pytest.param(np.float32, id="float32"), pytest.param(np.float64, id="float64")]
OPTIMIZERS = {"SGD": (tn.optim.SGD, torch.optim.SGD), "Adam": (tn.optim.Adam, torch.optim.Adam),
              "AdamW": (tn.optim.AdamW, torch.optim.AdamW)}


def twins(dtype, seed: int = 0):
    ours, ref = twin_mlps(seed)
    if dtype == np.float64:
        ours.double()
        ref.double()
    return ours, ref


def split(model):
    """(weights, biases) of either library's MLP, in the same order."""
    params = list(model.parameters())
    return params[0::2], params[1::2]


def train_step(model, opt, x, y, lib):
    opt.zero_grad()
    if lib is tn:
        loss = tn.nn.functional.mse_loss(model(tn.Tensor(x, dtype=x.dtype)), tn.Tensor(y, dtype=y.dtype))
    else:
        loss = torch.nn.functional.mse_loss(model(torch.from_numpy(x)), torch.from_numpy(y))
    loss.backward()
    opt.step()
    return loss.item()


def run_twins(dtype, make, steps: int = 50, during=None, seed: int = 0):
    """Train twins for ``steps`` steps; ``make(lib, model)`` builds each optimizer, ``during(step, lib, model,
    opt)`` may change it before a step. Checks every loss and returns both (model, optimizer) pairs."""
    tol = TOL[dtype]
    ours, ref = twins(dtype, seed)
    opt, ref_opt = make(tn, ours), make(torch, ref)
    for step, (x, y) in enumerate(batches(steps)):
        x, y = x.astype(dtype), y.astype(dtype)
        if during is not None:
            during(step, tn, ours, opt)
            during(step, torch, ref, ref_opt)
        loss, ref_loss = train_step(ours, opt, x, y, tn), train_step(ref, ref_opt, x, y, torch)
        assert np.isfinite(ref_loss), f"the reference diverged at step {step}: not a useful comparison"
        np.testing.assert_allclose(loss, ref_loss, rtol=tol["loss"], err_msg=f"loss at step {step}")
    assert_same_params(ours, ref, dtype)
    return (ours, opt), (ref, ref_opt)


def assert_same_params(ours, ref, dtype):
    tol = TOL[dtype]
    for (k, v), (_, rv) in zip(ours.state_dict().items(), ref.state_dict().items()):
        assert v.numpy().dtype == dtype
        np.testing.assert_allclose(v.numpy(), rv.numpy(), rtol=tol["rtol"], atol=tol["atol"], err_msg=k)


# every option the optimizers have, each with two groups of different settings: no weight decay on the
# biases (the usual recipe) and another learning rate for them
GROUP_CONFIGS = {
    "sgd_momentum_wd": ("SGD", dict(lr=0.02, momentum=0.9, weight_decay=1e-2), dict(weight_decay=0.0, lr=0.05)),
    "sgd_nesterov": ("SGD", dict(lr=0.02, momentum=0.8, nesterov=True, weight_decay=1e-3), dict(weight_decay=0.0)),
    "sgd_dampening": ("SGD", dict(lr=0.02, momentum=0.9, dampening=0.3), dict(momentum=0.5, lr=0.01)),
    "sgd_maximize": ("SGD", dict(lr=2e-3, maximize=True, weight_decay=1e-2), dict(weight_decay=0.0, momentum=0.9)),
    "sgd_plain": ("SGD", dict(lr=0.05), dict(lr=0.1)),
    "adam_amsgrad": ("Adam", dict(lr=3e-3, amsgrad=True), dict(amsgrad=False, lr=1e-2)),
    "adam_wd": ("Adam", dict(lr=3e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2), dict(weight_decay=0.0)),
    "adam_maximize": ("Adam", dict(lr=1e-3, maximize=True, weight_decay=1e-2), dict(weight_decay=0.0)),
    "adam_decoupled": ("Adam", dict(lr=3e-3, weight_decay=0.1, decoupled_weight_decay=True), dict(weight_decay=0)),
    "adamw": ("AdamW", dict(lr=3e-3), dict(weight_decay=0.0)),
    "adamw_amsgrad": ("AdamW", dict(lr=3e-3, amsgrad=True, weight_decay=0.1), dict(weight_decay=0.0, lr=1e-2)),
    "adamw_maximize": ("AdamW", dict(lr=1e-3, maximize=True), dict(amsgrad=True)),
}


def grouped(name):
    kind, defaults, bias_group = GROUP_CONFIGS[name]

    def make(lib, model):
        weights, biases = split(model)
        cls = OPTIMIZERS[kind][0 if lib is tn else 1]
        return cls([{"params": weights}, {"params": biases, **bias_group}], **defaults)
    return make


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(GROUP_CONFIGS))
def test_parameter_groups_of_different_settings_follow_torch(name, dtype):
    (_, opt), (_, ref_opt) = run_twins(dtype, grouped(name))
    assert len(opt.param_groups) == 2
    for g, rg in zip(opt.param_groups, ref_opt.param_groups):  # the same dicts, hyperparameters and all
        assert {k: v for k, v in g.items() if k != "params"} == {k: v for k, v in rg.items() if k != "params"}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["SGD", "Adam", "AdamW"])
def test_hyperparameters_written_into_param_groups_take_effect_at_the_next_step(kind, dtype):
    """What a scheduler does: lr (and momentum/nesterov/betas, weight decay, eps) rewritten between steps."""
    start = {"SGD": dict(lr=0.02, momentum=0.9), "Adam": dict(lr=3e-3), "AdamW": dict(lr=3e-3)}[kind]

    def make(lib, model):
        return OPTIMIZERS[kind][0 if lib is tn else 1](model.parameters(), **start)

    def during(step, lib, model, opt):
        g = opt.param_groups[0]
        g["lr"] = g["lr"] * 0.95  # every step, like ExponentialLR
        if step == 15:
            if kind == "SGD":
                g["momentum"], g["nesterov"], g["weight_decay"] = 0.5, True, 1e-2
            else:
                g["betas"], g["weight_decay"], g["eps"] = (0.8, 0.99), 0.05, 1e-6  # (torch cannot turn amsgrad on)
        if step == 30 and kind == "SGD":
            g["momentum"] = 0.0  # the buffer is kept, unused, as in torch
            g["nesterov"] = False
        if step == 40 and kind == "SGD":
            g["momentum"] = 0.9
    run_twins(dtype, make, during=during)


@pytest.mark.parametrize("kind", ["Adam", "AdamW"])
def test_betas_list_changed_in_place_takes_effect_like_torch(kind):
    """Each bucket keeps its prepared update while the group's settings stay: a betas list edited in place
    (not replaced) is a change of settings too, as torch reads the list at every step."""
    def make(lib, model):
        return OPTIMIZERS[kind][0 if lib is tn else 1](model.parameters(), lr=3e-3)  # (betas become a tuple)

    def during(step, lib, model, opt):
        if step == 5:
            opt.param_groups[0]["betas"] = [0.9, 0.999]
        if step in (10, 20):
            betas = opt.param_groups[0]["betas"]
            betas[0], betas[1] = (0.5, 0.9) if step == 10 else (0.95, 0.99)
    run_twins(np.float64, make, during=during)


def test_momentum_turned_on_later_starts_its_buffer_from_that_gradient_like_torch():
    def make(lib, model):
        cls = tn.optim.SGD if lib is tn else torch.optim.SGD
        return cls(model.parameters(), lr=0.02)

    def during(step, lib, model, opt):
        if step == 10:
            opt.param_groups[0]["momentum"] = 0.9
    (_, opt), (_, ref_opt) = run_twins(np.float64, make, steps=20, during=during)
    for ours, theirs in zip(opt.state_dict()["state"], ref_opt.state_dict()["state"].values()):
        np.testing.assert_allclose(ours["momentum_buffer"], theirs["momentum_buffer"].numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["SGD", "Adam", "AdamW"])
def test_add_param_group_mid_run_follows_torch(kind, dtype):
    """Fine-tuning: train the second layer, unfreeze the first at step 20 with its own settings."""
    first = {"SGD": dict(lr=0.05, momentum=0.9), "Adam": dict(lr=3e-3, amsgrad=True),
             "AdamW": dict(lr=3e-3)}[kind]

    def make(lib, model):
        return OPTIMIZERS[kind][0 if lib is tn else 1](list(model.parameters())[2:], **first)

    def during(step, lib, model, opt):
        if step == 20:
            opt.add_param_group({"params": list(model.parameters())[:2], "lr": 1e-2, "weight_decay": 1e-3})
    (_, opt), (_, ref_opt) = run_twins(dtype, make, during=during)
    assert opt.param_groups[1]["lr"] == 1e-2 and opt.param_groups[1]["momentum" if kind == "SGD" else "eps"] == \
        ref_opt.param_groups[1]["momentum" if kind == "SGD" else "eps"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["sgd_momentum_wd", "sgd_nesterov", "adam_amsgrad", "adamw_amsgrad", "adam_wd"])
def test_state_dict_round_trip_mid_run_continues_identically(name, dtype, tmp_path):
    """Save after 25 steps (through tn.save), load into a fresh optimizer over fresh parameters, continue:
    bit for bit the uninterrupted run, which itself follows torch."""
    make = grouped(name)
    (ours, opt), _ = run_twins(dtype, make)  # uninterrupted, checked against torch
    data = [(x.astype(dtype), y.astype(dtype)) for x, y in batches(50)]
    first, _ = twins(dtype)
    opt1 = make(tn, first)
    for x, y in data[:25]:
        train_step(first, opt1, x, y, tn)
    opt1.param_groups[0]["initial_lr"] = opt1.param_groups[0]["lr"]  # a scheduler's extra key travels too
    tn.save({"model": first.state_dict(), "optim": opt1.state_dict()}, tmp_path / "ckpt.npz")
    ckpt = tn.load(tmp_path / "ckpt.npz")
    resumed, _ = twins(dtype, seed=7)  # other weights: all must come from the checkpoint
    resumed.load_state_dict(ckpt["model"])
    opt2 = make(tn, resumed)
    opt2.load_state_dict(ckpt["optim"])
    assert opt2.param_groups[0]["initial_lr"] == opt1.param_groups[0]["lr"]
    assert "initial_lr" not in opt2.param_groups[1]
    for x, y in data[25:]:
        train_step(resumed, opt2, x, y, tn)
    for (k, v), (_, w) in zip(ours.state_dict().items(), resumed.state_dict().items()):
        np.testing.assert_array_equal(v.numpy(), w.numpy(), err_msg=k)


@pytest.mark.parametrize("kind", ["SGD", "Adam", "AdamW"])
def test_state_dict_has_torchs_layout_and_values(kind):
    hyper = {"SGD": dict(lr=0.02, momentum=0.9), "Adam": dict(lr=3e-3, amsgrad=True), "AdamW": dict(lr=3e-3)}[kind]
    (_, opt), (_, ref_opt) = run_twins(np.float64, lambda lib, m: OPTIMIZERS[kind][0 if lib is tn else 1](
        [{"params": split(m)[0]}, {"params": split(m)[1], "lr": 1e-2}], **hyper), steps=10)
    sd, ref = opt.state_dict(), ref_opt.state_dict()
    assert sd["type"] == kind
    assert sd["param_groups"] == ref["param_groups"]  # numbering, hyperparameters, every key
    assert len(sd["state"]) == len(ref["state"])
    for i, entry in enumerate(sd["state"]):
        theirs = ref["state"][i]
        assert set(entry) == set(theirs)
        for k, v in entry.items():
            want = theirs[k].item() if k == "step" else theirs[k].numpy()
            np.testing.assert_allclose(v, want, rtol=1e-9, atol=1e-12, err_msg=f"{i} {k}")


def test_torch_state_dict_loads_into_ours_and_continues_like_torch():
    """A torch optimizer's state dict (tensors turned into arrays, state keyed by int) continues here."""
    ours, ref = twins(np.float64)
    data = [(x.astype(np.float64), y.astype(np.float64)) for x, y in batches(20)]
    ref_opt = torch.optim.AdamW(ref.parameters(), lr=3e-3, amsgrad=True)
    for x, y in data[:10]:
        train_step(ref, ref_opt, x, y, torch)
    ours.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    sd = ref_opt.state_dict()
    state = [{k: (v.item() if k == "step" else v.numpy()) for k, v in sd["state"][i].items()}
             for i in range(len(sd["state"]))]
    opt = tn.optim.AdamW(ours.parameters())
    opt.load_state_dict({"state": state, "param_groups": sd["param_groups"]})
    assert opt.param_groups[0]["lr"] == 3e-3 and opt.param_groups[0]["amsgrad"] is True
    for x, y in data[10:]:
        np.testing.assert_allclose(train_step(ours, opt, x, y, tn), train_step(ref, ref_opt, x, y, torch),
                                   rtol=1e-9)
    assert_same_params(ours, ref, np.float64)


def legacy_state_dict(kind: str, opt, ref_opt, steps: int):
    """What this library's earlier versions saved (one group; "hyperparameters", "steps", "sizes", and
    "state" as {name: [an array per parameter]}), built from a torch run."""
    g = ref_opt.param_groups[0]
    params = [p for group in ref_opt.param_groups for p in group["params"]]
    if kind == "SGD":
        hyper = {k: g[k] for k in ("lr", "momentum", "dampening", "weight_decay", "nesterov")}
        names = ("momentum_buffer",) if g["momentum"] else ()
    else:
        hyper = {"lr": g["lr"], "betas": list(g["betas"]), "eps": g["eps"], "weight_decay": g["weight_decay"]}
        names = ("exp_avg", "exp_avg_sq")
    state = {k: [ref_opt.state[p][k].numpy().copy() for p in params] for k in names}
    return {"type": kind, "hyperparameters": hyper, "steps": [steps] * len(params),
            "sizes": [p.numel() for p in params], "state": state}


@pytest.mark.parametrize("kind,hyper", [("SGD", dict(lr=0.02, momentum=0.9, weight_decay=1e-3)),
                                        ("SGD", dict(lr=0.05)), ("Adam", dict(lr=3e-3, betas=(0.8, 0.99)))])
def test_state_dict_of_earlier_versions_still_loads(kind, hyper, tmp_path):
    ours, ref = twins(np.float64)
    data = [(x.astype(np.float64), y.astype(np.float64)) for x, y in batches(20)]
    ref_opt = OPTIMIZERS[kind][1](ref.parameters(), **hyper)
    for x, y in data[:10]:
        train_step(ref, ref_opt, x, y, torch)
    ours.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    tn.save({"optim": legacy_state_dict(kind, None, ref_opt, 10)}, tmp_path / "old.npz")
    opt = OPTIMIZERS[kind][0](ours.parameters(), lr=0.5)  # its lr is replaced by the saved one
    opt.load_state_dict(tn.load(tmp_path / "old.npz")["optim"])
    assert opt.param_groups[0]["lr"] == hyper["lr"]
    for x, y in data[10:]:
        np.testing.assert_allclose(train_step(ours, opt, x, y, tn), train_step(ref, ref_opt, x, y, torch),
                                   rtol=1e-9)
    assert_same_params(ours, ref, np.float64)
    two_groups = OPTIMIZERS[kind][0]([{"params": split(ours)[0]}, {"params": split(ours)[1]}])
    with pytest.raises(tn.CheckpointError, match="one parameter group"):
        two_groups.load_state_dict(legacy_state_dict(kind, None, ref_opt, 10))


def test_load_state_dict_checks_everything_before_changing_anything():
    p, q = tn.Tensor([1.0, 2.0], requires_grad=True), tn.Tensor([3.0], requires_grad=True)
    opt = tn.optim.Adam([{"params": [p]}, {"params": [q], "lr": 0.5}], lr=0.1)
    (p * p + q).sum().backward()
    opt.step()
    good = opt.state_dict()

    def snapshot():
        return repr(opt), [(k, np.asarray(v).tolist()) for e in opt.state_dict()["state"] for k, v in e.items()]
    before = snapshot()

    def with_(**changes):
        bad = {"type": good["type"], "state": [dict(e) for e in good["state"]],
               "param_groups": [dict(g) for g in good["param_groups"]]}
        for path, value in changes.items():
            where, i, key = path.split("__")
            bad[where][int(i)][key] = value
        return bad

    cases = [
        (with_(state__0__exp_avg=np.array(["x", "y"])), "not numeric"),
        (with_(state__0__exp_avg=np.zeros(3)), "3 values"),
        (with_(state__1__step=-2), "malformed step"),
        (with_(state__1__momentum_buffer=np.zeros(1)), "never keeps"),
        (with_(param_groups__0__lr=-1.0), "learning rate"),
        (with_(param_groups__1__fused=True), "fused"),
        (with_(param_groups__1__params=[0]), "parameter numbers"),
        (with_(param_groups__0__params=[0, 1]), "doesn't match the size"),
        ({**good, "param_groups": good["param_groups"][:1]}, "number of parameter groups"),
        ({**good, "state": good["state"][:1]}, "per-parameter states"),
        ({**good, "type": "SGD"}, "for 'SGD', not Adam"),
    ]
    for bad, message in cases:
        with pytest.raises(tn.CheckpointError, match=message):
            opt.load_state_dict(bad)
        assert snapshot() == before, f"{message}: the optimizer changed"
    opt.param_groups[0]["lr"] = 0.3
    opt.load_state_dict(good)  # and the good one still loads, restoring the saved lr
    assert opt.param_groups[0]["lr"] == 0.1


def test_older_torch_state_dicts_missing_new_flags_get_the_defaults():
    """torch's test_can_load_older_state_dict: keys a group lacks (maximize, foreach, ...) come from defaults."""
    p = tn.Tensor([1.0, 2.0], requires_grad=True)
    opt = tn.optim.Adam([p], lr=0.1, maximize=True)
    sd = opt.state_dict()
    for k in ("foreach", "differentiable", "fused", "maximize", "capturable"):
        del sd["param_groups"][0][k]
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["maximize"] is False and opt.param_groups[0]["foreach"] is None


# ---- parameter group API ------------------------------------------------------------------------------------
def test_param_groups_are_torchs_plain_dicts_with_defaults_filled_and_extra_keys_kept():
    w, b = tn.Tensor(np.ones((2, 2)), requires_grad=True), tn.Tensor(np.ones(2), requires_grad=True)
    bias_group = {"params": b, "lr": 0.5, "tag": "bias"}
    opt = tn.optim.SGD([{"params": [w]}, bias_group], lr=0.1, momentum=0.9)
    ref = torch.optim.SGD([{"params": [torch.ones(2, 2, requires_grad=True)]},
                           {"params": torch.ones(2, requires_grad=True), "lr": 0.5, "tag": "bias"}],
                          lr=0.1, momentum=0.9)
    assert opt.defaults == ref.defaults
    assert [sorted(g) for g in opt.param_groups] == [sorted(g) for g in ref.param_groups]
    assert opt.param_groups[1] is bias_group and bias_group["params"] == [b] and bias_group["momentum"] == 0.9
    assert opt.state_dict()["param_groups"][1]["tag"] == "bias"
    assert repr(opt) == repr(ref)


def test_named_parameters_are_kept_as_param_names_like_torch():
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    opt = tn.optim.Adam(model.named_parameters())
    assert opt.param_groups[0]["param_names"] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == opt.param_groups[0]["param_names"]
    with pytest.raises(ValueError, match="with/without names"):
        opt.add_param_group({"params": [tn.Tensor([1.0], requires_grad=True)]})


def test_add_param_group_checks_like_torch():
    w = tn.Tensor(np.ones(3), requires_grad=True)
    opt = tn.optim.SGD([w], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [w]})
    with pytest.raises(TypeError, match="must be a dict"):
        opt.add_param_group([w])
    with pytest.raises(TypeError, match="ordered collections"):
        opt.add_param_group({"params": {tn.Tensor([1.0], requires_grad=True)}})
    with pytest.raises(TypeError, match="can only optimize Tensors, but one of the params is numpy.ndarray"):
        opt.add_param_group({"params": [np.ones(2)]})
    with pytest.raises(ValueError, match="non-leaf"):
        opt.add_param_group({"params": [w * 2]})
    with pytest.raises(ValueError, match="Invalid learning rate"):
        opt.add_param_group({"params": [tn.Tensor([1.0], requires_grad=True)], "lr": -1})
    with pytest.raises(ValueError, match="'params' entry"):
        opt.add_param_group({"lr": 0.1})
    assert len(opt.param_groups) == 1  # nothing half-added
    v = tn.Tensor(np.ones(2), requires_grad=True)
    with pytest.warns(UserWarning, match="duplicate parameters"):
        opt.add_param_group({"params": [v, v]})
    assert opt.param_groups[1]["params"] == [v]


def test_single_tensor_instead_of_a_list_is_torchs_type_error():
    w = tn.Tensor(np.ones((3, 2)), requires_grad=True)
    for cls in (tn.optim.SGD, tn.optim.Adam, tn.optim.AdamW):
        with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts, but got .*Tensor"):
            cls(w)


def test_a_group_appended_to_param_groups_by_hand_is_stepped_like_torch():
    w, v = tn.Tensor([1.0, 2.0], requires_grad=True), tn.Tensor([3.0], requires_grad=True)
    tw, tv = torch.tensor([1.0, 2.0], requires_grad=True), torch.tensor([3.0], requires_grad=True)
    opt, ref = tn.optim.SGD([w], lr=0.1, momentum=0.9), torch.optim.SGD([tw], lr=0.1, momentum=0.9)
    for step in range(6):
        if step == 2:
            opt.param_groups.append({**opt.defaults, "params": [v], "lr": 0.2})
            ref.param_groups.append({**ref.defaults, "params": [tv], "lr": 0.2})
        for o, a, b in ((opt, w, v), (ref, tw, tv)):
            o.zero_grad()
            ((a * a).sum() + (b * b * b).sum()).backward()
            o.step()
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(v.numpy(), tv.detach().numpy(), rtol=1e-6)


def test_torch_implementation_switches_are_refused_not_ignored():
    w = tn.Tensor(np.ones(3), requires_grad=True)
    for cls, switches in ((tn.optim.SGD, ("foreach", "fused", "differentiable")),
                          (tn.optim.Adam, ("foreach", "fused", "capturable", "differentiable")),
                          (tn.optim.AdamW, ("foreach", "fused", "capturable", "differentiable"))):
        for k in switches:
            with pytest.raises(ValueError, match=f"{k}=True is a torch implementation switch"):
                cls([w], **{k: True})
            cls([w], **{k: False if k in ("capturable", "differentiable") else None})  # the defaults are fine
    opt = tn.optim.Adam([w])
    (w * w).sum().backward()
    opt.param_groups[0]["foreach"] = True  # set later: refused at the step, before anything moves
    with pytest.raises(ValueError, match="foreach"):
        opt.step()
    np.testing.assert_array_equal(w.numpy(), np.ones(3))
    opt.param_groups[0]["foreach"] = None
    opt.param_groups[0]["lr"] = -0.1  # hyperparameters written later are checked too
    with pytest.raises(ValueError, match="learning rate"):
        opt.step()


@pytest.mark.parametrize("kwargs,message", [
    (dict(lr=-1e-3), "Invalid learning rate"), (dict(momentum=-0.5), "Invalid momentum"),
    (dict(weight_decay=-1), "Invalid weight_decay"), (dict(nesterov=True), "Nesterov momentum requires"),
    (dict(momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"), (dict(lr="0.1"), "must be a number"),
])
def test_sgd_argument_checks(kwargs, message):
    with pytest.raises(ValueError if "number" not in message else TypeError, match=message):
        tn.optim.SGD([tn.Tensor([1.0], requires_grad=True)], **kwargs)


@pytest.mark.parametrize("cls", [tn.optim.Adam, tn.optim.AdamW])
@pytest.mark.parametrize("kwargs,message", [
    (dict(lr=-1e-3), "Invalid learning rate"), (dict(eps=-1e-8), "Invalid epsilon"),
    (dict(betas=(1.0, 0.9)), "beta parameter at index 0"), (dict(betas=(0.9, -0.1)), "beta parameter at index 1"),
    (dict(weight_decay=-0.1), "Invalid weight_decay"), (dict(lr=tn.Tensor(0.01)), "lr as a Tensor"),
])
def test_adam_argument_checks(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls([tn.Tensor([1.0], requires_grad=True)], **kwargs)


def test_optimizer_state_views_the_buffers_like_torchs_state():
    w = tn.Tensor(np.ones(3), requires_grad=True)
    tw = torch.ones(3, requires_grad=True)
    opt, ref = tn.optim.Adam([w], lr=0.1, amsgrad=True), torch.optim.Adam([tw], lr=0.1, amsgrad=True)
    assert opt.state == {}
    for o, p in ((opt, w), (ref, tw)):
        (p * p).sum().backward()
        o.step()
    state = opt.state[w]
    assert state["step"] == 1 and set(state) == set(ref.state[tw])
    np.testing.assert_allclose(state["exp_avg"].numpy(), ref.state[tw]["exp_avg"].numpy(), rtol=1e-6)
    with pytest.raises(TypeError):
        state["exp_avg"] = None  # a view of the optimizer's state, not a copy that would be silently dropped


def test_step_calls_the_closure_with_grad_on_and_returns_its_loss():
    w = tn.Tensor([2.0], requires_grad=True)
    opt = tn.optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with tn.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 4.0 and w.item() == 1.0


def test_frozen_parameters_can_be_passed_and_are_never_stepped_like_torch():
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    model[0].requires_grad_(False)
    frozen = [p.numpy().copy() for p in model[0].parameters()]
    opt = tn.optim.Adam(model.parameters(), lr=0.1)  # torch accepts them; they never get a gradient
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            opt.zero_grad()
            model(tn.ones(4, 3)).sum().backward()
            opt.step()
    for p, before in zip(model[0].parameters(), frozen):
        np.testing.assert_array_equal(p.numpy(), before)
    assert opt.state_dict()["state"][0] == {} and opt.state_dict()["state"][2]["step"] == 3
