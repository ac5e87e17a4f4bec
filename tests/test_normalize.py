"""Normalizers against float64 NumPy and torch; streaming fits; numerics; errors; the Normalize layer."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_norm as tn
from tinygrad_norm.normalize import Normalizer, NormalizerWarning, standardize


@pytest.fixture
def data(rng):
    scales = np.array([1.0, 1000.0, 0.01, 50.0])
    offsets = np.array([0.0, -500.0, 3.0, 1e4])
    return (rng.standard_normal((3001, 4)) * scales + offsets).astype(np.float32)


def test_standard_matches_float64_numpy_and_torch(data, device):
    x64 = data.astype(np.float64)
    for ddof in (0, 1):
        n = Normalizer("standard", ddof=ddof).fit(tn.Tensor(data, device=device))
        np.testing.assert_allclose(n.mean, x64.mean(0), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(n.std, x64.std(0, ddof=ddof), rtol=1e-10)
        t = torch.from_numpy(x64)
        np.testing.assert_allclose(n.var, torch.var(t, dim=0, correction=ddof).numpy(), rtol=1e-10)
        np.testing.assert_allclose(n.mean, torch.mean(t, dim=0).numpy(), rtol=1e-12, atol=1e-12)
        out = n.transform(tn.Tensor(data, device=device))
        assert isinstance(out, tn.Tensor) and out.device == device and out.dtype == np.float32
        ref = (x64 - x64.mean(0)) / x64.std(0, ddof=ddof)
        # float32 apply: the mean itself rounds to float32, an error of up to one ulp(mean) / std
        ulp = np.spacing(np.abs(x64.mean(0)).astype(np.float32)) / x64.std(0, ddof=ddof)
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=2e-6 + ulp.max())


def test_minmax_and_maxabs_match_numpy(data):
    x64 = data.astype(np.float64)
    mm = Normalizer("minmax").fit(data)
    np.testing.assert_array_equal(mm.min, x64.min(0))
    np.testing.assert_array_equal(mm.max, x64.max(0))
    np.testing.assert_allclose(mm.transform(data), (x64 - x64.min(0)) / (x64.max(0) - x64.min(0)), atol=1e-6)
    fr = Normalizer("minmax", feature_range=(-1, 1)).fit(data)
    np.testing.assert_allclose(fr.transform(data), 2 * (x64 - x64.min(0)) / (x64.max(0) - x64.min(0)) - 1,
                               atol=2e-6)
    ma = Normalizer("maxabs").fit(data)
    np.testing.assert_allclose(ma.transform(data), x64 / np.abs(x64).max(0), rtol=1e-6)
    clipped = Normalizer("minmax", clip=True).fit(data[:100]).transform(data)
    assert clipped.min() == 0.0 and clipped.max() == 1.0


def test_with_mean_and_with_std_switches(data):
    x64 = data.astype(np.float64)
    only_scale = Normalizer("standard", with_mean=False).fit(data).transform(data)
    np.testing.assert_allclose(only_scale, x64 / x64.std(0, ddof=1), rtol=1e-5)
    only_center = Normalizer("standard", with_std=False).fit(data).transform(data)
    ulp = np.spacing(np.abs(x64.mean(0)).astype(np.float32))  # the float32-rounded mean is off by <= 1 ulp
    np.testing.assert_allclose(only_center, x64 - x64.mean(0), rtol=1e-6, atol=ulp.max())


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(1, 2999), max_size=6, unique=True), method=st.sampled_from(["standard", "minmax"]))
def test_partial_fit_over_any_split_equals_fit(cuts, method):
    x = (np.random.default_rng(1).standard_normal((3000, 5)) * [1, 10, 100, 1e3, 1e4]).astype(np.float32)
    whole = Normalizer(method).fit(x)
    streamed = Normalizer(method)
    bounds = [0, *sorted(cuts), 3000]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        streamed.partial_fit(x[lo:hi])
    assert streamed.count == whole.count == 3000
    for stat in ("mean", "std", "min", "max"):
        a, b = getattr(whole, stat), getattr(streamed, stat)
        if a is not None:
            np.testing.assert_allclose(b, a, rtol=1e-12, err_msg=stat)
    # and fit() accepts the same chunks as an iterable (a data loader's batches, (x, y) tuples)
    loader = ((x[lo:hi], None) for lo, hi in zip(bounds[:-1], bounds[1:]))
    np.testing.assert_allclose(Normalizer(method).fit(loader).scale, whole.scale, rtol=1e-12)


@pytest.mark.parametrize("rows", [1000, 100_000, 1_000_003])
def test_large_offset_float32_is_accurate(rows):
    """column = 1e6 + N(0, 0.1) in float32: a naive E[x^2] - E[x]^2 loses every digit here."""
    rng = np.random.default_rng(2)
    x = (1e6 + 0.1 * rng.standard_normal((rows, 3))).astype(np.float32)
    x[:, 1] = (-3e5 + 2.0 * rng.standard_normal(rows)).astype(np.float32)
    ref = x.astype(np.float64)
    n = Normalizer("standard").fit(x)
    np.testing.assert_allclose(n.mean, ref.mean(0), rtol=1e-6)
    np.testing.assert_allclose(n.std, ref.std(0, ddof=1), rtol=1e-6)
    with np.errstate(invalid="ignore"):  # the naive variance can even come out negative
        naive = np.sqrt((x * x).mean(0, dtype=np.float32) - x.mean(0) ** 2)
    assert not np.allclose(naive[0], ref[:, 0].std(), rtol=1e-6)  # the naive formula really fails


def test_outlier_first_row_and_sorted_column_stay_accurate():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((300_000, 2)).astype(np.float32)
    x[0, 0] = 1e6  # the block's first row is far from its mean: the shift must be redone
    x[:, 1] = np.sort(x[:, 1]) + 1e4
    ref = x.astype(np.float64)
    n = Normalizer("standard").fit(x)
    np.testing.assert_allclose(n.mean, ref.mean(0), rtol=1e-7)
    np.testing.assert_allclose(n.std, ref.std(0, ddof=1), rtol=1e-6)


def test_inverse_round_trip_and_targets(data):
    for method in ("standard", "minmax", "maxabs"):
        n = Normalizer(method).fit(data)
        back = n.inverse_transform(n.transform(data))
        # float32 both ways: error relative to each column's magnitude
        assert np.all(np.abs(back - data) <= 2e-6 * np.abs(data).max(0)), method
    y = np.random.default_rng(0).uniform(0.15, 5.0, (100, 1))
    ny = Normalizer("standard").fit(y)
    np.testing.assert_allclose(ny.inverse_transform(ny.transform(y)), y, rtol=1e-12)


def test_save_load_transform_is_bit_identical(tmp_path, data):
    for method in ("standard", "minmax", "maxabs"):
        n = Normalizer(method, feature_names=list("abcd")).fit(data)
        tn.save(n.state_dict(), tmp_path / "n.npz")
        back = Normalizer.from_state_dict(tn.load(tmp_path / "n.npz"))
        np.testing.assert_array_equal(back.transform(data), n.transform(data))
        assert back.feature_names == list("abcd") and back.count == n.count
        assert method in repr(back) and "3001 rows" in repr(back)


def test_constant_column_gets_scale_one_and_a_warning_naming_it():
    x = np.column_stack([np.arange(10.0), np.full(10, 7.0)]).astype(np.float32)
    for method in ("standard", "minmax", "maxabs"):
        n = Normalizer(method, feature_names=["a", "flat"]).fit(x if method != "maxabs" else x * [1, 0])
        with pytest.warns(NormalizerWarning, match="'flat'"):
            out = n.transform(x if method != "maxabs" else x * [1, 0])
        assert n.scale[1] == 1.0 and np.all(out[:, 1] == 0) and np.isfinite(out).all()


def test_nan_and_inf_in_fit_data_name_the_features_and_counts():
    x = np.ones((10, 3), np.float32)
    x[:, 0] = np.arange(10)
    x[2, 1] = np.nan
    x[5, 1] = np.inf
    x[7, 2] = -np.inf
    for method in ("standard", "minmax"):
        with pytest.raises(ValueError, match=r"3 NaN/inf.*feature 1: 2.*feature 2: 1"):
            Normalizer(method).fit(x)


def test_bad_input_errors():
    n = Normalizer("standard")
    with pytest.raises(tn.NotFittedError, match="not fitted"):
        n.transform(np.ones((2, 2)))
    with pytest.raises(ValueError, match="unknown normalization method"):
        Normalizer("zscore")
    with pytest.raises(ValueError, match="empty"):
        n.fit(np.ones((0, 3)))
    with pytest.raises(ValueError, match="2-D.*reshape"):
        n.fit(np.ones(5))
    with pytest.raises(TypeError, match="numeric"):
        n.fit(np.array([["a", "b"]]))
    n.fit(np.random.default_rng(0).standard_normal((5, 3)))
    with pytest.raises(ValueError, match="3 features.*2|2 features.*3"):
        n.transform(np.ones((2, 2)))
    with pytest.raises(ValueError, match="earlier chunks"):
        n.partial_fit(np.ones((2, 4)))


def test_integer_input_is_fitted_exactly_and_transformed_to_float32():
    n = Normalizer("standard").fit(np.array([[1, 2], [3, 4], [5, 7]]))
    out = n.transform(np.array([[1, 2]]))
    assert out.dtype == np.float32
    # Unix timestamps: float32 would round them to multiples of 128 s
    stamps = (1_700_000_000 + np.arange(100)).reshape(-1, 1)
    assert Normalizer("standard").fit(stamps).std[0] == pytest.approx(np.arange(100).std(ddof=1), rel=1e-12)
    big = np.array([[2**24], [2**24 + 1], [2**24 + 1]], dtype=np.int64)
    assert Normalizer("standard").fit(big).std[0] == pytest.approx(np.std([0, 1, 1], ddof=1), rel=1e-12)
    z = Normalizer("standard").fit(stamps).transform(stamps)
    np.testing.assert_allclose(z[:, 0], (np.arange(100) - 49.5) / np.arange(100).std(ddof=1), rtol=1e-6)
    assert Normalizer("minmax").fit(stamps).transform(tn.Tensor(stamps)).dtype == np.float32


def test_standardize_fused_matches_naive_and_works_in_place(data):
    m, s = data.mean(0, dtype=np.float64), data.std(0, ddof=1, dtype=np.float64)
    ref = (data.astype(np.float64) - m) / s
    atol = 2e-6 + (np.spacing(np.abs(m).astype(np.float32)) / s).max()  # the float32-rounded mean
    np.testing.assert_allclose(standardize(data, m, s), ref, rtol=1e-5, atol=atol)
    buf = data.copy()
    res = standardize(buf, m, s, out=buf)
    assert res is buf
    np.testing.assert_allclose(buf, ref, rtol=1e-5, atol=atol)
    with pytest.raises(ValueError, match="one value per column"):
        standardize(data, m[:2], s)


def test_normalize_layer_saves_statistics_and_passes_gradients_like_torch(data, tmp_path):
    n = Normalizer("standard").fit(data)
    model = tn.nn.Sequential(tn.nn.Normalize(n), tn.nn.Linear(4, 1))
    assert "0._extra_state" in model.state_dict() and model.num_params() == 5
    x = tn.Tensor(data[:7], requires_grad=True)
    model(x).sum().backward()
    tx = torch.tensor(data[:7].astype(np.float64), requires_grad=True)
    w = torch.tensor(model[1].weight.numpy().astype(np.float64))
    (((tx - torch.tensor(n.mean)) / torch.tensor(n.std)) @ w.T).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5)
    # a fresh model with an identity Normalize gets the statistics from the checkpoint
    tn.save(model.state_dict(), tmp_path / "m.npz")
    fresh = tn.nn.Sequential(tn.nn.Normalize(4), tn.nn.Linear(4, 1))
    fresh.load_state_dict(tn.load(tmp_path / "m.npz"))
    np.testing.assert_array_equal(fresh(tn.Tensor(data)).numpy(), model(tn.Tensor(data)).numpy())
    np.testing.assert_array_equal(fresh[0](tn.Tensor(data)).numpy(), n.transform(data))


def test_no_constant_warning_for_ordinary_data(data):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Normalizer("standard").fit(data).transform(data)


@pytest.mark.parametrize("shape", [(7, 3), (50, 300), (5000, 1), (1000, 256), (130_001, 37)])
def test_statistics_and_apply_for_narrow_wide_and_odd_shapes(shape):
    """The CPU kernels take different paths for narrow rows (widened views + leftover rows),
    wide rows, and multi-threaded large inputs; all must agree with float64 NumPy."""
    x = (np.random.default_rng(4).standard_normal(shape) * 7 + 3).astype(np.float32)
    ref = x.astype(np.float64)
    n = Normalizer("standard").fit(x)
    np.testing.assert_allclose(n.mean, ref.mean(0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(n.std, ref.std(0, ddof=1), rtol=1e-9)
    mm = Normalizer("minmax").fit(x)
    np.testing.assert_array_equal(mm.min, ref.min(0))
    np.testing.assert_array_equal(mm.max, ref.max(0))
    np.testing.assert_allclose(n.transform(x), (ref - ref.mean(0)) / ref.std(0, ddof=1), rtol=1e-5, atol=2e-6)
    view = x[:, ::2]  # not contiguous: the apply takes its general path
    nv = Normalizer("standard").fit(view)
    np.testing.assert_allclose(nv.transform(view), (view - view.mean(0, dtype=np.float64)) /
                               view.std(0, ddof=1, dtype=np.float64), rtol=1e-5, atol=2e-6)


# ---- issue: statistics that survive every round trip ---------------------------------------------
OPTIONS = [
    ("standard", {}), ("standard", {"ddof": 0}), ("standard", {"with_mean": False}), ("standard", {"with_std": False}),
    ("minmax", {}), ("minmax", {"feature_range": (-1.0, 3.0)}), ("minmax", {"clip": True}),
    ("minmax", {"feature_range": (-2.0, 2.0), "clip": True}), ("maxabs", {}), ("maxabs", {"clip": True}),
]


@pytest.mark.parametrize("method,options", OPTIONS, ids=[f"{m}-{o}" for m, o in OPTIONS])
def test_normalize_layer_rebuilt_bare_from_a_checkpoint_is_bit_identical(tmp_path, method, options):
    """Save a model with a fitted Normalize, rebuild it the PyTorch way (a bare Normalize(3)),
    load_state_dict: in-range AND out-of-range rows give bit-identical outputs."""
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((200, 3)) * [1, 30, 0.01] + [0, -5, 2]).astype(np.float32)
    outside = (x[:20] * 7 + [3, -100, 1]).astype(np.float32)  # far outside the training range
    norm = Normalizer(method, feature_names=["a", "b", "c"], **options).fit(x)
    tn.manual_seed(0)
    model = tn.nn.Sequential(tn.nn.Normalize(norm), tn.nn.Linear(3, 1))
    tn.save(model.state_dict(), tmp_path / "m.npz")
    bare = tn.nn.Sequential(tn.nn.Normalize(3), tn.nn.Linear(3, 1))
    assert "identity" in repr(bare)
    bare.load_state_dict(tn.load(tmp_path / "m.npz"))
    for rows in (x, outside):
        np.testing.assert_array_equal(bare(tn.Tensor(rows)).numpy(), model(tn.Tensor(rows)).numpy())
        np.testing.assert_array_equal(bare[0](tn.Tensor(rows)).numpy(), norm.transform(rows))
    rebuilt = bare[0].normalizer
    assert rebuilt.config() == norm.config() and rebuilt.count == 200
    assert f"method: {method}" in repr(bare)


def test_regression_checkpoint_keeps_one_copy_of_the_statistics(tmp_path):
    from tinygrad_norm.examples.simple_regression.model import RegressionModel

    x = np.random.default_rng(1).standard_normal((50, 8)).astype(np.float32) * 100
    model = RegressionModel(normalizer=Normalizer("minmax", clip=True).fit(x))
    state = model.state_dict()
    assert [k for k in state if not isinstance(state[k], tn.Tensor)] == ["normalize._extra_state"]
    fresh = RegressionModel()
    fresh.load_state_dict(state)
    far = x * 3
    np.testing.assert_array_equal(fresh(tn.Tensor(far)).numpy(), model(tn.Tensor(far)).numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("magnitude", [1e-20, 1e-15, 1e-12, 1e-6, 1e-2, 1.0, 1e3, 1e6, 1e12])
@pytest.mark.parametrize("offset", [0.0, 100.0])
def test_constant_means_zero_spread_at_any_scale(dtype, magnitude, offset):
    """A feature in small (or large) units is scaled like any other; only a spread of zero, or one lost
    in the rounding of the values themselves, is constant."""
    rng = np.random.default_rng(3)
    varying = (offset * magnitude + magnitude * rng.standard_normal(500)).astype(dtype)
    constant = np.full(500, (offset + 1.0) * magnitude, dtype=dtype)
    x = np.column_stack([varying, constant])
    n = Normalizer("standard", feature_names=["varying", "constant"]).fit(x)
    with pytest.warns(NormalizerWarning, match="'constant'") as record:
        out = n.transform(x)
    assert all("'varying'" not in str(w.message) for w in record)
    assert n.scale[1] == 1.0
    ref = x[:, 0].astype(np.float64)
    np.testing.assert_allclose(out[:, 0], (ref - ref.mean()) / ref.std(ddof=1), rtol=1e-4, atol=1e-4)


def test_small_unit_feature_from_the_issue_is_not_constant():
    x = 1e-10 + np.array([[1e-15], [-1e-15]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = Normalizer("standard").fit(x).transform(x)
    np.testing.assert_allclose(out[:, 0], [1 / np.sqrt(2), -1 / np.sqrt(2)], rtol=1e-6)


def test_maxabs_clip_matches_sklearn():
    n = Normalizer("maxabs", clip=True).fit(np.array([[1.0], [-2.0]]))
    np.testing.assert_array_equal(n.transform(np.array([[10.0], [-10.0], [1.0]])), [[1.0], [-1.0], [0.5]])
    sk = pytest.importorskip("sklearn.preprocessing", reason="scikit-learn compares maxabs clipping")
    ref = sk.MaxAbsScaler(clip=True).fit(np.array([[1.0], [-2.0]])).transform(np.array([[10.0], [-10.0], [1.0]]))
    np.testing.assert_array_equal(n.transform(np.array([[10.0], [-10.0], [1.0]])), ref)


@pytest.mark.parametrize("method,options,match", [
    ("standard", {"clip": True}, "clip=True"),
    ("standard", {"feature_range": (-1, 1)}, "feature_range"),
    ("maxabs", {"feature_range": (-1, 1)}, "feature_range"),
    ("minmax", {"ddof": 0}, "ddof=0"),
    ("maxabs", {"with_mean": False}, "with_mean=False"),
    ("minmax", {"with_std": False}, "with_std=False"),
])
def test_an_option_the_method_does_not_use_is_refused(method, options, match):
    with pytest.raises(ValueError, match=f"does not use.*{match}"):
        Normalizer(method, **options)


@pytest.mark.parametrize("options,match", [
    ({"ddof": 0.5}, "ddof must be a non-negative integer"), ({"ddof": -1}, "ddof"),
    ({"method": "minmax", "feature_range": (0, float("inf"))}, "finite"),
    ({"method": "minmax", "feature_range": (1, 0)}, "low < high"),
    ({"method": "minmax", "feature_range": "ab"}, "two numbers"),
])
def test_invalid_options(options, match):
    with pytest.raises(ValueError, match=match):
        Normalizer(**{"method": "standard", **options})


@pytest.mark.parametrize("method,options", [("minmax", {"clip": True}), ("minmax", {"feature_range": (-1.0, 1.0),
                                                                                    "clip": True}),
                                            ("maxabs", {"clip": True})])
def test_gradient_through_clipping_matches_torch_clamp_at_the_bounds(method, options):
    """The training min and max map exactly onto the clip bounds: nothing is clipped there, so the
    gradient passes (torch.clamp passes it at the bounds, ends included); beyond them it is 0."""
    x = np.array([[0.0, -4.0], [2.0, 1.0], [4.0, 8.0]])
    norm = Normalizer(method, **options).fit(x)
    rows = np.vstack([x, [[5.0, -9.0]]])  # the last row is clipped in both columns
    t = tn.Tensor(rows, requires_grad=True, dtype=np.float64)
    up = np.random.default_rng(0).standard_normal(rows.shape)
    norm.transform(t).backward(up)
    shift, scale = norm.shift, norm.scale
    offset = norm.offset if norm.offset is not None else 0.0
    lo, hi = norm.clip_range
    tt = torch.tensor(rows, requires_grad=True)
    torch.clamp((tt - torch.tensor(shift)) * torch.tensor(scale) + torch.tensor(offset), lo, hi).backward(
        torch.tensor(up))
    np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy(), rtol=1e-12)
    assert (t.grad.numpy()[:3] != 0).all() and (t.grad.numpy()[3] == 0).all()


@pytest.mark.parametrize("method", ["standard", "minmax", "maxabs"])
def test_inverse_transform_of_a_tensor_is_differentiable(method, data):
    norm = Normalizer(method).fit(data)
    y = tn.Tensor(norm.transform(data[:5]), requires_grad=True, dtype=np.float64)
    back = norm.inverse_transform(y)
    assert back.requires_grad
    up = np.random.default_rng(1).standard_normal(back.shape)
    back.backward(up)
    ty = torch.tensor(y.numpy(), requires_grad=True)
    offset = norm.offset if norm.offset is not None else 0.0
    ((ty - torch.tensor(offset)) / torch.tensor(norm.scale) + torch.tensor(norm.shift)).backward(torch.tensor(up))
    np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(back.numpy(), data[:5], rtol=1e-5, atol=1e-3)


def test_out_with_a_tensor_is_an_error_not_ignored(data):
    norm = Normalizer("standard").fit(data)
    buf = np.zeros_like(data)
    with pytest.raises(TypeError, match="out= is for arrays"):
        norm.transform(tn.Tensor(data), out=buf)
    with pytest.raises(TypeError, match="out= is for arrays"):
        norm.inverse_transform(tn.Tensor(data), out=buf)
    with pytest.raises(TypeError, match="out= is for arrays"):
        standardize(tn.Tensor(data), norm.mean, norm.std, out=buf)
    assert not buf.any()
    res = norm.inverse_transform(norm.transform(data), out=buf)
    assert res is buf and np.abs(buf - data).max() <= 2e-6 * np.abs(data).max()


def test_corrupt_normalizer_state_is_a_clear_error_and_changes_nothing(data):
    norm = Normalizer("minmax").fit(data)
    layer = tn.nn.Normalize(norm)
    before = layer(tn.Tensor(data)).numpy()
    bad = norm.state_dict()
    bad["min"] = bad["min"][:2]
    for state in ({"n_features": 4, "normalizer": bad}, {"n_features": 5}, [1, 2],
                  {"n_features": 4, "normalizer": {**norm.state_dict(), "count": -1}},
                  {"n_features": 4, "normalizer": {**norm.state_dict(), "config": {"method": "zscore"}}}):
        with pytest.raises(ValueError):
            tn.nn.Sequential(layer).load_state_dict({"0._extra_state": state})
        np.testing.assert_array_equal(layer(tn.Tensor(data)).numpy(), before)


# ---- issue: statistics never silently wrong -----------------------------------------------------------
@pytest.mark.parametrize("method,x,expected", [
    ("minmax", np.array([[0], [1e-5]], np.float16), [[0], [1]]),
    ("minmax", np.array([[-3e38], [3e38]], np.float32), [[0], [1]]),
    ("minmax", np.array([[-1e308], [1e308]]), [[0], [1]]),
    ("maxabs", np.array([[-1e308], [1e308]]), [[-1], [1]]),
    ("standard", np.array([[-60000], [0], [60000]], np.float16), [[-1], [0], [1]]),
    ("standard", np.array([[-3e38], [3e38]], np.float32), [[-0.5 ** 0.5], [0.5 ** 0.5]]),
])
def test_finite_input_never_gives_inf_or_nan(method, x, expected):
    import warnings as w

    with w.catch_warnings():
        w.simplefilter("error")  # no overflow RuntimeWarning either
        norm = Normalizer(method).fit(x)
        out = norm.transform(x)
        back = norm.inverse_transform(out)
    assert out.dtype == x.dtype and np.isfinite(out).all()
    np.testing.assert_allclose(out.astype(np.float64), expected, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(back.astype(np.float64), x.astype(np.float64), rtol=1e-3)


def test_statistics_that_overflow_float64_are_an_error_naming_the_feature():
    x = np.column_stack([np.ones(2), [-1e308, 1e308]])
    with pytest.raises(tn.ArgumentError, match=r"feature\(s\) 'big' \(\|x\| up to 1e\+308\).*rescale"):
        Normalizer("standard", feature_names=["ok", "big"]).fit(x)


def test_a_result_that_does_not_fit_the_dtype_is_an_error():
    norm = Normalizer("minmax", feature_names=["f"]).fit(np.array([[0.0], [1e-3]], np.float16))
    with pytest.raises(tn.ArgumentError, match="'f' does not fit in float16"):  # 60000 / 1e-3 > 65504
        norm.transform(np.array([[60000.0]], np.float16))


@pytest.mark.parametrize("make_out", [lambda y: y[::-1], lambda y: y[1:], lambda y: y.reshape(-1)[3:].reshape(-1)])
def test_out_overlapping_the_input_gives_the_right_result(make_out):
    x = np.random.default_rng(0).standard_normal((300_001, 4)).astype(np.float32)
    norm = Normalizer().fit(x)
    buf = x.copy()
    if make_out(buf).size == buf.size:  # reversed rows
        out, src, ref = make_out(buf), buf, norm.transform(x)
    else:  # shifted by one row, or by three elements
        src = buf[:-1]
        flat = buf.reshape(-1)
        out = flat[4:].reshape(-1, 4) if make_out(buf).ndim == 2 else flat[3:3 + src.size].reshape(src.shape)
        ref = norm.transform(x[:-1])
    norm.transform(src, out=out)
    np.testing.assert_array_equal(out, ref)


def test_fit_of_something_that_is_not_a_table_says_so():
    with pytest.raises(TypeError, match="dict"):
        Normalizer().fit({"a": [1, 2]})
    with pytest.raises(TypeError, match="str"):
        Normalizer().fit("1,2,3")


def test_pandas_dask_and_sklearn_are_never_imported_for_arrays():
    """The extras stay optional: importing the package and fitting/applying arrays and Tensors loads none of them."""
    import subprocess
    import sys

    from conftest import REPO

    code = ("import sys, numpy as np, tinygrad_norm as tn\n"
            "x = np.arange(12.0).reshape(6, 2)\n"
            "n = tn.Normalizer('standard').fit(x)\n"
            "n.transform(x); n.transform(tn.Tensor(x)); n.fit(iter([x[:3], x[3:]])); n.get_params()\n"
            "print(sorted(m for m in ('pandas', 'dask', 'distributed', 'sklearn') if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# ---- every fit keeps count, mean, M2, min and max; integer Tensors through nn.Normalize ---------------------------
@pytest.mark.parametrize("fit_path", ["numpy", "numba"])
@pytest.mark.parametrize("method", ["standard", "minmax", "maxabs"])
def test_every_fit_keeps_all_five_statistics_in_one_pass(monkeypatch, rng, method, fit_path):
    """Whatever the method: count, mean, M2, min and max of each feature (the drift baseline), from the moments'
    own pass (the fused numba kernel, or NumPy's blocks). min/max are exact; mean and M2 match a float64
    two-pass reference to 1e-12 (exact per-block moments merged with Chan's formula: ~1e-15)."""
    from tinygrad_norm import _cpu

    pytest.importorskip("numba") if fit_path == "numba" else None
    monkeypatch.setattr(_cpu, "USE_NUMBA", fit_path == "numba")
    monkeypatch.setattr(_cpu, "_NUMBA_FIT_MIN_SIZE", 1 if fit_path == "numba" else 1 << 62)
    monkeypatch.setattr(_cpu, "_BLOCK_BYTES", 4096)  # many blocks, on two threads
    monkeypatch.setattr(_cpu, "_PARALLEL_MIN_BYTES", 1)
    for dtype, shape in [(np.float32, (3001, 4)), (np.float64, (517, 300)), (np.float16, (1031, 3))]:
        x = (rng.standard_normal(shape) * 10.0 ** rng.uniform(-2, 3, shape[1]) + 7).astype(dtype)
        norm = Normalizer(method).fit(x)
        x64 = x.astype(np.float64)
        assert norm.count == shape[0]
        np.testing.assert_array_equal(norm.min, x64.min(0))
        np.testing.assert_array_equal(norm.max, x64.max(0))
        np.testing.assert_allclose(norm.mean, x64.mean(0), rtol=1e-12)
        np.testing.assert_allclose(norm._m2, ((x64 - x64.mean(0)) ** 2).sum(0), rtol=1e-12)
        backend = tn.get_backend("cpu")
        # the fused summary's moments are column_moments' own numbers, bit for bit
        n, mean, m2 = backend.column_moments(x)
        np.testing.assert_array_equal(norm.mean, mean)
        np.testing.assert_array_equal(norm._m2, m2)
        state = norm.state_dict()
        assert {"mean", "m2", "min", "max"} <= state.keys() and state["count"] == shape[0]


def test_an_integer_tensor_through_normalize_gives_what_transform_gives(data):
    """Integers go through the float64 path and come out float32, as Normalizer.transform gives them (it used to
    fail with a misleading 'statistics are at the limits of int32')."""
    ints = np.round(data).astype(np.int32)
    for method in ("standard", "minmax", "maxabs"):
        norm = Normalizer(method).fit(data)
        layer = tn.nn.Normalize(norm)
        for x in (ints, ints.astype(np.int64), ints[:, :1] > 0):
            if x.shape[1] != 4:
                x = np.repeat(x, 4, axis=1)
            out = layer(tn.Tensor(x))
            expected = norm.transform(tn.Tensor(x))
            assert out.dtype == np.float32 == expected.dtype
            np.testing.assert_array_equal(out.numpy(), expected.numpy())
            np.testing.assert_array_equal(out.numpy(), norm.transform(x))
