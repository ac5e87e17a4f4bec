"""Turn pytest-benchmark's JSON into the ratio tables of bench/RESULTS.md.

    pytest bench/ --benchmark-only --benchmark-json=bench/results.json
    python bench/report.py bench/results.json

For each group: median time, ratio to every other engine in the group
(> 1 means the other is slower), GB/s where the benchmark moves a known number of
bytes, the fraction of the ``np.copyto`` bandwidth measured in the same run, and the relative
errors of the fitted mean and variance where the benchmark recorded them.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

_EXTRA = {"rows_per_s": ",.0f", "fit_s": ".1f", "peak_rss_mib": ",.0f"}  # extra_info columns and their formats


def fmt_time(s: float) -> str:
    for unit, f in (("s", 1), ("ms", 1e3), ("us", 1e6)):
        if s * f >= 1:
            return f"{s * f:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"


def main(path: str) -> None:
    data = json.load(open(path))
    groups: dict[str, list[dict]] = defaultdict(list)
    for b in data["benchmarks"]:
        groups[b["group"]].append(b)
    # the copy bandwidth for each data shape (a small array copies from cache, a large one from memory)
    copy_bw: dict[str, float] = {}
    for b in data["benchmarks"]:
        if b["extra_info"].get("engine") == "np.copyto":
            copy_bw[b["extra_info"].get("shape", "")] = b["extra_info"]["bytes"] / b["stats"]["median"] / 1e9
    info = data.get("machine_info", {})
    print(f"Machine: {info.get('cpu', {}).get('brand_raw', '?')}, {info.get('cpu', {}).get('count', '?')} cores; "
          f"python {info.get('python_version', '?')}; {data.get('datetime', '')[:19]}")
    for shape, bw in copy_bw.items():
        print(f"\nnp.copyto bandwidth measured in this run at {shape}: {bw:.1f} GB/s (read + write)")
    for group, items in groups.items():
        ours = [b for b in items if b["extra_info"].get("engine", "").startswith("tinygrad_norm")]
        base = ours[0] if ours else items[0]
        print(f"\n### {group}\n")
        # groups that measured accuracy too (bench/test_dask.py) get its columns; bench/test_stream.py's also its
        # rows per second, fit time and peak memory
        acc = [k for k in ("rel_err_mean", "rel_err_var", *_EXTRA) if any(k in b["extra_info"] for b in items)]
        print("| engine | median | ratio: engine / ours | GB/s | of copy bandwidth |" + "".join(f" {k} |" for k in acc))
        print("|---|---|---|---|---|" + "---|" * len(acc))
        for b in sorted(items, key=lambda b: b["stats"]["median"]):
            med = b["stats"]["median"]
            nbytes = b["extra_info"].get("bytes", 0)
            gbs = f"{nbytes / med / 1e9:.1f}" if nbytes else ""
            bw = copy_bw.get(b["extra_info"].get("shape", ""))
            frac = f"{nbytes / med / 1e9 / bw:.0%}" if nbytes and bw else ""
            ratio = med / base["stats"]["median"]
            errs = "".join(f" {format(b['extra_info'][k], _EXTRA.get(k, '.2g'))} |" if k in b["extra_info"] else " |"
                           for k in acc)
            print(f"| {b['extra_info'].get('engine', b['name'])} | {fmt_time(med)} | {ratio:.2f}x | {gbs} | {frac} |"
                  + errs)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench/results.json")
