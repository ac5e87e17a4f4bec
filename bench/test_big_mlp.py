"""Bigger models: the two-hidden-layer MLP's Adam step (bench/mlp_steps.py) against torch eager and jax.jit.

jax is in the ``bench`` extra; without it (or without torch) that engine is skipped with the reason. The
table in bench/RESULTS.md comes from ``bench/mlp_interleaved.py`` (interleaved rounds, one process).
"""

from __future__ import annotations

import gc

import pytest
from mlp_steps import ENGINES, SIZES, batch

NEEDS = {"torch": "torch", "jax.jit": "jax"}


@pytest.mark.parametrize("size", SIZES, ids=["x".join(map(str, s)) for s in SIZES])
@pytest.mark.parametrize("engine", list(ENGINES))
def test_two_hidden_layer_mlp_step(benchmark, tag, engine, size):
    n, d, h = size
    benchmark.group = f"MLP step {d}->{h}->{h}->1, batch {n}, Adam"
    tag(engine)
    if engine in NEEDS:
        pytest.importorskip(NEEDS[engine], reason=f"{NEEDS[engine]} is not installed (pip install -e '.[bench]')")
    x, y = batch(n, d)
    step = ENGINES[engine](x, y, h)
    for _ in range(3):
        step()
    gc.collect()
    rounds = max(5, min(200, int(2e9 // (n * h * h + n * d * h))))  # about a second per engine at any size
    benchmark.pedantic(step, rounds=rounds, warmup_rounds=1)
