"""One helper that runs the same function on our Tensor and on torch and compares everything."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

import tinygrad_norm as tn

TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-6)}


def check_op(ours: Callable, theirs: Callable, shapes: Sequence[tuple[int, ...]], *, device: str = "cpu",
             dtype=np.float64, low: float | None = None, high: float | None = None, seed: int = 0,
             grad_inputs: Sequence[bool] | None = None, rtol: float | None = None, atol: float | None = None) -> None:
    """Feed the same random inputs to ``ours`` (tinygrad_norm) and ``theirs`` (torch); compare the
    forward values and, after a random upstream gradient, every input's gradient."""
    rng = np.random.default_rng(seed)
    if low is None:
        arrays = [rng.standard_normal(s) for s in shapes]
    else:
        arrays = [rng.uniform(low, high, s) for s in shapes]
    arrays = [np.asarray(a, dtype=dtype) for a in arrays]
    grad_inputs = grad_inputs or [True] * len(arrays)
    tol = dict(TOL[dtype])
    if rtol is not None:
        tol["rtol"] = rtol
    if atol is not None:
        tol["atol"] = atol
    mine = [tn.Tensor(a, dtype=dtype, requires_grad=g, device=device) for a, g in zip(arrays, grad_inputs)]
    ref = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grad_inputs)]
    out = ours(*mine)
    expected = theirs(*ref)
    assert out.shape == tuple(expected.shape), f"forward shape: {out.shape} vs torch {tuple(expected.shape)}"
    assert out.dtype == np.dtype(dtype), f"forward dtype {out.dtype}, expected {np.dtype(dtype)}"
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), err_msg="forward", **tol)
    upstream = rng.standard_normal(out.shape).astype(dtype)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    for i, (m, r) in enumerate(zip(mine, ref)):
        if not grad_inputs[i]:
            assert m.grad is None
            continue
        assert m.grad is not None, f"backward input {i}: no gradient"
        np.testing.assert_allclose(m.grad.numpy(), r.grad.numpy(), err_msg=f"backward input {i}", **tol)
