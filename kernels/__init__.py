"""CUDA sources of tinygrad_norm's GPU kernels, installed as package data (``tinygrad_norm.kernels``).

Each ``*.cu`` file holds ``extern "C" __global__`` functions (float32 ``_f32`` and float64 ``_f64``
entry points) compiled once at run time by ``cupy.RawModule`` in ``tinygrad_norm/_cuda.py``.
"""

from __future__ import annotations

from importlib import resources

SOURCES = ("elementwise.cu", "mse.cu", "optim.cu", "standardize.cu")
HEADER = "common.cuh"


def _read(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text()


def source(name: str) -> str:
    """The text of one kernel file with ``common.cuh`` inlined (NVRTC gets no include path)."""
    if name not in SOURCES:
        raise ValueError(f"unknown kernel source {name!r}; available: {', '.join(SOURCES)}")
    return _read(name).replace(f'#include "{HEADER}"', _read(HEADER))
