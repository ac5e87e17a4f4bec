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
