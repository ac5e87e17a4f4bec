"""Bigger models: the two-hidden-layer MLP's Adam step, ours against torch eager and jax.jit, interleaved.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/mlp_interleaved.py [--rounds 7] [--sizes 4096x8x256,...]

One process; each round times every engine once per size (each for at least --seconds and 3 steps, after a
warm-up), in alternating order; the table shows each engine's median over rounds with its range, ours against
the best peer (the ratio of the medians), and the range of that ratio round by round (this machine's speed
drifts by tens of percent over a run, for every engine at once: a round's engines see the same drift).
OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE (set on this project's machine for old BLAS builds) force a slower kernel
on a current NumPy: the header prints which BLAS kernel runs (threadpoolctl).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
from mlp_steps import ENGINES, SIZES, batch  # noqa: E402


def per_step(step, seconds: float) -> float:
    t, n = time.perf_counter(), 0
    while True:
        step()
        n += 1
        elapsed = time.perf_counter() - t
        if elapsed >= seconds and n >= 3:
            return elapsed / n


def fmt(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} us"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=0.3, help="time per engine, size and round")
    ap.add_argument("--sizes", default=",".join("x".join(map(str, s)) for s in SIZES), help="BATCHxD_INxH,...")
    ap.add_argument("--engines", default=",".join(ENGINES))
    args = ap.parse_args()
    engines = args.engines.split(",")
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        raise SystemExit(f"unknown engines {unknown}; choose from {list(ENGINES)}")
    import torch
    torch.set_num_threads(2)
    try:
        from threadpoolctl import threadpool_info
        blas = ", ".join(f"{i['internal_api']} {i.get('architecture')} x{i['num_threads']}" for i in threadpool_info())
    except ImportError:
        blas = "threadpoolctl not installed"
    print(f"BLAS: {blas}; torch threads: {torch.get_num_threads()}")
    print("\n| batch, D_in, H | " + " | ".join(engines) + " | ours vs the best peer | round by round |")
    print("|---|" + "---|" * (len(engines) + 2))
    for spec in args.sizes.split(","):
        n, d, h = map(int, spec.split("x"))
        x, y = batch(n, d)
        steps = {e: ENGINES[e](x, y, h) for e in engines}
        for step in steps.values():
            for _ in range(3):
                step()
        times: dict[str, list[float]] = {e: [] for e in engines}
        for r in range(args.rounds):
            for e in engines if r % 2 == 0 else engines[::-1]:
                gc.collect()
                times[e].append(per_step(steps[e], args.seconds))
        med = {e: statistics.median(t) for e, t in times.items()}
        cells = [f"{fmt(med[e])} ({fmt(min(times[e]))}-{fmt(max(times[e]))})" for e in engines]
        peers = [med[e] for e in engines if e != "tinygrad_norm"]
        ratio = rounds = ""
        if peers and "tinygrad_norm" in med:
            ratio = f"{min(peers) / med['tinygrad_norm']:.2f}x"
            per_round = [min(times[e][r] for e in engines if e != "tinygrad_norm") / times["tinygrad_norm"][r]
                         for r in range(args.rounds)]
            rounds = f"{min(per_round):.2f}x-{max(per_round):.2f}x"
        print(f"| {n}, {d}, {h} | " + " | ".join(cells) + f" | {ratio} | {rounds} |", flush=True)
        del steps
        gc.collect()


if __name__ == "__main__":
    main()
