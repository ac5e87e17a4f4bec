"""Regenerate the README's measured tables, each with the machine and versions it was measured on.

    python bench/readme_tables.py [--only experiments compare outliers seeds] [--readme README.md]

Each table lives in README.md between ``<!-- readme_tables: NAME -->`` and ``<!-- /readme_tables: NAME -->``;
this script replaces what is between the markers (atomically) and leaves the rest of the file alone.
The last digits of these figures depend on the CPU (BLAS kernels, FMA contraction, thread splits), so the
tests check what the lesson claims and the tables' shape, never these digits.

- ``experiments``: ``tinygrad-norm experiments`` (abridged), well under a second;
- ``compare``: ``tinygrad-norm compare`` on the shipped data, 30 epochs, a few seconds;
- ``outliers``: the compare runs of minmax, standard and robust (Adam) without and with ``--outliers 0.01``
  (MedInc and AveRooms of 1% of the training rows x1000), a few of the table's columns, a second or two;
- ``seeds``: best validation and test MSE over 5 init seeds for every ``--norm`` (``regression_seeds.py``),
  100 epochs each, about half a minute.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import sys
import textwrap
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TABLES = ("experiments", "compare", "outliers", "seeds")
OUTLIER_FRACTION = 0.01  # the outliers table's --outliers


def begin(name: str) -> str:
    return f"<!-- readme_tables: {name} -->"


def end(name: str) -> str:
    return f"<!-- /readme_tables: {name} -->"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _blas() -> str:
    """The BLAS NumPy runs and the kernel it chose (threadpoolctl, when installed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS unknown (no threadpoolctl)"
    for info in threadpool_info():
        if info.get("user_api") == "blas":
            return f"{info.get('internal_api')} {info.get('version')} ({info.get('architecture')} kernel)"
    return "BLAS unknown"


def machine_line() -> str:
    """One line: where and with what the table was measured."""
    import numpy as np

    import tinygrad_norm as tn
    from tinygrad_norm import _cpu

    numba = _version("numba") if _cpu.USE_NUMBA else "off (TINYGRAD_NORM_NUMBA=0)"
    return (f"Measured by `python bench/readme_tables.py` on {datetime.date.today().isoformat()}: {_cpu_model()}, "
            f"{os.cpu_count()} cores; Python {platform.python_version()}, tinygrad_norm {tn.__version__}, NumPy "
            f"{np.__version__} with {_blas()}, numba {numba}.")


def experiments_block() -> str:
    from tinygrad_norm import experiments

    results = experiments.run(log=lambda *_: None)
    table = experiments.table(results).splitlines()
    # abridged: the table and the prediction, without the final weights and the column note
    head = table[:table.index("")]
    predict = [line for i, line in enumerate(table) if "a new house" in line or
               (i > 0 and "a new house" in table[i - 1])]
    body = [*textwrap.wrap(experiments.DATA_NOTE, 79), "", *head, "", *predict]
    return "```\n" + "\n".join(body) + "\n```"


def compare_block() -> str:
    from tinygrad_norm.examples.simple_regression.compare import HEADER, compare, table_rows

    rows = compare(log=lambda *_: None)
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(cells) + " |" for cells in table_rows(rows)]
    return "\n".join(lines)


def outliers_block() -> str:
    """minmax, standard and robust (Adam, raw targets) trained on the clean training split and with
    OUTLIER_FRACTION of its rows given the unit error: the columns of ``compare``'s table that tell the lesson."""
    from tinygrad_norm.examples.simple_regression.compare import DEFAULT_RUNS, compare, header, table_rows

    runs = [r for r in DEFAULT_RUNS if r.norm in ("minmax", "standard", "robust") and r.optimizer == "adam"
            and r.target_norm == "none"]
    keep = ["norm", "best valid (epoch)", "test MSE", "test R^2", "spread", "dead ReLUs"]
    lines = []
    for fraction in (0.0, OUTLIER_FRACTION):
        rows = compare(runs, log=lambda *_: None, outliers=fraction)
        columns = header(rows, bulk=True)
        picked = [columns.index(c) for c in keep] + [len(columns) - 1]
        if not lines:
            lines = ["| training rows with the unit error | " + " | ".join(columns[i] for i in picked) + " |",
                     "|" + "---|" * (len(picked) + 1)]
        for row, cells in zip(rows, table_rows(rows, bulk=True)):
            lines.append(f"| {row.outliers} | " + " | ".join(cells[i] for i in picked) + " |")
    return "\n".join(lines)


def seeds_block() -> str:
    sys.path.insert(0, str(REPO / "bench"))
    from regression_seeds import seed_table

    return "\n".join(seed_table(seeds=[1337, 1, 2, 3, 4]))


BLOCKS = {"experiments": experiments_block, "compare": compare_block, "outliers": outliers_block,
          "seeds": seeds_block}


def replace_block(text: str, name: str, content: str) -> str:
    """``text`` with what lies between NAME's markers replaced by ``content``; an error if the markers are
    missing or repeated (nothing is written then)."""
    pattern = re.compile(re.escape(begin(name)) + r"\n.*?\n" + re.escape(end(name)), re.S)
    found = pattern.findall(text)
    if len(found) != 1:
        raise SystemExit(f"README: expected one {begin(name)} ... {end(name)} block, found {len(found)}")
    return pattern.sub(lambda _: f"{begin(name)}\n{content}\n{end(name)}", text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="+", choices=TABLES, default=list(TABLES))
    ap.add_argument("--readme", type=Path, default=REPO / "README.md")
    args = ap.parse_args(argv)
    os.environ.pop("TINYGRAD_NORM_DATA", None)  # the tables are of the shipped data
    from tinygrad_norm.serialization import atomic_write

    text = args.readme.read_text()
    machine = machine_line()
    for name in args.only:
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        text = replace_block(text, name, BLOCKS[name]() + "\n\n" + machine)
    atomic_write(args.readme, lambda f: f.write(text), mode="w")
    print(f"wrote {', '.join(args.only)} into {args.readme}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
