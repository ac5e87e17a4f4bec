"""The training step's lean paths: the fused Linear+ReLU node, Sequential's use of it, the chain walk of
backward, the shared 0-d seed, the optimizer's hot path and the CPU ReLU backward. Each is checked
against torch or against the unfused / general path it replaces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tinygrad_norm as tn
from tinygrad_norm.function import Linear as LinearOp
from tinygrad_norm.function import LinearReLU

from helpers import check_op

F = tn.nn.functional


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x_shape", [(7, 5), (2, 3, 5), (5,)])
def test_linear_relu_node_matches_torch(dtype, x_shape):
    check_op(lambda x, w, b: LinearReLU.apply(x, w, b),
             lambda x, w, b: torch.relu(torch.nn.functional.linear(x, w, b)),
             [x_shape, (4, 5), (4,)], dtype=dtype)
    check_op(lambda x, w: LinearReLU.apply(x, w), lambda x, w: torch.relu(torch.nn.functional.linear(x, w)),
             [x_shape, (4, 5)], dtype=dtype)


def test_linear_relu_gradient_at_zero_is_zero_like_torch():
    x = np.array([[1.0, -1.0], [0.0, 0.0]])
    w = np.array([[1.0, 1.0], [1.0, -1.0]])  # the first unit's pre-activation is exactly 0 on both rows
    b = np.zeros(2)
    tx, tw, tb = (tn.Tensor(a, dtype="float64", requires_grad=True) for a in (x, w, b))
    LinearReLU.apply(tx, tw, tb).sum().backward()
    rx, rw, rb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    torch.relu(torch.nn.functional.linear(rx, rw, rb)).sum().backward()
    for ours, ref in ((tx, rx), (tw, rw), (tb, rb)):
        np.testing.assert_array_equal(ours.grad.numpy(), ref.grad.numpy())


def _mlp(seed: int, hidden: type = tn.nn.Linear, dtype: str = "float32") -> tn.nn.Sequential:
    tn.manual_seed(seed)
    return tn.nn.Sequential(hidden(8, 16, dtype=dtype), tn.nn.ReLU(), tn.nn.Linear(16, 16, dtype=dtype), tn.nn.ReLU(),
                            tn.nn.Linear(16, 1, dtype=dtype))


def _run_unfused(model: tn.nn.Sequential, x: tn.Tensor) -> tn.Tensor:
    for layer in model:
        x = layer(x)
    return x


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sequential_fuses_linear_relu_with_the_same_numbers(dtype):
    rng = np.random.default_rng(0)
    x = tn.Tensor(rng.standard_normal((32, 8)), dtype=dtype)
    y = tn.Tensor(rng.standard_normal((32, 1)), dtype=dtype)
    fused, plain = _mlp(1, dtype=dtype), _mlp(1, dtype=dtype)
    out = fused(x)
    assert type(out._ctx) is LinearOp and type(out._ctx.parents[0]._ctx) is LinearReLU  # two fused pairs, one Linear
    ref = _run_unfused(plain, x)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())  # the same operations, bit for bit
    F.mse_loss(out, y).backward()
    F.mse_loss(ref, y).backward()
    for (name, p), q in zip(fused.named_parameters(), plain.parameters()):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy(), err_msg=name)


def test_sequential_does_not_fuse_what_it_must_not():
    class Shifted(tn.nn.Linear):  # a subclass may change what forward does: it runs as written
        def forward(self, x):
            return super().forward(x) + 1.0

    x = tn.Tensor(np.random.default_rng(1).standard_normal((4, 8)))
    model = _mlp(2, hidden=Shifted)
    out = model(x)
    np.testing.assert_array_equal(out.numpy(), _run_unfused(_mlp(2, hidden=Shifted), x).numpy())
    # a Linear without bias, and a ReLU first or last, are computed one layer at a time, with the same result
    tn.manual_seed(3)
    odd = tn.nn.Sequential(tn.nn.ReLU(), tn.nn.Linear(8, 4, bias=False), tn.nn.ReLU(), tn.nn.Linear(4, 2), tn.nn.ReLU())
    np.testing.assert_array_equal(odd(x).numpy(), _run_unfused(odd, x).numpy())
    # an input of another dtype gets the error F.linear gives, not a wrong fused result
    with pytest.raises(tn.DTypeError):
        _mlp(4)(tn.Tensor(np.ones((2, 8)), dtype="float64"))


def test_linear_forward_relu_is_relu_of_forward():
    tn.manual_seed(5)
    layer = tn.nn.Linear(3, 4)
    x = tn.Tensor(np.random.default_rng(5).standard_normal((6, 3)), requires_grad=True)
    np.testing.assert_array_equal(layer.forward_relu(x).numpy(), F.relu(layer(x)).numpy())


def test_backward_of_a_non_leaf_used_twice_by_one_node_sums_both_uses():
    """h * h: the node's two inputs are one non-leaf tensor; the chain walk must hand it to the general
    walk, which sums both gradients before h's own node runs."""
    a = np.array([0.5, -2.0, 3.0])
    x = tn.Tensor(a, dtype="float64", requires_grad=True)
    h = x * 3.0
    ((h * h).exp().sum() * 0.1).backward()
    tx = torch.tensor(a, requires_grad=True)
    th = tx * 3.0
    ((th * th).exp().sum() * 0.1).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_backward_from_a_node_with_two_non_leaf_inputs_in_the_middle_of_a_chain():
    a = np.array([[0.3, -0.7], [1.1, 0.2]])
    x = tn.Tensor(a, dtype="float64", requires_grad=True)
    u, v = (x * 2.0).tanh(), (x - 1.0).exp()
    ((u * v + x).sigmoid().sum() * 2.0).backward()  # chain, then a diamond, then leaves
    tx = torch.tensor(a, requires_grad=True)
    tu, tv = (tx * 2.0).tanh(), (tx - 1.0).exp()
    ((tu * tv + tx).sigmoid().sum() * 2.0).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_the_shared_seed_is_never_a_gradient_and_never_changes():
    a, b = tn.Tensor(2.0, requires_grad=True), tn.Tensor(3.0, requires_grad=True)
    (a + b).backward()  # Add hands the seed itself to both leaves: each must get its own copy
    a.grad.data[...] = 50.0
    assert b.grad.item() == 1.0
    c = tn.Tensor(4.0, requires_grad=True)
    c.backward()  # a leaf's own backward
    c.grad.data[...] = 7.0
    d = tn.Tensor(5.0, requires_grad=True)
    (d * 2.0).backward()
    assert d.grad.item() == 2.0  # the seed is still 1


def test_optimizer_hot_and_slow_paths_take_the_same_steps():
    """The hot path (every parameter bound, with a gradient) and the general one (forced here by a
    parameter rebound by hand to equal values) give bit-identical parameters."""
    rng = np.random.default_rng(2)
    batches = [(rng.standard_normal((16, 8)).astype(np.float32), rng.standard_normal((16, 1)).astype(np.float32))
               for _ in range(5)]
    models = [_mlp(7), _mlp(7)]
    opts = [tn.optim.Adam(m.parameters(), lr=1e-2) for m in models]
    for i, (x, y) in enumerate(batches):
        for k, (m, opt) in enumerate(zip(models, opts)):
            if k == 1 and i % 2:
                p = m[0].weight
                p.data = p.data.copy()  # not the optimizer's buffer any more: step re-binds it
            opt.zero_grad()
            F.mse_loss(m(tn.Tensor(x)), tn.Tensor(y)).backward()
            opt.step()
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_cpu_relu_backward_equals_grad_times_mask_bit_for_bit():
    be = tn.get_backend("cpu")
    out = np.array([0.0, 1.5, 0.0, 2.0, 3.0, 0.0], dtype=np.float32)
    grad = np.array([-1.0, -2.0, np.nan, np.inf, -0.0, 5.0], dtype=np.float32)
    got = be.relu_backward(grad, out)
    want = grad * (out > 0)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))  # -0.0 where the mask zeroes a negative
