"""The CPU column moments (the fit) on both of their paths, against a float64 two-pass reference.

``NumpyBackend.column_moments`` sums each block's deviations from a shift either with NumPy passes
over a float64 copy of the block or with the fused numba kernel (``_numba.shifted_sums``, when
numba is installed and the input is large). The ``path`` fixture forces one or the other and
shrinks the block size and the parallel threshold, so small arrays take many blocks on two threads.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_norm import _cpu

try:
    import numba  # noqa: F401
    HAS_NUMBA = True
except ImportError:
    HAS_NUMBA = False

PATHS = [pytest.param("numpy", id="numpy"),
         pytest.param("numba", id="numba", marks=pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed"))]


@pytest.fixture(params=PATHS)
def path(request, monkeypatch) -> str:
    monkeypatch.setattr(_cpu, "USE_NUMBA", request.param == "numba")
    monkeypatch.setattr(_cpu, "_NUMBA_FIT_MIN_SIZE", 1 if request.param == "numba" else 1 << 62)
    monkeypatch.setattr(_cpu, "_BLOCK_BYTES", 4096)  # many blocks, a partial last one
    monkeypatch.setattr(_cpu, "_PARALLEL_MIN_BYTES", 1)  # two row ranges, one per thread
    return request.param


def reference(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=0)
    return mean, ((x64 - mean) ** 2).sum(axis=0)


def data(n: int, d: int, dtype, rng) -> np.ndarray:
    """Columns of very different scales, some far from zero (where a sum of squares without a shift
    would cancel catastrophically)."""
    scale = 10.0 ** rng.uniform(-3, 3, d)
    offset = np.where(np.arange(d) % 3 == 0, 1e4 * scale, 0.0)
    return (rng.standard_normal((n, d)) * scale + offset).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,d", [(1, 3), (2, 1), (1031, 1), (1031, 3), (1031, 8), (517, 300), (40, 512)])
def test_moments_match_a_float64_two_pass_reference(path, dtype, n, d):
    rng = np.random.default_rng(n * 1000 + d)
    x = data(n, d, dtype, rng)
    count, mean, m2 = _cpu.NumpyBackend().column_moments(x)
    ref_mean, ref_m2 = reference(x)
    assert count == n
    # a mean's error is relative to the values summed, not to the mean (which may be ~0)
    magnitude = np.abs(x.astype(np.float64)).max(axis=0)
    assert np.all(np.abs(mean - ref_mean) <= 1e-13 * magnitude), np.abs(mean - ref_mean) / magnitude
    np.testing.assert_allclose(m2, ref_m2, rtol=1e-10, atol=1e-300)


def test_a_first_row_far_from_the_rest_is_redone_with_the_block_mean(path):
    """The shift is each block's first row: an outlier there would make S2 - S1^2/n cancel; the block is
    summed again around its mean."""
    rng = np.random.default_rng(7)
    x = (1e6 + rng.standard_normal((1031, 4)) * 1e-2).astype(np.float64)
    x[::37] = 5e7  # a far first row in several blocks
    count, mean, m2 = _cpu.NumpyBackend().column_moments(x)
    ref_mean, ref_m2 = reference(x)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-14)
    np.testing.assert_allclose(m2, ref_m2, rtol=1e-9)


def test_constant_and_non_finite_columns(path):
    x = np.ones((1031, 3), np.float32) * np.float32(3.25)
    x[500, 1] = np.nan
    x[7, 2] = np.inf
    count, mean, m2 = _cpu.NumpyBackend().column_moments(x)
    assert mean[0] == 3.25 and m2[0] == 0.0  # exact for a constant column
    assert np.isnan(mean[1]) and not np.isfinite(m2[2])  # the caller reports these by column


@pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")
def test_both_paths_agree_to_the_last_digits_on_large_data(monkeypatch):
    rng = np.random.default_rng(1)
    x = data(200_000, 8, np.float32, rng)
    results = []
    for use in (False, True):
        monkeypatch.setattr(_cpu, "USE_NUMBA", use)
        results.append(_cpu.NumpyBackend().column_moments(x))
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-15)
    np.testing.assert_allclose(results[0][2], results[1][2], rtol=1e-12)


def test_a_kernel_numba_cannot_compile_falls_back_to_numpy(monkeypatch):
    numba_mod = pytest.importorskip("tinygrad_norm._numba", reason="numba is not installed")

    def broken(*args):
        raise numba_mod.CompileError("simulated: this numba cannot build the kernel")

    monkeypatch.setattr(_cpu, "USE_NUMBA", True)
    monkeypatch.setattr(_cpu, "_NUMBA_FIT_MIN_SIZE", 1)
    monkeypatch.setitem(_cpu._NUMBA, "shifted_sums", broken)
    x = np.random.default_rng(0).standard_normal((300, 5)).astype(np.float32)
    with pytest.warns(RuntimeWarning, match="could not compile the fused fit"):
        count, mean, m2 = _cpu.NumpyBackend().column_moments(x)
    ref_mean, ref_m2 = reference(x)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-12)
    np.testing.assert_allclose(m2, ref_m2, rtol=1e-10)
    assert _cpu._NUMBA["shifted_sums"] is False
