"""Fit of 10M x 8 float32 spread over Dask blocks: ours on a local 2-process cluster and on the threaded
scheduler, dask-ml's StandardScaler on both (when installed), and the in-memory fit, side by side.

The data is the case where float32 accumulation fails: every column has mean 1e3 and std 3, in 1M-row
blocks. Each benchmark's ``extra_info`` has its relative error of the mean and of the variance against
float64 (``rel_err_mean``, ``rel_err_var``: max over the columns of |estimate / exact - 1|), which
bench/report.py prints beside the times. On the cluster the blocks are made on the workers and kept
there, so the fit moves only summaries.

Run: ``pytest bench/test_dask.py --benchmark-only --benchmark-json=bench/dask.json`` then
``python bench/report.py bench/dask.json``.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from tinygrad_norm.normalize import Normalizer

da = pytest.importorskip("dask.array", reason="dask is not installed (pip install -e '.[dask]')")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed (pip install -e '.[dask]')")

ROWS, COLS, CHUNK = 10_000_000, 8, 1_000_000
MEAN, STD = 1e3, 3.0
GROUP = f"dask fit {ROWS // 1_000_000}M x {COLS} float32 (mean {MEAN:g}, std {STD:g}), {CHUNK // 1_000_000}M-row blocks"
ENGINES = ["tinygrad_norm LocalCluster", "tinygrad_norm threads", "tinygrad_norm in-memory",
           "dask-ml LocalCluster", "dask-ml threads"]


def _block(i: int) -> np.ndarray:
    rng = np.random.default_rng([3, i])
    return MEAN + STD * rng.standard_normal((CHUNK, COLS), dtype=np.float32)


@functools.lru_cache(maxsize=1)
def table() -> np.ndarray:
    return np.concatenate([_block(i) for i in range(ROWS // CHUNK)])


@functools.lru_cache(maxsize=1)
def exact() -> tuple[np.ndarray, np.ndarray]:
    """float64 mean and variance (ddof 0), summed pairwise over contiguous columns."""
    columns = table().T.astype(np.float64)
    mean = columns.sum(1) / ROWS
    return mean, ((columns - mean[:, None]) ** 2).sum(1) / ROWS


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as c, \
            distributed.Client(c, set_as_default=False) as client:
        parts = [da.from_delayed(dask.delayed(_block)(i), (CHUNK, COLS), np.float32) for i in range(ROWS // CHUNK)]
        on_workers = client.persist(da.concatenate(parts))  # made on the workers, kept there
        on_workers.sum().compute(scheduler=client)  # wait until every block exists
        client.run(lambda: __import__("tinygrad_norm.normalize"))
        yield client, on_workers


def accuracy(mean: np.ndarray, var: np.ndarray) -> dict[str, float]:
    ref_mean, ref_var = exact()
    return {"rel_err_mean": float(np.abs(np.asarray(mean) / ref_mean - 1).max()),
            "rel_err_var": float(np.abs(np.asarray(var) / ref_var - 1).max())}


@pytest.mark.parametrize("engine", ENGINES)
def test_dask_fit(benchmark, tag, engine, request):
    benchmark.group = GROUP
    if engine.startswith("dask-ml"):
        preprocessing = pytest.importorskip("dask_ml.preprocessing", reason="dask-ml is not installed")
        fit = lambda x: preprocessing.StandardScaler().fit(x)  # noqa: E731
        stats = lambda s: (s.mean_, s.var_)  # noqa: E731
    else:
        fit = lambda x: Normalizer("standard", ddof=0).fit(x)  # noqa: E731
        stats = lambda n: (n.mean, n.var)  # noqa: E731
    if engine.endswith("LocalCluster"):
        client, x = request.getfixturevalue("cluster")
        scheduler = client
    else:
        x = table() if engine.endswith("in-memory") else da.from_array(table(), chunks=(CHUNK, COLS))
        scheduler = "threads"
    with dask.config.set(scheduler=scheduler):
        fitted = benchmark(fit, x)
    tag(engine, ROWS * COLS * 4, shape=f"{ROWS}x{COLS}", **accuracy(*stats(fitted)))
