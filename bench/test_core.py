"""Core engine: matmul, per-op overhead, and the Burn example's training step, against NumPy and torch."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import tinygrad_norm as tn

from conftest import need_torch

MATMUL_SHAPES = [(256, 8, 64), (1024, 1024, 1024), (4096, 4096, 4096)]


def _operands(m, k, n):
    rng = np.random.default_rng(0)
    return rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)


def _run(benchmark, fn, m=0):
    if m >= 4096:  # ~1 s a call: a few rounds are enough
        benchmark.pedantic(fn, rounds=3, iterations=1, warmup_rounds=1)
        return
    for _ in range(3):  # warm: pytest-benchmark sizes the run from its first call (a cold one left ~70 rounds)
        fn()
    gc.collect()
    benchmark(fn)


@pytest.mark.parametrize("m,k,n", MATMUL_SHAPES, ids=lambda v: str(v))
@pytest.mark.parametrize("engine", ["tinygrad_norm", "numpy", "torch"])
def test_matmul(benchmark, tag, engine, m, k, n):
    benchmark.group = f"matmul {m}x{k} @ {k}x{n} float32"
    a, b = _operands(m, k, n)
    tag(engine, flops=2 * m * k * n)
    if engine == "tinygrad_norm":
        ta, tb = tn.Tensor(a), tn.Tensor(b)
        _run(benchmark, lambda: ta @ tb, m)
    elif engine == "numpy":
        _run(benchmark, lambda: a @ b, m)
    else:
        torch = need_torch()
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        _run(benchmark, lambda: ta @ tb, m)


@pytest.mark.parametrize("engine", ["tinygrad_norm", "tinygrad_norm_grad", "numpy", "torch"])
def test_tiny_add_overhead(benchmark, tag, engine):
    """64-element add: measures what an op costs beyond the arithmetic."""
    benchmark.group = "add of two 64-element float32 vectors (per-op overhead)"
    a, b = np.ones(64, np.float32), np.ones(64, np.float32)
    tag(engine)
    if engine.startswith("tinygrad_norm"):
        ta, tb = tn.Tensor(a, requires_grad=engine.endswith("grad")), tn.Tensor(b)
        _run(benchmark, lambda: ta + tb)
    elif engine == "numpy":
        _run(benchmark, lambda: a + b)
    else:
        torch = need_torch()
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        _run(benchmark, lambda: ta + tb)


def _batch():
    rng = np.random.default_rng(0)
    return rng.standard_normal((256, 8)).astype(np.float32), rng.standard_normal((256, 1)).astype(np.float32)


@pytest.mark.parametrize("engine", ["tinygrad_norm", "torch", "numpy_handwritten", "numpy_engine_ops"])
def test_mlp_training_step(benchmark, tag, engine):
    """One Adam step of Burn's regression MLP (256x8 -> 64 -> ReLU -> 1, MSE)."""
    benchmark.group = "training step: 8->64->ReLU->1 MLP, batch 256, MSE, Adam"
    tag(engine)
    x, y = _batch()
    if engine == "tinygrad_norm":
        tn.manual_seed(0)
        model = tn.nn.Sequential(tn.nn.Linear(8, 64), tn.nn.ReLU(), tn.nn.Linear(64, 1))
        opt = tn.optim.Adam(model.parameters(), lr=1e-3)
        tx, ty = tn.Tensor(x), tn.Tensor(y)

        def step():
            opt.zero_grad()
            tn.nn.functional.mse_loss(model(tx), ty).backward()
            opt.step()
    elif engine == "torch":
        torch = need_torch()
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)

        def step():
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(tx), ty).backward()
            opt.step()
    elif engine == "numpy_handwritten":
        step = _handwritten_numpy_step(x, y)
    else:
        step = _engine_ops_numpy_step(x, y)
    gc.collect()  # a collection pending from the set-up (torch's modules, ours) must not land in the timing
    # a fixed number of rounds for every engine: pytest-benchmark's calibration sizes the run from one first
    # call, which after the set-up can take milliseconds and leave only ~100 rounds for one engine
    benchmark.pedantic(step, rounds=2000, warmup_rounds=50)


def _handwritten_numpy_step(x, y):
    """The floor for a NumPy engine: no autograd, manual gradients, one Adam over a flat buffer."""
    rng = np.random.default_rng(0)
    sizes = [(64, 8), (64,), (1, 64), (1,)]
    flat = rng.uniform(-0.3, 0.3, sum(int(np.prod(s)) for s in sizes)).astype(np.float32)
    grad = np.zeros_like(flat)
    views, gviews, off = [], [], 0
    for s in sizes:
        n = int(np.prod(s))
        views.append(flat[off:off + n].reshape(s))
        gviews.append(grad[off:off + n].reshape(s))
        off += n
    m, v = np.zeros_like(flat), np.zeros_like(flat)
    w1, b1, w2, b2 = views
    gw1, gb1, gw2, gb2 = gviews
    t = [0]

    def step():
        h = x @ w1.T
        h += b1
        np.maximum(h, 0, out=h)
        out = h @ w2.T
        out += b2
        d = out - y
        d *= 2.0 / d.size
        np.matmul(d.T, h, out=gw2)
        gb2[...] = d.sum(0)
        dh = d @ w2
        dh *= h > 0
        np.matmul(dh.T, x, out=gw1)
        gb1[...] = dh.sum(0)
        t[0] += 1
        m[...] = 0.9 * m + 0.1 * grad
        v[...] = 0.999 * v + 0.001 * grad * grad
        flat[...] -= (1e-3 / (1 - 0.9 ** t[0])) * m / (np.sqrt(v / (1 - 0.999 ** t[0])) + 1e-8)

    return step


def _engine_ops_numpy_step(x, y):
    """The array calls tinygrad_norm's CPU step makes, in its order, and nothing else: no graph, no
    Tensors, no modules. ours / this is what the engine costs over the work it does (the floor above
    computes the K=1 outer product with ``@``, which BLAS makes ~3x slower than the broadcast product
    the engine uses, so it is not this)."""
    rng = np.random.default_rng(0)
    flat = rng.uniform(-0.3, 0.3, 641).astype(np.float32)
    w1, b1, w2, b2 = flat[:512].reshape(64, 8), flat[512:576], flat[576:640].reshape(1, 64), flat[640:]
    flat_grad = np.zeros_like(flat)
    grad_views = [flat_grad[:512].reshape(64, 8), flat_grad[512:576], flat_grad[576:640].reshape(1, 64),
                  flat_grad[640:]]
    m, v = np.zeros_like(flat), np.zeros_like(flat)
    ones = np.ones(len(x), np.float32)
    f32 = np.float32
    zero, two_over_n = np.array(0, f32), np.array(2.0 / y.size, f32)
    one_minus_beta1, one_minus_beta2, beta2, eps = (np.array(c, f32) for c in (0.1, 0.001, 0.999, 1e-8))
    t = [0]

    def step():
        nonlocal flat, m, v  # (updated in place: the in-place operators rebind the same arrays)
        h = x @ w1.T  # Linear + ReLU
        h += b1
        np.maximum(h, zero, out=h)
        out = h @ w2.T  # Linear
        out += b2
        diff = np.subtract(out, y)  # MSE
        np.asarray(np.vdot(diff, diff) / diff.size, dtype=f32)
        d = np.multiply(diff, two_over_n, out=diff)
        grads = [None, None, d.T @ h, ones @ d]  # backward of the Linear
        gz = np.greater(h, zero).astype(f32)  # backward of Linear + ReLU
        gz *= d * w2
        grads[0], grads[1] = gz.T @ x, ones @ gz
        for view, g in zip(grad_views, grads):  # Adam over the flat buffers
            view[...] = g
        t[0] += 1
        tmp = np.subtract(flat_grad, m)
        tmp *= one_minus_beta1
        m += tmp
        np.multiply(flat_grad, one_minus_beta2, out=tmp)
        tmp *= flat_grad
        v *= beta2
        v += tmp
        denom = np.sqrt(v)
        denom /= np.array(np.sqrt(1 - 0.999 ** t[0]), f32)
        denom += eps
        np.divide(m, denom, out=tmp)
        tmp *= np.array(-1e-3 / (1 - 0.9 ** t[0]), f32)
        flat += tmp

    return step
