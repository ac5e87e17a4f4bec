"""Best validation MSE and test MSE of the regression example over init seeds, for every --norm.

    python bench/regression_seeds.py [--data PATH] [--seeds 1337 1 2 3 4]  (default: the shipped data)

Test MSE is over all 2000 rows of the test split. Writes artifacts under a temporary folder.
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

from tinygrad_norm.examples.simple_regression import HousingDataset, TrainingConfig, train
from tinygrad_norm.examples.simple_regression.model import predict
from tinygrad_norm.examples.simple_regression.training import NORMS


def seed_table(data: str | None = None, seeds: list[int] | None = None, norms: list[str] | None = None,
               log=lambda line: None) -> list[str]:
    """The table's markdown lines: per --norm, the range of best validation MSE and test MSE over the seeds."""
    seeds = seeds or [1337, 1, 2, 3, 4]
    test = HousingDataset.load(data).split()["test"]
    lines = ["| `--norm` | best valid MSE | test MSE |", "|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for norm in norms or list(NORMS):
            best, tests = [], []
            for seed in seeds:
                r = train(TrainingConfig(seed=seed, norm=norm, data=data, artifact_dir=f"{tmp}/{norm}-{seed}",
                                         progress=False), log=lambda *_: None)
                best.append(r.best_valid[0])
                tests.append(float(np.mean((predict(r.model, test.features, norm) - test.targets) ** 2)))
            label = f"`{norm}`" + {"minmax": " (default)", "batch-minmax": " (the bug)"}.get(norm, "")
            lines.append(f"| {label} | {min(best):.3f} - {max(best):.3f} | {min(tests):.3f} - {max(tests):.3f} |")
            log(lines[-1])
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=None, help="default: $TINYGRAD_NORM_DATA, else the shipped copy")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1337, 1, 2, 3, 4])
    ap.add_argument("--norms", nargs="+", default=list(NORMS), choices=NORMS)
    args = ap.parse_args()
    print("| `--norm` | best valid MSE | test MSE |\n|---|---|---|", flush=True)
    seed_table(args.data, args.seeds, args.norms, log=lambda line: print(line, flush=True))


if __name__ == "__main__":
    main()
