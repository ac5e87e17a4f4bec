"""CUDA sources of tinygrad_norm's GPU kernels, installed as package data (``tinygrad_norm.kernels``).

Each ``*.cu`` file holds ``extern "C" __global__`` functions compiled once at
run time by ``cupy.RawModule`` in ``tinygrad_norm/_cuda.py``.
"""

from __future__ import annotations

from importlib import resources

SOURCES = ("elementwise.cu", "mse.cu", "optim.cu", "standardize.cu")


def source(name: str) -> str:
    """The text of one kernel file, e.g. ``source("standardize.cu")``."""
    if name not in SOURCES:
        raise ValueError(f"unknown kernel source {name!r}; available: {', '.join(SOURCES)}")
    return resources.files(__name__).joinpath(name).read_text()
