"""The regression example end to end (a short 3-epoch run), ours vs the same recipe in PyTorch eager."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tinygrad_norm.examples.simple_regression import TrainingConfig, train

from conftest import need_torch

CSV = Path(os.environ.get("TINYGRAD_NORM_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
                          / "california_housing.csv"))
EPOCHS = 3


@pytest.fixture(scope="module")
def csv() -> str:
    if not CSV.is_file():
        pytest.skip("California housing CSV not found: set TINYGRAD_NORM_DATA")
    return str(CSV)


@pytest.mark.parametrize("engine", ["tinygrad_norm", "torch"])
def test_simple_regression_3_epochs(benchmark, tag, engine, csv, tmp_path):
    benchmark.group = f"simple-regression: load data + {EPOCHS} epochs (train + validation), min-max"
    tag(engine)
    if engine == "tinygrad_norm":
        cfg = TrainingConfig(num_epochs=EPOCHS, data=csv, artifact_dir=str(tmp_path), progress=False)
        benchmark.pedantic(lambda: train(cfg, log=lambda *_: None), rounds=5, warmup_rounds=1)
    else:
        need_torch()
        import torch_simple_regression as peer

        benchmark.pedantic(lambda: peer.train(csv, EPOCHS, quiet=True), rounds=5, warmup_rounds=1)
