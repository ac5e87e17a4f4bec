"""The CPU affine apply against float64 NumPy, on both of its paths.

``NumpyBackend.affine_apply`` runs either the fused numba kernel (when numba is installed) or
blocked pure-NumPy passes; every test here runs on each path (the ``path`` fixture flips
``_cpu.USE_NUMBA``). Block size, the parallel threshold and the numba size threshold are shrunk so
that small arrays still take many blocks, two threads (or one, calling the kernel directly), widened
views with leftover rows, and the fused kernel with and without its prefetching.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_norm import _cpu
from tinygrad_norm.normalize import Normalizer, standardize

try:
    import numba  # noqa: F401
    HAS_NUMBA = True
except ImportError:
    HAS_NUMBA = False

needs_numba = pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")
PATHS = [pytest.param("numpy", id="numpy"), pytest.param("numba", id="numba", marks=needs_numba),
         pytest.param("numba_prefetch", id="numba_prefetch", marks=needs_numba)]


@pytest.fixture(params=PATHS)
def path(request, monkeypatch) -> str:
    monkeypatch.setattr(_cpu, "USE_NUMBA", request.param.startswith("numba"))
    # the kernel prefetches rows ahead only for data larger than the cache: both ways on small arrays here
    monkeypatch.setattr(_cpu, "_PREFETCH_MIN_BYTES", 1 if request.param == "numba_prefetch" else 1 << 40)
    monkeypatch.setattr(_cpu, "_NUMBA_MIN_SIZE", 1)
    monkeypatch.setattr(_cpu, "_APPLY_BLOCK_BYTES", 4096)  # many blocks, a partial last one
    if request.param != "numba_prefetch":  # (that one calls the kernel directly, on one thread)
        monkeypatch.setattr(_cpu, "_PARALLEL_MIN_BYTES", 1)  # two row ranges, one per thread
    return request.param


def stats(d: int, rng: np.random.Generator):
    shift = rng.uniform(-50, 50, d) + 1e3 * (np.arange(d) % 3 == 0)  # some large-offset columns
    scale = rng.uniform(0.01, 20, d)
    offset = rng.uniform(-1, 1, d)
    return shift, scale, offset


def reference(x, shift, scale, offset, inverse):
    """float64 result from the statistics as the kernel sees them (rounded to x's dtype), and the
    error bound of the three rounded float ops: a few ulp of each intermediate's magnitude."""
    cast = lambda v: None if v is None else v.astype(x.dtype).astype(np.float64)  # noqa: E731
    sh, sc, off = cast(shift), cast(scale), cast(offset)
    x64 = x.astype(np.float64)
    if inverse:
        core = (x64 - (0 if off is None else off)) / sc
        ref, big = core + sh, np.abs(core) + np.abs(sh)
    else:
        core = (x64 - sh) * sc
        ref = core if off is None else core + off
        big = np.abs(core) + (0 if off is None else np.abs(off))
    eps = np.finfo(x.dtype).eps
    return ref, 3 * eps * big + np.finfo(x.dtype).tiny


def check(got, x, shift, scale, offset, inverse):
    ref, tol = reference(x, shift, scale, offset, inverse)
    err = np.abs(got.astype(np.float64) - ref)
    assert np.all(err <= tol), f"max error {err.max():.3g}, {np.sum(err > tol)} elements over the bound"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", [1, 3, 8, 64, 300, 512])
@pytest.mark.parametrize("inverse", [False, True], ids=["forward", "inverse"])
@pytest.mark.parametrize("with_offset", [False, True], ids=["no_offset", "offset"])
def test_apply_matches_float64(path, dtype, d, inverse, with_offset):
    rng = np.random.default_rng(d)
    n = 1031  # prime: not a multiple of the widening factor or of the block rows
    shift, scale, offset = stats(d, rng)
    offset = offset if with_offset else None
    x = (rng.standard_normal((n, d)) * 30 + shift).astype(dtype)
    b = _cpu.NumpyBackend()
    fresh = b.affine_apply(x, shift, scale, offset, inverse=inverse)
    assert fresh.dtype == dtype and fresh.shape == x.shape
    check(fresh, x, shift, scale, offset, inverse)
    out = np.full_like(x, np.nan)
    assert b.affine_apply(x, shift, scale, offset, out=out, inverse=inverse) is out
    np.testing.assert_array_equal(out, fresh)
    inplace = x.copy()
    assert b.affine_apply(inplace, shift, scale, offset, out=inplace, inverse=inverse) is inplace
    np.testing.assert_array_equal(inplace, fresh)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["strided_x", "fortran_x", "strided_out", "strided_inplace"])
@pytest.mark.parametrize("inverse", [False, True], ids=["forward", "inverse"])
def test_non_contiguous_input_and_output(path, dtype, layout, inverse):
    rng = np.random.default_rng(7)
    n, d = 777, 37
    shift, scale, offset = stats(d, rng)
    base = (rng.standard_normal((n, 2 * d)) * 30 + np.tile(shift, 2)).astype(dtype)
    b = _cpu.NumpyBackend()
    if layout == "strided_x":
        x, out = base[:, ::2], None
    elif layout == "fortran_x":
        x, out = np.asfortranarray(base[:, :d]), None
    elif layout == "strided_out":
        x, out = np.ascontiguousarray(base[:, ::2]), np.zeros((n, 2 * d), dtype)[:, 1::2]
    else:
        x = out = base[:, 1::2]
    expected_x = x.copy()
    got = b.affine_apply(x, shift, scale, offset, out=out, inverse=inverse)
    if out is not None:
        assert got is out
    check(got, expected_x, shift, scale, offset, inverse)


@needs_numba
def test_numba_and_numpy_paths_round_identically(monkeypatch):
    """Same float ops in the same order, no FMA contraction: the fused kernel is bit-identical."""
    monkeypatch.setattr(_cpu, "_PARALLEL_MIN_BYTES", 1)
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        for d in (3, 8, 300):
            shift, scale, offset = stats(d, rng)
            x = (rng.standard_normal((40_003, d)) * 30 + shift).astype(dtype)
            for inverse in (False, True):
                for off in (None, offset):
                    res = []
                    for use in (False, True):
                        monkeypatch.setattr(_cpu, "USE_NUMBA", use)
                        res.append(_cpu.NumpyBackend().affine_apply(x, shift, scale, off, inverse=inverse))
                    np.testing.assert_array_equal(res[0], res[1], err_msg=f"{dtype} d={d} {inverse} {off is None}")


@needs_numba
def test_fused_kernel_is_used_when_numba_is_installed(monkeypatch):
    monkeypatch.setattr(_cpu, "USE_NUMBA", True)
    assert _cpu._numba_kernel() is not None
    calls = []
    kernel = _cpu._numba_kernel()
    monkeypatch.setitem(_cpu._NUMBA, "affine_rows", lambda *a: calls.append(a[5:7]) or kernel(*a))
    x = np.ones((1 << 16, 8), np.float32)
    np.testing.assert_array_equal(standardize(x, np.zeros(8), np.full(8, 2.0)), 0.5)
    assert calls  # and it covered every row of the widened view
    assert sum(hi - lo for lo, hi in calls) == x.size // 256
    monkeypatch.setattr(_cpu, "USE_NUMBA", False)
    calls.clear()
    standardize(x, np.zeros(8), np.full(8, 2.0))
    assert not calls


def test_float16_is_computed_in_float32_and_rounded_once(path):
    rng = np.random.default_rng(5)
    d = 8
    shift, scale, offset = stats(d, rng)
    x = (rng.standard_normal((5003, d)) * 30 + shift).astype(np.float16)
    b = _cpu.NumpyBackend()
    for inverse in (False, True):
        sh, sc, off = (v.astype(np.float32) for v in (shift, scale, offset))
        x32 = x.astype(np.float32)
        want = ((x32 - off) / sc + sh) if inverse else ((x32 - sh) * sc + off)
        got = b.affine_apply(x, shift, scale, offset, inverse=inverse)
        assert got.dtype == np.float16
        np.testing.assert_array_equal(got, want.astype(np.float16))
        inplace = x.copy()
        b.affine_apply(inplace, shift, scale, offset, out=inplace, inverse=inverse)
        np.testing.assert_array_equal(inplace, got)


def test_partially_overlapping_out_reads_the_input_first(path):
    rng = np.random.default_rng(6)
    d = 5
    shift, scale, _ = stats(d, rng)
    for lag in (1, -1):
        buf = rng.standard_normal((4001, d)).astype(np.float32)
        x, out = (buf[1:], buf[:-1]) if lag == 1 else (buf[:-1], buf[1:])
        expected_x = x.copy()
        _cpu.NumpyBackend().affine_apply(x, shift, scale, None, out=out)
        check(out, expected_x, shift, scale, None, False)


def test_bad_shapes_raise_instead_of_reading_out_of_bounds(path):
    b = _cpu.NumpyBackend()
    x = np.ones((100, 4), np.float32)
    with pytest.raises(ValueError, match="per column"):
        b.affine_apply(x, np.zeros(3), np.ones(4), None)
    with pytest.raises(ValueError, match="per column"):
        b.affine_apply(x, np.zeros(4), np.ones(4), np.zeros(5))
    with pytest.raises(ValueError, match="out has shape"):
        b.affine_apply(x, np.zeros(4), np.ones(4), None, out=np.empty((99, 4), np.float32))


def test_normalizer_and_standardize_use_the_apply(path):
    """The public entry points on both paths: transform / inverse_transform / standardize(out=)."""
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((3001, 4)) * [1.0, 1000.0, 0.01, 50.0] + [0.0, -500.0, 3.0, 1e4]).astype(np.float32)
    x64 = x.astype(np.float64)
    m, s = x64.mean(0), x64.std(0, ddof=1)
    n = Normalizer("standard").fit(x)
    y = n.transform(x)
    check(y, x, n.shift, n.scale, None, False)
    check(n.inverse_transform(y), y, n.shift, n.scale, None, True)
    mm = Normalizer("minmax", feature_range=(-1, 1)).fit(x)
    check(mm.transform(x), x, mm.shift, mm.scale, mm.offset, False)
    buf = x.copy()
    assert standardize(buf, m, s, out=buf) is buf
    check(buf, x, m, 1.0 / s, None, False)


def test_a_kernel_numba_cannot_compile_falls_back_to_numpy(monkeypatch):
    numba_mod = pytest.importorskip("tinygrad_norm._numba", reason="numba is not installed")
    from tinygrad_norm import _cpu

    def broken(*args):
        raise numba_mod.CompileError("simulated: this numba cannot build the kernel")

    monkeypatch.setattr(_cpu, "USE_NUMBA", True)
    monkeypatch.setitem(_cpu._NUMBA, "affine_rows", broken)
    monkeypatch.setattr(_cpu, "_NUMBA_MIN_SIZE", 1)
    monkeypatch.setattr(_cpu, "_SMALL_APPLY", 0)
    x = np.random.default_rng(0).standard_normal((300, 5)).astype(np.float32)
    shift, scale = x.mean(0).astype(np.float64), 1 / x.std(0).astype(np.float64)
    with pytest.warns(RuntimeWarning, match="could not compile"):
        out = _cpu.NumpyBackend().affine_apply(x, shift, scale, None)
    np.testing.assert_allclose(out, (x.astype(np.float64) - shift) * scale, rtol=1e-5, atol=1e-6)
    assert _cpu._NUMBA["affine_rows"] is False


def test_a_read_only_or_non_array_out_is_refused_before_the_kernels(path):
    """A read-only out= used to reach the fused kernel, whose TypingError was taken for numba failing to
    compile: the kernel was switched off for the rest of the process. Bad arguments are errors of their own."""
    import warnings

    from tinygrad_norm import errors

    b = _cpu.NumpyBackend()
    x = np.ones((5000, 4), np.float32)  # above _SMALL_APPLY: the blocked path, the fused kernel on numba paths
    frozen = np.zeros_like(x)
    frozen.flags.writeable = False
    enabled = dict(_cpu._NUMBA)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "numba could not compile" warning
        with pytest.raises(errors.ArgumentError, match="out is read-only"):
            b.affine_apply(x, np.zeros(4), np.ones(4), None, out=frozen)
        with pytest.raises(errors.ArgumentTypeError, match="must be a NumPy array"):
            b.affine_apply(x, np.zeros(4), np.ones(4), None, out=[0.0] * 400)
    assert not frozen.any()
    assert all(_cpu._NUMBA.get(k) is not False for k, v in enabled.items() if v is not False)
    if path.startswith("numba"):  # and the kernel is still on, and runs
        np.testing.assert_array_equal(b.affine_apply(x, np.zeros(4), np.full(4, 2.0), None), 2.0)
        assert _cpu._NUMBA["affine_rows"] not in (None, False)
