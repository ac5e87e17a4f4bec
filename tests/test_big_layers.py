"""Big layers on the CPU: the fused bias + ReLU pass, ReLU's backward with the bias gradient in the same pass,
and the reused buffers of _buffers.py, against torch and against the small-array NumPy path.

From 128 KiB per array (``_cpu._FUSED_LAYER_MIN_BYTES``, glibc's threshold for serving an array from a fresh
``mmap``) a layer's product comes from pooled memory and its elementwise work from numba kernels; below, the
NumPy calls of before. Tolerances: the products are the same
BLAS calls as torch's up to summation order (float32 ~1e-6 relative, float64 ~1e-14); the bias gradient is
summed in float64 here (torch sums in the input's dtype), so float32 agrees to ~1e-6 relative.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import tinygrad_norm as tn
from tinygrad_norm import _cpu
from tinygrad_norm._buffers import BufferPool

pytest.importorskip("numba", reason="the fused layer kernels are numba's (without it NumPy runs them: tested too)")

ROWS, WIDTH = 2048, 256  # 2 MiB float32 products: over the fused path's threshold (4 MiB in float64)
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-12)}
DTYPES = [pytest.param(np.float32, id="float32"), pytest.param(np.float64, id="float64")]


def _twins(dtype, bias: bool = True, hidden: int = WIDTH, d_in: int = 16):
    tn.manual_seed(0)
    ours = tn.nn.Sequential(tn.nn.Linear(d_in, hidden, bias=bias), tn.nn.ReLU(),
                            tn.nn.Linear(hidden, hidden, bias=bias), tn.nn.ReLU(), tn.nn.Linear(hidden, 1))
    ref = torch.nn.Sequential(torch.nn.Linear(d_in, hidden, bias=bias), torch.nn.ReLU(),
                              torch.nn.Linear(hidden, hidden, bias=bias), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))
    with torch.no_grad():
        for (_, p), (_, q) in zip(ours.named_parameters(), ref.named_parameters()):
            q.copy_(torch.from_numpy(p.numpy().astype(np.float64)))
    if dtype == np.float64:
        ours.double()
        ref.double()
    else:
        ref.float()
    return ours, ref


def _step_both(ours, ref, x, y, dtype):
    out = ours(tn.Tensor(x, dtype=dtype))
    loss = tn.nn.functional.mse_loss(out, tn.Tensor(y, dtype=dtype))
    loss.backward()
    rout = ref(torch.from_numpy(x))
    rloss = torch.nn.functional.mse_loss(rout, torch.from_numpy(y))
    rloss.backward()
    return out, rout, loss, rloss


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_a_big_mlp_matches_torch_forward_and_every_gradient(dtype, bias):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((ROWS, 16)).astype(dtype)
    y = rng.standard_normal((ROWS, 1)).astype(dtype)
    ours, ref = _twins(dtype, bias)
    out, rout, loss, rloss = _step_both(ours, ref, x, y, dtype)
    np.testing.assert_allclose(out.numpy(), rout.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(loss.item(), rloss.item(), rtol=TOL[dtype]["rtol"])
    for (name, p), (_, q) in zip(ours.named_parameters(), ref.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), err_msg=name, **TOL[dtype])


def test_the_fused_path_runs_for_big_layers_and_not_for_the_example(monkeypatch):
    """The kernels are really used from the threshold on, and the example's 256 x 64 layer never reaches them."""
    calls = []
    real = _cpu._numba_kernel

    def spy(name="affine_rows"):
        calls.append(name)
        return real(name)

    monkeypatch.setattr(_cpu, "_numba_kernel", spy)
    ours, ref = _twins(np.float32, hidden=64, d_in=8)
    rng = np.random.default_rng(0)
    _step_both(ours, ref, rng.standard_normal((256, 8)).astype(np.float32),
               rng.standard_normal((256, 1)).astype(np.float32), np.float32)
    assert calls == []
    ours, ref = _twins(np.float32)
    _step_both(ours, ref, rng.standard_normal((ROWS, 16)).astype(np.float32),
               rng.standard_normal((ROWS, 1)).astype(np.float32), np.float32)
    assert {"bias_relu_rows", "relu_grad_rows"} <= set(calls)


@pytest.fixture(params=["one_thread", "row_ranges"])
def step_threads(request, monkeypatch):
    """A step's passes run on the calling thread (``_cpu._STEP_THREADS``); the kernels also take row ranges on
    several threads (each with its own partial column sums), which this runs too."""
    if request.param == "row_ranges":
        monkeypatch.setattr(_cpu, "_STEP_THREADS", 2)
        monkeypatch.setattr(_cpu, "_PARALLEL_MIN_BYTES", 1)
        monkeypatch.setattr(_cpu, "_threads", lambda: 2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_fused_kernels_equal_the_numpy_path_and_keep_nan(dtype, step_threads):
    """Bit for bit for the ReLU gradient (the same select), NaN and inf kept as NumPy's maximum keeps them; the
    float64 column sums within rounding of NumPy's."""
    be = tn.get_backend("cpu")
    rng = np.random.default_rng(2)
    a = rng.standard_normal((ROWS, WIDTH)).astype(dtype)
    a[3, 5], a[7, 1], a[9, 2] = np.nan, np.inf, -np.inf
    b = rng.standard_normal(WIDTH).astype(dtype)
    fused = be.bias_relu(a.copy(), b, True)
    np.testing.assert_array_equal(fused, np.maximum(a + b, 0))
    np.testing.assert_array_equal(be.bias_relu(a.copy(), None, True), np.maximum(a, 0))
    np.testing.assert_array_equal(be.bias_relu(a.copy(), b, False), a + b)
    g = rng.standard_normal((ROWS, WIDTH)).astype(dtype)
    g[0, 0] = np.nan
    gx, gb = be.relu_backward_sums(g, fused)
    expected = (fused > 0).astype(dtype) * g
    np.testing.assert_array_equal(gx, expected)
    # another summation order: within n * eps of the sum of |terms| (float64), or float32's rounding of it
    magnitude = np.abs(expected.astype(np.float64)).sum(axis=0)
    eps = 1e-6 if dtype == np.float32 else ROWS * np.finfo(np.float64).eps
    exact = expected.astype(np.float64).sum(axis=0)
    np.testing.assert_array_equal(np.isnan(gb), np.isnan(exact))  # the NaN gradient's column
    ok = ~np.isnan(exact)
    assert np.all(np.abs(gb[ok] - exact[ok]) <= eps * magnitude[ok])
    np.testing.assert_array_equal(be.relu_backward(g, fused), expected)


def test_without_numba_the_big_path_is_numpys(monkeypatch):
    monkeypatch.setattr(_cpu, "USE_NUMBA", False)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((ROWS, 16)).astype(np.float32)
    y = rng.standard_normal((ROWS, 1)).astype(np.float32)
    ours, ref = _twins(np.float32)
    out, rout, _, _ = _step_both(ours, ref, x, y, np.float32)
    np.testing.assert_allclose(out.numpy(), rout.detach().numpy(), **TOL[np.float32])
    for p, q in zip(ours.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), **TOL[np.float32])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts page faults with getrusage (Linux)")
def test_a_256_wide_model_makes_no_page_faults_after_warm_up():
    """At 256 x 256 (256 KiB activations) glibc served every product from a fresh mmap: ~440 page faults a step,
    half of its time, in a fresh process (a process that had freed big arrays before raised glibc's threshold and
    hid it). Run in a fresh process for that reason. 20 steps may fault a few times for Python's own objects."""
    script = textwrap.dedent("""
        import resource
        import numpy as np
        import tinygrad_norm as tn
        tn.manual_seed(0)
        model = tn.nn.Sequential(tn.nn.Linear(8, 256), tn.nn.ReLU(), tn.nn.Linear(256, 256), tn.nn.ReLU(),
                                 tn.nn.Linear(256, 1))
        opt = tn.optim.Adam(model.parameters(), lr=1e-3)
        rng = np.random.default_rng(0)
        x = tn.Tensor(rng.standard_normal((256, 8)).astype(np.float32))
        y = tn.Tensor(rng.standard_normal((256, 1)).astype(np.float32))
        def step():
            opt.zero_grad()
            tn.nn.functional.mse_loss(model(x), y).backward()
            opt.step()
        for _ in range(5):
            step()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(20):
            step()
        print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) < 20  # (before pooling these sizes: ~8800)


def test_the_examples_model_trains_without_importing_numba():
    """The example's 8 -> 64 -> ReLU -> 1 at batch 256 (641 parameters, 64 KiB activations) stays below every
    fused path's threshold: a small script never pays numba's import (~0.3 s) for a few microseconds a step."""
    script = textwrap.dedent("""
        import sys
        import numpy as np
        import tinygrad_norm as tn
        model = tn.nn.Sequential(tn.nn.Linear(8, 64), tn.nn.ReLU(), tn.nn.Linear(64, 1))
        opt = tn.optim.Adam(model.parameters(), lr=1e-3)
        x = tn.Tensor(np.ones((256, 8), np.float32))
        y = tn.Tensor(np.ones((256, 1), np.float32))
        for _ in range(3):
            opt.zero_grad()
            tn.nn.functional.mse_loss(model(x), y).backward()
            opt.step()
        print("numba" in sys.modules, "tinygrad_norm._numba" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


def test_an_array_still_in_use_is_never_handed_out_again():
    """Activations the user keeps (a Tensor, its .numpy(), a view of it) survive later steps unchanged; the
    pool's memory stays bounded over many steps."""
    rng = np.random.default_rng(4)
    x = tn.Tensor(rng.standard_normal((ROWS, 16)).astype(np.float32))
    y = tn.Tensor(rng.standard_normal((ROWS, 1)).astype(np.float32))
    ours, _ = _twins(np.float32)
    hidden = ours[:2](x)  # Linear + ReLU: a pooled product
    kept_tensor, kept_view = hidden, hidden.numpy()[::3, 1:]
    snapshot, view_snapshot = hidden.numpy().copy(), kept_view.copy()
    del hidden
    opt = tn.optim.Adam(ours.parameters(), lr=1e-3)
    be = tn.get_backend("cpu")
    held = []
    for _ in range(12):
        opt.zero_grad()
        tn.nn.functional.mse_loss(ours(x), y).backward()
        opt.step()
        held.append(be.buffers.held_bytes())
    np.testing.assert_array_equal(kept_tensor.numpy(), snapshot)
    np.testing.assert_array_equal(kept_view, view_snapshot)
    assert held[-1] == held[3], "the pool keeps growing: freed buffers are not reused"


def test_buffer_pool_reuses_only_free_buffers_of_the_same_size():
    pool = BufferPool()
    a = pool.empty((512, 1024), np.float32)
    b = pool.empty((512, 1024), np.float32)
    assert a.base is not b.base and a.flags.c_contiguous and a.ctypes.data % 64 == 0
    base = id(a.base)  # (an id, not a reference: a reference would keep the buffer in use)
    view = a.T[:3]
    del a
    c = pool.empty((512, 1024), np.float32)
    assert id(c.base) != base  # a view of it is alive
    del view, c
    assert id(pool.empty((1024, 512), np.float32).base) == base  # same bytes, other shape: reused
    assert id(pool.empty((128, 1024), np.float64).base) != base  # another size (1 MiB)
    assert pool.empty((4, 4), np.float32).base is None  # small: plain np.empty
    pool.clear()
    assert pool.held_bytes() == 0


def test_empty_cache_gives_the_pools_memory_back_and_keeps_arrays_in_use_valid():
    be = tn.get_backend("cpu")
    kept = be.matmul(np.ones((ROWS, 16), np.float32), np.ones((16, WIDTH), np.float32))
    assert be.buffers.held_bytes() > 0
    tn.empty_cache()
    assert be.buffers.held_bytes() == 0
    np.testing.assert_array_equal(kept, 16.0)


ADAM_SETTINGS = [
    dict(), dict(weight_decay=0.1), dict(weight_decay=0.1, decoupled=True), dict(max_exp_avg_sq=True),
    dict(maximize=True, weight_decay=0.05), dict(beta1=0.3), dict(beta1=0.0, beta2=0.5, eps=1e-3),
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (the NumPy path's inf - inf)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("settings", ADAM_SETTINGS, ids=lambda s: ",".join(s) or "defaults")
def test_the_one_pass_adam_of_big_buckets_gives_the_numpy_paths_bits(dtype, settings, monkeypatch, step_threads):
    """Over many steps (bias corrections changing), NaN and inf gradients included."""
    be = tn.get_backend("cpu")
    rng = np.random.default_rng(5)
    n = _cpu._FUSED_ADAM_MIN_SIZE + 17
    kw = dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, maximize=False, decoupled=False)
    kw.update({k: v for k, v in settings.items() if k != "max_exp_avg_sq"})
    runs = []
    for fused in (True, False):
        if not fused:
            monkeypatch.setattr(_cpu, "_FUSED_ADAM_MIN_SIZE", n + 1)
        param = rng.standard_normal(n).astype(dtype) if not runs else runs[0][0].copy()
        arrays = [param, np.empty(n, dtype), np.zeros(n, dtype), np.zeros(n, dtype)]
        vmax = np.zeros(n, dtype) if "max_exp_avg_sq" in settings else None
        if not runs:
            start = param.copy()
        else:
            arrays[0][:] = start
        run = be.adam_kernel(*arrays, max_exp_avg_sq=vmax, **kw)
        assert (be._fused_adam(*arrays, vmax, **kw) is not None) == fused
        grads = np.random.default_rng(6)
        for step in range(1, 8):
            arrays[1][:] = grads.standard_normal(n).astype(dtype)
            arrays[1][:3] = (np.nan, np.inf, -np.inf) if step == 4 else arrays[1][:3]
            run(step)
        runs.append((start, arrays, vmax))
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)
    if runs[0][2] is not None:
        np.testing.assert_array_equal(runs[0][2], runs[1][2])


# ---- the last layers as one node: Linear -> ReLU -> Linear (function.LinearReLULinear) --------------------------
def _head_twins(dtype, d_in: int, hidden: int, d_out: int = 1):
    tn.manual_seed(0)
    ours = tn.nn.Sequential(tn.nn.Linear(d_in, hidden), tn.nn.ReLU(), tn.nn.Linear(hidden, d_out))
    ref = torch.nn.Sequential(torch.nn.Linear(d_in, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, d_out))
    with torch.no_grad():
        for p, q in zip(ours.parameters(), ref.parameters()):
            q.copy_(torch.from_numpy(p.numpy().astype(np.float64)))
    if dtype == np.float64:
        ours.double()
        ref.double()
    return ours, ref


HEAD_SHAPES = [pytest.param(256, 64, 1, id="small_256x64"), pytest.param(ROWS, WIDTH, 1, id="big_fused"),
               pytest.param(ROWS, WIDTH, 3, id="big_three_outputs")]
FROZEN = [pytest.param((), id="all_train"), pytest.param((0, 1), id="first_layer_frozen"),
          pytest.param((2, 3), id="last_layer_frozen"), pytest.param((0, 1, 2, 3), id="only_the_input")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows,hidden,d_out", HEAD_SHAPES)
@pytest.mark.parametrize("frozen", FROZEN)
def test_the_last_layers_as_one_node_match_torch_for_every_input(dtype, rows, hidden, d_out, frozen, step_threads):
    """Forward, the input's gradient and every trainable parameter's, whichever of them need one."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((rows, 16)).astype(dtype)
    y = rng.standard_normal((rows, d_out)).astype(dtype)
    ours, ref = _head_twins(dtype, 16, hidden, d_out)
    for i, (p, q) in enumerate(zip(ours.parameters(), ref.parameters())):
        if i in frozen:
            p.requires_grad_(False)
            q.requires_grad_(False)
    tx, rx = tn.Tensor(x, dtype=dtype, requires_grad=True), torch.from_numpy(x).requires_grad_(True)
    out, rout = ours(tx), ref(rx)
    np.testing.assert_allclose(out.numpy(), rout.detach().numpy(), **TOL[dtype])
    tn.nn.functional.mse_loss(out, tn.Tensor(y, dtype=dtype)).backward()
    torch.nn.functional.mse_loss(rout, torch.from_numpy(y)).backward()
    np.testing.assert_allclose(tx.grad.numpy(), rx.grad.numpy(), **TOL[dtype])
    for i, (p, q) in enumerate(zip(ours.parameters(), ref.parameters())):
        if i in frozen:
            assert p.grad is None
        else:
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), err_msg=f"parameter {i}", **TOL[dtype])


@pytest.mark.parametrize("rows,hidden", [pytest.param(256, 64, id="small"), pytest.param(ROWS, WIDTH, id="big")])
def test_the_one_node_gives_the_two_nodes_bits(rows, hidden):
    """Against the same layers run as a LinearReLU node and a Linear node: the same bits everywhere, but the last
    weight's gradient on the fused path (summed in float64 there, by BLAS in float32 apart: within rounding)."""
    from tinygrad_norm.function import LinearReLULinear

    rng = np.random.default_rng(7)
    x = tn.Tensor(rng.standard_normal((rows, 16)).astype(np.float32))
    y = tn.Tensor(rng.standard_normal((rows, 1)).astype(np.float32))
    grads = []
    for fused in (True, False):
        model, _ = _head_twins(np.float32, 16, hidden)
        out = model(x) if fused else model[2](model[0].forward_relu(x))
        assert isinstance(out._ctx, LinearReLULinear) == fused
        tn.nn.functional.mse_loss(out, y).backward()
        grads.append([out.numpy()] + [p.grad.numpy() for p in model.parameters()])
    for i, (a, b) in enumerate(zip(*grads)):
        if i == 3 and rows == ROWS:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
        else:
            np.testing.assert_array_equal(a, b, err_msg=f"array {i}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_fused_head_backward_equals_numpys_and_keeps_nan(dtype, step_threads):
    be = tn.get_backend("cpu")
    rng = np.random.default_rng(8)
    hidden = np.maximum(rng.standard_normal((ROWS, WIDTH)), 0).astype(dtype)
    hidden[4, 6] = np.nan
    hidden[5, 7] = np.inf
    g = rng.standard_normal((ROWS, 1)).astype(dtype)
    g[9, 0] = np.inf  # inf * w where hidden > 0, NaN (inf * 0) where not: what the mask's product gives
    w = rng.standard_normal((1, WIDTH)).astype(dtype)
    with np.errstate(invalid="ignore"):
        gx, gb, gw = be.head_backward(g, hidden, w)
        expected = (hidden > 0).astype(dtype) * (g * w)
        np.testing.assert_array_equal(gx, expected)
        for got, terms in ((gb, expected), (gw[0], g * hidden)):
            exact = terms.astype(np.float64).sum(axis=0)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(exact))
            ok = np.isfinite(exact)
            eps = 1e-6 if dtype == np.float32 else ROWS * np.finfo(np.float64).eps
            magnitude = np.abs(terms.astype(np.float64)).sum(axis=0)
            assert np.all(np.abs(got[ok] - exact[ok]) <= eps * magnitude[ok])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_relu_of_small_arrays_gives_np_maximums_bits(dtype):
    """Small arrays take ReLU against a cached array of zeros (NumPy's maximum against a scalar is ~4x
    slower): the same values, NaN, infinities and -0.0 included, in place or not, and the cache stays unwritten."""
    be = tn.get_backend("cpu")
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((256, 64)) * 10).astype(dtype)
    if np.dtype(dtype).kind == "f":
        x[0, :4] = [np.nan, -0.0, np.inf, -np.inf]
    expected = np.maximum(x, dtype(0))
    got = be.relu(x)
    assert got is not x
    np.testing.assert_array_equal(got.view(np.uint8), expected.view(np.uint8))  # bit for bit
    y = x.copy()
    assert be.relu(y, inplace=True) is y
    np.testing.assert_array_equal(y.view(np.uint8), expected.view(np.uint8))
    np.testing.assert_array_equal(be.relu(x[:, ::2]), expected[:, ::2])  # a strided view
    np.testing.assert_array_equal(be.relu(x), expected)  # the cached zeros were not written to
