"""Best validation MSE and test MSE of the regression example over init seeds, for every --norm.

    python bench/regression_seeds.py [--data PATH] [--seeds 1337 1 2 3 4]  (default: the shipped data)

Test MSE is over all 2000 rows of the test split. Writes artifacts under a temporary folder.
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

from tinygrad_norm.examples.simple_regression import HousingDataset, TrainingConfig, train
from tinygrad_norm.examples.simple_regression.inference import predict
from tinygrad_norm.examples.simple_regression.training import NORMS


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=None, help="default: $TINYGRAD_NORM_DATA, else the shipped copy")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1337, 1, 2, 3, 4])
    ap.add_argument("--norms", nargs="+", default=list(NORMS), choices=NORMS)
    args = ap.parse_args()
    test = HousingDataset.load(args.data).split()["test"]
    print("| --norm | best valid MSE | test MSE |\n|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for norm in args.norms:
            best, tests = [], []
            for seed in args.seeds:
                r = train(TrainingConfig(seed=seed, norm=norm, data=args.data, artifact_dir=f"{tmp}/{norm}-{seed}",
                                         progress=False), log=lambda *_: None)
                best.append(r.best_valid[0])
                tests.append(float(np.mean((predict(r.model, test.features, norm) - test.targets) ** 2)))
            print(f"| `{norm}` | {min(best):.3f} - {max(best):.3f} | {min(tests):.3f} - {max(tests):.3f} |", flush=True)


if __name__ == "__main__":
    main()
