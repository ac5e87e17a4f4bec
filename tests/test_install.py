"""The default install is the fast one (numba is a runtime dependency), and the NumPy path does the work
where numba cannot be imported."""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys

from conftest import REPO


def _requirements(section: str, key: str) -> list[str]:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    lines = [line.split("#")[0].strip() for line in cfg[section][key].splitlines()]
    return [line for line in lines if line]


def test_numba_is_installed_by_the_readme_first_command():
    """`pip install -e .` (the README's first command) brings numba, so the fused apply and fit that the
    README's figures describe are what a new user gets."""
    names = [re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower() for r in _requirements("options", "install_requires")]
    assert "numba" in names


def test_without_numba_the_numpy_path_gives_the_same_results():
    """numba made unimportable (as on a platform without its wheel): apply and fit still work, silently, and
    agree with a float64 reference; the kernels report themselves missing rather than failing."""
    code = r"""
import sys, warnings
sys.modules["numba"] = None  # import numba -> ImportError
warnings.simplefilter("error")
import numpy as np
import tinygrad_norm as tn
from tinygrad_norm import _cpu
rng = np.random.default_rng(0)
x = (rng.standard_normal((20000, 64)) * 3 + 1000).astype(np.float32)  # above both numba thresholds
norm = tn.Normalizer("standard").fit(x)
x64 = x.astype(np.float64)
assert np.allclose(norm.mean, x64.mean(0), rtol=1e-12, atol=0)
assert np.allclose(norm.std, x64.std(0, ddof=1), rtol=1e-10, atol=0)
y = norm.transform(x)
ref = (x64 - x64.mean(0)) / x64.std(0, ddof=1)
assert np.abs(y - ref).max() < 1e-3, np.abs(y - ref).max()
assert _cpu._numba_kernel() is None and _cpu._NUMBA["affine_rows"] is False
print("ok")
"""
    env = {**os.environ, "TINYGRAD_NORM_NUMBA": "1"}  # numba wanted, but it cannot be imported
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-2000:]


def test_the_readme_names_the_extras_its_pandas_and_sklearn_example_needs():
    """The install the "Fit where the data lives" section names brings pandas and scikit-learn."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Fit where the data lives\n", 1)[1].split("\n## ", 1)[0]
    extras = re.search(r'pip install -e "\.\[([\w,]+)\]"', section).group(1).split(",")
    required = " ".join(r for extra in extras for r in _requirements("options.extras_require", extra))
    assert "scikit-learn" in required and "dask[dataframe" in required  # dask's dataframe extra brings pandas
    section_code = "\n".join(re.findall(r"```python\n(.*?)```", section, re.S))
    assert "from sklearn" in section_code and "import pandas" in section_code
