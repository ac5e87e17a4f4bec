"""CUDA sources of tinygrad_norm's GPU kernels, installed as package data (``tinygrad_norm.kernels``).

Each ``*.cu`` file holds ``extern "C" __global__`` functions (float32 ``_f32`` and float64 ``_f64``
entry points) compiled once at run time by ``cupy.RawModule`` in ``tinygrad_norm/_cuda.py``.
"""

from __future__ import annotations

from importlib import resources

SOURCES = ("elementwise.cu", "mse.cu", "optim.cu", "standardize.cu")
HEADER = "common.cuh"

# Every kernel the CUDA backend launches: name -> (source file, typed). A typed kernel exists as
# ``<name>_f32`` and ``<name>_f64``. The backend looks kernels up here only, and a CPU-only test checks
# that each entry is exported by its file, so a typo fails without a GPU.
KERNELS: dict[str, tuple[str, bool]] = {
    "relu_forward": ("elementwise.cu", True),
    "relu_backward": ("elementwise.cu", True),
    "affine_apply": ("elementwise.cu", True),
    "affine_apply_vec4_f32": ("elementwise.cu", False),
    "mse_elementwise": ("mse.cu", True),
    "mse_forward_backward": ("mse.cu", True),
    "sgd_step": ("optim.cu", True),
    "adam_step": ("optim.cu", True),
    "column_moments_partial": ("standardize.cu", True),
    "column_moments_merge": ("standardize.cu", False),
    "column_minmax_partial": ("standardize.cu", True),
    "column_minmax_merge": ("standardize.cu", False),
}
SUFFIXES = ("f32", "f64")


def symbol(name: str, suffix: str | None = None) -> tuple[str, str]:
    """(source file, exported symbol) of a kernel in :data:`KERNELS`; ``suffix`` ('f32'/'f64') for typed ones."""
    file, typed = KERNELS[name]
    if typed != (suffix is not None):
        raise ValueError(f"kernel {name!r} is {'typed: give a suffix' if typed else 'not typed'}")
    return file, f"{name}_{suffix}" if typed else name


def _read(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text()


def source(name: str) -> str:
    """The text of one kernel file with ``common.cuh`` inlined (NVRTC gets no include path)."""
    if name not in SOURCES:
        raise ValueError(f"unknown kernel source {name!r}; available: {', '.join(SOURCES)}")
    return _read(name).replace(f'#include "{HEADER}"', _read(HEADER))
