"""Shared fixtures: the device parametrization (CUDA skips cleanly without a GPU) and the data file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import tinygrad_norm as tn

REPO = Path(__file__).resolve().parents[1]
HAS_CUDA = tn.cuda_available()

DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda", marks=[pytest.mark.gpu,
                                           pytest.mark.skipif(not HAS_CUDA, reason="needs CuPy and an NVIDIA GPU")]),
]


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    return request.param


def housing_csv_path() -> Path | None:
    """The California housing CSV: $TINYGRAD_NORM_DATA, else ../shared/data beside the checkout."""
    env = os.environ.get("TINYGRAD_NORM_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "data" / "california_housing.csv")
    for c in candidates:
        if c.is_file():
            return c
    return None


@pytest.fixture
def housing_csv() -> Path:
    path = housing_csv_path()
    if path is None:
        pytest.skip("California housing CSV not found: set TINYGRAD_NORM_DATA or put it at ../shared/data/")
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def pytest_terminal_summary(terminalreporter):
    """The adversarial suite's counts, when it ran (tests/test_adversarial.py)."""
    import sys

    suite = sys.modules.get("test_adversarial")
    if suite is not None and suite.COUNTS["tried"]:
        terminalreporter.write_line(suite.pytest_terminal_summary_line())


# the CI cluster, and the README example's
DASK_CLUSTER = {"n_workers": 2, "processes": True, "threads_per_worker": 1, "dashboard_address": None}


@pytest.fixture(scope="session")
def dask_cluster():
    """One local 2-process Dask cluster for the session (1-2 s to start); skips without dask.distributed."""
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed (the 'dask' extra)")
    with distributed.LocalCluster(**DASK_CLUSTER) as cluster:
        with distributed.Client(cluster, set_as_default=False) as client:
            # the workers are new processes: they must import this checkout's package, not another installed copy
            paths = set(client.run(lambda: __import__("tinygrad_norm").__file__).values())
            assert paths == {tn.__file__}, f"workers import {paths}, this process {tn.__file__}: run python3 -m pytest"
        yield cluster
