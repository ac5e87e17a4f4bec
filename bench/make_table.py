"""Write a big CSV of float features, deterministically and fast, with its exact statistics beside it.

    python bench/make_table.py --gib 5 /tmp/big.csv            # 5 GiB, 8 columns, seed 0
    python bench/make_table.py --gib 1 --columns 16 --seed 3 /tmp/t.csv

Rows come in blocks of ``BLOCK_ROWS``; block i is ``default_rng([seed, i])``'s normal values times each column's
scale plus its offset (columns 1e-3 to 1e4 in scale, 1e7 apart: what normalizers are for), so the same
arguments always write the same file. Values are written by ``pyarrow.csv.write_csv`` in their shortest
exact form (they read back bit for bit), blocks are added until the file reaches the size, and a header row
``f0,f1,...`` comes first. ``PATH.stats.json`` holds the reference statistics for bench/test_stream.py: rows,
columns, bytes, and per column the mean and the variance (ddof 0) summed with ``math.fsum`` (each column's
sum correctly rounded per block, the blocks' sums then added with fsum: a relative error near 1e-16, far below
the 1e-12 checked), M2 in a second pass over the regenerated blocks, and the min and max.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

BLOCK_ROWS = 500_000


def columns_of(d: int) -> tuple[np.ndarray, np.ndarray]:
    """Each column's (scale, offset): scales 1e-3 to 1e4, means up to 100 of their standard deviations (a price
    of 2e5 +- 1e5 is 2). (Far larger ratios, 1e9, leave float64 itself ~1e-10 of the variance after any chunked
    merge of means: not what this measures.)"""
    j = np.arange(d)
    scale = 10.0 ** (j % 8 - 3)
    return scale, 100 * scale * np.sin(j + 1.0)


def block(seed: int, i: int, d: int) -> np.ndarray:
    scale, offset = columns_of(d)
    return np.random.default_rng([seed, i]).standard_normal((BLOCK_ROWS, d)) * scale + offset


def generate(path: str | os.PathLike, gib: float, d: int = 8, seed: int = 0, log=print) -> dict:
    """Write the CSV (atomically: a temporary name, then a rename) and its stats; returns the stats."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    path = Path(path)
    target = int(gib * (1 << 30))
    names = [f"f{j}" for j in range(d)]
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    sums: list[list[float]] = [[] for _ in range(d)]
    lo, hi = np.full(d, np.inf), np.full(d, -np.inf)
    start = time.perf_counter()
    tmp = path.with_name(path.name + ".part")
    blocks = 0
    with open(tmp, "wb") as f:
        f.write((",".join(names) + "\n").encode())
        while f.tell() < target:
            x = block(seed, blocks, d)
            pacsv.write_csv(pa.table({n: x[:, j] for j, n in enumerate(names)}), f, write_options=options)
            for j in range(d):
                sums[j].append(math.fsum(x[:, j].tolist()))
            lo, hi = np.minimum(lo, x.min(axis=0)), np.maximum(hi, x.max(axis=0))
            blocks += 1
        size = f.tell()
    rows = blocks * BLOCK_ROWS
    mean = [math.fsum(s) / rows for s in sums]
    m2: list[list[float]] = [[] for _ in range(d)]
    for i in range(blocks):  # the second pass: squared deviations from the exact mean
        dev = block(seed, i, d) - np.array(mean)
        for j in range(d):
            m2[j].append(math.fsum((dev[:, j] * dev[:, j]).tolist()))
    stats = {"rows": rows, "columns": d, "bytes": size, "seed": seed, "mean": mean,
             "var": [math.fsum(s) / rows for s in m2], "min": lo.tolist(), "max": hi.tolist()}
    os.replace(tmp, path)
    Path(str(path) + ".stats.json").write_text(json.dumps(stats))
    log(f"wrote {path}: {size / (1 << 30):.2f} GiB, {rows:,} rows x {d} columns in {time.perf_counter() - start:.0f} s")
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path")
    parser.add_argument("--gib", type=float, required=True, help="the file's size, in GiB (at least)")
    parser.add_argument("--columns", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.gib <= 0 or args.columns < 1:
        parser.error("--gib must be > 0 and --columns >= 1")
    generate(args.path, args.gib, args.columns, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
