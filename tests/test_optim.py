"""Optimizers and training trajectories against torch.optim run the same way."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tinygrad_norm as tn
from tinygrad_norm import nn


def twin_mlps(seed: int = 0, hidden: int = 64):
    """The Burn example's 8 -> 64 -> ReLU -> 1 MLP (or another hidden width), ours with the weights of a torch one."""
    torch.manual_seed(seed)
    ref = torch.nn.Sequential(torch.nn.Linear(8, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))
    ours = nn.Sequential(nn.Linear(8, hidden), nn.ReLU(), nn.Linear(hidden, 1))
    ours.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    return ours, ref


def batches(n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((8, 1))
    for _ in range(n):
        x = rng.standard_normal((256, 8)).astype(np.float32)
        y = (np.tanh(x @ w) + 0.1 * rng.standard_normal((256, 1))).astype(np.float32)
        yield x, y


OPTIMIZERS = {
    "sgd": (lambda p: tn.optim.SGD(p, lr=0.05), lambda p: torch.optim.SGD(p, lr=0.05)),
    "sgd_momentum": (lambda p: tn.optim.SGD(p, lr=0.02, momentum=0.9, weight_decay=1e-3),
                     lambda p: torch.optim.SGD(p, lr=0.02, momentum=0.9, weight_decay=1e-3)),
    "sgd_nesterov": (lambda p: tn.optim.SGD(p, lr=0.02, momentum=0.8, nesterov=True),
                     lambda p: torch.optim.SGD(p, lr=0.02, momentum=0.8, nesterov=True)),
    "sgd_dampening": (lambda p: tn.optim.SGD(p, lr=0.02, momentum=0.9, dampening=0.3),
                      lambda p: torch.optim.SGD(p, lr=0.02, momentum=0.9, dampening=0.3)),
    "adam": (lambda p: tn.optim.Adam(p, lr=1e-3), lambda p: torch.optim.Adam(p, lr=1e-3)),
    "adam_wd": (lambda p: tn.optim.Adam(p, lr=3e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2),
                lambda p: torch.optim.Adam(p, lr=3e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2)),
    "sgd_default_lr": (lambda p: tn.optim.SGD(p), lambda p: torch.optim.SGD(p)),
    "sgd_maximize": (lambda p: tn.optim.SGD(p, lr=2e-3, momentum=0.9, maximize=True, weight_decay=1e-2),
                     lambda p: torch.optim.SGD(p, lr=2e-3, momentum=0.9, maximize=True, weight_decay=1e-2)),
    "adam_amsgrad": (lambda p: tn.optim.Adam(p, lr=3e-3, amsgrad=True, weight_decay=1e-2),
                     lambda p: torch.optim.Adam(p, lr=3e-3, amsgrad=True, weight_decay=1e-2)),
    "adam_maximize": (lambda p: tn.optim.Adam(p, lr=1e-3, maximize=True),
                      lambda p: torch.optim.Adam(p, lr=1e-3, maximize=True)),
    "adam_beta1_below_half": (lambda p: tn.optim.Adam(p, lr=3e-3, betas=(0.3, 0.9)),  # torch's other lerp formula
                              lambda p: torch.optim.Adam(p, lr=3e-3, betas=(0.3, 0.9))),
    "adamw": (lambda p: tn.optim.AdamW(p, lr=3e-3), lambda p: torch.optim.AdamW(p, lr=3e-3)),
    "adamw_amsgrad": (lambda p: tn.optim.AdamW(p, lr=3e-3, weight_decay=0.1, amsgrad=True),
                      lambda p: torch.optim.AdamW(p, lr=3e-3, weight_decay=0.1, amsgrad=True)),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_training_trajectory_matches_torch(name, device):
    """50 steps on the same batches: every loss and the final parameters agree within float32 tolerance.

    rtol 1e-5 on losses; parameters also get atol 1e-6 because Adam's update of a weight whose
    gradient is near zero divides two tiny numbers, where float32 rounding is relatively larger.
    """
    make_ours, make_ref = OPTIMIZERS[name]
    ours, ref = twin_mlps()
    ours.to(device)
    opt, ref_opt = make_ours(ours.parameters()), make_ref(ref.parameters())
    for step, (x, y) in enumerate(batches(50)):
        opt.zero_grad()
        loss = tn.nn.functional.mse_loss(ours(tn.Tensor(x, device=device)), tn.Tensor(y, device=device))
        loss.backward()
        opt.step()
        ref_opt.zero_grad()
        ref_loss = torch.nn.functional.mse_loss(ref(torch.from_numpy(x)), torch.from_numpy(y))
        ref_loss.backward()
        ref_opt.step()
        np.testing.assert_allclose(loss.item(), ref_loss.item(), rtol=1e-5, err_msg=f"loss at step {step}")
    for (k, v), (_, rv) in zip(ours.state_dict().items(), ref.state_dict().items()):
        np.testing.assert_allclose(v.numpy(), rv.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)


def test_parameter_without_gradient_is_skipped_like_torch():
    a0, b0 = np.array([1.0, -2.0]), np.array([0.5])
    a, b = tn.Tensor(a0, dtype="float64", requires_grad=True), tn.Tensor(b0, dtype="float64", requires_grad=True)
    ta, tb = torch.tensor(a0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    opt, ref = tn.optim.Adam([a, b], lr=0.1), torch.optim.Adam([ta, tb], lr=0.1)
    for step in range(6):
        use_b = step % 2 == 0
        opt.zero_grad()
        ((a * a).sum() + ((b * 3).sum() if use_b else 0)).backward()
        opt.step()
        ref.zero_grad()
        ((ta * ta).sum() + ((tb * 3).sum() if use_b else 0)).backward()
        ref.step()
    np.testing.assert_allclose(a.numpy(), ta.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.numpy(), tb.detach().numpy(), rtol=1e-12)


def test_optimizer_state_dict_resumes_identically(tmp_path):
    ours, _ = twin_mlps()
    opt = tn.optim.Adam(ours.parameters(), lr=1e-2)
    data = list(batches(6))

    def run(model, optimizer, chunk):
        for x, y in chunk:
            optimizer.zero_grad()
            tn.nn.functional.mse_loss(model(tn.Tensor(x)), tn.Tensor(y)).backward()
            optimizer.step()

    run(ours, opt, data[:3])
    tn.save({"model": ours.state_dict(), "optim": opt.state_dict()}, tmp_path / "ckpt.npz")
    run(ours, opt, data[3:])
    restored, _ = twin_mlps(seed=5)
    ckpt = tn.load(tmp_path / "ckpt.npz")
    restored.load_state_dict(ckpt["model"])
    opt2 = tn.optim.Adam(restored.parameters(), lr=1e-2)
    opt2.load_state_dict(ckpt["optim"])
    run(restored, opt2, data[3:])
    for (k, v), (_, w) in zip(ours.state_dict().items(), restored.state_dict().items()):
        np.testing.assert_array_equal(v.numpy(), w.numpy(), err_msg=k)
    with pytest.raises(ValueError, match="SGD"):
        tn.optim.SGD(restored.parameters(), lr=0.1).load_state_dict(ckpt["optim"])


def test_replacing_param_data_keeps_optimizer_working():
    w = tn.Tensor([1.0, 2.0], requires_grad=True)
    opt = tn.optim.SGD([w], lr=0.5)
    w.data = np.array([10.0, 20.0], dtype=np.float32)
    (w * w).sum().backward()
    opt.step()
    np.testing.assert_allclose(w.numpy(), [0.0, 0.0])


def test_optimizer_errors():
    with pytest.raises(ValueError, match="empty"):
        tn.optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts"):
        tn.optim.SGD(tn.ones(2, requires_grad=True), lr=0.1)  # not iterated row by row
    tn.optim.SGD([tn.ones(2)], lr=0.1)  # a frozen parameter is accepted, as torch accepts it (it gets no grad)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        tn.optim.Adam([tn.ones(2, requires_grad=True)], lr=-1)
    with pytest.raises(ValueError, match="beta"):
        tn.optim.Adam([tn.ones(2, requires_grad=True)], betas=(1.0, 0.9))


def test_mixed_dtypes_are_grouped_like_torchs_fused_adam():
    """float32 and float64 parameters in one optimizer: one group each, the same trajectory as torch."""
    rng = np.random.default_rng(3)
    w32, w64 = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((3,))
    a, b = tn.Tensor(w32, requires_grad=True), tn.Tensor(w64, dtype=np.float64, requires_grad=True)
    ta, tb = torch.tensor(w32, requires_grad=True), torch.tensor(w64, requires_grad=True)
    opt, ref = tn.optim.Adam([a, b], lr=1e-2), torch.optim.Adam([ta, tb], lr=1e-2)
    assert len(opt._buckets) == 2
    for _ in range(10):
        opt.zero_grad()
        ref.zero_grad()
        (a * a).sum().backward()
        (b * b * b).sum().backward()
        ((ta * ta).sum() + (tb * tb * tb).sum()).backward()
        opt.step()
        ref.step()
    np.testing.assert_allclose(a.numpy(), ta.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(b.numpy(), tb.detach().numpy(), rtol=1e-12)


def test_tensors_know_nothing_of_optimizers():
    p = tn.Tensor(np.ones(3), requires_grad=True)
    opt = tn.optim.SGD([p], lr=0.1)
    assert not hasattr(p, "_grad_buf") and "_grad_buf" not in tn.Tensor.__slots__
    assert opt.state_dict()["state"] == [{}]  # plain SGD keeps no momentum buffer
    (p * p).sum().backward()
    grad_before = p.grad.numpy().copy()
    opt.step()
    assert opt.state_dict()["state"] == [{}]  # still none after a step, as in torch
    np.testing.assert_array_equal(p.grad.numpy(), grad_before)  # the optimizer copies gradients in, never aliases
    np.testing.assert_allclose(p.numpy(), 1 - 0.1 * 2)


def test_parameter_data_replaced_after_the_optimizer_was_made_still_trains():
    p = tn.Tensor(np.ones(3), requires_grad=True)
    opt = tn.optim.Adam([p], lr=0.1)
    p.data = np.full(3, 5.0, dtype=np.float32)  # assigned by hand
    (p * p).sum().backward()
    opt.step()
    assert (p.numpy() < 5.0).all() and opt._buckets[0].views[0] is p.data
