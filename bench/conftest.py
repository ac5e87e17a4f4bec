"""Benchmarks: every hot path measured side by side with its peers in the same run.

Run: ``pytest bench/ --benchmark-only --benchmark-json=bench/results.json`` then
``python bench/report.py bench/results.json`` for the ratio tables in RESULTS.md.
Each benchmark's ``extra_info`` says which peer group it is in and how many bytes
it moves, so the report can print ratios and bandwidth.
"""

from __future__ import annotations

import pytest

try:
    import torch
except ImportError:  # the bench runs without torch too; torch peers are skipped
    torch = None


def pytest_configure(config):
    if torch is not None:
        torch.set_num_threads(2)


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
