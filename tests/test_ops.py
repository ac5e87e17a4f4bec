"""Every differentiable op, forward and gradient, against torch on random inputs (float64 and float32)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import tinygrad_norm as tn
import tinygrad_norm.nn.functional as F

from helpers import check_op

# (id, ours, torch, input shapes, extra check_op kwargs)
CASES = [
    ("add", lambda a, b: a + b, lambda a, b: a + b, [(3, 4), (3, 4)], {}),
    ("add_bcast_col_row", lambda a, b: a + b, lambda a, b: a + b, [(3, 1), (1, 4)], {}),
    ("add_bcast_rank", lambda a, b: a + b, lambda a, b: a + b, [(2, 3, 4), (4,)], {}),
    ("sub_bcast", lambda a, b: a - b, lambda a, b: a - b, [(5, 4), (4,)], {}),
    ("mul_bcast", lambda a, b: a * b, lambda a, b: a * b, [(5, 4), (4,)], {}),
    ("mul_bcast_both", lambda a, b: a * b, lambda a, b: a * b, [(3, 1, 5), (1, 4, 1)], {}),
    ("div_bcast", lambda a, b: a / b, lambda a, b: a / b, [(5, 4), (5, 1)], dict(low=0.5, high=2.0)),
    ("scalar_add", lambda a: a + 2.5, lambda a: a + 2.5, [(3, 4)], {}),
    ("scalar_radd", lambda a: 2.5 + a, lambda a: 2.5 + a, [(3, 4)], {}),
    ("scalar_rsub", lambda a: 1.0 - a, lambda a: 1.0 - a, [(3, 4)], {}),
    ("scalar_mul", lambda a: a * -3.0, lambda a: a * -3.0, [(3, 4)], {}),
    ("scalar_rdiv", lambda a: 2.0 / a, lambda a: 2.0 / a, [(3, 4)], dict(low=0.5, high=2.0)),
    ("scalar_div", lambda a: a / 4.0, lambda a: a / 4.0, [(3, 4)], {}),
    ("pow2", lambda a: a ** 2, lambda a: a ** 2, [(3, 4)], {}),
    ("pow_half", lambda a: a ** 0.5, lambda a: a ** 0.5, [(3, 4)], dict(low=0.5, high=2.0)),
    ("pow_neg", lambda a: a ** -1.5, lambda a: a ** -1.5, [(3, 4)], dict(low=0.5, high=2.0)),
    ("rpow", lambda a: 2.0 ** a, lambda a: 2.0 ** a, [(3, 4)], {}),
    ("neg", lambda a: -a, lambda a: -a, [(3, 4)], {}),
    ("exp", lambda a: a.exp(), lambda a: a.exp(), [(3, 4)], {}),
    ("log", lambda a: a.log(), lambda a: a.log(), [(3, 4)], dict(low=0.1, high=3.0)),
    ("sqrt", lambda a: a.sqrt(), lambda a: a.sqrt(), [(3, 4)], dict(low=0.1, high=3.0)),
    ("abs", lambda a: a.abs(), lambda a: a.abs(), [(3, 4)], {}),
    ("relu", lambda a: a.relu(), lambda a: a.relu(), [(4, 5)], {}),
    ("sigmoid", lambda a: a.sigmoid(), lambda a: a.sigmoid(), [(4, 5)], {}),
    ("sigmoid_large", lambda a: (a * 50).sigmoid(), lambda a: (a * 50).sigmoid(), [(4, 5)], {}),
    ("tanh", lambda a: a.tanh(), lambda a: a.tanh(), [(4, 5)], {}),
    ("clip", lambda a: a.clip(-0.5, 0.7), lambda a: a.clamp(-0.5, 0.7), [(6, 5)], {}),
    ("clip_min_only", lambda a: a.clip(min=0.1), lambda a: a.clamp(min=0.1), [(6, 5)], {}),
    ("matmul", lambda a, b: a @ b, lambda a, b: a @ b, [(3, 4), (4, 5)], {}),
    ("matmul_vec_mat", lambda a, b: a @ b, lambda a, b: a @ b, [(4,), (4, 5)], {}),
    ("matmul_mat_vec", lambda a, b: a @ b, lambda a, b: a @ b, [(3, 4), (4,)], {}),
    ("matmul_vec_vec", lambda a, b: a @ b, lambda a, b: a @ b, [(4,), (4,)], {}),
    ("matmul_batch", lambda a, b: a @ b, lambda a, b: a @ b, [(2, 3, 4), (4, 5)], {}),
    ("matmul_batch_bcast", lambda a, b: a @ b, lambda a, b: a @ b, [(2, 1, 3, 4), (3, 4, 2)], {}),
    ("sum_all", lambda a: a.sum(), lambda a: a.sum(), [(3, 4)], {}),
    ("sum_axis0", lambda a: a.sum(axis=0), lambda a: a.sum(dim=0), [(3, 4)], {}),
    ("sum_axis_keep", lambda a: a.sum(axis=1, keepdims=True), lambda a: a.sum(dim=1, keepdim=True), [(3, 4)], {}),
    ("sum_axes", lambda a: a.sum(axis=(0, 2)), lambda a: a.sum(dim=(0, 2)), [(2, 3, 4)], {}),
    ("sum_neg_axis", lambda a: a.sum(axis=-1), lambda a: a.sum(dim=-1), [(2, 3, 4)], {}),
    ("mean_all", lambda a: a.mean(), lambda a: a.mean(), [(3, 4)], {}),
    ("mean_axis", lambda a: a.mean(axis=0), lambda a: a.mean(dim=0), [(3, 4)], {}),
    ("mean_keep", lambda a: a.mean(axis=(1, 2), keepdims=True), lambda a: a.mean(dim=(1, 2), keepdim=True),
     [(2, 3, 4)], {}),
    ("max_all", lambda a: a.max(), lambda a: a.amax(), [(3, 4)], {}),
    ("max_axis", lambda a: a.max(axis=1), lambda a: a.amax(dim=1), [(3, 4)], {}),
    ("max_keep", lambda a: a.max(axis=0, keepdims=True), lambda a: a.amax(dim=0, keepdim=True), [(3, 4)], {}),
    ("min_axis", lambda a: a.min(axis=0), lambda a: a.amin(dim=0), [(3, 4)], {}),
    ("max_ties", lambda a: (a * 0 + 1).max(axis=1) * a.sum(), lambda a: (a * 0 + 1).amax(dim=1) * a.sum(),
     [(3, 4)], {}),
    ("var_unbiased", lambda a: a.var(axis=0), lambda a: a.var(dim=0), [(5, 4)], {}),
    ("var_ddof0", lambda a: a.var(axis=1, ddof=0), lambda a: a.var(dim=1, correction=0), [(5, 4)], {}),
    ("var_all_keep", lambda a: a.var(keepdims=True), lambda a: a.var(keepdim=True).reshape(1, 1), [(5, 4)], {}),
    ("std", lambda a: a.std(axis=0), lambda a: a.std(dim=0), [(5, 4)], {}),
    ("std_ddof0", lambda a: a.std(axis=(0, 1), ddof=0), lambda a: a.std(dim=(0, 1), correction=0), [(5, 4, 2)], {}),
    ("reshape", lambda a: a.reshape(4, 3), lambda a: a.reshape(4, 3), [(3, 4)], {}),
    ("reshape_infer", lambda a: a.reshape(-1), lambda a: a.reshape(-1), [(3, 4)], {}),
    ("transpose", lambda a: a.T, lambda a: a.T, [(3, 4)], {}),
    ("permute", lambda a: a.permute(2, 0, 1), lambda a: a.permute(2, 0, 1), [(2, 3, 4)], {}),
    ("unsqueeze", lambda a: a.unsqueeze(1), lambda a: a.unsqueeze(1), [(3, 4)], {}),
    ("unsqueeze_neg", lambda a: a.unsqueeze(-1), lambda a: a.unsqueeze(-1), [(3, 4)], {}),
    ("squeeze", lambda a: a.squeeze(1), lambda a: a.squeeze(1), [(3, 1, 4)], {}),
    ("squeeze_all", lambda a: a.squeeze(), lambda a: a.squeeze(), [(1, 3, 1)], {}),
    ("concatenate", lambda a, b: tn.concatenate([a, b], axis=1), lambda a, b: torch.cat([a, b], dim=1),
     [(3, 2), (3, 5)], {}),
    ("stack", lambda a, b: tn.stack([a, b], axis=1), lambda a, b: torch.stack([a, b], dim=1), [(3, 2), (3, 2)], {}),
    ("index_slice", lambda a: a[1:3], lambda a: a[1:3], [(5, 4)], {}),
    ("index_2d", lambda a: a[:, ::2], lambda a: a[:, ::2], [(5, 4)], {}),
    ("index_int", lambda a: a[2], lambda a: a[2], [(5, 4)], {}),
    ("linear", lambda x, w, b: F.linear(x, w, b), torch.nn.functional.linear, [(7, 3), (5, 3), (5,)], {}),
    ("linear_nobias", lambda x, w: F.linear(x, w), torch.nn.functional.linear, [(7, 3), (5, 3)], {}),
    ("linear_3d", lambda x, w, b: F.linear(x, w, b), torch.nn.functional.linear, [(2, 7, 3), (5, 3), (5,)], {}),
    ("mse_mean", lambda p, t: F.mse_loss(p, t), torch.nn.functional.mse_loss, [(6, 1), (6, 1)], {}),
    ("mse_sum", lambda p, t: F.mse_loss(p, t, "sum"), lambda p, t: torch.nn.functional.mse_loss(p, t, reduction="sum"),
     [(6, 3), (6, 3)], {}),
    ("mse_none", lambda p, t: F.mse_loss(p, t, "none"),
     lambda p, t: torch.nn.functional.mse_loss(p, t, reduction="none"), [(6, 3), (6, 3)], {}),
    ("composite", lambda a, b: ((a @ b).relu() * 2 - a.sum(axis=1, keepdims=True)).tanh().mean(axis=0),
     lambda a, b: ((a @ b).relu() * 2 - a.sum(dim=1, keepdim=True)).tanh().mean(dim=0), [(4, 3), (3, 5)], {}),
    ("reuse_leaf", lambda a: a * a + a.exp() * a, lambda a: a * a + a.exp() * a, [(3, 4)], {}),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name,ours,theirs,shapes,kw", CASES, ids=[c[0] for c in CASES])
def test_op_matches_torch(name, ours, theirs, shapes, kw, dtype, device):
    check_op(ours, theirs, shapes, dtype=dtype, device=device, **kw)


def test_gradient_only_for_inputs_that_ask(device):
    check_op(lambda a, b: a * b + b, lambda a, b: a * b + b, [(3, 4), (3, 4)], device=device,
             grad_inputs=[False, True])
    check_op(lambda x, w, b: F.linear(x, w, b), torch.nn.functional.linear, [(7, 3), (5, 3), (5,)],
             device=device, grad_inputs=[True, False, True])


def test_index_with_repeated_integers_accumulates(device):
    idx = np.array([0, 2, 2, 4])
    check_op(lambda a: a[idx], lambda a: a[torch.tensor(idx)], [(5, 3)], device=device)


@settings(max_examples=60, deadline=None)
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4),
       op=st.sampled_from(["add", "sub", "mul", "div"]), seed=st.integers(0, 2**16))
def test_broadcasting_gradients_property(shapes, op, seed):
    fn = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / b}[op]
    kw = dict(low=0.5, high=2.0) if op == "div" else {}
    check_op(fn, fn, list(shapes.input_shapes), seed=seed, **kw)


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), data=st.data())
def test_reduction_gradients_property(shape, data):
    nd = len(shape)
    axis = data.draw(st.one_of(st.none(), st.integers(-nd, nd - 1)))
    keep = data.draw(st.booleans())
    op = data.draw(st.sampled_from(["sum", "mean", "max"]))
    dim = tuple(range(nd)) if axis is None else axis
    ours = lambda a: getattr(a, op)(axis=axis, keepdims=keep)  # noqa: E731
    theirs = {"sum": lambda a: a.sum(dim=dim, keepdim=keep), "mean": lambda a: a.mean(dim=dim, keepdim=keep),
              "max": lambda a: a.amax(dim=dim, keepdim=keep)}[op]
    check_op(ours, theirs, [tuple(shape)], seed=data.draw(st.integers(0, 1000)))


def test_comparisons_are_not_differentiable():
    a = tn.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    mask = a > 1.5
    assert mask.dtype == np.bool_ and not mask.requires_grad
    np.testing.assert_array_equal(mask.numpy(), [False, True, True])
    np.testing.assert_array_equal((a == 2.0).numpy(), [False, True, False])
    np.testing.assert_array_equal((a <= tn.Tensor([1.0, 1.0, 5.0])).numpy(), [True, False, True])
    # a mask multiplies like a constant
    (a * mask).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 1.0, 1.0])
