"""The torch-style layers: activations, Dropout, Identity, Flatten, Softmax/LogSoftmax (module and functional forms,
forward and gradient against torch in float32 and float64), the backend's erf on both CPU paths, and Module.apply /
requires_grad_ / named_modules against torch's."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tinygrad_norm as tn
import tinygrad_norm.nn.functional as F
from tinygrad_norm import _cpu, nn

from helpers import check_op

DTYPES = [pytest.param(np.float64, id="f64"), pytest.param(np.float32, id="f32")]

# (id, ours, torch, input shape, extra check_op kwargs)
ACTIVATIONS = [
    ("leaky_relu", lambda x: F.leaky_relu(x), lambda x: TF.leaky_relu(x), (6, 5), {}),
    ("leaky_relu_0.3", lambda x: F.leaky_relu(x, 0.3), lambda x: TF.leaky_relu(x, 0.3), (6, 5), {}),
    ("leaky_relu_neg", lambda x: F.leaky_relu(x, -0.5), lambda x: TF.leaky_relu(x, -0.5), (6, 5), {}),
    ("LeakyReLU", lambda x: nn.LeakyReLU(0.2)(x), lambda x: torch.nn.LeakyReLU(0.2)(x), (6, 5), {}),
    ("gelu", lambda x: F.gelu(x), lambda x: TF.gelu(x), (6, 5), {}),
    ("gelu_wide", lambda x: F.gelu(x * 4), lambda x: TF.gelu(x * 4), (6, 5), {}),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh"), (6, 5), {}),
    ("GELU", lambda x: nn.GELU()(x), lambda x: torch.nn.GELU()(x), (2, 3, 4), {}),
    ("GELU_tanh", lambda x: nn.GELU("tanh")(x), lambda x: torch.nn.GELU("tanh")(x), (2, 3, 4), {}),
    ("silu", F.silu, TF.silu, (6, 5), {}),
    ("silu_large", lambda x: F.silu(x * 40), lambda x: TF.silu(x * 40), (6, 5), {}),
    ("SiLU", lambda x: nn.SiLU()(x), lambda x: torch.nn.SiLU()(x), (6, 5), {}),
    ("Sigmoid", lambda x: nn.Sigmoid()(x), lambda x: torch.nn.Sigmoid()(x), (6, 5), {}),
    ("Tanh", lambda x: nn.Tanh()(x), lambda x: torch.nn.Tanh()(x), (6, 5), {}),
    ("softmax_1", lambda x: F.softmax(x, 1), lambda x: TF.softmax(x, 1), (4, 7), {}),
    ("softmax_0", lambda x: F.softmax(x, dim=0), lambda x: TF.softmax(x, dim=0), (4, 7), {}),
    ("softmax_neg_3d", lambda x: F.softmax(x, -1), lambda x: TF.softmax(x, -1), (2, 3, 5), {}),
    ("softmax_1d", lambda x: F.softmax(x, 0), lambda x: TF.softmax(x, 0), (6,), {}),
    ("softmax_0d", lambda x: F.softmax(x, 0), lambda x: TF.softmax(x, 0), (), {}),
    ("Softmax", lambda x: nn.Softmax(dim=1)(x), lambda x: torch.nn.Softmax(dim=1)(x), (2, 3, 5), {}),
    ("log_softmax_1", lambda x: F.log_softmax(x, 1), lambda x: TF.log_softmax(x, 1), (4, 7), {}),
    ("log_softmax_mid", lambda x: F.log_softmax(x, 1), lambda x: TF.log_softmax(x, 1), (2, 3, 5), {}),
    ("log_softmax_0d", lambda x: F.log_softmax(x, -1), lambda x: TF.log_softmax(x, -1), (), {}),
    ("LogSoftmax", lambda x: nn.LogSoftmax(dim=-1)(x), lambda x: torch.nn.LogSoftmax(dim=-1)(x), (4, 7), {}),
    # logits far beyond exp's range: stable only with the maximum subtracted
    ("log_softmax_huge", lambda x: F.log_softmax(x * 1e4, 1), lambda x: TF.log_softmax(x * 1e4, 1), (4, 7),
     dict(rtol=1e-5, atol=1e-3)),
    ("softmax_huge", lambda x: F.softmax(x * 1e4, 1), lambda x: TF.softmax(x * 1e4, 1), (4, 7), {}),
    ("Identity", lambda x: nn.Identity(54, unused="ok")(x), lambda x: torch.nn.Identity(54, unused="ok")(x),
     (3, 4), {}),
    ("Flatten", lambda x: nn.Flatten()(x), lambda x: torch.nn.Flatten()(x), (2, 3, 4, 5), {}),
    ("Flatten_mid", lambda x: nn.Flatten(1, 2)(x), lambda x: torch.nn.Flatten(1, 2)(x), (2, 3, 4, 5), {}),
    ("flatten", lambda x: F.flatten(x), lambda x: torch.flatten(x), (2, 3, 4), {}),
    ("flatten_neg", lambda x: F.flatten(x, -2), lambda x: torch.flatten(x, -2), (2, 3, 4), {}),
    ("flatten_0d", lambda x: F.flatten(x), lambda x: torch.flatten(x), (), {}),
    ("dropout_eval", lambda x: F.dropout(x, 0.5, training=False), lambda x: TF.dropout(x, 0.5, training=False),
     (3, 4), {}),
    ("Dropout_p0", lambda x: nn.Dropout(0.0)(x) * 1, lambda x: torch.nn.Dropout(0.0)(x) * 1, (3, 4), {}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,ours,theirs,shape,kw", ACTIVATIONS, ids=[c[0] for c in ACTIVATIONS])
def test_activation_matches_torch(name, ours, theirs, shape, kw, dtype, device):
    if dtype is np.float32 and name == "log_softmax_huge":
        kw = dict(rtol=1e-5, atol=4.0)  # differences of logits ~1e4 apart, rounded in float32 (ulp ~1e-3 * 1e4)
    check_op(ours, theirs, [shape], dtype=dtype, device=device, **kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("numba", [pytest.param(True, id="numba"), pytest.param(False, id="no-numba")])
def test_gelu_erf_on_both_cpu_paths(numba, dtype, monkeypatch):
    """Exact GELU runs on the backend's erf: the numba loop from 16384 elements, libm's math.erf otherwise
    (or with numba switched off, as TINYGRAD_NORM_NUMBA=0 does); both match torch, forward and gradient."""
    if numba:
        pytest.importorskip("numba")
    monkeypatch.setattr(_cpu, "USE_NUMBA", numba)
    assert (_cpu._numba_kernel("erf_flat") is not None) == numba
    big = (160, 128)  # 20480 elements: over _NUMBA_MIN_SIZE, so the numba path (when on) is the one that runs
    assert np.prod(big) >= _cpu._NUMBA_MIN_SIZE
    check_op(lambda x: F.gelu(x * 3), lambda x: TF.gelu(x * 3), [big], dtype=dtype)
    check_op(lambda x: F.gelu(x * 3), lambda x: TF.gelu(x * 3), [(7, 3)], dtype=dtype)


def test_gelu_without_numba_through_the_environment_variable():
    """TINYGRAD_NORM_NUMBA=0 (read at import) keeps erf on math.erf: numba is never imported, the values match."""
    code = (
        "import sys, numpy as np, torch, tinygrad_norm as tn\n"
        "import tinygrad_norm.nn.functional as F\n"
        "x = np.random.default_rng(0).standard_normal((200, 100))\n"
        "t = tn.Tensor(x, dtype='float64', requires_grad=True)\n"
        "F.gelu(t).sum().backward()\n"
        "r = torch.tensor(x, requires_grad=True)\n"
        "torch.nn.functional.gelu(r).sum().backward()\n"
        "assert np.allclose(t.grad.numpy(), r.grad.numpy(), rtol=1e-12, atol=1e-14)\n"
        "assert 'tinygrad_norm._numba' not in sys.modules\n"
        "print('ok')\n")
    env = dict(os.environ, TINYGRAD_NORM_NUMBA="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


@pytest.mark.parametrize("dtype", DTYPES)
def test_backend_erf_matches_torch_and_is_identical_on_both_paths(dtype, monkeypatch):
    x = np.random.default_rng(1).standard_normal(40000).astype(dtype) * 4
    x[:4] = [0, -0.0, np.inf, -np.inf]
    be = tn.get_backend("cpu")
    fast = be.erf(x)
    monkeypatch.setattr(_cpu, "USE_NUMBA", False)
    exact = be.erf(x)
    assert fast.dtype == exact.dtype == dtype and fast.shape == x.shape
    # both evaluate erf in float64 and round once: within one float64 ulp of each other, so equal after rounding
    # (for float64, allow that ulp: numba's erf is not libm's)
    np.testing.assert_allclose(fast, exact, rtol=0 if dtype is np.float32 else 4e-16, atol=0)
    np.testing.assert_allclose(exact, torch.erf(torch.from_numpy(x)).numpy(), rtol=2e-7 if dtype is np.float32
                               else 1e-15, atol=0)
    np.testing.assert_array_equal(exact[:4], [0, 0, 1, -1])
    assert be.erf(np.asarray(0.5, dtype)).shape == ()


def test_leaky_relu_gradient_at_zero_is_the_slope_like_torch():
    x = tn.Tensor([-1.0, 0.0, 2.0], requires_grad=True)
    F.leaky_relu(x, 0.25).sum().backward()
    ref = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    TF.leaky_relu(ref, 0.25).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), ref.grad.numpy())


def test_softmax_rows_sum_to_one_and_log_softmax_is_finite_for_extreme_logits():
    x = tn.Tensor([[1000.0, 0.0, -1000.0], [-5e4, -5e4, -5e4]])
    p = F.softmax(x, 1).numpy()
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    lp = F.log_softmax(x, 1).numpy()
    assert np.isfinite(lp).all()
    np.testing.assert_allclose(lp[1], np.log(1 / 3), rtol=1e-6)


def test_softmax_of_an_empty_dimension_is_empty():
    x = tn.zeros(3, 0, requires_grad=True)
    out = F.softmax(x, 1)
    assert out.shape == (3, 0)
    out.backward(np.zeros((3, 0), np.float32))
    assert x.grad.shape == (3, 0)


def test_softmax_dtype_casts_first():
    x = tn.Tensor([[1, 2, 3]])  # int64: refused without dtype=, as torch refuses integer softmax
    with pytest.raises(tn.DTypeError, match="floating-point"):
        F.softmax(x, 1)
    out = F.softmax(x, 1, dtype="float64")
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), TF.softmax(torch.tensor([[1.0, 2, 3]], dtype=torch.float64), 1).numpy())


# ---- Dropout ------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics_and_scale(p):
    """About p of the elements are zeroed and the rest scaled by 1/(1-p). The zeroed fraction of n = 2e5 Bernoulli
    draws has standard deviation sqrt(p(1-p)/n) <= 0.0012: a tolerance of 0.006 is 5 of them."""
    tn.manual_seed(0)
    x = tn.ones(400, 500)
    out = F.dropout(x, p).numpy()
    zero = out == 0
    assert abs(zero.mean() - p) < 0.006
    np.testing.assert_allclose(out[~zero], np.float32(1 / (1 - p)), rtol=1e-7)
    # the expectation is kept (the point of the scale): mean of out within 5 standard errors of 1
    se = np.sqrt(p / (1 - p) / out.size)
    assert abs(out.mean() - 1) < 5 * se


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_gradient_is_mask_times_scale(dtype):
    tn.manual_seed(3)
    x = tn.Tensor(np.random.default_rng(0).standard_normal((50, 40)), dtype=dtype, requires_grad=True)
    out = nn.Dropout(0.3)(x)
    up = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    out.backward(up)
    kept = out.numpy() != 0  # (x has no zeros)
    scale = dtype(1 / 0.7)
    assert 0.6 < kept.mean() < 0.8
    np.testing.assert_array_equal(out.numpy(), np.where(kept, x.numpy() * scale, 0))
    np.testing.assert_array_equal(x.grad.numpy(), np.where(kept, up * scale, 0))
    assert out.dtype == x.grad.dtype == dtype


def test_dropout_is_reproducible_with_manual_seed_and_varies_without():
    tn.manual_seed(7)
    a = F.dropout(tn.ones(64, 64), 0.5).numpy()
    b = F.dropout(tn.ones(64, 64), 0.5).numpy()
    tn.manual_seed(7)
    a2 = F.dropout(tn.ones(64, 64), 0.5).numpy()
    np.testing.assert_array_equal(a, a2)
    assert not np.array_equal(a, b)


def test_dropout_eval_p0_and_p1_as_torch():
    x = tn.Tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    layer = nn.Dropout(0.4)
    assert layer.eval()(x) is x  # eval: the input itself, as torch returns it
    assert nn.Dropout(0.0)(x) is x
    assert F.dropout(x, 0.9, training=False) is x
    out = F.dropout(x, 1.0)
    np.testing.assert_array_equal(out.numpy(), np.zeros((3, 4)))
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((3, 4)))
    ref = TF.dropout(torch.arange(12.0).reshape(3, 4), 1.0)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    # train() again: dropping again
    layer.train()
    assert layer.training and layer(x) is not x


def test_dropout_follows_module_train_eval_in_sequential():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 1))
    x = tn.randn(16, 4)
    model.eval()
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())
    model.train()
    tn.manual_seed(0)
    a = model(x).numpy()
    tn.manual_seed(1)
    assert not np.array_equal(a, model(x).numpy())


def test_dropout_errors():
    with pytest.raises(tn.ArgumentError, match="between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)
    with pytest.raises(tn.ArgumentError, match="between 0 and 1"):
        F.dropout(tn.ones(2), -0.1)
    with pytest.raises(tn.ArgumentError, match="inplace=True is not supported"):
        nn.Dropout(0.5, inplace=True)
    with pytest.raises(tn.ArgumentTypeError, match="takes a Tensor"):
        F.dropout(np.ones(3), 0.5)


# ---- argument errors -------------------------------------------------------------------------------
def test_activation_argument_errors():
    x = tn.randn(3, 4)
    with pytest.raises(tn.ArgumentError, match="approximate must be one of"):
        F.gelu(x, approximate="erf")
    with pytest.raises(tn.ArgumentError, match="approximate must be one of"):
        nn.GELU("fast")
    with pytest.raises(tn.ArgumentError, match="needs dim="):
        F.softmax(x)
    with pytest.raises(tn.ArgumentError, match="needs dim="):
        nn.LogSoftmax()
    with pytest.raises(tn.AxisError, match="dim 2 is out of range"):
        F.log_softmax(x, 2)
    with pytest.raises(tn.ArgumentTypeError, match="dim must be an int"):
        nn.Softmax(dim="1")
    with pytest.raises(tn.ArgumentError, match="inplace=True"):
        F.leaky_relu(x, inplace=True)
    with pytest.raises(tn.ArgumentError, match="inplace=True"):
        nn.SiLU(inplace=True)
    with pytest.raises(tn.ArgumentError, match="negative_slope must be a finite number"):
        nn.LeakyReLU("0.1")
    with pytest.raises(tn.DTypeError, match="floating-point"):
        F.gelu(tn.Tensor([1, 2]))
    with pytest.raises(tn.ArgumentError, match="start_dim 2 comes after end_dim 1"):
        F.flatten(tn.randn(2, 3, 4), 2, 1)
    with pytest.raises(tn.AxisError, match="dim 3 is out of range"):
        nn.Flatten(3)(tn.randn(2, 3, 4))


def test_reprs_follow_the_burn_style():
    assert repr(nn.Dropout(0.25)) == "Dropout {p: 0.25}"
    assert repr(nn.GELU("tanh")) == "GELU {approximate: tanh}"
    assert repr(nn.LeakyReLU()) == "LeakyReLU {negative_slope: 0.01}"
    assert repr(nn.Flatten()) == "Flatten {start_dim: 1, end_dim: -1}"
    assert repr(nn.Softmax(1)) == "Softmax {dim: 1}"
    assert repr(nn.Identity()) == "Identity"
    assert repr(nn.SiLU()) == "SiLU"


# ---- Module.apply, requires_grad_, named_modules ----------------------------------------------------
def _pair():
    """The same nested model in both libraries, with a module used twice."""
    shared = nn.Linear(4, 4)
    ours = nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.GELU(), shared, nn.Dropout(0.1)), shared,
                         nn.Sequential(nn.Flatten(), nn.Identity()))
    tshared = torch.nn.Linear(4, 4)
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Sequential(torch.nn.GELU(), tshared,
                                                                          torch.nn.Dropout(0.1)),
                                 tshared, torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Identity()))
    return ours, theirs


def test_named_modules_match_torch_names_and_order():
    ours, theirs = _pair()
    for kw in ({}, {"remove_duplicate": False}, {"prefix": "model"}):
        mine = [(name, type(m).__name__) for name, m in ours.named_modules(**kw)]
        ref = [(name, type(m).__name__) for name, m in theirs.named_modules(**kw)]
        assert mine == ref, kw
    assert [type(m).__name__ for m in ours.modules()] == [type(m).__name__ for m in theirs.modules()]


def test_apply_visits_children_before_parents_like_torch_and_returns_self():
    ours, theirs = _pair()
    seen, ref = [], []
    assert ours.apply(lambda m: seen.append(type(m).__name__)) is ours
    theirs.apply(lambda m: ref.append(type(m).__name__))
    assert seen == ref


def test_apply_initialises_weights_in_place():
    model = nn.Sequential(nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, 2))
    before = [p.data for p in model.parameters()]

    def init(m):
        if isinstance(m, nn.Linear):
            nn.init.constant_(m.weight, 0.5)
            nn.init.zeros_(m.bias)

    model.apply(init)
    for p, arr in zip(model.parameters(), before):
        assert p.data is arr
    np.testing.assert_array_equal(model[0].weight.numpy(), np.full((3, 5), 0.5, np.float32))
    np.testing.assert_array_equal(model[2].bias.numpy(), np.zeros(2, np.float32))


def test_requires_grad_freezes_and_unfreezes_every_parameter():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    assert model.requires_grad_(False) is model
    assert not any(p.requires_grad for p in model.parameters())
    out = model(tn.randn(2, 3, requires_grad=True))
    out.sum().backward()
    assert all(p.grad is None for p in model.parameters())
    model[2].requires_grad_()
    assert [p.requires_grad for p in model.parameters()] == [False, False, True, True]
    model(tn.randn(2, 3)).sum().backward()
    assert model[2].weight.grad is not None and model[0].weight.grad is None


def test_sequential_runs_new_layers_and_keeps_the_linear_relu_fusion():
    from tinygrad_norm.function import LinearReLULinear

    tn.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.GELU(), nn.Linear(8, 3), nn.LogSoftmax(1))
    ref = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8), torch.nn.GELU(),
                              torch.nn.Linear(8, 3), torch.nn.LogSoftmax(1)).double()
    model.double()
    ref.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 4))
    out = model(tn.Tensor(x, dtype="float64"))
    np.testing.assert_allclose(out.numpy(), ref(torch.from_numpy(x)).detach().numpy(), rtol=1e-12, atol=1e-12)
    node = out._ctx
    while node is not None and not isinstance(node, LinearReLULinear):  # walk down the chain of first parents
        node = node.parents[0]._ctx if node.parents else None
    assert isinstance(node, LinearReLULinear)  # (no ReLU after the second Linear: the three layers are one node)


def test_a_slice_of_a_sequential_is_a_sequential_of_the_same_layers_like_torch():
    layers = [nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)]
    model = nn.Sequential(*layers)
    head = model[:2]
    assert isinstance(head, nn.Sequential) and list(head) == layers[:2] and head[0] is layers[0]
    x = tn.Tensor(np.ones((5, 3), np.float32))
    np.testing.assert_array_equal(head(x).numpy(), layers[1](layers[0](x)).numpy())
    assert isinstance(model[-1], nn.Linear) and len(model[::2]) == 2
