"""nn.init: torch's fans, gains, bounds and standard deviations; the writes are in place (optimizer views stay
valid) and reproducible with tn.manual_seed; bad arguments are clear errors.

The random draws come from another generator than torch's, so the statistical checks compare the samples with
torch's formulas: with 10^5 samples the sample standard deviation has a relative standard error of
1/sqrt(2n) = 0.22% for a normal and sqrt(0.8/n)/2 = 0.14% for a uniform distribution; the 2% tolerance is about
9 of them (a real formula error, e.g. a missing sqrt(3) or gain, is 15% or more)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import tinygrad_norm as tn
from tinygrad_norm import nn
from tinygrad_norm.nn import init

SHAPES = [(300, 400), (100, 50, 4, 5), (1000, 100)]
NONLINEARITIES = ["linear", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]


@pytest.mark.parametrize("shape", [(3, 5), (4, 3, 2), (6, 2, 3, 3), (1, 7), (0, 4)])
def test_fans_match_torch(shape):
    ours = init._calculate_fan_in_and_fan_out(tn.zeros(*shape))
    assert ours == torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
@pytest.mark.parametrize("param", [None, 0.2, 3])
def test_calculate_gain_matches_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(torch.nn.init.calculate_gain(nonlinearity, param),
                                                                     rel=1e-15)


def _torch_fan(shape, mode):
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    return fan_in if mode == "fan_in" else fan_out


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nonlinearity,a", [("leaky_relu", 0), ("leaky_relu", math.sqrt(5)), ("relu", 0),
                                            ("tanh", 0)])
def test_kaiming_uniform_bound_and_std(shape, mode, nonlinearity, a):
    tn.manual_seed(0)
    w = init.kaiming_uniform_(tn.zeros(*shape), a=a, mode=mode,
                              nonlinearity=nonlinearity)
    bound = torch.nn.init.calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _torch_fan(shape, mode))
    x = w.numpy()
    assert np.abs(x).max() <= bound * (1 + 1e-6)
    assert np.abs(x).max() > bound * 0.999  # the samples reach the bound (10^5 draws: the gap is ~1e-5 of it)
    assert x.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert abs(x.mean()) < 5 * bound / math.sqrt(3 * x.size)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_normal_std(shape, mode):
    tn.manual_seed(1)
    x = init.kaiming_normal_(tn.zeros(*shape), mode=mode, nonlinearity="relu").numpy()
    std = math.sqrt(2.0) / math.sqrt(_torch_fan(shape, mode))
    assert x.std() == pytest.approx(std, rel=0.02)
    assert abs(x.mean()) < 5 * std / math.sqrt(x.size)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("gain", [1.0, 5 / 3])
def test_xavier_uniform_and_normal(shape, gain):
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    tn.manual_seed(2)
    u = init.xavier_uniform_(tn.zeros(*shape), gain=gain).numpy()
    assert np.abs(u).max() <= math.sqrt(3) * std * (1 + 1e-6)
    assert u.std() == pytest.approx(std, rel=0.02)
    n = init.xavier_normal_(tn.zeros(*shape, dtype="float64"), gain=gain).numpy()
    assert n.std() == pytest.approx(std, rel=0.02)


def test_uniform_normal_and_constants():
    tn.manual_seed(3)
    u = init.uniform_(tn.zeros(100000), -2.0, 3.0).numpy()
    assert u.min() >= -2 and u.max() < 3
    assert u.mean() == pytest.approx(0.5, abs=5 * 5 / math.sqrt(12 * u.size))
    n = init.normal_(tn.zeros(100000), mean=1.5, std=0.5).numpy()
    assert n.mean() == pytest.approx(1.5, abs=5 * 0.5 / math.sqrt(n.size))
    assert n.std() == pytest.approx(0.5, rel=0.02)
    np.testing.assert_array_equal(init.constant_(tn.zeros(2, 3), 0.25).numpy(), np.full((2, 3), 0.25, np.float32))
    np.testing.assert_array_equal(init.ones_(tn.zeros(3)).numpy(), np.ones(3, np.float32))
    np.testing.assert_array_equal(init.zeros_(tn.ones(3, dtype="int64")).numpy(), np.zeros(3, np.int64))


@pytest.mark.parametrize("fn", [
    lambda t: init.uniform_(t), lambda t: init.normal_(t), lambda t: init.constant_(t, 2.0), init.zeros_, init.ones_,
    init.xavier_uniform_, init.xavier_normal_, init.kaiming_uniform_, init.kaiming_normal_])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inits_write_in_place_and_return_the_tensor(fn, dtype, device):
    t = tn.zeros(6, 5, dtype=dtype, device=device, requires_grad=True)
    arr = t.data
    assert fn(t) is t
    assert t.data is arr and t.dtype == np.dtype(dtype) and t.device == device and t.requires_grad


def test_init_keeps_an_optimizers_flat_buffer_views_valid():
    tn.manual_seed(0)
    layer = nn.Linear(4, 3)
    opt = tn.optim.SGD(layer.parameters(), lr=0.1)
    layer(tn.randn(2, 4)).sum().backward()
    opt.step()  # the parameters are views of the optimizer's flat buffer from now on
    arr = layer.weight.data
    init.kaiming_normal_(layer.weight)
    init.constant_(layer.bias, 1.0)
    assert layer.weight.data is arr
    start = layer.weight.numpy().copy()
    opt.zero_grad()
    layer.weight.grad = tn.ones(3, 4)
    layer.bias.grad = tn.ones(3)
    opt.step()  # the update starts from the initialised values: the optimizer sees what init wrote
    np.testing.assert_allclose(layer.weight.numpy(), start - 0.1, rtol=1e-6)
    np.testing.assert_allclose(layer.bias.numpy(), np.full(3, 0.9, np.float32), rtol=1e-6)


def test_reproducible_with_manual_seed_and_a_generator():
    def draw():
        return init.kaiming_uniform_(tn.zeros(8, 5), a=math.sqrt(5)).numpy()

    tn.manual_seed(11)
    a, b = draw(), draw()
    tn.manual_seed(11)
    np.testing.assert_array_equal(draw(), a)
    assert not np.array_equal(a, b)
    g1, g2 = np.random.default_rng(4), np.random.default_rng(4)
    np.testing.assert_array_equal(init.normal_(tn.zeros(5), generator=g1).numpy(),
                                  init.normal_(tn.zeros(5), generator=g2).numpy())


def test_linear_default_init_is_kaiming_uniform_with_a_sqrt5():
    """torch.nn.Linear's reset_parameters is kaiming_uniform_(a=sqrt(5)): bound 1/sqrt(in_features), like ours."""
    w = tn.zeros(20, 300)
    init.kaiming_uniform_(w, a=math.sqrt(5))
    assert np.abs(w.numpy()).max() <= 1 / math.sqrt(300) * (1 + 1e-6)


def test_empty_tensors_are_left_as_they_are():
    t = tn.zeros(0, 3)
    assert init.kaiming_uniform_(t) is t and init.kaiming_normal_(t, mode="fan_out") is t
    assert init.xavier_uniform_(tn.zeros(0, 0)).shape == (0, 0)


def test_errors():
    with pytest.raises(tn.ShapeError, match="fewer than 2 dimensions.*shape \\(5,\\)"):
        init.kaiming_uniform_(tn.zeros(5))
    with pytest.raises(tn.ShapeError, match="fewer than 2 dimensions"):
        init.xavier_normal_(tn.zeros(()))
    with pytest.raises(tn.ArgumentError, match="mode 'fan_avg' is not supported, use one of fan_in, fan_out"):
        init.kaiming_normal_(tn.zeros(3, 4), mode="fan_avg")
    with pytest.raises(tn.ArgumentError, match="unsupported nonlinearity 'gelu'"):
        init.kaiming_normal_(tn.zeros(3, 4), nonlinearity="gelu")
    with pytest.raises(tn.ArgumentError, match="unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(tn.ArgumentError, match="not a valid number"):
        init.calculate_gain("leaky_relu", True)
    with pytest.raises(tn.ArgumentTypeError, match="takes a Tensor"):
        init.normal_(np.zeros(3))
    with pytest.raises(tn.DTypeError, match="floating-point"):
        init.uniform_(tn.zeros(3, dtype="int64"))
    with pytest.raises(tn.ArgumentError, match="a <= b"):
        init.uniform_(tn.zeros(3), 1.0, 0.0)
    with pytest.raises(tn.ArgumentError, match="std >= 0"):
        init.normal_(tn.zeros(3), std=-1.0)
    with pytest.raises(tn.ArgumentTypeError, match="numpy.random.Generator"):
        init.normal_(tn.zeros(3), generator=0)


def test_reachable_as_tn_nn_init():
    assert tn.nn.init is init
    assert tn.nn.init.kaiming_uniform_ is init.kaiming_uniform_
