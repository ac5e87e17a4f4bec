"""Standardize apply, ours against its peers in interleaved rounds: a table of medians.

    python bench/apply_interleaved.py [--rounds 11] [--shapes 1000000x8,16640x8]

pytest-benchmark times one engine after another, so a neighbour's burst on a shared machine lands
on whichever engine runs then. Here every round times every engine once (each for ~50 ms), the
table shows the median over rounds, and on Linux a round during which other processes used more
than 15% of a core is dropped and retried (the count is printed).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tinygrad_norm import _cpu  # noqa: E402
from tinygrad_norm.normalize import Normalizer, standardize  # noqa: E402

SHAPES = "1000000x8,1000000x64,100000x512,16640x8"
HZ = os.sysconf("SC_CLK_TCK")


def data(n: int, d: int) -> np.ndarray:  # the same data as bench/test_normalize.py
    rng = np.random.default_rng(0)
    return (rng.standard_normal((n, d), dtype=np.float32) * rng.uniform(0.1, 1000, d).astype(np.float32)
            + rng.uniform(-100, 100, d).astype(np.float32))


def others_cpu_ticks() -> int:
    """Clock ticks all processes but this one have run so far (0 where /proc is missing)."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return 0
    t = os.times()
    return sum(ticks) - ticks[3] - ticks[4] - int((t.user + t.system) * HZ)


def engines(x: np.ndarray, pool: ThreadPoolExecutor) -> dict:
    import torch

    norm = Normalizer("standard").fit(x)
    mean, std = norm.mean, norm.std
    m32, s32 = mean.astype(np.float32), std.astype(np.float32)
    t = torch.from_numpy(x)
    inv = 1 / torch.from_numpy(s32)
    bias = -torch.from_numpy(m32) * inv
    out, tout = np.empty_like(x), torch.empty_like(t)
    h = x.shape[0] // 2

    def numpy_path():
        _cpu.USE_NUMBA = False
        try:
            standardize(x, mean, std, out=out)
        finally:
            _cpu.USE_NUMBA = True

    return {
        "ours out=": lambda: standardize(x, mean, std, out=out),
        "ours fresh": lambda: norm.transform(x),
        "ours out= (pure NumPy)": numpy_path,
        "torch addcmul out=": lambda: torch.addcmul(bias, t, inv, out=tout),
        "torch addcmul fresh": lambda: torch.addcmul(bias, t, inv),
        "np.copyto 1 thread": lambda: np.copyto(out, x),
        "np.copyto 2 threads": lambda: list(pool.map(np.copyto, (out[:h], out[h:]), (x[:h], x[h:]))),
        "naive numpy": lambda: (x - m32) / s32,
    }


def measure(fns: dict, rounds: int, quiet: float = 0.15) -> tuple[dict, int]:
    reps = {}
    for name, f in fns.items():
        f()
        t0 = time.perf_counter()
        f()
        reps[name] = max(1, int(0.05 / max(time.perf_counter() - t0, 1e-7)))
    times: dict = {name: [] for name in fns}
    dropped = 0
    while len(times[next(iter(fns))]) < rounds and dropped < 20 * rounds:
        o0, w0, row = others_cpu_ticks(), time.perf_counter(), {}
        for name, f in fns.items():
            f()
            t0 = time.perf_counter()
            for _ in range(reps[name]):
                f()
            row[name] = (time.perf_counter() - t0) / reps[name]
        if others_cpu_ticks() - o0 > quiet * (time.perf_counter() - w0) * HZ:
            dropped += 1
            time.sleep(1.0)
            continue
        for name, v in row.items():
            times[name].append(v)
    return {name: float(np.median(v)) if v else float("nan") for name, v in times.items()}, dropped


def fmt(s: float) -> str:
    return f"{s * 1e3:.2f} ms" if s >= 1e-3 else f"{s * 1e6:.1f} us"


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--shapes", default=SHAPES)
    args = ap.parse_args()
    torch.set_num_threads(2)
    pool = ThreadPoolExecutor(max_workers=2)
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    cols, notes = {}, []
    for n, d in shapes:
        cols[f"{n}x{d}"], dropped = measure(engines(data(n, d), pool), args.rounds)
        notes.append(f"{n}x{d}: {args.rounds} rounds kept, {dropped} dropped")
    print(f"numba kernel: {'yes' if _cpu._numba_kernel() else 'no'}; torch threads: {torch.get_num_threads()}; "
          f"medians of interleaved rounds ({'; '.join(notes)})\n")
    print("| engine | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for name in next(iter(cols.values())):
        print(f"| {name} | " + " | ".join(fmt(c[name]) for c in cols.values()) + " |")


if __name__ == "__main__":
    main()
