"""nn.BatchNorm1d and nn.LayerNorm against torch: forward values, every gradient, running statistics over
train steps then eval, state_dict keys/shapes/dtypes, torch checkpoints, save/load, repr and errors."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tinygrad_norm as tn
from tinygrad_norm import nn
from tinygrad_norm.nn import functional as F

from helpers import check_op

# float64 against torch's float64: the same closed forms, so agreement to a few ulps (helpers.TOL[float64]).
TIGHT = dict(rtol=1e-10, atol=1e-12)


def check_float32(ours: Callable, theirs: Callable, shapes: Sequence[tuple[int, ...]], *, device: str = "cpu",
                  seed: int = 0, loc: float = 0.0, scale: float = 1.0) -> None:
    """check_op for float32, against torch in float64 on the same (float32) values: comparing two float32
    results would mix both sides' rounding. Tolerance: the outputs and gradients are sums of at most ~100
    terms of size <= max|ref| (statistics, weight/bias gradients), so their float32 rounding is a few ulps
    (1.2e-7 each) times sqrt(terms) of max|ref|; 1e-5 of max|ref| (~80 ulps) bounds that with room, and is
    still 100x below any real mistake (a wrong variance, a missing term) shows. (``loc`` on the input is
    kept a few ``scale`` s: centring values of size loc in float32 loses about loc/scale ulps on both sides.)"""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    arrays[0] = (arrays[0] * scale + loc).astype(np.float32)  # the input: an offset and scale to normalize away
    mine = [tn.Tensor(a, requires_grad=True, device=device) for a in arrays]
    ref = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    out, expected = ours(*mine), theirs(*ref)
    assert out.dtype == np.float32 and out.shape == tuple(expected.shape)
    upstream = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream, dtype=torch.float64))
    pairs = [("forward", out, expected)] + [(f"backward input {i}", m.grad, r.grad)
                                            for i, (m, r) in enumerate(zip(mine, ref))]
    for what, m, r in pairs:
        r = r.detach().numpy()
        assert m.dtype == np.float32, what
        np.testing.assert_allclose(m.numpy(), r, rtol=1e-5, atol=1e-5 * np.abs(r).max(), err_msg=what)


# ---- the ops, through the functional forms ------------------------------------------------------------------
BN_SHAPES = [(16, 8), (2, 3), (5, 4, 7), (3, 2, 1)]


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("params", ["wb", "w", ""])
def test_batch_norm_with_batch_statistics_matches_torch(device, shape, params):
    c = shape[1]
    shapes = [shape] + [(c,)] * len(params)

    def call(f: Callable, eps: float = 1e-5) -> Callable:
        def run(x, *p):
            w = p[0] if "w" in params else None
            b = p[-1] if "b" in params else None
            return f(x, None, None, w, b, True, 0.1, eps)
        return run

    check_op(call(F.batch_norm), call(TF.batch_norm), shapes, device=device, **TIGHT)
    check_op(call(F.batch_norm, 0.5), call(TF.batch_norm, 0.5), shapes, device=device, seed=1, **TIGHT)
    # a mean far from zero and a large scale: the two-pass variance keeps float32 accurate
    check_float32(call(F.batch_norm), call(TF.batch_norm), shapes, device=device, loc=10.0, scale=3.0)


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_with_running_statistics_matches_torch(device, shape, dtype):
    c = shape[1]
    rng = np.random.default_rng(3)
    mean, var = rng.standard_normal(c), rng.uniform(0.2, 3.0, c)
    ours_stats = [tn.Tensor(a, dtype=dtype, device=device) for a in (mean, var)]
    their_stats = [torch.tensor(a, dtype=torch.float64) for a in (mean, var)]
    if dtype == np.float64:
        check_op(lambda x, w, b: F.batch_norm(x, *ours_stats, w, b, training=False),
                 lambda x, w, b: TF.batch_norm(x, *their_stats, w, b, training=False),
                 [shape, (c,), (c,)], device=device, **TIGHT)
        check_op(lambda x: F.batch_norm(x, *ours_stats), lambda x: TF.batch_norm(x, *their_stats), [shape],
                 device=device, **TIGHT)
    else:
        check_float32(lambda x, w, b: F.batch_norm(x, *ours_stats, w, b, training=False),
                      lambda x, w, b: TF.batch_norm(x, *their_stats, w, b, training=False),
                      [shape, (c,), (c,)], device=device)


LN_CASES = [((4, 8), 8), ((3, 5, 6), (5, 6)), ((2, 3, 4), [4]), ((7,), 7), ((2, 1, 3), (1, 3))]


@pytest.mark.parametrize("shape, normalized", LN_CASES)
@pytest.mark.parametrize("params", ["wb", "w", ""])
def test_layer_norm_matches_torch(device, shape, normalized, params):
    nshape = (normalized,) if isinstance(normalized, int) else tuple(normalized)
    shapes = [shape] + [nshape] * len(params)

    def call(f: Callable, eps: float = 1e-5) -> Callable:
        def run(x, *p):
            w = p[0] if "w" in params else None
            b = p[-1] if "b" in params else None
            return f(x, nshape if f is TF.layer_norm else normalized, w, b, eps)
        return run

    check_op(call(F.layer_norm), call(TF.layer_norm), shapes, device=device, **TIGHT)
    check_op(call(F.layer_norm, 0.3), call(TF.layer_norm, 0.3), shapes, device=device, seed=2, **TIGHT)
    check_float32(call(F.layer_norm), call(TF.layer_norm), shapes, device=device, loc=-10.0, scale=4.0)


def test_only_the_needed_gradients_are_computed():
    x = tn.Tensor(np.random.default_rng(0).standard_normal((6, 3)))
    w = tn.Tensor(np.ones(3), requires_grad=True)
    out = F.batch_norm(x, None, None, w, tn.Tensor(np.zeros(3)), training=True)
    out.sum().backward()
    assert x.grad is None and w.grad is not None and w.grad.shape == (3,)
    with tn.no_grad():
        assert not F.layer_norm(tn.Tensor(np.ones((2, 3)), requires_grad=True), 3, w).requires_grad


# ---- the layers: train steps, running statistics, eval ------------------------------------------------------
# float32 layers are compared with torch's layer in float64 on the same values (its float32 kernels round
# differently, accumulating in double on the CPU, and comparing two roundings would blur the check), on
# well-conditioned batches (see _batch). Their float32 results are then a few ulps from the exact ones: outputs
# and gradients are sums of at most ~100 terms, rounded once each, and train steps only add one rounding each to
# the running statistics, so helpers.TOL[float32] (~170 ulps relative) holds with room and is still far below
# what a wrong formula shows (a biased running variance is off by N/(N-1), >= 3% here).
TOL32 = dict(rtol=2e-5, atol=2e-6)
TOL64 = dict(rtol=1e-10, atol=1e-12)
BATCHES = [(16, 8), (5, 8), (2, 8), (9, 8), (32, 8)]  # varying batch sizes: the unbiased factor N/(N-1) varies


def _randomize(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weight and bias (torch's init, ones and zeros, would hide a wrong weight or bias gradient)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return module


def _pair_bn(dtype, device="cpu", seed=0, **kwargs) -> tuple[nn.BatchNorm1d, torch.nn.BatchNorm1d]:
    """Our layer in ``dtype`` and torch's (float64: the reference) with the same random weight and bias."""
    theirs = _randomize(torch.nn.BatchNorm1d(8, **kwargs, dtype=torch.float64), seed)
    ours = nn.BatchNorm1d(8, **kwargs, dtype=dtype, device=device)
    assert ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()}) == ([], [])
    return ours, theirs


def _batch(rng: np.random.Generator, shape: tuple[int, ...], dtype, loc: float = 3.0) -> np.ndarray:
    """Random input with per-channel scales and an offset, redrawn until every channel's spread is at least 0.3:
    a batch of two nearly equal values (var << eps) loses about |loc|/spread ulps to float32's centring, on any
    implementation, which no tolerance should have to absorb."""
    scale = rng.uniform(0.5, 4.0, (shape[1],) + (1,) * (len(shape) - 2))
    while True:
        x = (rng.standard_normal(shape) * scale + loc).astype(dtype)
        axes = (0,) + tuple(range(2, len(shape)))
        if x.shape[0] < 2 or x.astype(np.float64).std(axis=axes).min() >= 0.3:
            return x


def _step(ours: nn.Module, theirs: torch.nn.Module, x: np.ndarray, tol: dict, device: str = "cpu") -> None:
    """One forward and backward through both (torch in float64, on x's values); the outputs and the
    gradients of the input, weight and bias agree, and ours keep x's dtype."""
    ref_dtype = torch.float64  # (the reference layers are float64)
    mx = tn.Tensor(x, dtype=x.dtype, requires_grad=True, device=device)
    tx = torch.tensor(x, dtype=ref_dtype, requires_grad=True)
    out, expected = ours(mx), theirs(tx)
    assert out.dtype == x.dtype
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), err_msg="forward", **tol)
    g = np.random.default_rng(x.size).standard_normal(x.shape).astype(x.dtype)
    out.backward(g)
    expected.backward(torch.tensor(g, dtype=ref_dtype))
    assert mx.grad.dtype == x.dtype
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), err_msg="input gradient", **tol)
    for name in ("weight", "bias"):
        p, tp = getattr(ours, name), getattr(theirs, name)
        assert (p is None) == (tp is None), name
        if p is not None:
            assert p.grad.dtype == x.dtype
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), err_msg=f"{name} gradient", **tol)
            p.grad = None
            tp.grad = None


def _same_state(ours: nn.Module, theirs: torch.nn.Module, tol: dict, dtype=None) -> None:
    """The same keys, shapes and values; dtypes torch's, floats in ``dtype`` where torch's is the reference."""
    mine, ref = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(ref)
    for k, v in ref.items():
        want = v.numpy().dtype if dtype is None or v.dtype == torch.int64 else np.dtype(dtype)
        assert mine[k].shape == tuple(v.shape) and mine[k].dtype == want, k
        if v.dtype == torch.int64:
            assert mine[k].numpy() == v.numpy(), k
        else:
            np.testing.assert_allclose(mine[k].numpy(), v.numpy(), err_msg=k, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", [{}, dict(momentum=None), dict(momentum=0.5, eps=1e-3), dict(affine=False),
                                    dict(bias=False), dict(track_running_stats=False),
                                    dict(momentum=None, affine=False, track_running_stats=False)],
                         ids=["default", "momentum=None", "momentum=0.5", "affine=False", "bias=False",
                              "no-running-stats", "all-off"])
@pytest.mark.parametrize("length", [None, 3], ids=["NC", "NCL"])
def test_batchnorm1d_train_steps_then_eval_match_torch(device, dtype, kwargs, length):
    tol = TOL64 if dtype == np.float64 else TOL32
    ours, theirs = _pair_bn(dtype, device, **kwargs)
    rng = np.random.default_rng(1)
    for shape in BATCHES:
        _step(ours, theirs, _batch(rng, shape if length is None else (*shape, length), dtype), tol, device)
        _same_state(ours, theirs, tol, dtype)
    assert ours.training
    ours.eval()
    theirs.eval()
    # eval takes a batch of one (which train refuses) when it has running statistics
    for n in (4, 1) if ours.track_running_stats else (4, 2):
        shape = (n, 8) if length is None else (n, 8, length)
        _step(ours, theirs, _batch(rng, shape, dtype, loc=2.0), tol, device)
    _same_state(ours, theirs, tol, dtype)  # eval changes no statistics
    if ours.track_running_stats:
        assert ours.num_batches_tracked.item() == len(BATCHES)


def test_running_statistics_are_updated_in_place():
    """An earlier state_dict shares memory with the layer (as torch's does), and no step allocates new buffers."""
    bn = nn.BatchNorm1d(3)
    state = bn.state_dict()
    arrays = [bn.running_mean.data, bn.running_var.data, bn.num_batches_tracked.data]
    bn(tn.Tensor(np.arange(12.0).reshape(4, 3)))
    assert all(a is b for a, b in zip(arrays, [bn.running_mean.data, bn.running_var.data,
                                               bn.num_batches_tracked.data]))
    np.testing.assert_allclose(state["running_mean"].numpy(), 0.1 * np.array([4.5, 5.5, 6.5]), rtol=1e-6)
    np.testing.assert_allclose(state["running_var"].numpy(), 0.9 + 0.1 * 15.0, rtol=1e-6)  # unbiased: 60/4
    assert state["num_batches_tracked"].item() == 1 and state["num_batches_tracked"].shape == ()


def test_no_grad_training_still_updates_running_statistics_like_torch():
    ours, theirs = _pair_bn(np.float64)
    x = np.random.default_rng(0).standard_normal((6, 8))
    with tn.no_grad():
        ours(tn.Tensor(x, dtype=np.float64))
    with torch.no_grad():
        theirs(torch.tensor(x))
    _same_state(ours, theirs, TOL64)


def test_an_empty_batch_gives_an_empty_output_and_changes_only_the_count_like_torch():
    ours, theirs = _pair_bn(np.float64, momentum=None)
    out = ours(tn.Tensor(np.zeros((0, 8)), dtype=np.float64))
    assert out.shape == tuple(theirs(torch.zeros(0, 8, dtype=torch.float64)).shape) == (0, 8)
    _same_state(ours, theirs, TOL64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", [{}, dict(elementwise_affine=False), dict(bias=False), dict(eps=0.1)])
@pytest.mark.parametrize("normalized, shape", [(8, (6, 8)), ((4, 8), (3, 4, 8)), ([8], (2, 3, 8))])
def test_layernorm_matches_torch_in_train_and_eval(device, dtype, kwargs, normalized, shape):
    tol = TOL64 if dtype == np.float64 else TOL32
    theirs = _randomize(torch.nn.LayerNorm(normalized, **kwargs, dtype=torch.float64))
    ours = nn.LayerNorm(normalized, **kwargs, dtype=dtype, device=device)
    assert ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()}) == ([], [])
    _same_state(ours, theirs, tol, dtype)
    rng = np.random.default_rng(0)
    for mode in (True, False):
        ours.train(mode)
        theirs.train(mode)
        _step(ours, theirs, (rng.standard_normal(shape) * 2 - 1).astype(dtype), tol, device)


# ---- state dicts, checkpoints, save/load ---------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{}, dict(affine=False), dict(bias=False), dict(track_running_stats=False),
                                    dict(affine=False, track_running_stats=False)])
def test_batchnorm1d_state_dict_keys_shapes_and_dtypes_equal_torchs(kwargs):
    for dtype, tdtype in ((None, None), (np.float64, torch.float64)):
        ours = nn.BatchNorm1d(8, **kwargs, dtype=dtype)
        theirs = torch.nn.BatchNorm1d(8, **kwargs, dtype=tdtype)
        assert [(k, v.shape, v.dtype) for k, v in ours.state_dict().items()] == [
            (k, tuple(v.shape), v.numpy().dtype) for k, v in theirs.state_dict().items()]
        _same_state(ours, theirs, TOL64)  # and the initial values
        assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
        assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    bn = nn.BatchNorm1d(8, track_running_stats=False)
    assert bn.running_mean is None and bn.running_var is None and bn.num_batches_tracked is None


@pytest.mark.parametrize("kwargs", [{}, dict(elementwise_affine=False), dict(bias=False)])
def test_layernorm_state_dict_keys_shapes_and_dtypes_equal_torchs(kwargs):
    ours, theirs = nn.LayerNorm((3, 4), **kwargs), torch.nn.LayerNorm((3, 4), **kwargs)
    assert [(k, v.shape, v.dtype) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape), v.numpy().dtype) for k, v in theirs.state_dict().items()]
    _same_state(ours, theirs, TOL64)


class _TorchNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
                                          torch.nn.Linear(8, 6), torch.nn.LayerNorm(6))


def _our_net() -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 6), nn.LayerNorm(6))


def _trained_torch_net() -> torch.nn.Sequential:
    torch.manual_seed(0)
    net = _TorchNet().layers.double()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in net[4].parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))
        for n in (7, 3, 12):
            net(torch.randn(n, 4, generator=gen, dtype=torch.float64) * 2 + 1)
    return net.eval()


def test_a_torch_state_dict_loads_and_gives_torchs_eval_outputs():
    theirs = _trained_torch_net()
    ours = _our_net().double()
    state = {k: v.numpy() for k, v in theirs.state_dict().items()}
    assert state["1.num_batches_tracked"].shape == () and state["1.num_batches_tracked"] == 3
    assert ours.load_state_dict(state) == ([], [])
    assert ours[1].num_batches_tracked.dtype == np.int64 and ours[1].num_batches_tracked.shape == ()
    ours.eval()
    x = np.random.default_rng(0).standard_normal((5, 4))
    np.testing.assert_allclose(ours(tn.Tensor(x, dtype=np.float64)).numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), **TOL64)
    # a wrong-shaped num_batches_tracked (what the old save/load round trip made) is refused, changing nothing
    state["1.num_batches_tracked"] = np.array([3])
    with pytest.raises(tn.ShapeError, match=r"num_batches_tracked: shape \(1,\)"):
        ours.load_state_dict(state)


def test_save_load_round_trip_of_a_model_with_norm_layers(tmp_path):
    theirs = _trained_torch_net()
    model = _our_net().double()
    model.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    tn.save(model.state_dict(), tmp_path / "m.npz")
    back = tn.load(tmp_path / "m.npz")
    assert [(k, v.shape, v.dtype) for k, v in back.items()] == [
        (k, v.shape, v.dtype) for k, v in model.state_dict().items()]
    assert back["1.num_batches_tracked"].shape == () and back["1.num_batches_tracked"].dtype == np.int64
    fresh = _our_net().double()
    assert fresh.load_state_dict(back) == ([], [])
    x = tn.Tensor(np.random.default_rng(2).standard_normal((3, 4)), dtype=np.float64)
    np.testing.assert_array_equal(fresh.eval()(x).numpy(), model.eval()(x).numpy())
    assert fresh[1].num_batches_tracked.item() == 3


def test_double_and_to_keep_num_batches_tracked_an_int64_scalar(device):
    bn = nn.BatchNorm1d(4).double().to(device)
    assert bn.running_mean.dtype == bn.weight.dtype == np.float64
    assert bn.num_batches_tracked.dtype == np.int64 and bn.num_batches_tracked.shape == ()
    bn(tn.Tensor(np.ones((3, 4)), dtype=np.float64, device=device))
    assert bn.num_batches_tracked.item() == 1
    bn.reset_running_stats()
    assert bn.num_batches_tracked.item() == 0 and bn.running_var.numpy().tolist() == [1.0] * 4


# ---- repr and errors -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{}, dict(momentum=None), dict(eps=1e-3, affine=False), dict(bias=False),
                                    dict(track_running_stats=False)])
def test_batchnorm1d_repr_is_torchs(kwargs):
    assert repr(nn.BatchNorm1d(8, **kwargs)) == repr(torch.nn.BatchNorm1d(8, **kwargs))


@pytest.mark.parametrize("args, kwargs", [((8,), {}), (((3, 4),), dict(bias=False)), (([5],), {}),
                                          ((6,), dict(elementwise_affine=False, eps=0.01))])
def test_layernorm_repr_is_torchs(args, kwargs):
    assert repr(nn.LayerNorm(*args, **kwargs)) == repr(torch.nn.LayerNorm(*args, **kwargs))


def test_a_batch_of_one_in_training_is_refused_like_torch_and_changes_nothing():
    for shape in ((1, 8), (1, 8, 1)):
        bn = nn.BatchNorm1d(8)
        with pytest.raises(ValueError, match="Expected more than 1 value per channel when training") as e:
            bn(tn.Tensor(np.ones(shape)))
        assert isinstance(e.value, tn.ShapeError) and str(shape) in str(e.value)
        assert bn.num_batches_tracked.item() == 0 and bn.running_mean.numpy().tolist() == [0.0] * 8
        with pytest.raises(ValueError, match="Expected more than 1 value per channel"):  # batch statistics in eval
            nn.BatchNorm1d(8, track_running_stats=False).eval()(tn.Tensor(np.ones(shape)))
        bn.eval()(tn.Tensor(np.ones(shape)))  # running statistics: fine
    nn.BatchNorm1d(8)(tn.Tensor(np.ones((1, 8, 2))))  # two values per channel: fine, as in torch


def test_wrong_inputs_are_clear_errors():
    bn = nn.BatchNorm1d(8)
    for shape in ((4, 3), (4,), (2, 8, 3, 1), (4, 3, 8)):
        with pytest.raises(tn.ShapeError, match=re.escape(f"BatchNorm1d(8): expected input of shape (N, 8) or "
                                                          f"(N, 8, L), got {shape}")):
            bn(tn.Tensor(np.ones(shape)))
    with pytest.raises(tn.DTypeError, match="dtype mismatch: float64 and float32"):
        bn(tn.Tensor(np.ones((4, 8)), dtype=np.float64))
    with pytest.raises(tn.ArgumentTypeError, match="takes a Tensor"):
        bn(np.ones((4, 8)))
    ln = nn.LayerNorm((4, 8))
    with pytest.raises(tn.ShapeError, match=r"expected input of shape \(\*, 4, 8\), got \(2, 8, 4\)"):
        ln(tn.Tensor(np.ones((2, 8, 4))))
    with pytest.raises(tn.ShapeError, match=r"got \(8,\)"):
        ln(tn.Tensor(np.ones(8)))
    with pytest.raises(tn.DTypeError, match="floating-point"):
        F.layer_norm(tn.Tensor(np.ones((2, 3), dtype=np.int64)), 3)
    with pytest.raises(tn.ShapeError, match=r"weight has shape \(4,\), expected \(3,\)"):
        F.batch_norm(tn.Tensor(np.ones((2, 3))), None, None, tn.Tensor(np.ones(4)), training=True)
    with pytest.raises(tn.ArgumentError, match="running_mean and running_var"):
        F.batch_norm(tn.Tensor(np.ones((2, 3))), None, None)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(tn.ArgumentError, match="positive number of features"):
            nn.BatchNorm1d(bad)
    with pytest.raises(tn.ArgumentError, match="eps"):
        nn.BatchNorm1d(4, eps=-1.0)
    with pytest.raises(tn.ArgumentError, match="momentum"):
        nn.BatchNorm1d(4, momentum="0.1")
    with pytest.raises(tn.DTypeError, match="floating-point dtype"):
        nn.LayerNorm(4, dtype=np.int64)
    with pytest.raises(tn.ArgumentError, match="non-empty and positive"):
        nn.LayerNorm((4, 0))
    with pytest.raises(tn.ArgumentTypeError, match="int or a sequence of ints"):
        nn.LayerNorm("4")
    with pytest.raises(tn.DeviceError):
        nn.BatchNorm1d(4, device="tpu")
