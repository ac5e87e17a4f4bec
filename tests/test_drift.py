"""``Normalizer.drift``: inference data checked against the training statistics every fit keeps (count, mean, M2,
min, max of each feature whatever the method), against float64 NumPy; DataFrames, Tensors, Dask; NaN; older
checkpoints and from_stats normalizers, which lack part of the baseline."""

from __future__ import annotations

import json

import numpy as np
import pytest

import tinygrad_norm as tn
from tinygrad_norm.normalize import Normalizer

METHODS = ["standard", "minmax", "maxabs"]
NAMES = ["rooms", "price", "lat", "age"]
SCALES = np.array([1.0, 1e3, 1e-2, 20.0])
OFFSETS = np.array([3.0, 2e5, 37.0, 40.0])


def draw(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.standard_normal((n, 4)) * SCALES + OFFSETS


@pytest.fixture
def train(rng) -> np.ndarray:
    return draw(rng, 20_000)


def reference(train: np.ndarray, new: np.ndarray, ddof: int = 1) -> dict:
    """The report's statistics in float64 NumPy, on the finite values of each column."""
    t_mean, t_std = train.mean(0), train.std(0, ddof=ddof)
    finite = np.isfinite(new)
    masked = np.where(finite, new, np.nan)
    n = finite.sum(0)
    outside = (finite & ((new < train.min(0)) | (new > train.max(0)))).sum(0)
    return {"fraction_outside": outside / n, "mean_shift": (np.nanmean(masked, 0) - t_mean) / t_std,
            "std_ratio": np.nanstd(masked, 0, ddof=ddof) / t_std, "nonfinite_fraction": (~finite).mean(0)}


def assert_matches(report: tn.DriftReport, ref: dict) -> None:
    # fractions are counts divided by counts: exactly NumPy's. The shift and ratio come from Chan-merged float64
    # moments (exact per block, ~1e-15 relative) against NumPy's two-pass float64: 1e-9 is far above that
    # rounding and far below any real difference; the shift is compared in units of the training std (absolute),
    # since it is ~0 for data from the training distribution.
    np.testing.assert_array_equal(report.fraction_outside, ref["fraction_outside"])
    np.testing.assert_array_equal(report.nonfinite_fraction, ref["nonfinite_fraction"])
    np.testing.assert_allclose(report.mean_shift, ref["mean_shift"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(report.std_ratio, ref["std_ratio"], rtol=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_data_from_the_training_distribution_flags_nothing(rng, train, method):
    norm = Normalizer(method).fit(train)
    new = draw(rng, 5000)
    report = norm.drift(new)
    assert report.ok and report.flagged == [] and report.reasons == {} and report.unavailable == {}
    assert report.rows == 5000 and report.training_rows == 20_000 and report.features == ["x0", "x1", "x2", "x3"]
    assert_matches(report, reference(train, new))
    # for a standard normalizer the mean shift is the mean of the transformed values
    if method == "standard":
        np.testing.assert_allclose(report.mean_shift, norm.transform(new).mean(0), atol=1e-9)


def test_a_feature_shifted_by_three_training_stds_is_flagged_by_name(rng, train):
    pd = pytest.importorskip("pandas")
    norm = Normalizer("minmax").fit(pd.DataFrame(train, columns=NAMES))
    new = draw(rng, 5000)
    new[:, 1] += 3 * train[:, 1].std(ddof=1)
    report = norm.drift(pd.DataFrame(new, columns=NAMES))
    assert report.flagged == ["price"] and not report.ok
    assert report.reasons == {"price": ["outside", "mean"]}  # the spread did not change: its ratio stays ~1
    assert report.features == NAMES
    assert_matches(report, reference(train, new))
    assert 2.9 < report.mean_shift[1] < 3.1 and report.fraction_outside[1] > 0.1
    # the table names it; the plain data says the same
    text = str(report)
    assert "price" in text and "outside, mean" in text and "1 flagged" in text
    data = report.to_dict()
    assert data["flagged"] == ["price"] and data["features"] == NAMES and data["ok"] is False
    assert json.loads(json.dumps(data, allow_nan=False)) == data


def test_thresholds_are_keyword_arguments(rng, train):
    norm = Normalizer().fit(train)
    new = draw(rng, 5000)
    new[:, 0] = (new[:, 0] - 3.0) * 1.6 + 3.0 + 0.3  # spread x1.6, mean +0.3 std: inside the defaults
    assert norm.drift(new).flagged == ["x0"]  # (x1.6 widens the range: ~2% of values outside it)
    assert norm.drift(new, max_outside=0.2).ok
    assert norm.drift(new, max_outside=0.2, std_ratio=(0.8, 1.25)).reasons == {"x0": ["std"]}
    assert norm.drift(new, max_outside=0.2, max_mean_shift=0.2).reasons == {"x0": ["mean"]}
    report = norm.drift(new, max_outside=0.5, max_mean_shift=3, std_ratio=(0.1, 10), max_nonfinite=0.5)
    assert report.thresholds == {"max_outside": 0.5, "max_mean_shift": 3.0, "std_ratio": (0.1, 10.0),
                                 "max_nonfinite": 0.5}
    for kwargs, match in [({"max_outside": 2}, "max_outside must be a fraction"),
                          ({"max_nonfinite": -0.1}, "max_nonfinite must be a fraction"),
                          ({"max_mean_shift": -1}, "max_mean_shift must be a finite number"),
                          ({"max_mean_shift": float("inf")}, "max_mean_shift must be a finite number"),
                          ({"std_ratio": (2, 3)}, r"0 <= low <= 1 <= high"),
                          ({"std_ratio": 2}, "two numbers")]:
        with pytest.raises(tn.ArgumentError, match=match):
            norm.drift(new, **kwargs)
    with pytest.raises(TypeError):
        norm.drift(new, 0.5)  # keyword arguments only


def test_nan_and_inf_are_counted_in_their_own_column(rng, train):
    """Non-finite values are counted in nonfinite_fraction and left out of every other statistic (the training
    data had none: fit refuses them); any flags the feature at the default threshold."""
    norm = Normalizer().fit(train)
    new = draw(rng, 4000)
    new[::10, 2] = np.nan  # 10% missing
    new[3, 3] = np.inf
    new[7, 3] = -np.inf
    report = norm.drift(new)
    assert report.flagged == ["x2", "x3"] and report.reasons == {"x2": ["non-finite"], "x3": ["non-finite"]}
    np.testing.assert_array_equal(report.nonfinite_fraction, [0, 0, 0.1, 2 / 4000])
    assert_matches(report, reference(train, new))  # the other statistics: of the finite values
    assert report.fraction_outside[3] < 0.01  # an inf is non-finite, not "outside"
    assert norm.drift(new, max_nonfinite=0.2).ok
    # a column of NaN only: nothing but the non-finite fraction to report
    new[:, 0] = np.nan
    report = norm.drift(new)
    assert report.nonfinite_fraction[0] == 1.0 and np.isnan([report.mean_shift[0], report.std_ratio[0],
                                                              report.fraction_outside[0]]).all()
    assert json.dumps(report.to_dict(), allow_nan=False)  # NaN becomes None in the plain data


def test_tensors_integers_and_device_data(rng, train):
    norm = Normalizer().fit(train.astype(np.float32))
    new = draw(rng, 3000).astype(np.float32)
    by_array = norm.drift(new)
    by_tensor = norm.drift(tn.Tensor(new))
    np.testing.assert_array_equal(by_tensor.mean_shift, by_array.mean_shift)
    ints = np.round(new).astype(np.int64)
    assert_matches(norm.drift(ints), reference(train.astype(np.float32).astype(np.float64), ints.astype(np.float64)))


def test_columns_and_widths_are_checked_as_transform_checks_them(rng, train):
    pd = pytest.importorskip("pandas")
    norm = Normalizer().fit(pd.DataFrame(train, columns=NAMES))
    new = pd.DataFrame(draw(rng, 100), columns=NAMES)
    with pytest.raises(tn.ArgumentError, match=r"drift: the DataFrame's columns.*another order"):
        norm.drift(new[NAMES[::-1]])
    with pytest.raises(tn.ShapeError, match="drift: input has 3 features, the normalizer was fitted on 4"):
        norm.drift(new.to_numpy()[:, :3])
    with pytest.raises(tn.NotFittedError, match="drift"):
        Normalizer().drift(new)


def test_str_is_a_table_under_100_columns_and_long_lists_are_abbreviated(rng):
    train = rng.standard_normal((4000, 60))
    names = [f"a_rather_long_feature_name_number_{j}" for j in range(60)]
    norm = Normalizer(feature_names=names).fit(train)
    new = rng.standard_normal((1000, 60))
    new[:, 41] += 5
    new[:5, 7] = np.nan
    report = norm.drift(new)
    text = str(report)
    assert all(len(line) <= 100 for line in text.splitlines()), text
    assert report.flagged == [names[7], names[41]]
    lines = text.splitlines()
    # flagged features first, then the others up to 20 rows, then a count of the rest
    assert lines[3].startswith(names[7][:17]) and lines[4].startswith(names[41][:17])
    assert "... and 40 more feature(s), none flagged" in text
    assert repr(report).startswith("DriftReport(1,000 rows x 60 features, flagged: [")


@pytest.mark.parametrize("method", METHODS)
def test_older_checkpoints_load_and_drift_says_what_it_lacks(tmp_path, rng, train, method):
    """A checkpoint of the format before drift baselines holds only its method's statistics: it loads and
    transforms as before; its drift computes what it can and names what it cannot."""
    fitted = Normalizer(method).fit(train)
    state = fitted.state_dict()
    assert {"mean", "m2", "min", "max"} <= state.keys()  # every fit saves all of them now
    old_keys = ("mean", "m2") if method == "standard" else ("min", "max")
    old = {k: v for k, v in state.items() if k not in {"mean", "m2", "min", "max"} - set(old_keys)}
    tn.save({"normalize._extra_state": {"n_features": 4, "normalizer": old}}, tmp_path / "old.npz")
    layer = tn.nn.Normalize(4)
    tn.nn.Sequential(layer).load_state_dict({"0._extra_state": tn.load(tmp_path / "old.npz")
                                             ["normalize._extra_state"]})
    loaded = layer.normalizer
    new = draw(rng, 2000)
    new[:, 0] += 3 * train[:, 0].std()
    np.testing.assert_array_equal(loaded.transform(new), fitted.transform(new))
    report = loaded.drift(new)
    assert report.flagged == ["x0"]
    if method == "standard":  # no training range
        assert np.isnan(report.fraction_outside).all() and report.reasons == {"x0": ["mean"]}
        assert list(report.unavailable) == ["fraction_outside"]
        assert "no training min/max" in report.unavailable["fraction_outside"]
        np.testing.assert_allclose(report.mean_shift, reference(train, new)["mean_shift"], rtol=1e-9, atol=1e-9)
    else:  # no training moments
        assert np.isnan(report.mean_shift).all() and np.isnan(report.std_ratio).all()
        assert report.reasons == {"x0": ["outside"]}
        assert "no training mean/std" in report.unavailable["mean_shift, std_ratio"]
        np.testing.assert_array_equal(report.fraction_outside, reference(train, new)["fraction_outside"])
    assert "not computed:" in str(report)
    # it saves what it has, and loads again the same
    again = Normalizer.from_state_dict(loaded.state_dict())
    assert set(loaded.state_dict()) == set(old)
    np.testing.assert_array_equal(again.transform(new), fitted.transform(new))
    # more rows keep what it has and cannot invent the rest
    more = Normalizer.from_state_dict(old).partial_fit(new)
    assert more.count == 22_000 and (more.mean is None) == (method != "standard")
    assert (more.min is None) == (method == "standard")


def test_from_stats_normalizers_drift_on_what_was_given(rng, train):
    new = draw(rng, 2000)
    standard = Normalizer.from_stats("standard", mean=train.mean(0), std=train.std(0, ddof=1))
    report = standard.drift(new)
    assert report.ok and report.training_rows is None and "unknown number of training rows" in str(report)
    np.testing.assert_allclose(report.std_ratio, reference(train, new)["std_ratio"], rtol=1e-9)
    assert "fraction_outside" in report.unavailable
    minmax = Normalizer.from_stats("minmax", min=train.min(0), max=train.max(0), count=20_000)
    np.testing.assert_array_equal(minmax.drift(new).fraction_outside, reference(train, new)["fraction_outside"])
    maxabs = Normalizer.from_stats("maxabs", max_abs=np.abs(train).max(0))
    assert set(maxabs.drift(new).unavailable) == {"fraction_outside", "mean_shift, std_ratio"}


def test_minmax_of_values_whose_moments_overflow_fits_without_them():
    """Finite values near float64's limit: M2 overflows. minmax/maxabs do not need it: the fit keeps min/max and
    drops the moments (drift says so); standard needs them, and says which feature overflows (as before)."""
    x = np.array([[-1e308, 1.0], [1e308, 2.0]])
    norm = Normalizer("minmax").fit(x)
    assert norm.mean is None and norm.var is None
    np.testing.assert_array_equal(norm.transform(x), [[0, 0], [1, 1]])
    assert "mean_shift, std_ratio" in norm.drift(x).unavailable
    with pytest.raises(tn.ArgumentError, match="overflow float64"):
        Normalizer("standard").fit(x)


def test_constant_training_features_and_single_rows(rng):
    train = np.column_stack([np.full(50, 2.0), rng.standard_normal(50)])
    norm = Normalizer("minmax").fit(train)
    same = norm.drift(np.column_stack([np.full(10, 2.0), rng.standard_normal(10)]))
    assert same.mean_shift[0] == 0 and same.std_ratio[0] == 1 and same.fraction_outside[0] == 0
    moved = norm.drift(np.column_stack([np.full(10, 3.0), rng.standard_normal(10)]))
    assert moved.mean_shift[0] == np.inf and moved.reasons["x0"] == ["outside", "mean"]
    one = norm.drift(train[:1])  # one row: no std (ddof=1), so no ratio to judge
    assert np.isnan(one.std_ratio).all() and one.rows == 1


DASK_LAYOUTS = [(1000, 4), ((1, 2999, 1000), 4), (1500, (1, 3))]


@pytest.mark.parametrize("chunks", DASK_LAYOUTS, ids=["regular", "irregular", "column-chunked"])
def test_dask_drift_equals_in_memory_drift(rng, train, chunks):
    da = pytest.importorskip("dask.array", reason="dask is not installed")
    dask = pytest.importorskip("dask")
    norm = Normalizer().fit(train)
    new = draw(rng, 4000)
    new[:, 1] += 3 * train[:, 1].std()
    new[::50, 3] = np.nan
    memory = norm.drift(new)
    with dask.config.set(scheduler="threads"):
        lazy = norm.drift(da.from_array(new, chunks=chunks))
    assert_same_report(lazy, memory, norm)
    assert lazy.flagged == ["x1", "x3"]


def test_dask_dataframe_drift_on_a_cluster_equals_in_memory(rng, train, dask_cluster):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    dask = pytest.importorskip("dask")
    norm = Normalizer().fit(pd.DataFrame(train, columns=NAMES))
    new = pd.DataFrame(draw(rng, 6000), columns=NAMES)
    new["age"] += 60
    memory = norm.drift(new)
    # (not the default client: the other tests keep the threaded scheduler)
    with distributed.Client(dask_cluster, set_as_default=False) as client, dask.config.set(scheduler=client):
        lazy = norm.drift(dd.from_pandas(new, npartitions=5))
    assert_same_report(lazy, memory, norm)
    assert lazy.flagged == ["age"]


def assert_same_report(a: tn.DriftReport, b: tn.DriftReport, norm: Normalizer) -> None:
    """Counts exactly. Moments merged over other block boundaries round differently in their last bits: a mean
    to a few ulps of the values' magnitude (1e-13 of |training mean| + std bounds it), so its shift in training
    stds to 1e-13 * (|mean| + std) / std (~4e-10 for a column of mean 37 and std 0.01); stds to rtol 1e-12."""
    assert a.features == b.features and a.rows == b.rows and a.flagged == b.flagged and a.reasons == b.reasons
    np.testing.assert_array_equal(a.fraction_outside, b.fraction_outside)
    np.testing.assert_array_equal(a.nonfinite_fraction, b.nonfinite_fraction)
    bound = 1e-13 * (np.abs(norm.mean) + norm.std) / norm.std
    assert np.all(np.abs(a.mean_shift - b.mean_shift) <= bound), (a.mean_shift - b.mean_shift, bound)
    np.testing.assert_allclose(a.std_ratio, b.std_ratio, rtol=1e-12)


def test_a_heavy_tailed_feature_is_not_judged_by_its_std_ratio():
    """One extreme training value holds most of a feature's variance: any sample without it has a far smaller
    std (California housing's AveOccup), so its std ratio is reported but flags nothing; a light-tailed feature
    whose spread halves is still flagged."""
    rng = np.random.default_rng(0)
    train = rng.standard_normal((5000, 2))
    train[0, 0] = 400.0  # holds 400^2 / (400^2 + 5000) = 97% of feature 0's M2
    norm = tn.Normalizer("standard", feature_names=["tail", "normal"]).fit(train)
    new = rng.standard_normal((1000, 2)) * [1.0, 0.3]
    report = norm.drift(new)
    assert report.std_ratio[0] < 0.5 and report.std_ratio[1] < 0.5  # both ratios are small
    assert report.heavy_tailed == ["tail"] and report.flagged == ["normal"] and report.reasons["normal"] == ["std"]
    assert "std ratio not judged for 1 heavy-tailed feature(s) tail" in str(report)
    assert report.to_dict()["heavy_tailed"] == ["tail"]
    assert tn.Normalizer("standard").fit(rng.standard_normal((5000, 2))).drift(new).heavy_tailed == []
