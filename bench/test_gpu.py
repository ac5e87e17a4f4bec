"""GPU benchmarks (skip without CuPy and a GPU): standardize fit/apply as a fraction of the device's
measured copy bandwidth and against torch on the same GPU, and the regression training step
against torch CUDA eager. Every timed call ends with a device synchronize."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_norm as tn

from conftest import torch

cp = pytest.importorskip("cupy", reason="GPU benchmarks need CuPy (pip install -e '.[cuda12]')")
if not tn.cuda_available():
    pytest.skip("GPU benchmarks need an NVIDIA GPU", allow_module_level=True)

from tinygrad_norm.normalize import Normalizer  # noqa: E402

SHAPES = [(2**24, 8), (2**20, 64), (2**18, 512)]
IDS = [f"{n}x{d}" for n, d in SHAPES]
TORCH_CUDA = torch is not None and torch.cuda.is_available()


def synced(fn):
    def run():
        out = fn()
        cp.cuda.Device().synchronize()
        return out
    return run


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
@pytest.mark.parametrize("engine", ["tinygrad_norm", "torch_std_mean", "cupy_naive", "cp.copyto"])
def test_gpu_fit(benchmark, tag, engine, shape):
    x = cp.random.default_rng(0).standard_normal(shape, dtype=cp.float32) * 3 + 1
    benchmark.group = f"GPU standardize fit {shape[0]}x{shape[1]} float32"
    tag(engine, x.nbytes if engine != "cp.copyto" else 2 * x.nbytes, shape=f"gpu {shape[0]}x{shape[1]}")
    if engine == "tinygrad_norm":
        benchmark(synced(lambda: Normalizer("standard").fit(x)))
    elif engine == "cupy_naive":
        benchmark(synced(lambda: (x.mean(0), x.std(0, ddof=1))))
    elif engine == "cp.copyto":
        out = cp.empty_like(x)
        benchmark(synced(lambda: cp.copyto(out, x)))
    else:
        if not TORCH_CUDA:
            pytest.skip("torch with CUDA not installed")
        t = torch.as_tensor(x, device="cuda")
        benchmark(synced(lambda: torch.std_mean(t, dim=0)))


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
@pytest.mark.parametrize("engine", ["tinygrad_norm_out", "torch_addcmul_out", "cupy_naive", "cp.copyto"])
def test_gpu_apply(benchmark, tag, engine, shape):
    x = cp.random.default_rng(0).standard_normal(shape, dtype=cp.float32) * 3 + 1
    norm = Normalizer("standard").fit(x)
    out = cp.empty_like(x)
    benchmark.group = f"GPU standardize apply {shape[0]}x{shape[1]} float32"
    tag(engine, 2 * x.nbytes, shape=f"gpu {shape[0]}x{shape[1]}")
    if engine == "tinygrad_norm_out":
        benchmark(synced(lambda: norm.transform(x, out=out)))
    elif engine == "cupy_naive":
        m, s = cp.asarray(norm.mean, cp.float32), cp.asarray(norm.std, cp.float32)
        benchmark(synced(lambda: (x - m) / s))
    elif engine == "cp.copyto":
        benchmark(synced(lambda: cp.copyto(out, x)))
    else:
        if not TORCH_CUDA:
            pytest.skip("torch with CUDA not installed")
        t, tout = torch.as_tensor(x, device="cuda"), torch.empty(shape, device="cuda")
        inv = torch.as_tensor(1 / norm.std, dtype=torch.float32, device="cuda")
        bias = torch.as_tensor(-norm.mean / norm.std, dtype=torch.float32, device="cuda")
        benchmark(synced(lambda: torch.addcmul(bias, t, inv, out=tout)))


@pytest.mark.parametrize("engine", ["tinygrad_norm", "torch"])
def test_gpu_training_step(benchmark, tag, engine):
    benchmark.group = "GPU training step: 8->64->ReLU->1 MLP, batch 256, MSE, Adam"
    tag(engine)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((256, 8)).astype(np.float32), rng.standard_normal((256, 1)).astype(np.float32)
    if engine == "tinygrad_norm":
        model = tn.nn.Sequential(tn.nn.Linear(8, 64), tn.nn.ReLU(), tn.nn.Linear(64, 1)).to("cuda")
        opt = tn.optim.Adam(model.parameters())
        tx, ty = tn.Tensor(x, device="cuda"), tn.Tensor(y, device="cuda")

        def step():
            opt.zero_grad()
            tn.nn.functional.mse_loss(model(tx), ty).backward()
            opt.step()
    else:
        if not TORCH_CUDA:
            pytest.skip("torch with CUDA not installed")
        model = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1)).cuda()
        opt = torch.optim.Adam(model.parameters())
        tx, ty = torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()

        def step():
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(tx), ty).backward()
            opt.step()
    benchmark(synced(step))
