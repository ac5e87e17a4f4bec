"""pandas DataFrames and Series in and out, and the scikit-learn transformer API (Pipelines, clone,
get/set_params, feature names) against scikit-learn's own scalers."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_norm as tn
from tinygrad_norm.normalize import Normalizer

pd = pytest.importorskip("pandas", reason="pandas is not installed (pip install -e '.[dask]')")

METHODS = ["standard", "minmax", "maxabs"]


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"rooms": rng.integers(1, 9, 500).astype(np.float64), "price": rng.lognormal(12, 1, 500),
                         "lat": rng.uniform(32, 42, 500)}, index=pd.RangeIndex(1000, 2000, 2, name="id"))


def test_dataframe_fit_takes_the_columns_as_feature_names(frame):
    x64 = frame.to_numpy()
    for method in METHODS:
        n = Normalizer(method).fit(frame)
        ref = Normalizer(method).fit(x64)
        assert n.feature_names == ["rooms", "price", "lat"] and n.count == 500
        assert list(n.feature_names_in_) == n.feature_names and n.n_features_in_ == 3
        np.testing.assert_array_equal(n.transform(frame), ref.transform(x64))  # arrays by default
        back = n.inverse_transform(n.transform(frame))
        np.testing.assert_array_equal(back, ref.inverse_transform(ref.transform(x64)))
        assert Normalizer.from_state_dict(n.state_dict()).feature_names == n.feature_names  # saved with the state
    np.testing.assert_allclose(Normalizer("standard").fit(frame).std, frame.std().to_numpy(), rtol=1e-12)


def test_set_output_pandas_keeps_index_and_columns(frame):
    n = Normalizer("minmax").fit(frame).set_output(transform="pandas")
    out = n.transform(frame)
    assert isinstance(out, pd.DataFrame)
    pd.testing.assert_index_equal(out.index, frame.index)
    assert list(out.columns) == list(frame.columns)
    np.testing.assert_allclose(out.to_numpy(), ((frame - frame.min()) / (frame.max() - frame.min())).to_numpy())
    arr = n.transform(frame.to_numpy())  # NumPy in: a DataFrame named by the features, as scikit-learn does
    assert isinstance(arr, pd.DataFrame) and list(arr.columns) == ["rooms", "price", "lat"]
    assert isinstance(n.transform(tn.Tensor(frame.to_numpy())), tn.Tensor)  # Tensors stay differentiable
    assert isinstance(n.inverse_transform(frame), np.ndarray)
    assert isinstance(n.set_output(transform="default").transform(frame), np.ndarray)
    with pytest.raises(ValueError, match="'default', 'pandas' or None"):
        n.set_output(transform="polars")


def test_series_is_one_feature(frame):
    n = Normalizer("standard").fit(frame["price"])
    assert n.feature_names == ["price"] and n.n_features == 1
    out = n.transform(frame["price"])
    assert out.shape == (500, 1)
    np.testing.assert_allclose(out[:, 0], (frame["price"] - frame["price"].mean()) / frame["price"].std(), rtol=1e-12)
    s = n.set_output(transform="pandas").transform(frame["price"])
    assert isinstance(s, pd.Series) and s.name == "price" and s.index.equals(frame.index)


def test_non_numeric_columns_are_named_in_the_error(frame):
    bad = frame.assign(city=["SF"] * 500, when=pd.Timestamp("2020-01-01"))
    with pytest.raises(TypeError, match=r"column\(s\) 'city' \(.*\), 'when' \(datetime64.*\) are not numeric"):
        Normalizer().fit(bad)
    n = Normalizer().fit(frame)
    with pytest.raises(TypeError, match="'city'"):
        n.transform(bad)


def test_columns_must_match_the_fitted_names(frame):
    n = Normalizer().fit(frame)
    with pytest.raises(ValueError, match=r"columns \['lat', 'rooms', 'price'\] are not the feature names"):
        n.transform(frame[["lat", "rooms", "price"]])
    np.testing.assert_array_equal(n.transform(frame[n.feature_names]), n.transform(frame))
    with pytest.raises(ValueError, match="are not the feature names"):
        n.partial_fit(frame.rename(columns={"lat": "latitude"}))
    with pytest.raises(ValueError, match="are not the feature names"):
        Normalizer(feature_names=["a", "b", "c"]).fit(frame)
    # refitting forgets the names of the previous DataFrame
    assert Normalizer().fit(frame).fit(np.ones((3, 2)) * [[1], [2], [3]]).feature_names is None


def test_mixed_int_bool_float32_and_nullable_columns():
    df = pd.DataFrame({"i": [1, 2, 3, 4], "b": [True, False, True, True], "f": np.float32([0.5, 1, 2, 8])})
    n = Normalizer("standard").fit(df)
    np.testing.assert_allclose(n.mean, [2.5, 0.75, 2.875], rtol=1e-12)
    assert n.transform(df).dtype == np.float64  # mixed columns are converted to float64
    f32 = pd.DataFrame({"a": np.float32([1, 2, 3]), "b": np.float32([0, 1, 5])})
    assert Normalizer().fit(f32).transform(f32).dtype == np.float32  # one float32 dtype stays float32
    ints = pd.DataFrame({"a": [1, 2, 3], "b": [4, 5, 9]})
    assert Normalizer().fit(ints).transform(ints).dtype == np.float32  # integers: as integer arrays
    nullable = pd.DataFrame({"a": pd.array([1, None, 3], dtype="Int64"), "b": [1.0, 2.0, np.nan]})
    with pytest.raises(ValueError, match=r"2 NaN/inf.*feature 'a': 1, feature 'b': 1"):
        Normalizer().fit(nullable)


# ---- scikit-learn ----------------------------------------------------------------------------------------
def test_pipeline_with_linear_regression_predicts_like_standard_scaler(frame):
    sk = pytest.importorskip("sklearn", reason="scikit-learn is not installed (the 'bench' extra)")
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    y = frame @ np.array([0.5, 1e-5, -0.2]) + np.random.default_rng(1).standard_normal(500)
    ours = Pipeline([("scale", Normalizer("standard", ddof=0)), ("model", LinearRegression())]).fit(frame, y)
    theirs = Pipeline([("scale", StandardScaler()), ("model", LinearRegression())]).fit(frame, y)
    np.testing.assert_allclose(ours.predict(frame), theirs.predict(frame), rtol=1e-10)
    np.testing.assert_allclose(ours[0].transform(frame), theirs[0].transform(frame), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours[-1].coef_, theirs[-1].coef_, rtol=1e-10)
    assert list(ours[:-1].get_feature_names_out()) == list(theirs[:-1].get_feature_names_out())
    ours.set_output(transform="pandas")
    assert isinstance(ours[:-1].transform(frame), pd.DataFrame)
    for method, peer in (("minmax", sk.preprocessing.MinMaxScaler()), ("maxabs", sk.preprocessing.MaxAbsScaler())):
        np.testing.assert_allclose(Normalizer(method).fit_transform(frame, y), peer.fit_transform(frame, y),
                                   rtol=1e-12, atol=1e-15)


def test_clone_get_params_set_params_and_grid_search(frame):
    pytest.importorskip("sklearn", reason="scikit-learn is not installed (the 'bench' extra)")
    from sklearn.base import clone
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import NotFittedError, check_is_fitted

    n = Normalizer("minmax", feature_range=[-1, 1], clip=True).fit(frame).set_output(transform="pandas")
    params = n.get_params()
    assert params == {"method": "minmax", "ddof": 1, "with_mean": True, "with_std": True,
                      "feature_range": [-1, 1], "clip": True, "quantile_range": (25.0, 75.0), "with_centering": True,
                      "with_scaling": True, "unit_variance": False, "feature_names": None}
    twin = clone(n)
    assert twin.get_params() == params and not twin.is_fitted and twin._output == "pandas"
    check_is_fitted(n)
    with pytest.raises(NotFittedError):
        check_is_fitted(twin)
    with pytest.raises(AttributeError):
        twin.n_features_in_  # noqa: B018
    # set_params: validated like the constructor; statistics kept when the method's are the same
    assert n.set_params(method="maxabs", feature_range=(0, 1), clip=False).is_fitted
    np.testing.assert_allclose(n.transform(frame).to_numpy(), frame / frame.abs().max(), rtol=1e-12)
    assert not n.set_params(method="standard").is_fitted
    with pytest.raises(ValueError, match="ddof must be a non-negative integer"):
        n.set_params(ddof=-1, clip=True)  # each value is checked when it is set
    assert n.get_params()["method"] == "standard" and not n.clip  # an invalid call changed nothing
    # the combination is checked by fit, as in scikit-learn (a grid sets one parameter at a time)
    n.set_params(clip=True)
    with pytest.raises(ValueError, match="does not use clip=True"):
        n.fit(frame)
    assert not n.is_fitted
    n.set_params(clip=False)
    with pytest.raises(ValueError, match="unknown parameter"):
        n.set_params(copy=True)
    search = GridSearchCV(Pipeline([("scale", Normalizer()), ("model", LinearRegression())]),
                          {"scale__method": METHODS}, cv=3)
    search.fit(frame, frame["price"] * 2 + frame["rooms"])
    assert search.best_estimator_[0].is_fitted


def test_get_feature_names_out():
    n = Normalizer().fit(np.ones((4, 2)) * [[1], [2], [3], [5]])
    assert list(n.get_feature_names_out()) == ["x0", "x1"]
    assert list(n.get_feature_names_out(["a", "b"])) == ["a", "b"]
    with pytest.raises(ValueError, match="input_features"):
        n.get_feature_names_out(["a"])
    with pytest.raises(AttributeError):
        n.feature_names_in_  # noqa: B018
    named = Normalizer(feature_names=["a", "b"]).fit(np.arange(8.0).reshape(4, 2))
    assert list(named.feature_names_in_) == ["a", "b"]
    with pytest.raises(ValueError, match="input_features"):
        named.get_feature_names_out(["b", "a"])
