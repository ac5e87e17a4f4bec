"""The example's training step at two commits (or source trees), in interleaved rounds.

    git worktree add /tmp/base <commit>          # or: git archive <commit> | tar -x -C /tmp/base
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/step_ab.py /tmp/base . [--rounds 9]

A change to the engine's hot path moves the step by a microsecond or two out of ~50-90, less than a
quiet machine drifts between two pytest-benchmark runs. Here each round starts one fresh process per
tree, in alternating order, each timing the step of ``bench/test_core.py`` (256 x 8 -> 64 -> ReLU ->
1, MSE, Adam) as the minimum of 7 x 500 steps; the table shows the median over rounds and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import gc, sys, time
import numpy as np
import tinygrad_norm as tn
rng = np.random.default_rng(0)
x = rng.standard_normal((256, 8)).astype(np.float32)
y = rng.standard_normal((256, 1)).astype(np.float32)
tn.manual_seed(0)
model = tn.nn.Sequential(tn.nn.Linear(8, 64), tn.nn.ReLU(), tn.nn.Linear(64, 1))
opt = tn.optim.Adam(model.parameters(), lr=1e-3)
tx, ty = tn.Tensor(x), tn.Tensor(y)
mse = tn.nn.functional.mse_loss
def step():
    opt.zero_grad()
    mse(model(tx), ty).backward()
    opt.step()
for _ in range(300):
    step()
gc.collect()
best = float("inf")
for _ in range(7):
    t = time.perf_counter_ns()
    for _ in range(500):
        step()
    best = min(best, (time.perf_counter_ns() - t) / 500 / 1e3)
print(best)
"""


def time_tree(tree: Path) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD], cwd=tree, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"the step failed in {tree}:\n{out.stderr[-2000:]}")
    return float(out.stdout.split()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("before", type=Path, help="source tree of the baseline (holds tinygrad_norm/)")
    ap.add_argument("after", type=Path, help="source tree of the change")
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args()
    trees = [args.before.resolve(), args.after.resolve()]
    for t in trees:
        if not (t / "tinygrad_norm" / "__init__.py").is_file():
            raise SystemExit(f"{t} holds no tinygrad_norm/ package: pass the root of a source tree")
    times: list[list[float]] = [[], []]
    for r in range(args.rounds):
        order = (0, 1) if r % 2 == 0 else (1, 0)
        for i in order:
            times[i].append(time_tree(trees[i]))
        print(f"round {r + 1}: before {times[0][-1]:.2f} us, after {times[1][-1]:.2f} us", file=sys.stderr)
    med = [statistics.median(t) for t in times]
    print("| tree | step (median of rounds) |\n|---|---|")
    print(f"| before ({trees[0]}) | {med[0]:.2f} us |")
    print(f"| after ({trees[1]}) | {med[1]:.2f} us |")
    print(f"\nafter / before: {med[1] / med[0]:.3f} over {args.rounds} rounds")


if __name__ == "__main__":
    main()
