"""The CUDA backend. CPU-only checks (every kernel compiles with nvcc; every kernel the backend
launches exists) always run where nvcc exists; the rest needs CuPy and a GPU and compares each
kernel with the NumPy backend and torch."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import tinygrad_norm as tn
from tinygrad_norm._backend import get_backend
from tinygrad_norm.kernels import KERNELS, SOURCES, SUFFIXES, source, symbol

from conftest import HAS_CUDA, REPO

NVCC = shutil.which("nvcc")


PREPROCESSOR = [NVCC, "-E", "-x", "cu"] if NVCC else ([shutil.which("cpp"), "-P"] if shutil.which("cpp") else None)

def exported(name: str) -> set[str]:
    """The extern "C" kernels a source file defines, after the real preprocessor expands its macros."""
    if PREPROCESSOR is None:
        pytest.skip("no C preprocessor (nvcc or cpp) to expand the kernel macros")
    proc = subprocess.run([*PREPROCESSOR, "-"], input=source(name), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return set(re.findall(r'extern\s+"C"\s+(?:__global__|__attribute__\(\(global\)\))\s+void\s+(\w+)', proc.stdout))


@pytest.mark.skipif(NVCC is None, reason="nvcc not found")
@pytest.mark.parametrize("name", SOURCES)
def test_kernel_source_compiles_with_nvcc(name, tmp_path):
    """Exactly the text cupy.RawModule compiles (header inlined), for a current architecture."""
    src = tmp_path / name
    src.write_text(source(name))
    proc = subprocess.run([NVCC, "-arch=sm_90", "-std=c++14", "-cubin", "-o", str(tmp_path / "k.cubin"), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    if shutil.which("cuobjdump"):
        listing = subprocess.run(["cuobjdump", "-symbols", str(tmp_path / "k.cubin")], capture_output=True,
                                 text=True).stdout
        for kernel in exported(name):
            assert kernel in listing, f"{kernel} missing from the compiled {name}"


def _find_nvrtc() -> str | None:
    """libnvrtc from the nvidia-cuda-nvrtc wheel (CuPy's [ctk] extra) or a CUDA toolkit."""
    import glob

    try:
        import nvidia.cuda_nvrtc as pkg
        roots = [str(Path(p) / "lib") for p in pkg.__path__]
    except ImportError:
        roots = []
    roots += glob.glob("/usr/local/cuda*/lib64") + glob.glob("/usr/local/cuda*/targets/*/lib")
    for root in roots:
        hits = sorted(glob.glob(f"{root}/libnvrtc.so*"))
        hits = [h for h in hits if "builtins" not in h and ".alt." not in h]
        if hits:
            return hits[0]
    return None


@pytest.mark.parametrize("name", SOURCES)
def test_kernel_source_compiles_with_nvrtc(name):
    """The compiler cupy.RawModule really uses, with its options; needs no GPU, only libnvrtc."""
    import ctypes

    path = _find_nvrtc()
    if path is None:
        pytest.skip("libnvrtc not found (pip install nvidia-cuda-nvrtc-cu12, or a CUDA toolkit)")
    lib = ctypes.CDLL(path)
    prog = ctypes.c_void_p()
    assert lib.nvrtcCreateProgram(ctypes.byref(prog), source(name).encode(), name.encode(), 0, None, None) == 0
    opts = [b"--gpu-architecture=compute_90", b"--std=c++14"]
    status = lib.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, log)
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    assert status == 0, log.value.decode()


def test_every_kernel_the_backend_launches_exists():
    """The backend launches kernels by name through one table (kernels.KERNELS); every entry must be
    exported by its file, with _f32/_f64 entry points where typed, and the backend must name no other."""
    for name, (file, typed) in KERNELS.items():
        for suffix in (SUFFIXES if typed else (None,)):
            assert symbol(name, suffix)[1] in exported(file), f"{file} has no {symbol(name, suffix)[1]}"
    code = (REPO / "tinygrad_norm" / "_cuda.py").read_text()
    launched = set(re.findall(r'_kernel\("(\w+)"', code))
    for pair in re.findall(r'_column_pass\(x, "(\w+)", "(\w+)"', code):
        launched.update(pair)
    assert launched and launched <= set(KERNELS), launched - set(KERNELS)
    assert code.count("get_function(") == 1  # only _kernel looks kernels up


def test_kernel_sources_are_package_data(tmp_path):
    """An installed wheel, not only this checkout, must carry the CUDA sources and the shipped data."""
    import sys
    import zipfile

    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(REPO)], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 and ("No module named" in proc.stderr or "bdist_wheel" in proc.stderr):
        pytest.skip(f"cannot build a wheel here: {proc.stderr.strip()[-200:]}")
    assert proc.returncode == 0, proc.stderr
    names = zipfile.ZipFile(next(tmp_path.glob("*.whl"))).namelist()
    for name in (*SOURCES, "common.cuh", "__init__.py"):
        assert f"tinygrad_norm/kernels/{name}" in names, f"{name} is not in the wheel"
    # and the shipped California housing data, with its source and citation
    for name in ("cal_housing.data.xz", "README.md", "__init__.py"):
        assert f"tinygrad_norm/datasets/{name}" in names, f"datasets/{name} is not in the wheel"
    assert any(n.endswith("/LICENSE") or n.endswith("licenses/LICENSE") for n in names)
    for name in SOURCES:
        assert '#include "common.cuh"' not in source(name)


def test_cuda_unavailable_gives_an_install_hint():
    if HAS_CUDA:
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match=r"pip install 'tinygrad_norm\[cuda12\]'"):
        tn.Tensor([1.0], device="cuda")


# ---- on a GPU: every kernel against the NumPy backend ------------------------------------------
@pytest.mark.parametrize("shape", [(5, 3), (2**14 + 3, 8), (1000, 4096), (70_001, 37), (3, 300)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs CuPy and an NVIDIA GPU")
def test_column_statistics_match_cpu(shape, dtype):
    import cupy as cp

    x = (np.random.default_rng(0).standard_normal(shape) * 5 + 1e4).astype(dtype)
    cpu, gpu_be = get_backend("cpu"), get_backend("cuda")
    n, mean, m2 = gpu_be.column_moments(cp.asarray(x))
    ref = x.astype(np.float64)
    assert n == shape[0]
    np.testing.assert_allclose(mean, ref.mean(0), rtol=1e-12)
    np.testing.assert_allclose(m2, ((ref - ref.mean(0)) ** 2).sum(0), rtol=1e-9)
    lo, hi = gpu_be.column_minmax(cp.asarray(x))
    np.testing.assert_array_equal(lo, ref.min(0))
    np.testing.assert_array_equal(hi, ref.max(0))
    shift, scale, offset = ref.mean(0), 1 / ref.std(0), np.full(shape[1], 0.5)
    for off in (None, offset):
        for inverse in (False, True):
            got = gpu_be.affine_apply(cp.asarray(x), shift, scale, off, inverse=inverse).get()
            want = cpu.affine_apply(x, shift, scale, off, inverse=inverse)
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 * np.abs(want).max())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs CuPy and an NVIDIA GPU")
def test_mse_relu_kernels_match_cpu(reduction):
    import cupy as cp

    rng = np.random.default_rng(1)
    p, t = rng.standard_normal((1000, 3)).astype(np.float32), rng.standard_normal((1000, 3)).astype(np.float32)
    cpu, gpu_be = get_backend("cpu"), get_backend("cuda")
    loss, dp = gpu_be.mse(cp.asarray(p), cp.asarray(t), reduction)
    rloss, rdp = cpu.mse(p, t, reduction)
    np.testing.assert_allclose(cp.asnumpy(loss), rloss, rtol=1e-5)
    np.testing.assert_allclose(dp.get(), rdp, rtol=1e-6)
    np.testing.assert_array_equal(gpu_be.relu(cp.asarray(p)).get(), cpu.relu(p))
    np.testing.assert_array_equal(gpu_be.relu_backward(cp.asarray(t), cp.asarray(np.maximum(p, 0))).get(),
                                  cpu.relu_backward(t, np.maximum(p, 0)))


@pytest.mark.parametrize("opt", ["adam", "sgd_momentum", "sgd_nesterov_wd"])
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs CuPy and an NVIDIA GPU")
def test_optimizer_kernels_match_cpu(opt):
    import cupy as cp

    rng = np.random.default_rng(2)
    cpu, gpu_be = get_backend("cpu"), get_backend("cuda")
    p, g = rng.standard_normal(641).astype(np.float32), rng.standard_normal(641).astype(np.float32)
    s1, s2 = np.zeros_like(p), np.zeros_like(p)
    dp, dg, d1, d2 = (cp.asarray(a) for a in (p, g, s1, s2))
    for step in range(1, 6):
        if opt == "adam":
            kw = dict(step=step, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01)
            cpu.adam_update(p, g, s1, s2, **kw)
            gpu_be.adam_update(dp, dg, d1, d2, **kw)
        else:
            kw = dict(first=step == 1, lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.01 if "wd" in opt else 0.0,
                      nesterov="nesterov" in opt)
            cpu.sgd_update(p, g, s1, **kw)
            gpu_be.sgd_update(dp, dg, d1, **kw)
    np.testing.assert_allclose(dp.get(), p, rtol=1e-5, atol=1e-6)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs CuPy and an NVIDIA GPU")
def test_training_on_cuda_matches_cpu(tmp_path, housing_csv):
    from tinygrad_norm.examples.simple_regression import TrainingConfig, train

    runs = [train(TrainingConfig(num_epochs=2, data=str(housing_csv), device=d, artifact_dir=str(tmp_path / d),
                                 progress=False), log=lambda *_: None) for d in ("cpu", "cuda")]
    np.testing.assert_allclose(runs[1].valid_losses, runs[0].valid_losses, rtol=1e-3)
