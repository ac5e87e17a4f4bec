"""The apply's caches (statistics converted once, var/std kept, read-only statistics found by identity):
each must follow the statistics it was made from."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_norm as tn


def test_var_and_std_follow_partial_fit_and_ddof_and_are_read_only():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((50, 3)), rng.standard_normal((70, 3)) * 4 + 1
    norm = tn.Normalizer("standard").fit(a)
    np.testing.assert_allclose(norm.var, a.var(0, ddof=1), rtol=1e-12)
    with pytest.raises(ValueError):
        norm.std[0] = 1.0  # the statistics are not writable through the properties
    norm.partial_fit(b)
    both = np.vstack([a, b])
    np.testing.assert_allclose(norm.var, both.var(0, ddof=1), rtol=1e-12)
    norm.ddof = 0
    np.testing.assert_allclose(norm.std, both.std(0), rtol=1e-12)


def test_transform_after_partial_fit_uses_the_new_statistics():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((2000, 8)), rng.standard_normal((3000, 8)) * 3 - 2
    x = rng.standard_normal((16640, 8)).astype(np.float32)  # large enough for the fused kernel
    norm = tn.Normalizer("standard").fit(a)
    first = norm.transform(x)
    norm.partial_fit(b)
    again = norm.transform(x)
    ref = tn.Normalizer("standard").fit(np.vstack([a, b])).transform(x)
    np.testing.assert_array_equal(again, ref)
    assert not np.array_equal(first, again)


def test_standardize_sees_statistics_changed_in_place():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((16640, 8)).astype(np.float32)
    mean, std = np.zeros(8), np.ones(8)
    out = np.empty_like(x)
    tn.standardize(x, mean, std, out=out)
    np.testing.assert_array_equal(out, x)
    mean += 1.0  # the same array objects, new values
    std *= 2.0
    tn.standardize(x, mean, std, out=out)
    np.testing.assert_allclose(out, (x - 1.0) / 2.0, rtol=1e-6, atol=1e-6)
