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


def test_the_identity_cache_stays_small_when_normalizers_are_rebuilt():
    """A normalizer rebuilt for every call (a model reloaded per request, the Dask path) brings new read-only
    statistics each time: the backend's cache of them must not grow with the calls."""
    from tinygrad_norm import _cpu

    rng = np.random.default_rng(6)
    state = tn.Normalizer("standard").fit(rng.standard_normal((50, 300))).state_dict()
    x = rng.standard_normal((4, 300))
    for _ in range(300):
        tn.Normalizer.from_state_dict(state).transform(x)
    assert len(_cpu._PREPARED_BY_ID) <= 65 and len(_cpu._PREPARED) <= 257


def test_statistics_made_writable_again_and_edited_are_not_served_from_the_cache():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((16639, 8))  # narrow: a widened view with tiled statistics, and leftover rows
    norm = tn.Normalizer("standard").fit(x)
    norm.transform(x)
    scale = norm.scale
    scale.flags.writeable = True
    scale[:] = 1.0
    np.testing.assert_allclose(norm.transform(x), x - norm.shift, rtol=1e-12, atol=1e-12)


def test_a_normalizer_pickled_before_the_caches_existed_still_works():
    import pickle

    rng = np.random.default_rng(8)
    x = rng.standard_normal((40, 3))
    norm = tn.Normalizer("standard").fit(x)
    norm.transform(x)
    old = pickle.loads(pickle.dumps(norm))
    for name in ("_spreads_of", "_careful_for"):  # what an older version's pickle lacks
        old.__dict__.pop(name, None)
    np.testing.assert_allclose(old.std, x.std(0, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(old.transform(x), norm.transform(x), rtol=0, atol=0)


def test_assigning_a_setting_is_validated_and_transform_follows_it():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((30, 2))
    norm = tn.Normalizer("standard").fit(x)
    norm.transform(x)
    norm.ddof = 0
    assert norm.get_params()["ddof"] == 0
    np.testing.assert_allclose(norm.transform(x), (x - x.mean(0)) / x.std(0), rtol=1e-12)
    norm.with_mean = False
    np.testing.assert_allclose(norm.transform(x), x / x.std(0), rtol=1e-12)
    with pytest.raises(ValueError, match="ddof"):
        norm.ddof = -1
    assert norm.ddof == 0  # unchanged by the refused assignment
    mm = tn.Normalizer("minmax").fit(x)
    mm.transform(x)
    mm.feature_range = (-1.0, 1.0)
    np.testing.assert_allclose(mm.transform(x).min(0), -1.0)


def test_the_normalize_layer_follows_its_normalizer():
    rng = np.random.default_rng(10)
    a, b = rng.standard_normal((100, 3)), rng.standard_normal((100, 3)) * 5 + 2
    x = rng.standard_normal((8, 3)).astype(np.float32)
    norm = tn.Normalizer("standard").fit(a)
    layer = tn.nn.Normalize(norm)
    layer(tn.Tensor(x))
    layer.normalizer.partial_fit(b)  # refit in place
    np.testing.assert_allclose(layer(tn.Tensor(x)).numpy(), layer.normalizer.transform(x), rtol=1e-6)
    layer.normalizer = tn.Normalizer("minmax").fit(b)  # another normalizer
    np.testing.assert_allclose(layer(tn.Tensor(x)).numpy(), layer.normalizer.transform(x), rtol=1e-6)
