"""The Tensor API a PyTorch user types first, each call against torch: forward values and every input's
gradient (float64 and float32), integer results exactly, grad-mode state step by step, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tinygrad_norm as tn
import tinygrad_norm.function as F
from tinygrad_norm.tensor import ValuesIndices

from helpers import TOL, check_op

NAN = float("nan")

# (id, ours, torch, input shapes, extra check_op kwargs): random inputs through tests/helpers.py check_op
CASES = [
    # 1. reductions under torch's names (dim, keepdim; positionally too)
    ("sum_dim_keepdim", lambda a: a.sum(dim=0, keepdim=True), lambda a: a.sum(dim=0, keepdim=True), [(3, 4)], {}),
    ("sum_positional", lambda a: a.sum(1, True), lambda a: a.sum(1, True), [(3, 4)], {}),
    ("sum_dims", lambda a: a.sum(dim=(0, 2)), lambda a: a.sum(dim=(0, 2)), [(2, 3, 4)], {}),
    ("sum_numpy_names", lambda a: a.sum(axis=-1, keepdims=True), lambda a: a.sum(-1, True), [(2, 3)], {}),
    ("mean_dim", lambda a: a.mean(dim=1), lambda a: a.mean(dim=1), [(3, 4)], {}),
    ("mean_positional", lambda a: a.mean(0, True), lambda a: a.mean(0, True), [(3, 4)], {}),
    ("var_dim", lambda a: a.var(dim=0), lambda a: a.var(dim=0), [(5, 4)], {}),
    ("var_unbiased_positional", lambda a: a.var(0, False), lambda a: a.var(0, False), [(5, 4)], {}),
    ("var_unbiased_keepdim", lambda a: a.var(1, True, True), lambda a: a.var(1, True, True), [(5, 4)], {}),
    ("var_unbiased_kw", lambda a: a.var(dim=1, unbiased=False), lambda a: a.var(dim=1, unbiased=False), [(5, 4)],
     {}),
    ("var_correction0", lambda a: a.var(dim=1, correction=0), lambda a: a.var(dim=1, correction=0), [(5, 4)], {}),
    ("var_correction2", lambda a: a.var(dim=0, correction=2, keepdim=True),
     lambda a: a.var(dim=0, correction=2, keepdim=True), [(5, 4)], {}),
    ("std_dim", lambda a: a.std(dim=(0, 1)), lambda a: a.std(dim=(0, 1)), [(5, 4, 2)], {}),
    ("std_unbiased_false", lambda a: a.std(1, False), lambda a: a.std(1, False), [(5, 4)], {}),
    ("std_correction0", lambda a: a.std(dim=0, correction=0, keepdim=True),
     lambda a: a.std(dim=0, correction=0, keepdim=True), [(5, 4)], {}),
    ("prod_all", lambda a: a.prod(), lambda a: a.prod(), [(3, 4)], {}),
    ("prod_dim", lambda a: a.prod(dim=1), lambda a: a.prod(dim=1), [(3, 4)], {}),
    ("prod_positional_keepdim", lambda a: a.prod(0, True), lambda a: a.prod(0, True), [(3, 4)], {}),
    ("prod_middle_dim", lambda a: a.prod(dim=1), lambda a: a.prod(dim=1), [(2, 3, 4)], {}),
    ("prod_dims", lambda a: a.prod(dim=(0, 2)), lambda a: a.prod(dim=2).prod(dim=0), [(2, 3, 4)], {}),
    # 2. max/min: amax (ties share), max(dim) = (values, indices), max(other)
    ("amax_dim", lambda a: a.amax(dim=1), lambda a: a.amax(dim=1), [(3, 4)], {}),
    ("amax_dims_keepdim", lambda a: a.amax(dim=(0, 2), keepdim=True), lambda a: a.amax(dim=(0, 2), keepdim=True),
     [(2, 3, 4)], {}),
    ("amax_all", lambda a: a.amax(), lambda a: a.amax(), [(3, 4)], {}),
    ("amin_empty_list_is_all", lambda a: a.amin(dim=[]), lambda a: a.amin(dim=[]), [(3, 4)], {}),
    ("amin_dim", lambda a: a.amin(0), lambda a: a.amin(0), [(3, 4)], {}),
    ("max_dim_values", lambda a: a.max(dim=1).values, lambda a: a.max(dim=1).values, [(3, 4)], {}),
    ("max_positional_keepdim", lambda a: a.max(0, True)[0], lambda a: a.max(0, True)[0], [(3, 4)], {}),
    ("max_dim_negative", lambda a: a.max(dim=-1, keepdim=True).values, lambda a: a.max(dim=-1, keepdim=True).values,
     [(2, 3, 4)], {}),
    ("max_dim_middle", lambda a: a.max(1).values, lambda a: a.max(1).values, [(2, 3, 4)], {}),
    ("min_dim_values", lambda a: a.min(dim=0).values, lambda a: a.min(dim=0).values, [(3, 4)], {}),
    ("max_0d", lambda a: a.max(dim=0).values, lambda a: a.max(dim=0).values, [()], {}),
    ("max_all", lambda a: a.max(), lambda a: a.max(), [(3, 4)], {}),
    ("min_all", lambda a: a.min(), lambda a: a.min(), [(3, 4)], {}),
    ("max_other", lambda a, b: a.max(b), lambda a, b: a.max(b), [(3, 4), (4,)], {}),
    ("min_other", lambda a, b: a.min(b), lambda a, b: a.min(b), [(3, 4), (3, 4)], {}),
    # 3. cat/stack with dim, matmul, pow with tensor exponents
    ("cat_dim", lambda a, b: tn.cat([a, b], dim=1), lambda a, b: torch.cat([a, b], dim=1), [(3, 2), (3, 5)], {}),
    ("cat_positional", lambda a, b: tn.cat((a, b), -1), lambda a, b: torch.cat((a, b), -1), [(3, 2), (3, 5)], {}),
    ("cat_default", lambda a, b: tn.cat([a, b]), lambda a, b: torch.cat([a, b]), [(2, 3), (4, 3)], {}),
    ("stack_dim", lambda a, b: tn.stack([a, b], dim=2), lambda a, b: torch.stack([a, b], dim=2), [(3, 2), (3, 2)],
     {}),
    ("stack_negative", lambda a, b: tn.stack([a, b], -1), lambda a, b: torch.stack([a, b], -1), [(3,), (3,)], {}),
    ("matmul_fn", lambda a, b: tn.matmul(a, b), torch.matmul, [(3, 4), (4, 5)], {}),
    ("matmul_fn_batch", lambda a, b: tn.matmul(a, b), torch.matmul, [(2, 3, 4), (4,)], {}),
    ("matmul_method", lambda a, b: a.matmul(b), lambda a, b: a.matmul(b), [(4,), (4, 2)], {}),
    ("pow_method_scalar", lambda a: a.pow(3), lambda a: a.pow(3), [(3, 4)], {}),
    ("pow_tensor", lambda a, b: a ** b, lambda a, b: a ** b, [(3, 4), (3, 4)], dict(low=0.5, high=2.0)),
    ("pow_tensor_bcast", lambda a, b: a.pow(b), lambda a, b: a.pow(b), [(3, 4), (4,)], dict(low=0.5, high=2.0)),
    ("pow_tensor_bcast_base", lambda a, b: a ** b, lambda a, b: a ** b, [(4,), (3, 1)], dict(low=0.5, high=2.0)),
    ("pow_fn", lambda a, b: tn.pow(a, b), torch.pow, [(3, 4), (3, 4)], dict(low=0.5, high=2.0)),
    ("pow_0d_exponent", lambda a, b: a ** b, lambda a, b: a ** b, [(3, 4), ()], dict(low=0.5, high=2.0)),
    ("pow_fn_scalar_base", lambda b: tn.pow(2.0, b), lambda b: torch.pow(2.0, b), [(3, 4)], {}),
    ("rpow", lambda b: 3.0 ** b, lambda b: 3.0 ** b, [(3, 4)], {}),
    ("rpow_int_base", lambda b: 2 ** b, lambda b: 2 ** b, [(3, 4)], {}),
    ("pow_array_exponent", lambda a: a ** np.array([1.0, 2.0, 3.0, 0.5]), lambda a: a ** torch.tensor(
        [1.0, 2.0, 3.0, 0.5], dtype=a.dtype), [(3, 4)], dict(low=0.5, high=2.0)),
    # 4. clone
    ("clone", lambda a: a.clone() * a, lambda a: a.clone() * a, [(3, 4)], {}),
    # 5. where, maximum, minimum
    ("where", lambda a, b: tn.where(a > 0, a, b), lambda a, b: torch.where(a > 0, a, b), [(3, 4), (3, 4)], {}),
    ("where_bcast", lambda c, a, b: tn.where(c > 0, a, b), lambda c, a, b: torch.where(c > 0, a, b),
     [(3, 1), (1, 4), (4,)], dict(grad_inputs=[False, True, True])),
    ("where_scalar_other", lambda a: tn.where(a > 0, a, 0.0), lambda a: torch.where(a > 0, a, 0.0), [(3, 4)], {}),
    ("where_scalar_input", lambda a, b: tn.where(a > 0, 2.5, b), lambda a, b: torch.where(a > 0, 2.5, b),
     [(3, 4), (3, 4)], dict(grad_inputs=[False, True])),
    ("maximum", lambda a, b: tn.maximum(a, b), torch.maximum, [(3, 4), (3, 4)], {}),
    ("maximum_bcast", lambda a, b: tn.maximum(a, b), torch.maximum, [(3, 1), (4,)], {}),
    ("maximum_method", lambda a, b: a.maximum(b), lambda a, b: a.maximum(b), [(3, 4), (4,)], {}),
    ("minimum", lambda a, b: tn.minimum(a, b), torch.minimum, [(2, 3, 4), (3, 4)], {}),
    ("minimum_method", lambda a, b: a.minimum(b), lambda a, b: a.minimum(b), [(3, 4), (3, 4)], {}),
    ("maximum_scalar", lambda a: tn.maximum(a, 0.25), lambda a: torch.clamp(a, min=0.25), [(3, 4)], {}),
    # 8. shape methods
    ("transpose_swap", lambda a: a.transpose(0, 1), lambda a: a.transpose(0, 1), [(3, 4)], {}),
    ("transpose_swap_3d", lambda a: a.transpose(0, 2), lambda a: a.transpose(0, 2), [(2, 3, 4)], {}),
    ("transpose_negative", lambda a: a.transpose(-1, 1), lambda a: a.transpose(-1, 1), [(2, 3, 4)], {}),
    ("transpose_same", lambda a: a.transpose(1, 1), lambda a: a.transpose(1, 1), [(2, 3)], {}),
    ("transpose_reverse", lambda a: a.transpose(), lambda a: a.permute(2, 1, 0), [(2, 3, 4)], {}),
    ("permute", lambda a: a.permute(1, 2, 0), lambda a: a.permute(1, 2, 0), [(2, 3, 4)], {}),
    ("permute_tuple", lambda a: a.permute((2, 0, 1)), lambda a: a.permute((2, 0, 1)), [(2, 3, 4)], {}),
    ("permute_negative", lambda a: a.permute(-1, 0, 1), lambda a: a.permute(-1, 0, 1), [(2, 3, 4)], {}),
    ("t_2d", lambda a: a.t(), lambda a: a.t(), [(3, 4)], {}),
    ("t_1d", lambda a: a.t() * 2, lambda a: a.t() * 2, [(3,)], {}),
    ("unsqueeze_dim", lambda a: a.unsqueeze(dim=1), lambda a: a.unsqueeze(dim=1), [(3, 4)], {}),
    ("squeeze_dim", lambda a: a.squeeze(dim=1), lambda a: a.squeeze(dim=1), [(3, 1, 4)], {}),
    ("squeeze_dims", lambda a: a.squeeze((1, 3)), lambda a: a.squeeze((1, 3)), [(2, 1, 3, 1)], {}),
    ("squeeze_not_one", lambda a: a.squeeze(0), lambda a: a.squeeze(0), [(2, 3)], {}),
    ("flatten", lambda a: a.flatten(), lambda a: a.flatten(), [(2, 3, 4)], {}),
    ("flatten_start", lambda a: a.flatten(1), lambda a: a.flatten(1), [(2, 3, 4)], {}),
    ("flatten_range", lambda a: a.flatten(start_dim=0, end_dim=1), lambda a: a.flatten(start_dim=0, end_dim=1),
     [(2, 3, 4)], {}),
    ("flatten_negative", lambda a: a.flatten(-2, -1), lambda a: a.flatten(-2, -1), [(2, 3, 4)], {}),
    ("flatten_0d", lambda a: a.flatten(), lambda a: a.flatten(), [()], {}),
    ("view", lambda a: a.view(-1, 4), lambda a: a.view(-1, 4), [(2, 3, 4)], {}),
    ("expand", lambda a: a.expand(2, 3, 4), lambda a: a.expand(2, 3, 4), [(3, 1)], {}),
    ("expand_keep", lambda a: a.expand(-1, 5), lambda a: a.expand(-1, 5), [(3, 1)], {}),
    ("expand_tuple", lambda a: a.expand((2, 4)), lambda a: a.expand((2, 4)), [(4,)], {}),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name,ours,theirs,shapes,kw", CASES, ids=[c[0] for c in CASES])
def test_matches_torch(name, ours, theirs, shapes, kw, dtype, device):
    check_op(ours, theirs, shapes, dtype=dtype, device=device, **kw)


def check_fixed(ours, theirs, arrays, *, dtype, device: str = "cpu", seed: int = 0) -> None:
    """check_op's comparison on given inputs (ties, zeros, NaN that random inputs never hit)."""
    arrays = [np.asarray(a, dtype=dtype) for a in arrays]
    mine = [tn.Tensor(a, dtype=dtype, requires_grad=True, device=device) for a in arrays]
    ref = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, expected = ours(*mine), theirs(*ref)
    assert out.shape == tuple(expected.shape) and out.dtype == np.dtype(dtype)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), err_msg="forward", **TOL[dtype])
    upstream = np.random.default_rng(seed).standard_normal(out.shape).astype(dtype)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    for i, (m, r) in enumerate(zip(mine, ref)):
        np.testing.assert_allclose(m.grad.numpy(), r.grad.numpy(), err_msg=f"backward input {i}", **TOL[dtype])


TIES = [[1.0, 3.0, 3.0, -1.0], [2.0, 2.0, 0.0, 2.0], [5.0, 5.0, 5.0, 5.0]]
# (id, ours, torch, inputs)
FIXED = [
    ("max_dim_ties_go_to_first", lambda a: a.max(dim=1).values, lambda a: a.max(dim=1).values, [TIES]),
    ("min_dim_ties", lambda a: a.min(dim=0).values, lambda a: a.min(dim=0).values, [TIES]),
    ("max_all_ties_share", lambda a: a.max(), lambda a: a.max(), [TIES]),
    ("amax_ties_share", lambda a: a.amax(dim=1), lambda a: a.amax(dim=1), [TIES]),
    ("max_axis_is_amax", lambda a: a.max(axis=1), lambda a: a.amax(dim=1), [TIES]),
    ("maximum_ties", lambda a, b: tn.maximum(a, b), torch.maximum, [[1.0, 2.0, 3.0, 0.0], [1.0, 1.0, 4.0, 0.0]]),
    ("minimum_ties", lambda a, b: tn.minimum(a, b), torch.minimum, [[1.0, 2.0, 3.0, 0.0], [1.0, 1.0, 4.0, 0.0]]),
    ("maximum_nan", lambda a, b: tn.maximum(a, b), torch.maximum, [[1.0, 2.0, NAN], [1.0, NAN, 4.0]]),
    ("minimum_nan", lambda a, b: tn.minimum(a, b), torch.minimum, [[1.0, 2.0, NAN], [1.0, NAN, 4.0]]),
    ("pow_at_zero", lambda a, b: a ** b, lambda a, b: a ** b, [[0.0, 0.0, 0.0, 2.0, 0.0], [0.0, -1.0, 0.5, 0.0, 2.0]]),
    ("pow_negative_base", lambda a, b: a ** b, lambda a, b: a ** b, [[-2.0, -2.0, -1.5], [2.0, 3.0, 0.5]]),
    ("rpow_zero_base", lambda b: 0.0 ** b, lambda b: 0.0 ** b, [[0.0, -1.0, 0.5, 2.0]]),
    ("pow_fn_zero_base", lambda b: tn.pow(0, b), lambda b: torch.pow(0, b), [[0.0, -1.0, 0.5, 2.0]]),
    ("prod_zeros", lambda a: a.prod(dim=1), lambda a: a.prod(dim=1), [[[0.0, 2.0, 3.0], [0.0, 0.0, 4.0], [1, 2, 3]]]),
    ("prod_all_one_zero", lambda a: a.prod(), lambda a: a.prod(), [[[0.0, 2.0], [3.0, 4.0]]]),
    ("where_ties", lambda a, b: tn.where(a >= b, a, b), lambda a, b: torch.where(a >= b, a, b),
     [[1.0, 2.0, 3.0], [1.0, 5.0, 0.0]]),
    ("where_numpy_condition", lambda a, b: tn.where(np.array([True, False, True]), a, b),
     lambda a, b: torch.where(torch.tensor([True, False, True]), a, b), [[[1.0, 2.0, 3.0]], [4.0, 5.0, 6.0]]),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name,ours,theirs,inputs", FIXED, ids=[c[0] for c in FIXED])
def test_matches_torch_on_ties_zeros_and_nan(name, ours, theirs, inputs, dtype, device):
    check_fixed(ours, theirs, inputs, dtype=dtype, device=device)


NAN_ROW = [[1.0, NAN, 3.0], [2.0, 4.0, 4.0]]
INTS = [[3, 1, 3], [0, 7, 7]]
# (id, ours, torch, input array): results that are not differentiable (indices, integer tensors), compared exactly
EXACT = [
    ("argmax_all", lambda t: t.argmax(), lambda t: t.argmax(), TIES),
    ("argmax_dim_first_of_ties", lambda t: t.argmax(dim=1), lambda t: t.argmax(dim=1), TIES),
    ("argmax_keepdim", lambda t: t.argmax(0, True), lambda t: t.argmax(0, True), TIES),
    ("argmax_all_keepdim", lambda t: t.argmax(keepdim=True), lambda t: t.argmax(keepdim=True), TIES),
    ("argmin_dim", lambda t: t.argmin(dim=0), lambda t: t.argmin(dim=0), TIES),
    ("argmin_all", lambda t: t.argmin(), lambda t: t.argmin(), TIES),
    ("argmax_nan_is_largest", lambda t: t.argmax(dim=1), lambda t: t.argmax(dim=1), NAN_ROW),
    ("argmax_ints", lambda t: t.argmax(dim=1), lambda t: t.argmax(dim=1), INTS),
    ("argmax_0d", lambda t: t.argmax(dim=0), lambda t: t.argmax(dim=0), 2.5),
    ("max_dim_indices", lambda t: t.max(dim=1).indices, lambda t: t.max(dim=1).indices, TIES),
    ("max_dim_indices_keepdim", lambda t: t.max(1, True)[1], lambda t: t.max(1, True)[1], TIES),
    ("min_dim_indices", lambda t: t.min(dim=0).indices, lambda t: t.min(dim=0).indices, TIES),
    ("max_dim_nan", lambda t: t.max(dim=1).values, lambda t: t.max(dim=1).values, NAN_ROW),
    ("max_dim_nan_indices", lambda t: t.max(dim=1).indices, lambda t: t.max(dim=1).indices, NAN_ROW),
    ("max_dim_ints", lambda t: t.max(dim=0).values, lambda t: t.max(dim=0).values, INTS),
    ("max_0d_indices", lambda t: t.max(dim=-1).indices, lambda t: t.max(dim=-1).indices, 2.5),
    ("amax_ints", lambda t: t.amax(dim=1), lambda t: t.amax(dim=1), INTS),
    ("sum_ints_dim", lambda t: t.sum(dim=1, keepdim=True), lambda t: t.sum(dim=1, keepdim=True), INTS),
    ("prod_ints", lambda t: t.prod(dim=0), lambda t: t.prod(dim=0), INTS),
    ("where_ints", lambda t: tn.where(t > 2, t, 0), lambda t: torch.where(t > 2, t, 0), INTS),
    ("maximum_ints", lambda t: tn.maximum(t, t.t().t() * 0 + 3), lambda t: torch.maximum(t, t * 0 + 3), INTS),
    ("clone_ints", lambda t: t.clone(), lambda t: t.clone(), INTS),
    ("transpose_ints", lambda t: t.transpose(0, 1), lambda t: t.transpose(0, 1), INTS),
    # (found by the tinygrad port: tests/test_tinygrad_ops_port.py)
    ("any", lambda t: (t > 3).any(), lambda t: (t > 3).any(), INTS),
    ("all_dim", lambda t: (t > 0).all(dim=1), lambda t: (t > 0).all(dim=1), INTS),
    ("any_dims_keepdim", lambda t: (t > 4).any(dim=(0, 1), keepdim=True),
     lambda t: (t > 4).any(dim=(0, 1), keepdim=True), INTS),
    ("all_0d_dim", lambda t: (t > 0).all(dim=-1), lambda t: (t > 0).all(dim=-1), 2),
    ("sqrt_bool", lambda t: (t > 2).sqrt(), lambda t: (t > 2).sqrt(), INTS),
    ("sum_0d_dim0", lambda t: t.sum(0), lambda t: t.sum(0), 3),
    ("prod_0d_dims", lambda t: t.prod(-1, keepdim=True), lambda t: t.prod(-1, keepdim=True), 3),
    ("mean_0d_dim", lambda t: t.mean(dim=(0,)), lambda t: t.mean(dim=(0,)), 3.5),
    ("index_int_slice_list", lambda t: t[0, :, [1, 2]], lambda t: t[0, :, [1, 2]], np.arange(60).reshape(3, 4, 5)),
    ("index_int_none_list", lambda t: t[None, 1, :, [0, 3]], lambda t: t[None, 1, :, [0, 3]],
     np.arange(60).reshape(3, 4, 5)),
    ("index_list_slice_int", lambda t: t[[2, 0], :, 4], lambda t: t[[2, 0], :, 4], np.arange(60).reshape(3, 4, 5)),
    ("index_ellipsis_int_list", lambda t: t[..., 1, [0, 2]], lambda t: t[..., 1, [0, 2]],
     np.arange(120).reshape(2, 3, 4, 5)),
    ("index_int_ellipsis_list", lambda t: t[1, ..., [0, 2]], lambda t: t[1, ..., [0, 2]],
     np.arange(120).reshape(2, 3, 4, 5)),
    ("index_mask_int", lambda t: t[t[:, 0, 0] > 10, 1], lambda t: t[t[:, 0, 0] > 10, 1],
     np.arange(60).reshape(3, 4, 5)),
]


@pytest.mark.parametrize("name,ours,theirs,data", EXACT, ids=[c[0] for c in EXACT])
def test_exact_results_match_torch(name, ours, theirs, data):
    arr = np.asarray(data)
    out, expected = ours(tn.Tensor(arr, dtype=arr.dtype)), theirs(torch.tensor(arr))
    assert str(out.dtype) == str(expected.dtype).replace("torch.", "")
    assert out.shape == tuple(expected.shape)
    np.testing.assert_array_equal(out.numpy(), expected.numpy())


@pytest.mark.parametrize("op", ["exp", "log", "sqrt", "sigmoid", "tanh"])
def test_float_functions_of_integers_are_float32_like_torch(op):
    ints = np.array([[1, 2], [3, 40]])
    out, ref = getattr(tn.Tensor(ints), op)(), getattr(torch.tensor(ints), op)()
    assert out.dtype == np.float32 and ref.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=3e-7)  # float32 libm vs torch's: 1-2 ulp


def test_full_infers_its_dtype_from_the_fill_value_like_torch():
    for value in (4, True, 2.5, np.int32(3), np.float64(1.5)):
        ref = torch.full((2, 3), value.item() if isinstance(value, np.generic) else value)
        out = tn.full((2, 3), value)
        assert str(out.dtype) == str(ref.dtype).replace("torch.", ""), value
        np.testing.assert_array_equal(out.numpy(), ref.numpy())
    assert tn.zeros(2).dtype == tn.ones(2).dtype == np.float32  # (their fill values are ints: still float32)
    with pytest.raises(tn.DTypeError, match="floating-point"):
        tn.full((2,), 4, requires_grad=True)  # torch: "Only Tensors of floating point ... can require gradients"


def test_indexing_an_int_beside_an_array_index_keeps_torchs_gradient():
    """x[0, :, idx]: the int selects first (torch's rule), and the gradient lands where torch's does."""
    data = np.random.default_rng(0).standard_normal((3, 4, 5))
    x, ref = tn.Tensor(data, dtype=np.float64, requires_grad=True), torch.tensor(data, requires_grad=True)
    (x[0, :, [1, 2, 1]] * tn.Tensor(np.arange(12.0).reshape(4, 3), dtype=np.float64)).sum().backward()
    (ref[0, :, [1, 2, 1]] * torch.arange(12.0, dtype=torch.float64).reshape(4, 3)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), ref.grad.numpy())


def test_max_with_dim_returns_values_and_indices_like_torch():
    x = tn.Tensor(TIES, requires_grad=True)
    result = x.max(dim=1)
    assert isinstance(result, ValuesIndices) and isinstance(result, tuple) and len(result) == 2
    values, indices = result
    assert values is result.values and indices is result.indices
    assert values.requires_grad and not indices.requires_grad and indices.dtype == np.int64
    assert isinstance(x.max(), tn.Tensor) and x.max().shape == ()  # no dim: the scalar
    assert isinstance(x.max(axis=1), tn.Tensor)  # NumPy's name: NumPy's amax
    np.testing.assert_array_equal(x.max(axis=(0, 1), keepdims=True).numpy(), [[5.0]])


def test_mean_of_integers_is_float32_with_dim_too():
    ints = tn.Tensor(np.array(INTS))
    for out in (ints.mean(dim=0), ints.mean(0, True), ints.mean(axis=1), ints.mean()):
        assert out.dtype == np.float32
    np.testing.assert_allclose(ints.mean(dim=0).numpy(), np.mean(INTS, axis=0), rtol=1e-6)


def test_tensor_exponent_of_integers_is_float32_as_a_scalar_exponent_is():
    ints = tn.Tensor(np.array([1, 2, 3]))
    for out in (ints ** 2, ints ** ints, ints.pow(ints), 2 ** ints, tn.pow(2, ints)):
        assert out.dtype == np.float32
    np.testing.assert_array_equal((ints ** ints).numpy(), [1, 4, 27])
    np.testing.assert_array_equal((2 ** ints).numpy(), [2, 4, 8])


def test_clone_has_its_own_memory():
    x = tn.Tensor([1.0, 2.0], requires_grad=True)
    y = x.clone()
    assert y.requires_grad and not np.shares_memory(x.data, y.data)
    y.data[0] = 9.0
    assert x.numpy()[0] == 1.0


def test_python_scalar_conversions_follow_torch():
    for value in (2.7, -2.7, 3.0):
        assert int(tn.Tensor(value)) == int(torch.tensor(value))
        assert float(tn.Tensor([[value]])) == float(torch.tensor([[value]], dtype=torch.float32))
    assert float(tn.Tensor([1.5], requires_grad=True)) == 1.5
    assert int(tn.Tensor(np.array([7]))) == 7
    items = ["a", "b", "c", "d"]
    assert items[tn.tensor(2)] == "c" and items[tn.tensor([1])] == "b" and items[tn.tensor(True)] == "b"
    assert list(range(tn.tensor(3))) == [0, 1, 2]
    assert np.arange(5)[tn.tensor(4)] == 4


def test_from_numpy_shares_memory_and_keeps_the_dtype():
    for dtype in ("float64", "float32", "float16", "int32", "int64", "uint8", "bool"):
        arr = np.arange(6).reshape(2, 3).astype(dtype)
        t = tn.from_numpy(arr)
        assert t.dtype == arr.dtype == torch.from_numpy(arr).numpy().dtype and t.device == "cpu"
        assert np.shares_memory(t.data, arr) and t.numpy() is not None and not t.requires_grad
    arr = np.zeros(3)
    t = tn.from_numpy(arr)
    arr[0] = 5.0  # the array's writes show in the tensor, and the tensor's in the array
    t.data[1] = 7.0
    np.testing.assert_array_equal(t.numpy(), [5.0, 7.0, 0.0])
    np.testing.assert_array_equal(arr, [5.0, 7.0, 0.0])
    assert tn.Tensor(arr).dtype == np.float32  # Tensor() makes float32 by design; from_numpy does not
    strided = np.arange(12.0).reshape(3, 4)[:, ::2]
    assert np.shares_memory(tn.from_numpy(strided).data, strided)
    np.testing.assert_array_equal((tn.from_numpy(strided) * 2).numpy(), strided * 2)
    sub = np.eye(2).view(_Subclass)
    t = tn.from_numpy(sub)
    assert type(t.data) is np.ndarray and np.shares_memory(t.data, sub)  # the subclass's own operators stay behind


class _Subclass(np.ndarray):
    pass


def grad_mode_trace(lib) -> list[bool]:
    """The grad mode at each step of one script that uses every form of set_grad_enabled/inference_mode."""
    x = lib.ones(2, requires_grad=True)
    trace = []
    lib.set_grad_enabled(False)  # a plain call takes effect at once
    trace += [lib.is_grad_enabled(), (x * 2).requires_grad]
    lib.set_grad_enabled(True)
    with lib.set_grad_enabled(False):
        trace += [lib.is_grad_enabled(), (x * 2).requires_grad]
    trace.append(lib.is_grad_enabled())  # restored
    with lib.no_grad():
        with lib.set_grad_enabled(True):
            trace += [lib.is_grad_enabled(), (x * 2).requires_grad]
        trace.append(lib.is_grad_enabled())
        with lib.inference_mode(False):  # (turns grad mode on, as torch's does)
            trace.append(lib.is_grad_enabled())
        trace.append(lib.is_grad_enabled())
    with lib.inference_mode():
        trace += [lib.is_grad_enabled(), (x * 2).requires_grad]
    trace.append(lib.is_grad_enabled())

    @lib.set_grad_enabled(False)
    def off():
        return lib.is_grad_enabled(), (x * 2).requires_grad

    trace.append(lib.is_grad_enabled())  # decorating does not change the mode
    trace += [*off(), lib.is_grad_enabled()]

    @lib.inference_mode
    def bare():
        return lib.is_grad_enabled()

    @lib.inference_mode()
    def called():
        return lib.is_grad_enabled()

    trace += [bare(), called(), lib.is_grad_enabled()]
    try:
        with lib.set_grad_enabled(False):
            raise KeyError
    except KeyError:
        trace.append(lib.is_grad_enabled())  # restored after an exception too
    return trace


def test_grad_mode_functions_trace_the_same_states_as_torch():
    ours = grad_mode_trace(tn)
    assert tn.is_grad_enabled()
    assert ours == grad_mode_trace(torch)
    assert len(ours) == 21 and False in ours and True in ours


def test_to_takes_a_dtype_a_device_or_a_tensor_like_torch():
    x = tn.Tensor([1.0, 2.0], requires_grad=True)
    assert x.to("cpu") is x and x.to(tn.float32) is x and x.to(dtype="float32", device="cpu") is x
    for y in (x.to("float64"), x.to(tn.float64), x.to("cpu", "float64"), x.to(dtype=np.float64),
              x.to(tn.zeros(1, dtype="float64")), x.type_as(tn.zeros(1, dtype="float64"))):
        assert y.dtype == np.float64 and y.device == "cpu"
    (x.to("float64") * 3).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def new_function(cls, needs_grad):
    fn = object.__new__(cls)
    fn.backend, fn.needs_grad, fn.saved, fn.parents = tn.get_backend("cpu"), needs_grad, (), ()
    return fn


A, B = np.ones((2, 3)), np.full((2, 3), 2.0)
# (op, inputs, keywords): each new op's forward, run as the no-grad path runs it
NEW_OPS = [
    (F.PowTensor, (A, B), {}), (F.Maximum, (A, B), {}), (F.Minimum, (A, B), {}),
    (F.Where, (A, B), dict(condition=A > 0)), (F.Prod, (A,), dict(axis=None, keepdims=False)),
    (F.TakeAlongAxis, (A,), dict(indices=np.zeros((2, 1), dtype=np.int64), axis=1, keepdim=False)),
]


@pytest.mark.parametrize("op,inputs,kw", NEW_OPS, ids=[c[0].__name__ for c in NEW_OPS])
def test_new_ops_save_nothing_when_no_input_needs_a_gradient(op, inputs, kw):
    no_grad = F._NO_GRAD2 if len(inputs) == 2 else (False,)
    fn = new_function(op, no_grad)
    fn.forward(*inputs, **kw)
    assert fn.saved == ()
    fn = new_function(op, (True,) * len(inputs))
    fn.forward(*inputs, **kw)
    assert fn.saved != ()  # (the check above can fail)
    x = tn.Tensor(A, requires_grad=True)
    with tn.no_grad():
        assert tn.where(x > 0, x, 1.0)._ctx is None and (x ** x)._ctx is None and x.max(dim=0).values._ctx is None


def test_pow_keeps_only_what_the_gradient_asked_for_needs():
    x, y = tn.Tensor([1.0, 2.0], requires_grad=True), tn.Tensor([3.0, 4.0])
    assert (x ** y)._ctx.saved[2] is None  # the output is only needed for the exponent's gradient


X = tn.Tensor(np.arange(12.0).reshape(3, 4))
# (id, call, error class, message pattern)
ERRORS = [
    ("sum_dim_and_axis", lambda: X.sum(dim=0, axis=0), tn.ArgumentError, r"both dim=0 and axis=0.*pass one"),
    ("mean_keepdim_and_keepdims", lambda: X.mean(0, keepdim=True, keepdims=True), tn.ArgumentError,
     "both keepdim=True and keepdims=True"),
    ("var_dim_and_axis", lambda: X.var(dim=1, axis=1), tn.ArgumentError, "both dim=1 and axis=1"),
    ("max_dim_and_axis", lambda: X.max(dim=0, axis=0), tn.ArgumentError, "both dim=0 and axis=0"),
    ("sum_empty_dim", lambda: X.sum(dim=()), tn.ArgumentError, r"dim=\(\)\) is ambiguous.*dim=None"),
    ("keepdim_not_bool", lambda: X.sum(0, 1), tn.ArgumentTypeError, "keepdim is a bool, got int"),
    ("var_unbiased_not_bool", lambda: X.var(0, 2), tn.ArgumentTypeError, r"unbiased .* is a bool.*correction="),
    ("var_correction_and_ddof", lambda: X.var(correction=0, ddof=0), tn.ArgumentError,
     "correction=0 and ddof=0.*pass one"),
    ("std_unbiased_and_correction", lambda: X.std(0, True, correction=1), tn.ArgumentError,
     "unbiased=True and correction=1"),
    ("var_correction_not_number", lambda: X.var(correction=True), tn.ArgumentTypeError, "correction is a number"),
    ("var_too_few", lambda: X.var(dim=0, correction=3), tn.ArgumentError, "divides by 0"),
    ("max_dim_tuple", lambda: X.max(dim=(0, 1)), tn.ArgumentTypeError, r"one dimension.*amax\(dim="),
    ("max_other_with_dim", lambda: X.max(X, keepdim=True), tn.ArgumentError, "elementwise maximum"),
    ("max_dim_out_of_range", lambda: X.max(dim=2), tn.AxisError, "dimension 2 is out of range.*(3, 4)"),
    ("max_dim_empty", lambda: tn.zeros(0, 3).max(dim=0), tn.ArgumentError, "dimension 0 of shape .* is empty"),
    ("argmax_empty", lambda: tn.zeros(0).argmax(), tn.ArgumentError, "empty tensor"),
    ("argmax_dim_tuple", lambda: X.argmax(dim=(0, 1)), tn.ArgumentTypeError, "one dimension"),
    ("amax_keepdim_not_bool", lambda: X.amax(0, "yes"), tn.ArgumentTypeError, "keepdim is a bool"),
    ("amax_out_of_range", lambda: X.amax(dim=3), tn.AxisError, "out of range"),
    ("cat_dim_and_axis", lambda: tn.cat([X, X], dim=0, axis=0), tn.ArgumentError, "both dim=0 and axis=0"),
    ("stack_dim_and_axis", lambda: tn.stack([X, X], dim=0, axis=1), tn.ArgumentError, "both dim=0 and axis=1"),
    ("stack_out_of_range", lambda: tn.stack([X, X], dim=3), tn.AxisError, "stack dim 3"),
    ("matmul_not_tensors", lambda: tn.matmul("a", X), tn.DTypeError, "cannot combine"),
    ("pow_two_numbers", lambda: tn.pow(2, 3), tn.ArgumentTypeError, "Tensor base or exponent"),
    ("pow_dtype_mismatch", lambda: X ** tn.ones(4, dtype="float64"), tn.DTypeError, "float32 and float64"),
    ("pow_shapes", lambda: X ** tn.ones(3), tn.ShapeError, r"pow: shapes \(3, 4\) and \(3,\)"),
    ("float_of_many", lambda: float(X), tn.ShapeError, r"one-element tensors .*float\(\).*\(3, 4\)"),
    ("int_of_many", lambda: int(X), tn.ShapeError, r"one-element tensors .*int\(\)"),
    ("index_of_float", lambda: [1, 2][tn.tensor(1.0)], tn.ArgumentTypeError, "only integer tensors"),
    ("index_of_many", lambda: [1, 2][tn.tensor([0, 1])], tn.ArgumentTypeError, r"single element.*\(2,\)"),
    ("where_condition_not_bool", lambda: tn.where(X, X, 0.0), tn.DTypeError, "condition must be bool, got float32"),
    ("where_shapes", lambda: tn.where(X > 0, X, tn.ones(3)), tn.ShapeError,
     r"condition's shape \(3, 4\) and the values' \(3, 4\) and \(3,\) cannot be broadcast"),
    ("where_dtype_mismatch", lambda: tn.where(X > 0, X, tn.ones(4, dtype="float64")), tn.DTypeError,
     "float32 and float64"),
    ("where_bad_condition", lambda: tn.where("yes", X, X), tn.DTypeError, "condition must be bool"),
    ("maximum_shapes", lambda: tn.maximum(X, tn.ones(3)), tn.ShapeError, "maximum: shapes"),
    ("minimum_dtype_mismatch", lambda: X.minimum(tn.ones(4, dtype="float64")), tn.DTypeError, "float32 and float64"),
    ("from_numpy_list", lambda: tn.from_numpy([1.0, 2.0]), tn.ArgumentTypeError, "NumPy array, got list"),
    ("from_numpy_strings", lambda: tn.from_numpy(np.array(["a"])), tn.DTypeError, "<U1 is not numeric"),
    ("from_numpy_objects", lambda: tn.from_numpy(np.array([1, None])), tn.DTypeError, "object is not numeric"),
    ("from_numpy_complex", lambda: tn.from_numpy(np.ones(2, complex)), tn.DTypeError, "complex128 is not numeric"),
    ("from_numpy_byte_order", lambda: tn.from_numpy(np.ones(2, ">f8")), tn.DTypeError, "byte order"),
    ("from_numpy_masked", lambda: tn.from_numpy(np.ma.masked_array([1.0], [True])), tn.ArgumentTypeError, "mask"),
    ("set_grad_enabled_int", lambda: tn.set_grad_enabled(1), tn.ArgumentTypeError, "takes a bool, got int"),
    ("inference_mode_str", lambda: tn.inference_mode("no"), tn.ArgumentTypeError, "takes a bool, got str"),
    ("transpose_one_dim", lambda: X.transpose(0), tn.ArgumentTypeError, r"swaps two dimensions.*permute"),
    ("transpose_as_permutation", lambda: tn.zeros(2, 3, 4).transpose(2, 0, 1), tn.ArgumentTypeError,
     r"transpose\(2, 0, 1\); to reorder all the axes use permute"),
    ("transpose_tuple", lambda: X.transpose((1, 0)), tn.ArgumentTypeError, "permute"),
    ("transpose_out_of_range", lambda: X.transpose(0, 2), tn.AxisError, "dimension 2 is out of range"),
    ("permute_repeat", lambda: X.permute(0, 0), tn.ArgumentError, r"permute\(0, 0\) is not a permutation"),
    ("permute_out_of_range", lambda: tn.zeros(2, 3, 4).permute(0, 1, 5), tn.ArgumentError, "give each of 0..2"),
    ("permute_too_few", lambda: tn.zeros(2, 3, 4).permute(1, 0), tn.ArgumentError, "not a permutation"),
    ("t_of_3d", lambda: tn.zeros(2, 3, 4).t(), tn.ShapeError, "at most 2 dimensions"),
    ("unsqueeze_dim_and_axis", lambda: X.unsqueeze(dim=0, axis=0), tn.ArgumentError, "both dim=0 and axis=0"),
    ("unsqueeze_no_dim", lambda: X.unsqueeze(), tn.ArgumentError, "needs the dimension"),
    ("unsqueeze_out_of_range", lambda: X.unsqueeze(3), tn.AxisError, "out of range"),
    ("squeeze_out_of_range", lambda: X.squeeze(dim=(0, 2)), tn.AxisError, "squeeze dim 2"),
    ("flatten_reversed", lambda: tn.zeros(2, 3, 4).flatten(2, 1), tn.ArgumentError, "comes after end_dim"),
    ("flatten_out_of_range", lambda: X.flatten(0, 2), tn.AxisError, "out of range"),
    ("expand_not_one", lambda: X.expand(3, 5), tn.ShapeError, "has size 4; only size-1 dimensions"),
    ("expand_too_few", lambda: X.expand(4), tn.ShapeError, "give at least 2"),
    ("expand_keep_new_dim", lambda: X.expand(-1, 3, 4), tn.ShapeError, "new leading dimension 0"),
    ("to_unknown", lambda: X.to("gpu"), tn.DTypeError, r"neither a device \(cpu, cuda\) nor a dtype"),
    ("to_two_dtypes", lambda: X.to("float64", "float32"), tn.ArgumentError, "two dtypes"),
    ("to_tensor_and_dtype", lambda: X.to(X, dtype="float64"), tn.ArgumentError, "nothing else"),
    ("type_as_array", lambda: X.type_as(np.zeros(1)), tn.ArgumentTypeError, "takes a Tensor"),
]


@pytest.mark.parametrize("name,call,error,match", ERRORS, ids=[c[0] for c in ERRORS])
def test_errors_say_what_is_wrong(name, call, error, match):
    with pytest.raises(error, match=match):
        call()
