"""The PyTorch peer of ``tinygrad-norm train``: the same recipe, split and data, in idiomatic eager PyTorch.

California housing, min-max statistics of the train split, Linear(8, 64) -> ReLU -> Linear(64, 1),
Adam lr 1e-3, batch 256, 100 epochs, seed 1337, validation loss every epoch.

    python bench/torch_simple_regression.py --data ../shared/data/california_housing.csv [--epochs 100]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def load(path: str):
    table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)
    order = np.random.default_rng(1337).permutation(len(table))
    train, valid = table[order[:16640]], table[order[16640:18640]]
    return (train[:, :8].astype(np.float32), train[:, 8:].astype(np.float32),
            valid[:, :8].astype(np.float32), valid[:, 8:].astype(np.float32))


def train(data: str, epochs: int = 100, norm: str = "minmax", seed: int = 1337, quiet: bool = False):
    torch.manual_seed(seed)
    xt, yt, xv, yv = (torch.from_numpy(a) for a in load(data))
    if norm == "minmax":
        lo, hi = xt.min(0).values, xt.max(0).values
        xt, xv = (xt - lo) / (hi - lo), (xv - lo) / (hi - lo)
    elif norm == "standard":
        m, s = xt.mean(0), xt.std(0)
        xt, xv = (xt - m) / s, (xv - m) / s
    model = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    valid_losses = []
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), 256):
            idx = perm[i:i + 256]
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            total = sum(torch.nn.functional.mse_loss(model(xv[i:i + 256]), yv[i:i + 256], reduction="sum").item()
                        for i in range(0, len(xv), 256))
        valid_losses.append(total / len(xv))
        if not quiet:
            print(f"epoch {epoch + 1} valid loss {valid_losses[-1]:.4f}")
    return valid_losses


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--norm", default="minmax", choices=["minmax", "standard", "none"])
    ap.add_argument("--seed", type=int, default=1337)
    args = ap.parse_args()
    t0 = time.perf_counter()
    losses = train(args.data, args.epochs, args.norm, args.seed, quiet=True)
    print(f"best valid MSE {min(losses):.4f} at epoch {int(np.argmin(losses)) + 1}; "
          f"training {time.perf_counter() - t0:.1f} s")
