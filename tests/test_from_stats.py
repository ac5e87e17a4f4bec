"""Normalizers from given statistics (``Normalizer.from_stats``, like Keras' ``Normalization(mean=, variance=)``)
and from a list of batches (``fit([b0, b1, ...])``, like Keras' ``adapt``), against fitted normalizers and
float64 NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_norm as tn
from tinygrad_norm.normalize import Normalizer

# The statistics are float64 throughout: a given var goes through M2 = var * (count - ddof) and back, a given std
# through std**2 and back (each a rounding or two, ~1e-16 relative), so transforms agree to ~1e-15 relative;
# 1e-12 leaves room without letting any real difference (a wrong ddof is ~1e-4 at 5000 rows) through.
RTOL = 1e-12


@pytest.fixture
def x(rng) -> np.ndarray:
    return rng.standard_normal((5000, 3)) * [1.0, 1e3, 1e-2] + [0.0, -5e2, 3.0]


def given_stats(fitted: Normalizer, how: str) -> dict:
    """The statistics of a fitted normalizer, as a user would pass them to from_stats."""
    if fitted.method == "standard":
        return {"mean": fitted.mean, **({"std": fitted.std} if how == "std" else {"var": fitted.var})}
    if fitted.method == "minmax":
        return {"min": fitted.min, "max": fitted.max}
    return {"max_abs": np.maximum(np.abs(fitted.min), np.abs(fitted.max))}


CASES = [
    ("standard", {}, "var"),
    ("standard", {"ddof": 0}, "std"),
    ("standard", {"with_mean": False}, "var"),
    ("minmax", {"feature_range": (-1.0, 1.0), "clip": True}, None),
    ("maxabs", {"clip": True}, None),
]


@pytest.mark.parametrize("method,options,how", CASES)
def test_from_stats_equals_fit_on_data_with_those_statistics(tmp_path, x, method, options, how):
    fitted = Normalizer(method, feature_names=["a", "b", "c"], **options).fit(x)
    given = Normalizer.from_stats(method, **given_stats(fitted, how), count=fitted.count, feature_names=["a", "b", "c"],
                                  **options)
    assert given.is_fitted and given.count == 5000 and given.n_features == 3 and given.feature_names == ["a", "b", "c"]
    assert given.get_params() == fitted.get_params()
    probe = x * 1.5 + 0.25  # beyond the training range too (clip)
    np.testing.assert_allclose(given.transform(probe), fitted.transform(probe), rtol=RTOL, atol=RTOL)
    y = fitted.transform(probe)
    np.testing.assert_allclose(given.inverse_transform(y), fitted.inverse_transform(y), rtol=RTOL, atol=RTOL)
    # the float64 NumPy reference of the transform
    if method == "standard":
        ddof = options.get("ddof", 1)
        shift = x.mean(0) if options.get("with_mean", True) else 0.0
        ref = (probe - shift) / x.std(0, ddof=ddof)
    elif method == "minmax":
        ref = np.clip((probe - x.min(0)) / (x.max(0) - x.min(0)) * 2 - 1, -1, 1)
    else:
        ref = np.clip(probe / np.abs(x).max(0), -1, 1)
    np.testing.assert_allclose(given.transform(probe), ref, rtol=1e-10, atol=1e-12)
    if method != "maxabs":  # (a given max_abs is printed as max|x|, not as a min and max)
        assert repr(given) == repr(fitted)
    # save/load round trip: the same transform exactly
    tn.save({"norm": given.state_dict()}, tmp_path / "n.npz")
    back = Normalizer.from_state_dict(tn.load(tmp_path / "n.npz")["norm"])
    np.testing.assert_array_equal(back.transform(probe), given.transform(probe))
    np.testing.assert_array_equal(back.inverse_transform(y), given.inverse_transform(y))
    assert repr(back) == repr(given) and back.count == 5000
    # a layer built on it carries it the same way
    layer = tn.nn.Normalize(given)
    np.testing.assert_array_equal(layer(tn.Tensor(probe.astype(np.float32))).numpy(),
                                  given.transform(tn.Tensor(probe.astype(np.float32))).numpy())


@pytest.mark.parametrize("method", ["standard", "minmax", "maxabs"])
def test_from_stats_with_a_count_takes_more_rows_like_a_fit(x, method):
    """With count=, partial_fit continues the given statistics as it continues a fit's."""
    first = Normalizer(method).fit(x[:3000])
    given = Normalizer.from_stats(method, **given_stats(first, "var"), count=3000).partial_fit(x[3000:])
    whole = Normalizer(method).fit(x)
    np.testing.assert_allclose(given.transform(x), whole.transform(x), rtol=RTOL, atol=RTOL)
    assert given.count == 5000


def test_unknown_count_transforms_saves_and_loads_but_cannot_take_more_rows(tmp_path, x):
    mean, var = x.mean(0), x.var(0, ddof=1)
    norm = Normalizer.from_stats("standard", mean=mean, var=var)
    assert norm.is_fitted and norm.count is None
    np.testing.assert_allclose(norm.transform(x), (x - mean) / np.sqrt(var), rtol=RTOL, atol=RTOL)
    np.testing.assert_array_equal(norm.var, var)  # the variance as given
    assert "unknown number of rows" in repr(norm)
    state = norm.state_dict()
    # an unknown count is saved as None (JSON null), with var in place of m2 (M2 needs the count)
    assert state["count"] is None and "var" in state and "m2" not in state
    tn.save(state, tmp_path / "n.npz")
    back = Normalizer.from_state_dict(tn.load(tmp_path / "n.npz"))
    assert back.count is None
    np.testing.assert_array_equal(back.transform(x), norm.transform(x))
    before = norm.state_dict()
    with pytest.raises(tn.ArgumentError, match=r"unknown number of rows.*count=N"):
        norm.partial_fit(x)
    with pytest.raises(tn.ArgumentError, match=r"batch 0 of 2: .*unknown number of rows"):
        norm.partial_fit([x[:10], x[10:]])
    assert norm.count is None and norm.state_dict().keys() == before.keys()
    np.testing.assert_array_equal(norm.transform(x), back.transform(x))  # unchanged
    # ddof has nothing to act on without a count: refused, never ignored
    norm.set_params(ddof=0)  # (set_params only checks each value, as in scikit-learn)
    with pytest.raises(tn.ArgumentError, match="ddof=0 .*without a row count"):
        norm.transform(x)
    # fit replaces given statistics by fitted ones
    assert Normalizer.from_stats("minmax", min=[0.0], max=[1.0]).fit(x[:, :1]).count == 5000


@pytest.mark.parametrize("kwargs,error,match", [
    ({"method": "standard", "mean": [0.0], "var": [1.0], "std": [1.0]}, tn.ArgumentError, "var= or std=, not both"),
    ({"method": "standard", "mean": [0.0]}, tn.ArgumentError, r"needs var or std="),
    ({"method": "standard", "var": [1.0]}, tn.ArgumentError, r"needs mean="),
    ({"method": "standard", "mean": [0.0, 1.0], "var": [1.0, -2.0]}, tn.ArgumentError,
     r"var must be >= 0.*feature\(s\) 1"),
    ({"method": "standard", "mean": [0.0, 1.0], "std": [-1.0, 2.0]}, tn.ArgumentError,
     r"std must be >= 0.*feature\(s\) 0"),
    ({"method": "standard", "mean": [0.0, np.nan], "var": [1.0, 1.0]}, tn.ArgumentError, r"mean is not finite.*1"),
    ({"method": "standard", "mean": [0.0], "var": [np.inf]}, tn.ArgumentError, "var is not finite"),
    ({"method": "standard", "mean": [0.0, 1.0], "var": [1.0]}, tn.ShapeError, "one value per feature"),
    ({"method": "standard", "mean": 0.0, "var": 1.0}, tn.ShapeError, r"1-D.*mean=\[value\]"),
    ({"method": "standard", "mean": [[0.0]], "var": [[1.0]]}, tn.ShapeError, "must be 1-D"),
    ({"method": "standard", "mean": ["a"], "var": [1.0]}, tn.ArgumentTypeError, "must be numbers"),
    ({"method": "standard", "mean": [0.0], "var": [1.0], "min": [0.0]}, tn.ArgumentError,
     r"takes mean= and var= \(or std=\); min= is not one of its statistics"),
    ({"method": "minmax", "min": [0.0, 2.0], "max": [1.0, 1.0]}, tn.ArgumentError, r"min > max.*feature\(s\) 1"),
    ({"method": "minmax", "min": [0.0]}, tn.ArgumentError, "needs max="),
    ({"method": "minmax", "min": [0.0], "max": [1.0], "mean": [0.5]}, tn.ArgumentError, "mean= is not one of"),
    ({"method": "maxabs", "max_abs": [1.0, -1.0]}, tn.ArgumentError, r"max_abs must be >= 0.*feature\(s\) 1"),
    ({"method": "maxabs", "min": [0.0], "max": [1.0]}, tn.ArgumentError, r"takes max_abs=; min=, max="),
    ({"method": "zscore", "mean": [0.0]}, tn.ArgumentError, "unknown normalization method"),
    # the constructor's options, validated as the constructor validates them
    ({"method": "standard", "mean": [0.0], "var": [1.0], "clip": True}, tn.ArgumentError, "does not use clip=True"),
    ({"method": "minmax", "min": [0.0], "max": [1.0], "count": 4, "ddof": 0}, tn.ArgumentError, "does not use ddof=0"),
    ({"method": "minmax", "min": [0.0], "max": [1.0], "feature_range": (1, 0)}, tn.ArgumentError, "low < high"),
    ({"method": "standard", "mean": [0.0], "var": [1.0], "feature_names": ["a", "b"]}, tn.ShapeError,
     "2 feature names for 1 features"),
    ({"method": "standard", "mean": [0.0], "var": [1.0], "ddof": -1, "count": 3}, tn.ArgumentError,
     "ddof must be a non-negative integer"),
    # the count: a positive integer, or None (unknown)
    ({"method": "standard", "mean": [0.0], "var": [1.0], "count": 0}, tn.ArgumentError, "count must be a positive"),
    ({"method": "standard", "mean": [0.0], "var": [1.0], "count": True}, tn.ArgumentError, "count must be a positive"),
    ({"method": "standard", "mean": [0.0], "var": [1.0], "count": 1}, tn.ArgumentError, "needs count > 1"),
    ({"method": "standard", "mean": [0.0], "var": [1.0], "ddof": 0}, tn.ArgumentError, "count is None"),
    ({"method": "standard", "mean": [0.0], "var": [1e300], "count": 2**62}, tn.ArgumentError, "overflows float64"),
])
def test_bad_statistics_are_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        Normalizer.from_stats(**kwargs)


def test_from_stats_takes_tensors_and_a_constant_feature_warns_as_in_fit():
    norm = Normalizer.from_stats("standard", mean=tn.Tensor([1.0, 2.0]), std=tn.Tensor([0.0, 2.0]))
    with pytest.warns(tn.NormalizerWarning, match="feature.*0.*constant"):
        out = norm.transform(np.array([[1.0, 4.0]]))
    np.testing.assert_allclose(out, [[0.0, 1.0]])


def test_maxabs_from_max_abs_loads_in_a_reader_that_knows_only_min_and_max(x):
    """The checkpoint of a given max_abs carries min = -max_abs and max = max_abs beside it: what an older reader,
    which knows no max_abs, needs for the same transform; this reader knows from max_abs that there is no range."""
    norm = Normalizer.from_stats("maxabs", max_abs=[2.0, 4.0, 8.0], count=10)
    state = norm.state_dict()
    np.testing.assert_array_equal(state["min"], [-2.0, -4.0, -8.0])
    np.testing.assert_array_equal(state["max"], [2.0, 4.0, 8.0])
    older = {k: v for k, v in state.items() if k != "max_abs"}  # what an older reader reads
    np.testing.assert_array_equal(Normalizer.from_state_dict(older).transform(x), norm.transform(x))
    back = Normalizer.from_state_dict(state)
    assert back.min is None and back._max_abs is not None
    np.testing.assert_array_equal(back.max_abs, [2.0, 4.0, 8.0])
    bad = {**state, "max": state["max"] * 2}
    with pytest.raises(tn.ArgumentError, match="beside 'max_abs' must be -max_abs and max_abs"):
        Normalizer.from_state_dict(bad)


def test_state_dict_checks_of_the_new_keys(x):
    fitted = Normalizer().fit(x)
    state = fitted.state_dict()
    for broken, match in [({**state, "count": None}, "'m2' needs the row count"),
                          ({**state, "var": state["m2"]}, "'var' is saved only for an unknown row count"),
                          ({k: v for k, v in state.items() if k != "max"}, "come in pairs"),
                          ({**state, "max_abs": np.ones(3)}, "'max_abs' is a maxabs statistic"),
                          ({**state, "min": state["max"] + 1}, "min > max"),
                          ({**state, "count": "7"}, r"count must be a positive integer below 2\*\*63, got '7'")]:
        with pytest.raises(tn.ArgumentError, match=match):
            Normalizer.from_state_dict(broken)


# ---- fit on a list of batches ----------------------------------------------------------------------------
def statistics(norm: Normalizer) -> dict:
    return {"count": norm.count, "mean": norm.mean, "m2": norm._m2, "min": norm.min, "max": norm.max}


def assert_same_fit(a: Normalizer, b: Normalizer) -> None:
    """Statistics to rtol 1e-12 (Chan's merge over other block boundaries rounds differently in the last bits);
    min and max exactly; the mean relative to its column's magnitude (it may be ~0)."""
    sa, sb = statistics(a), statistics(b)
    assert sa["count"] == sb["count"] and a.n_features == b.n_features and a.feature_names == b.feature_names
    magnitude = np.maximum(np.abs(sb["min"]), np.abs(sb["max"]))
    assert np.all(np.abs(sa["mean"] - sb["mean"]) <= 1e-12 * magnitude)
    np.testing.assert_allclose(sa["m2"], sb["m2"], rtol=1e-12)
    np.testing.assert_array_equal(sa["min"], sb["min"])
    np.testing.assert_array_equal(sa["max"], sb["max"])


@pytest.mark.parametrize("method", ["standard", "minmax", "maxabs"])
@pytest.mark.parametrize("container", [list, tuple])
def test_fit_on_a_list_of_batches_equals_fit_on_their_concatenation(x, method, container):
    batches = container(np.array_split(x.astype(np.float32), 7))
    whole = Normalizer(method).fit(np.concatenate(batches))
    assert_same_fit(Normalizer(method).fit(batches), whole)
    # a float64 NumPy reference
    x64 = np.concatenate(batches).astype(np.float64)
    norm = Normalizer(method).fit(batches)
    np.testing.assert_allclose(norm._m2, ((x64 - x64.mean(0)) ** 2).sum(0), rtol=1e-12)
    # partial_fit takes batches too
    assert_same_fit(Normalizer(method).partial_fit(batches[:3]).partial_fit(batches[3:]), whole)


def test_batches_of_every_kind_mix():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((900, 2)) * [2.0, 50.0]
    frames = [pd.DataFrame(x[:300], columns=["u", "v"]), tn.Tensor(x[300:600].astype(np.float32)),
              x[600:].astype(np.int64)]
    mixed = Normalizer().fit(frames)
    ref = Normalizer().fit(np.concatenate([x[:300], x[300:600].astype(np.float32).astype(np.float64),
                                           x[600:].astype(np.int64)]))
    assert mixed.feature_names == ["u", "v"]
    ref.set_params(feature_names=["u", "v"])
    assert_same_fit(mixed, ref)


def test_dask_batches_mix_with_in_memory_ones(x):
    da = pytest.importorskip("dask.array", reason="dask is not installed")
    dask = pytest.importorskip("dask")
    with dask.config.set(scheduler="threads"):
        norm = Normalizer().fit([da.from_array(x[:2500], chunks=(600, 3)), x[2500:]])
    assert_same_fit(norm, Normalizer().fit(x))


def test_ragged_batches_are_an_error_naming_the_batch(x):
    norm = Normalizer().fit(x[:10])
    before = statistics(norm)
    with pytest.raises(tn.ShapeError, match=r"fit: batch 2 has 2 features, batch 0 has 3"):
        norm.fit([x[:10], x[10:20], x[20:30, :2], x[30:40]])
    with pytest.raises(tn.ShapeError, match=r"partial_fit: batch 1 has 4 features, batch 0 has 3"):
        norm.partial_fit((x[:10], np.ones((3, 4))))
    assert statistics(norm)["count"] == before["count"]  # nothing changed
    np.testing.assert_array_equal(norm.mean, before["mean"])


def test_a_bad_batch_is_named_and_changes_nothing(x):
    norm = Normalizer().fit(x)
    before = norm.state_dict()
    bad = x[100:200].copy()
    bad[5, 1] = np.nan
    with pytest.raises(tn.ArgumentError, match=r"fit: batch 1 of 3: fit data contains 1 NaN/inf value\(s\) "
                                               r"\(feature 1: 1\)"):
        norm.fit([x[:100], bad, x[200:300]])
    after = norm.state_dict()
    assert after["count"] == before["count"]
    for key in ("mean", "m2", "min", "max"):
        np.testing.assert_array_equal(after[key], before[key])


def test_a_nested_list_of_numbers_is_one_array_not_batches():
    """A list or tuple whose items are all 2-D tables is batches; any other list (rows of numbers, 1-D arrays) is
    an array and any other tuple an iterable of chunks, both as before."""
    rows = [[1.0, 2.0], [3.0, 5.0], [4.0, 9.0]]
    for data in (rows, [np.array(r) for r in rows], [tuple(r) for r in rows]):
        norm = Normalizer().fit(data)
        assert norm.count == 3 and norm.n_features == 2
        np.testing.assert_allclose(norm.mean, [8 / 3, 16 / 3], rtol=1e-15)
    # a tuple of (X, y) pairs is an iterable of chunks (their X's), as it was
    x = np.array(rows)
    pairs = Normalizer().fit(((x[:1], np.zeros(1)), (x[1:], np.zeros(2))))
    np.testing.assert_allclose(pairs.mean, [8 / 3, 16 / 3], rtol=1e-15)
    with pytest.raises(tn.ShapeError, match=r"expected a 2-D array.*\(2,\)"):
        Normalizer().fit(tuple(rows))  # chunks of one row each, written as 1-D: as before, an error
    # a list of 2-D arrays of one row each: three batches, the same statistics
    batches = Normalizer().fit([np.array([r]) for r in rows])
    assert batches.count == 3
    np.testing.assert_allclose(batches.mean, [8 / 3, 16 / 3], rtol=1e-15)
    # a list of lists of rows is a 3-D array, not batches: the same error as before
    with pytest.raises(tn.ShapeError, match=r"expected a 2-D array.*\(2, 1, 2\)"):
        Normalizer().fit([[[1.0, 2.0]], [[3.0, 4.0]]])
    with pytest.raises(tn.ShapeError, match="expected a 2-D array"):
        Normalizer().fit([])
