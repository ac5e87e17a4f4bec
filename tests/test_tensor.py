"""Tensor construction, dtypes, conversion, constructors and the seeded generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tinygrad_norm as tn


def test_dtypes_default_to_float32_and_keep_float64_when_asked():
    assert tn.Tensor([1.5, 2.0]).dtype == np.float32
    assert tn.Tensor(np.zeros(3)).dtype == np.float32
    assert tn.Tensor(np.zeros(3), dtype="float64").dtype == np.float64
    assert tn.Tensor(np.zeros(3), dtype=tn.float64).dtype == np.float64
    assert tn.Tensor(3).dtype == np.int64
    assert tn.Tensor([True, False]).dtype == np.bool_
    t64 = tn.Tensor([1.0], dtype="float64")
    assert tn.Tensor(t64).dtype == np.float64 and tn.Tensor(t64, dtype="float32").dtype == np.float32


def test_basic_attributes_and_conversion():
    t = tn.Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert t.shape == (2, 3) and t.ndim == 2 and t.numel() == 6 and len(t) == 2
    assert t.size() == (2, 3) and t.size(-1) == 3 and t.dim() == 2
    assert t.device == "cpu"
    assert t[1, 2].item() == 6.0
    np.testing.assert_array_equal(t[:, 1:].numpy(), [[2, 3], [5, 6]])
    assert t.to("cpu") is t
    assert t.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert repr(t) == "Tensor([[1., 2., 3.],\n        [4., 5., 6.]], dtype=float32)"
    grad_repr = "Tensor([[1. , 2.5]], dtype=float32, requires_grad=True)"
    assert repr(tn.Tensor([[1.0, 2.5]], requires_grad=True)) == grad_repr
    assert repr(tn.arange(3)) == "Tensor([0, 1, 2], dtype=int64)"
    with pytest.raises(ValueError, match="one element"):
        t.item()
    with pytest.raises(TypeError, match="0-d"):
        len(tn.Tensor(1.0))


def test_constructors():
    np.testing.assert_array_equal(tn.zeros(2, 3).numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(tn.ones((2,)).numpy(), [1, 1])
    np.testing.assert_array_equal(tn.full((2,), 7.0).numpy(), [7, 7])
    assert tn.arange(5).dtype == np.int64 and tn.arange(0.0, 1.0, 0.25).dtype == np.float32
    np.testing.assert_array_equal(tn.arange(1, 7, 2).numpy(), [1, 3, 5])
    assert tn.zeros(2, requires_grad=True).requires_grad
    with pytest.raises(ValueError, match="non-negative"):
        tn.zeros(-1)


def test_manual_seed_makes_random_tensors_reproducible():
    tn.manual_seed(42)
    a, b = tn.randn(3, 4), tn.rand(5)
    tn.manual_seed(42)
    np.testing.assert_array_equal(a.numpy(), tn.randn(3, 4).numpy())
    np.testing.assert_array_equal(b.numpy(), tn.rand(5).numpy())
    assert a.dtype == np.float32
    r = tn.rand(10000).numpy()
    assert 0 <= r.min() and r.max() < 1
    n = tn.randn(100000).numpy()
    assert abs(n.mean()) < 0.02 and abs(n.std() - 1) < 0.02


def test_astype_is_differentiable():
    x = tn.Tensor([1.0, 2.0], requires_grad=True)
    y = x.double() * 3
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [3, 3])


PROMOTIONS = [
    ("float32", lambda t: t * 0.5), ("float32", lambda t: t + 2), ("float32", lambda t: 3 - t),
    ("float32", lambda t: t / 2), ("float32", lambda t: t * True), ("float64", lambda t: t * 0.5),
    ("int64", lambda t: t * 0.5), ("int64", lambda t: t + 2), ("int64", lambda t: t / 2),
    ("int64", lambda t: 1.5 - t), ("bool", lambda t: t * 2), ("bool", lambda t: t + 0.5),
    ("int64", lambda t: t * t), ("int64", lambda t: t / t),
]


@pytest.mark.parametrize("dtype,op", PROMOTIONS)
def test_scalar_and_integer_promotion_follows_torch(dtype, op):
    data = [1, 2, 3] if dtype != "bool" else [True, False, True]
    ours = op(tn.Tensor(np.array(data, dtype=dtype), dtype=dtype))
    theirs = op(torch.tensor(data, dtype=getattr(torch, dtype if dtype != "bool" else "bool")))
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


@pytest.mark.parametrize("int_dtype", ["int64", "int32", "bool"])
def test_an_integer_tensor_with_a_float32_tensor_gives_float32_like_torch(int_dtype):
    i = np.array([1, 0, 1], dtype=int_dtype)
    f = np.array([0.5, 1.5, 2.5], dtype=np.float32)
    for ours, theirs in ((tn.Tensor(i) + tn.Tensor(f), torch.tensor(i) + torch.tensor(f)),
                         (tn.Tensor(f) * tn.Tensor(i), torch.tensor(f) * torch.tensor(i))):
        assert ours.dtype == np.float32 and theirs.dtype == torch.float32
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert (tn.arange(5) * 0.5).dtype == np.float32


def test_gradients_flow_through_a_promoted_operand():
    w = tn.Tensor([1.0, 2.0], requires_grad=True)
    (w * tn.Tensor(np.array([3, 4]))).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 4.0])


def test_a_conversion_that_would_turn_finite_values_into_inf_is_an_error():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's overflow warning is not the report: our error is
        with pytest.raises(tn.ArgumentError, match=r"overflow float32.*1e\+300.*dtype='float64'"):
            tn.Tensor(np.array([1e-50, 1e300]))
        with pytest.raises(tn.ArgumentError, match="overflow float32"):
            tn.Tensor([1.0, -1e39])  # a Python list of floats becomes float32 too
        with pytest.raises(tn.ArgumentError, match="overflow float16"):
            tn.Tensor(np.array([7e4], np.float32), dtype="float16")
        with pytest.raises(tn.ArgumentError, match="overflow float32"):
            tn.Tensor(tn.Tensor([3e38, 1e300], dtype="float64"), dtype="float32")
        # what float32 can hold converts; values below its smallest become 0 as in torch; inf stays inf
        np.testing.assert_array_equal(tn.Tensor(np.array([1e-50, 3e38, np.inf, -np.inf])).numpy(),
                                      torch.tensor(np.array([1e-50, 3e38, np.inf, -np.inf]), dtype=torch.float32))
        assert tn.Tensor(np.array([1e300]), dtype="float64").item() == 1e300
        assert np.isnan(tn.Tensor([np.nan]).item())
        with pytest.raises(tn.ArgumentError, match="overflows float32"):
            tn.full((2,), 1e300)
        assert tn.full((1,), float("inf")).item() == np.inf and tn.full((1,), 1e300, dtype="float64").item() == 1e300
