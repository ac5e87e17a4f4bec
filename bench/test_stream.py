"""Statistics of a CSV bigger than memory, streamed: ours against pandas + scikit-learn and dask-ml, per file size.

Engines, each fitting a standard scaler (mean, variance with ddof 0) on the whole file:

- ``tinygrad_norm``: ``Normalizer("standard", ddof=0).fit(tn.datasets.iter_table(path))`` (pyarrow parses blocks
  of the file in a thread, one 16 MiB chunk of float64 at a time is fitted);
- ``pandas+sklearn``: ``pandas.read_csv(path, chunksize=...)`` and ``StandardScaler.partial_fit`` per chunk (the
  same rows per chunk as ours), the way scikit-learn's documentation scales out of core;
- ``dask-ml``: ``dask_ml.preprocessing.StandardScaler().fit(dask.dataframe.read_csv(path))`` on dask's default
  (threaded) scheduler.

Each runs in a fresh Python process, so its peak resident memory (``VmHWM``) is its own: imports, buffers and
all. ``extra_info`` has rows per second (of the fit alone, after the imports), the peak RSS in MiB, and the
relative errors of the mean and variance against bench/make_table.py's fsum reference (``rel_err_mean``,
``rel_err_var``: max over the columns of |estimate / reference - 1|). Ours must be within 1e-12 (asserted:
a correctness check, not a timing one).

The files are written by bench/make_table.py into a temporary folder and deleted afterwards; it writes GBs, so
the module skips unless ``TINYGRAD_NORM_BIG_BENCH=1``. ``TINYGRAD_NORM_BIG_BENCH_GIB`` (default ``1,5``) gives
the sizes, ``TINYGRAD_NORM_BIG_BENCH_DIR`` the folder to write under (default: the system's temp folder).

    TINYGRAD_NORM_BIG_BENCH=1 env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        pytest bench/test_stream.py --benchmark-only --benchmark-json=bench/stream.json
    python bench/report.py bench/stream.json
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

if os.environ.get("TINYGRAD_NORM_BIG_BENCH") != "1":
    pytest.skip("writes CSV files of several GB: set TINYGRAD_NORM_BIG_BENCH=1 to run it", allow_module_level=True)
pytest.importorskip("pyarrow", reason="iter_table needs pyarrow (pip install -e '.[files]')")

sys.path.insert(0, str(Path(__file__).parent))
import make_table  # noqa: E402

SIZES = [float(s) for s in os.environ.get("TINYGRAD_NORM_BIG_BENCH_GIB", "1,5").split(",")]
ENGINES = ["tinygrad_norm", "pandas+sklearn", "dask-ml"]
COLUMNS = 8

# Each engine: a script run as `python -c SCRIPT PATH CHUNK_ROWS`; it prints one JSON line. Imports come first, so
# the timing is the fit's; VmHWM is read at the end (the process's peak, imports included).
_PRELUDE = """
import json, sys, time
path, chunk_rows = sys.argv[1], int(sys.argv[2])
def rss(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))
"""
_SCRIPTS = {
    "tinygrad_norm": """
import numpy as np, pyarrow.csv, tinygrad_norm as tn
tn.Normalizer().fit(np.ones((1 << 20, 1)))  # numba's cache load, outside the timing (as in bench/test_normalize.py)
before = rss("VmRSS:")
start = time.perf_counter()
norm = tn.Normalizer("standard", ddof=0).fit(tn.datasets.iter_table(path, chunk_rows=chunk_rows))
seconds = time.perf_counter() - start
mean, var, rows = norm.mean.tolist(), norm.var.tolist(), norm.count
""",
    "pandas+sklearn": """
import numpy as np, pandas as pd
from sklearn.preprocessing import StandardScaler
before = rss("VmRSS:")
start = time.perf_counter()
scaler = StandardScaler()
for frame in pd.read_csv(path, chunksize=chunk_rows, dtype=np.float64):
    scaler.partial_fit(frame.to_numpy())
seconds = time.perf_counter() - start
mean, var, rows = scaler.mean_.tolist(), scaler.var_.tolist(), int(scaler.n_samples_seen_)
""",
    "dask-ml": """
import numpy as np, dask, dask.dataframe as dd
from dask_ml.preprocessing import StandardScaler
before = rss("VmRSS:")
start = time.perf_counter()
scaler = StandardScaler().fit(dd.read_csv(path, dtype=np.float64))
seconds = time.perf_counter() - start
mean, var, rows = np.asarray(scaler.mean_).tolist(), np.asarray(scaler.var_).tolist(), None  # (its count is NaN)
""",
}
_POSTLUDE = """
print(json.dumps({"seconds": seconds, "rows": rows, "mean": mean, "var": var, "peak_rss": rss("VmHWM:"),
                  "rss_before": before}))
"""


@pytest.fixture(scope="module")
def tables():
    """size (GiB) -> (path, reference statistics), each file written once, all deleted at the end."""
    folder = Path(tempfile.mkdtemp(prefix="tinygrad_norm_big_", dir=os.environ.get("TINYGRAD_NORM_BIG_BENCH_DIR")))
    made: dict[float, tuple[Path, dict]] = {}

    def table(gib: float) -> tuple[Path, dict]:
        if gib not in made:  # (kept until the module ends: the engines take turns on each)
            path = folder / f"table-{gib:g}GiB.csv"
            made[gib] = (path, make_table.generate(path, gib, COLUMNS, log=lambda *_: None))
            with open(path, "rb") as f:  # the file's dirty pages on disk now, not written back during the first run
                os.fsync(f.fileno())
        return made[gib]

    try:
        yield table
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run(engine: str, path: Path, chunk_rows: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    code = _PRELUDE + _SCRIPTS[engine] + _POSTLUDE
    run = subprocess.run([sys.executable, "-c", code, str(path), str(chunk_rows)], capture_output=True, text=True,
                         env=env, timeout=3600)
    if run.returncode != 0:
        raise RuntimeError(f"{engine} failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("gib", SIZES, ids=[f"{g:g}GiB" for g in SIZES])
@pytest.mark.parametrize("engine", ENGINES)
def test_stream_fit(benchmark, tag, tables, engine, gib):
    if engine == "pandas+sklearn":
        pytest.importorskip("pandas", reason="pandas is not installed (the 'dask' extra)")
        pytest.importorskip("sklearn", reason="scikit-learn is not installed (the 'bench' extra)")
    if engine == "dask-ml":
        pytest.importorskip("dask_ml", reason="dask-ml is not installed (the 'bench' extra)")
    path, ref = tables(gib)
    chunk_rows = (16 << 20) // (8 * COLUMNS)  # ours' default chunk, given to pandas too
    benchmark.group = f"streaming fit of a {ref['bytes'] / (1 << 30):.1f} GiB CSV ({ref['rows']:,} x {COLUMNS})"
    result: dict = {}
    benchmark.pedantic(lambda: result.update(_run(engine, path, chunk_rows)), rounds=1, iterations=1)
    errors = {"rel_err_mean": float(np.max(np.abs(np.array(result["mean"]) / ref["mean"] - 1))),
              "rel_err_var": float(np.max(np.abs(np.array(result["var"]) / ref["var"] - 1)))}
    tag(engine, ref["bytes"], shape=f"{gib:g}GiB", rows_per_s=ref["rows"] / result["seconds"],
        fit_s=result["seconds"], peak_rss_mib=result["peak_rss"] / (1 << 20),
        rss_before_mib=result["rss_before"] / (1 << 20), **errors)
    assert result["rows"] in (ref["rows"], None)
    if engine == "tinygrad_norm":
        assert errors["rel_err_mean"] < 1e-12 and errors["rel_err_var"] < 1e-12, errors
