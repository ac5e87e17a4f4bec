"""Standardize fit and apply: ours vs the peers as users write them, and vs the copy bandwidth.

Fit peers: naive NumPy (``X.mean(0)``, ``X.std(0, ddof=1)``), torch ``std_mean``, scikit-learn's
StandardScaler (if installed). Apply peers: naive NumPy ``(X - m) / s``, torch ``(X - m) / s``, and
torch ``addcmul`` on 2 threads, the expert ceiling, both into ``out=`` and allocating its result.
``np.copyto`` (one read + one write) is the bandwidth reference, on one thread and on two (each
copying half the rows): torch's ``out=`` apply beats the one-thread copy, so the two-thread copy is
the limit. Ours runs with numba when it is installed; ``tinygrad_norm_out_numpy`` is the pure-NumPy
fallback.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tinygrad_norm import _cpu
from tinygrad_norm.normalize import Normalizer, standardize

from conftest import torch

SHAPES = [(1_000_000, 8), (1_000_000, 64), (100_000, 512), (16_640, 8)]
IDS = [f"{n}x{d}" for n, d in SHAPES]


@functools.lru_cache(maxsize=1)
def data(n: int, d: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.standard_normal((n, d), dtype=np.float32) * rng.uniform(0.1, 1000, d).astype(np.float32)
            + rng.uniform(-100, 100, d).astype(np.float32))


FIT_ENGINES = ["tinygrad_norm", "numpy_naive", "torch_std_mean", "sklearn"]
APPLY_ENGINES = ["tinygrad_norm", "tinygrad_norm_out", "tinygrad_norm_out_numpy", "numpy_naive", "torch_naive",
                 "torch_addcmul_out", "torch_addcmul", "np.copyto", "np.copyto 2 threads"]


@functools.lru_cache(maxsize=1)
def copy_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="bench-copy")


def copy_2_threads(out: np.ndarray, x: np.ndarray) -> None:
    """Two threads each copy half the rows: the two-core bandwidth limit."""
    h = x.shape[0] // 2
    list(copy_pool().map(np.copyto, (out[:h], out[h:]), (x[:h], x[h:])))


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
@pytest.mark.parametrize("engine", FIT_ENGINES)
def test_fit(benchmark, tag, engine, shape):
    x = data(*shape)
    benchmark.group = f"standardize fit {shape[0]}x{shape[1]} float32"
    tag(engine, x.nbytes, shape=f"{shape[0]}x{shape[1]}")
    if engine == "tinygrad_norm":
        fn = lambda: Normalizer("standard").fit(x).std  # noqa: E731
    elif engine == "numpy_naive":
        fn = lambda: (x.mean(0), x.std(0, ddof=1))  # noqa: E731
    elif engine == "torch_std_mean":
        if torch is None:
            pytest.skip("torch not installed")
        t = torch.from_numpy(x)
        fn = lambda: torch.std_mean(t, dim=0)  # noqa: E731
    else:
        sk = pytest.importorskip("sklearn.preprocessing", reason="scikit-learn not installed (the 'bench' extra)")
        fn = lambda: sk.StandardScaler().fit(x)  # noqa: E731
    fn()  # a first call outside the timing, for every engine (numba's compile or cache load, torch's set-up)
    benchmark(fn)


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
@pytest.mark.parametrize("engine", APPLY_ENGINES)
def test_apply(benchmark, tag, engine, shape):
    x = data(*shape)
    norm = Normalizer("standard").fit(x)
    m, s = norm.mean.astype(np.float32), norm.std.astype(np.float32)
    benchmark.group = f"standardize apply {shape[0]}x{shape[1]} float32"
    tag(engine, 2 * x.nbytes, shape=f"{shape[0]}x{shape[1]}")  # one read + one write
    # out= buffers are touched first: with ~5 rounds of a 20 ms apply, the first round's page faults
    # (up to 90 ms at 1M x 64) would otherwise move the median; the fresh-output engines keep them
    use_numba = _cpu.USE_NUMBA
    if engine == "tinygrad_norm":
        fn = lambda: norm.transform(x)  # noqa: E731
    elif engine in ("tinygrad_norm_out", "tinygrad_norm_out_numpy"):
        out = x.copy()
        _cpu.USE_NUMBA = use_numba and engine == "tinygrad_norm_out"
        fn = lambda: standardize(x, norm.mean, norm.std, out=out)  # noqa: E731
    elif engine == "numpy_naive":
        fn = lambda: (x - m) / s  # noqa: E731
    elif engine == "np.copyto":
        out = x.copy()
        fn = lambda: np.copyto(out, x)  # noqa: E731
    elif engine == "np.copyto 2 threads":
        out = x.copy()
        fn = lambda: copy_2_threads(out, x)  # noqa: E731
    else:
        if torch is None:
            pytest.skip("torch not installed")
        t, tm, ts = torch.from_numpy(x), torch.from_numpy(m), torch.from_numpy(s)
        inv = 1 / ts
        bias = -tm * inv
        if engine == "torch_naive":
            fn = lambda: (t - tm) / ts  # noqa: E731
        elif engine == "torch_addcmul":  # allocates its result, like our transform(x)
            fn = lambda: torch.addcmul(bias, t, inv)  # noqa: E731
        else:
            tout = t.clone()
            fn = lambda: torch.addcmul(bias, t, inv, out=tout)  # noqa: E731
    # one call first for every engine: numba's compile (or its cache load) and torch's first-call set-up
    # must not be the call pytest-benchmark sizes the run from (it then runs only 5 rounds)
    try:
        fn()
        benchmark(fn)
    finally:
        _cpu.USE_NUMBA = use_numba

