"""The backward engine: accumulation, freeing, grad mode, deep graphs, and its error messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tinygrad_norm as tn


def test_leaf_used_twice_accumulates_like_torch():
    a = np.array([[0.5, -1.0], [2.0, 3.0]])
    x = tn.Tensor(a, dtype="float64", requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    ((x * x).sum() + (x * 3).sum() + x.mean()).backward()
    ((tx * tx).sum() + (tx * 3).sum() + tx.mean()).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
    # a second, separate graph accumulates into the existing .grad
    (x * 2).sum().backward()
    (tx * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())


def test_grads_of_shared_input_are_not_aliased():
    a = tn.Tensor([1.0, 2.0], requires_grad=True)
    b = tn.Tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad.data += 10  # must not change b.grad
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])


def test_deep_chain_of_100k_ops_is_iterative():
    x = tn.Tensor([1.0], dtype="float64", requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0 + 0.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0])


def test_no_grad_records_nothing():
    x = tn.Tensor([1.0, 2.0], requires_grad=True)
    with tn.no_grad():
        y = x * 2
    assert not y.requires_grad and y.is_leaf
    assert tn.is_grad_enabled()

    @tn.no_grad()
    def f(t):
        return t + 1

    assert not f(x).requires_grad


def test_requires_grad_propagates():
    a = tn.Tensor([1.0], requires_grad=True)
    b = tn.Tensor([2.0])
    assert (a * b).requires_grad
    assert not (b * 2).requires_grad
    assert not a.detach().requires_grad


def test_retain_graph_allows_second_backward():
    x = tn.Tensor([2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [8.0])


def test_error_non_scalar_backward_without_grad():
    x = tn.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"non-scalar tensor of shape \(2,\)"):
        (x * 2).backward()


def test_error_second_backward_through_freed_graph():
    x = tn.Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_error_backward_grad_shape_names_both_shapes():
    x = tn.Tensor(np.ones((2, 3)), requires_grad=True)
    y = x * 2
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 3\)"):
        y.backward(np.ones((3, 2)))


def test_error_backward_without_requires_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tn.Tensor([1.0]).sum().backward()


def test_error_shape_mismatches_name_both_shapes():
    a, b = tn.ones(3, 4), tn.ones(5, 4)
    with pytest.raises(ValueError, match=r"\(3, 4\) and \(5, 4\)"):
        a + b
    with pytest.raises(ValueError, match=r"\(3, 4\) and \(5, 4\)"):
        a @ b
    with pytest.raises(ValueError, match=r"\(4,\).*\(4, 1\)"):
        tn.nn.functional.mse_loss(tn.ones(4), tn.ones(4, 1))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(2, 5\)"):
        tn.nn.functional.linear(a, tn.ones(2, 5))
    with pytest.raises(ValueError, match=r"shape \(3, 4\).*\(5,\)"):
        a.reshape(5)


def test_error_unknown_device_lists_available():
    with pytest.raises(tn.DeviceError, match=r"unknown device .tpu..*cpu, cuda"):
        tn.Tensor([1.0], device="tpu")
    with pytest.raises(RuntimeError, match="unknown device"):
        tn.zeros(2, device="gpu0")


def test_error_dtype_mismatch_and_bad_data():
    with pytest.raises(TypeError, match="float32 and float64"):
        tn.ones(2) + tn.ones(2, dtype="float64")
    with pytest.raises(TypeError, match="numeric"):
        tn.Tensor(["a", "b"])
    with pytest.raises(TypeError, match="floating-point"):
        tn.Tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="float32 and float64"):
        tn.ones(2) ** tn.ones(2, dtype="float64")


def test_mse_loss_rejects_bad_reduction():
    with pytest.raises(ValueError, match="reduction"):
        tn.nn.functional.mse_loss(tn.ones(2), tn.ones(2), reduction="avg")


def test_gradients_never_alias_each_other_or_the_given_grad():
    a, b = tn.Tensor([1.0, 2.0], requires_grad=True), tn.Tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad.data[0] = 100.0
    assert b.grad.numpy().tolist() == [1.0, 1.0]  # one array per leaf
    c = tn.Tensor([1.0, 2.0], requires_grad=True)
    given = tn.Tensor([5.0, 6.0])
    (c + 0.0).backward(given)
    given.data[0] = -1.0
    assert c.grad.numpy().tolist() == [5.0, 6.0]  # not a view of the caller's array
    d = tn.Tensor([1.0, 2.0], requires_grad=True)
    (d * d).sum().backward()  # the same leaf reached twice accumulates
    assert d.grad.numpy().tolist() == [2.0, 4.0]


def test_a_diamond_graph_is_ordered_like_a_chain_is():
    """The backward walks chains without a search; a node used twice (a diamond) takes the general path."""
    x = tn.Tensor([1.0, 2.0], requires_grad=True, dtype="float64")
    h = x * 3.0
    y = (h * h + h).sum()  # h feeds two ops: not a chain
    y.backward()
    tx = torch.tensor([1.0, 2.0], requires_grad=True, dtype=torch.float64)
    th = tx * 3.0
    (th * th + th).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
    z = tn.Tensor([1.0, 2.0], requires_grad=True, dtype="float64")
    ((z * 2.0).exp().sum()).backward()  # a chain
    np.testing.assert_allclose(z.grad.numpy(), 2 * np.exp(2 * np.array([1.0, 2.0])))
