"""nn.utils.clip_grad_norm_ and clip_grad_value_ against torch's on the same gradients: the returned total norm, the
clipped gradients (in place), parameters without a gradient, a single tensor, every norm order, non-finite norms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import tinygrad_norm as tn
from tinygrad_norm import nn
from tinygrad_norm.nn.utils import clip_grad_norm_, clip_grad_value_

SHAPES = [(4, 3), (3,), (2, 2, 5)]
TOL = {"float64": dict(rtol=1e-12, atol=1e-14), "float32": dict(rtol=1e-5, atol=1e-7)}


def _params(dtype, device="cpu", scale=1.0, seed=0, with_grad=(True, True, True)):
    """The same parameters and gradients in both libraries (a parameter without a gradient where asked)."""
    rng = np.random.default_rng(seed)
    ours, theirs = [], []
    for shape, has in zip(SHAPES, with_grad):
        p = nn.Parameter(rng.standard_normal(shape), dtype=dtype, device=device)
        q = torch.nn.Parameter(torch.tensor(p.numpy().copy()))
        if has:
            g = rng.standard_normal(shape).astype(dtype) * scale
            p.grad = tn.Tensor(g, dtype=dtype, device=device)
            q.grad = torch.tensor(g.copy())
        ours.append(p)
        theirs.append(q)
    return ours, theirs


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, 0.5, 0, math.inf, -math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])  # clipping, and a bound the gradients are already within
def test_clip_grad_norm_matches_torch(norm_type, max_norm, dtype, device):
    norm_type = float(norm_type)
    ours, theirs = _params(dtype, device)
    total = clip_grad_norm_(ours, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert isinstance(total, tn.Tensor) and total.shape == () and total.dtype == np.dtype(dtype)
    np.testing.assert_allclose(total.item(), expected.item(), **TOL[dtype])
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), **TOL[dtype])


def test_clip_grad_norm_scales_in_place_and_reaches_the_bound():
    ours, _ = _params("float64", scale=10.0)
    arrays = [p.grad.data for p in ours]
    total = clip_grad_norm_(ours, 1.0).item()
    assert total > 1
    assert all(p.grad.data is a for p, a in zip(ours, arrays))
    after = math.sqrt(sum(float((p.grad.numpy() ** 2).sum()) for p in ours))
    assert after == pytest.approx(1.0 / (1 + 1e-6 / total), rel=1e-12)  # max_norm / (total + 1e-6) * total


def test_clip_grad_norm_skips_parameters_without_grad_and_takes_one_tensor():
    ours, theirs = _params("float64", with_grad=(True, False, True))
    np.testing.assert_allclose(clip_grad_norm_(iter(ours), 0.3).item(),
                               torch.nn.utils.clip_grad_norm_(iter(theirs), 0.3).item(), rtol=1e-12)
    assert ours[1].grad is None
    for p, q in zip((ours[0], ours[2]), (theirs[0], theirs[2])):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)
    single, ref = _params("float64", seed=1)
    np.testing.assert_allclose(clip_grad_norm_(single[0], 0.2, norm_type=1).item(),
                               torch.nn.utils.clip_grad_norm_(ref[0], 0.2, norm_type=1).item(), rtol=1e-12)
    np.testing.assert_allclose(single[0].grad.numpy(), ref[0].grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_without_any_gradient_returns_zero():
    ours, theirs = _params("float32", with_grad=(False, False, False))
    assert clip_grad_norm_(ours, 1.0).item() == torch.nn.utils.clip_grad_norm_(theirs, 1.0).item() == 0.0
    assert clip_grad_norm_([], 1.0).item() == 0.0


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_clip_grad_norm_nonfinite(bad):
    ours, theirs = _params("float64")
    ours[0].grad.data[0, 0] = bad
    theirs[0].grad[0, 0] = bad
    before = [p.grad.numpy().copy() for p in ours]
    with pytest.raises(tn.GraphError, match="non-finite, so it cannot be clipped.*error_if_nonfinite=False"):
        clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(theirs, 1.0, error_if_nonfinite=True)
    for p, b in zip(ours, before):  # nothing changed
        np.testing.assert_array_equal(p.grad.numpy(), b)
    # without the error the gradients are scaled by the non-finite norm anyway, as torch does
    total = clip_grad_norm_(ours, 1.0)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    np.testing.assert_array_equal(total.numpy(), expected.numpy())
    for p, q in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())


def test_clip_grad_norm_on_a_model_after_backward():
    tn.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1)).double()
    ref = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)).double()
    ref.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((16, 3)) * 5
    nn.MSELoss()(model(tn.Tensor(x, dtype="float64")), tn.zeros(16, 1, dtype="float64")).backward()
    torch.nn.MSELoss()(ref(torch.from_numpy(x)), torch.zeros(16, 1, dtype=torch.float64)).backward()
    np.testing.assert_allclose(clip_grad_norm_(model.parameters(), 0.1).item(),
                               torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.1).item(), rtol=1e-10)
    for p, q in zip(model.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("clip_value", [0.3, 5.0])
def test_clip_grad_value_matches_torch(clip_value, dtype, device):
    ours, theirs = _params(dtype, device, with_grad=(True, False, True))
    arrays = [None if p.grad is None else p.grad.data for p in ours]
    assert clip_grad_value_(ours, clip_value) is None
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    for p, q, a in zip(ours, theirs, arrays):
        if q.grad is None:
            assert p.grad is None
            continue
        assert p.grad.data is a  # in place
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
    single, ref = _params(dtype, device, seed=2)
    clip_grad_value_(single[0], 0.1)
    torch.nn.utils.clip_grad_value_(ref[0], 0.1)
    np.testing.assert_array_equal(single[0].grad.numpy(), ref[0].grad.numpy())


def test_errors():
    ours, _ = _params("float32")
    with pytest.raises(tn.ArgumentTypeError, match="item 1 is ndarray"):
        clip_grad_norm_([ours[0], np.zeros(3)], 1.0)
    with pytest.raises(tn.ArgumentError, match="max_norm must be a number"):
        clip_grad_norm_(ours, "1")
    with pytest.raises(tn.ArgumentError, match="max_norm must be >= 0"):
        clip_grad_norm_(ours, -1.0)
    with pytest.raises(tn.ArgumentError, match="norm_type must be a number"):
        clip_grad_norm_(ours, 1.0, norm_type=math.nan)
    with pytest.raises(tn.ArgumentError, match="clip_value must be a number"):
        clip_grad_value_(ours, None)


def test_reachable_as_tn_nn_utils():
    assert tn.nn.utils.clip_grad_norm_ is clip_grad_norm_
    assert tn.nn.utils.clip_grad_value_ is clip_grad_value_
