"""Benchmarks: every hot path measured side by side with its peers in the same run.

Run: ``pytest bench/ --benchmark-only --benchmark-json=bench/results.json`` then
``python bench/report.py bench/results.json`` for the ratio tables in RESULTS.md.
Each benchmark's ``extra_info`` says which peer group it is in and how many bytes
it moves, so the report can print ratios and bandwidth.
"""

from __future__ import annotations

import time

import pytest

try:
    import torch
except ImportError:  # the bench runs without torch too; torch peers are skipped
    torch = None


def pytest_configure(config):
    if torch is not None:
        torch.set_num_threads(2)


def pytest_sessionstart(session):
    """Measure pytest-benchmark's timer precision before the first benchmark, not inside it.

    pytest-benchmark measures it (a 1 s busy loop) in the session's first benchmark, just before
    sizing that benchmark's run from one call; after the loop that call took ~8 ms instead of ~4 us,
    which left the first engine of the first group ~80 rounds. (This reaches into pytest-benchmark's
    per-timer cache; if a later version moves it, the first benchmark is measured as before.)
    """
    try:
        from pytest_benchmark.fixture import BenchmarkFixture
        from pytest_benchmark.timers import compute_timer_precision
    except ImportError:
        return
    cache = getattr(BenchmarkFixture, "_precisions", None)
    if isinstance(cache, dict):
        cache[time.perf_counter] = compute_timer_precision(time.perf_counter)


@pytest.fixture
def tag(benchmark):
    """tag(engine, nbytes=0): label this measurement for bench/report.py."""

    def _tag(engine: str, nbytes: int = 0, **extra):
        benchmark.extra_info.update(engine=engine, bytes=int(nbytes), **extra)

    return _tag


def need_torch():
    if torch is None:
        pytest.skip("torch is not installed (pip install -e '.[test]')")
    return torch
