"""The training step's lean paths: the fused Linear+ReLU node, Sequential's use of it, the chain walk of
backward, the shared 0-d seed, the optimizer's hot path and the CPU ReLU backward. Each is checked
against torch or against the unfused / general path it replaces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tinygrad_norm as tn
from tinygrad_norm.function import LinearReLU, LinearReLULinear

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


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x_shape", [(7, 5), (2, 3, 5), (5,)])
@pytest.mark.parametrize("d_out", [1, 3])
@pytest.mark.parametrize("grads", [(True,) * 5, (False, True, True, True, True), (True, False, False, True, True),
                                   (False, False, False, True, False)], ids=["all", "no_input", "frozen_first",
                                                                            "last_weight_only"])
def test_linear_relu_linear_node_matches_torch(dtype, x_shape, d_out, grads):
    def torch_head(x, w1, b1, w2, b2):
        return torch.nn.functional.linear(torch.relu(torch.nn.functional.linear(x, w1, b1)), w2, b2)

    check_op(lambda *a: LinearReLULinear.apply(*a), torch_head, [x_shape, (4, 5), (4,), (d_out, 4), (d_out,)],
             dtype=dtype, grad_inputs=list(grads))


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
    # a Linear + ReLU pair, then the last Linear, ReLU and Linear as one node
    assert type(out._ctx) is LinearReLULinear and type(out._ctx.parents[0]._ctx) is LinearReLU
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


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_cpu_optimizer_constants_give_the_numbers_python_floats_give(dtype):
    """The CPU updates pass their scalars as cached 0-d arrays of the buffers' dtype (faster ufunc calls);
    the result must equal, bit for bit, the same update written with Python floats."""
    import math

    def adam_with_floats(param, grad, m, v, *, step, lr, beta1, beta2, eps, weight_decay):
        grad = grad + weight_decay * param
        tmp = np.subtract(grad, m)
        tmp *= 1.0 - beta1
        m += tmp
        np.multiply(grad, 1.0 - beta2, out=tmp)
        tmp *= grad
        v *= beta2
        v += tmp
        denom = np.sqrt(v)
        denom /= math.sqrt(1.0 - beta2**step)
        denom += eps
        np.divide(m, denom, out=tmp)
        tmp *= -lr / (1.0 - beta1**step)
        param += tmp

    def sgd_with_floats(param, grad, buf, *, first, lr, momentum, dampening, weight_decay, nesterov):
        grad = grad + weight_decay * param
        if first:
            np.copyto(buf, grad)
        else:
            buf *= momentum
            buf += (1.0 - dampening) * grad
        param -= lr * (grad + momentum * buf if nesterov else buf)

    be = tn.get_backend("cpu")
    rng = np.random.default_rng(0)
    start = rng.standard_normal(300).astype(dtype)
    ours = [start.copy(), np.zeros_like(start), np.zeros_like(start), start.copy(), np.zeros_like(start)]
    ref = [a.copy() for a in ours]
    for step in range(1, 60):
        g = (rng.standard_normal(300) * 10.0 ** rng.integers(-6, 3)).astype(dtype)
        adam = dict(step=step, lr=3e-3, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=1e-2)
        sgd = dict(first=step == 1, lr=1e-2, momentum=0.9, dampening=0.1, weight_decay=1e-3, nesterov=step % 2 == 0)
        be.adam_update(ours[0], g, ours[1], ours[2], **adam)
        adam_with_floats(ref[0], g, ref[1], ref[2], **adam)
        be.sgd_update(ours[3], g, ours[4], **sgd)
        sgd_with_floats(ref[3], g, ref[4], **sgd)
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a, b)



def test_mse_loss_of_integer_tensors_is_an_error_and_of_0d_tensors_works():
    with pytest.raises(tn.DTypeError, match="floating-point"):
        F.mse_loss(tn.Tensor(np.array([1, 2, 3])), tn.Tensor(np.array([2, 2, 5])))
    p = tn.Tensor(np.array(1.5), dtype="float64", requires_grad=True)
    loss = F.mse_loss(p, tn.Tensor(np.array(4.0), dtype="float64"))
    tp = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    ref = torch.nn.functional.mse_loss(tp, torch.tensor(4.0, dtype=torch.float64))
    loss.backward()
    ref.backward()
    assert loss.item() == ref.item() and p.grad.item() == tp.grad.item()
