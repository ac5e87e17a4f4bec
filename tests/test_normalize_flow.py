"""The transform reads top to bottom: adapt the input, compute, wrap the result.

What is measured: one ``Normalizer.transform`` of a pandas DataFrame is traced with ``sys.setprofile``; every
``call`` event of a Python function is recorded by its code's file name, and consecutive calls in the same file
are collapsed into one visit. The sequence of visits is the path the data (and a reader following the code)
takes. The class's own file (the file of ``Normalizer.transform``'s code) may be visited at most three times
(entered, then returned to at most twice: adapt -> compute -> wrap): the steps are functions of their own
modules, called in order by the class, not methods that hand control back and forth.

Measured with this tracer (standard method, ``set_output(transform="pandas")``): in the single-module layout
(``normalize.py`` holding the class, the input detection and conversion, and the math, interleaved) the first
transform after a fit entered ``normalize.py`` 10 times (returned to it 9 times: after ``_dask.is_collection``
and ``_pandas.to_array`` for the column check, after ``check_table`` for the feature check, after each NumPy
call while deriving the statistics, ...) and a transform with the statistics already derived 4 times (3
returns), so both cases fail there. In the package layout the class's file is entered once (0 returns): its
``_apply`` calls ``inputs.adapt``, ``apply.apply`` and the adapted input's wrap, and none of them calls back.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

from tinygrad_norm.normalize import Normalizer

pd = pytest.importorskip("pandas")


def _visits(fn, *args) -> list[str]:
    files: list[str] = []

    def profile(frame, event, arg):
        if event == "call":
            name = frame.f_code.co_filename
            if not files or files[-1] != name:
                files.append(name)

    sys.setprofile(profile)
    try:
        fn(*args)
    finally:
        sys.setprofile(None)
    return files


@pytest.mark.parametrize("warm", [False, True], ids=["first-transform", "cached-statistics"])
@pytest.mark.parametrize("method", ["standard", "minmax", "maxabs"])
def test_a_dataframe_transform_returns_to_the_class_file_at_most_twice(method, warm):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(64, 3)), columns=["a", "b", "c"])
    norm = Normalizer(method).fit(df).set_output(transform="pandas")
    if warm:
        norm.transform(df)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        visits = _visits(norm.transform, df)
    home = Normalizer.transform.__code__.co_filename
    entries = visits.count(home)
    assert visits[0] == home
    assert entries - 1 <= 2, (f"transform returned to {home} {entries - 1} times; visits:\n"
                              + "\n".join(visits))
    # and the result is what it was
    out = norm.transform(df)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == ["a", "b", "c"]
