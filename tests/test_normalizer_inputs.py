"""What the Normalizer does with inputs an adversarial probe threw at it: DataFrame columns in another
order or with other labels, fits that fail part way, zero features, bad ``out=`` arrays, huge tables in
messages, sparse matrices, and scikit-learn's grid search over ``method``. Each test failed before its fix."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

import tinygrad_norm as tn
from tinygrad_norm import _cpu
from tinygrad_norm.errors import name_few
from tinygrad_norm.normalize import Normalizer, NormalizerWarning, standardize

try:
    import numba  # noqa: F401
    HAS_NUMBA = True
except ImportError:
    HAS_NUMBA = False

MESSAGE_LIMIT = 1000  # characters: a message names a few items and counts the rest, whatever the table's width


@pytest.fixture
def table() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.standard_normal((200, 3)) * [1.0, 10.0, 100.0] + [0.0, 5.0, -50.0]


def state_of(norm: Normalizer) -> dict:
    """Everything a fit changes, as comparable values."""
    arrays = {k: None if getattr(norm, k) is None else getattr(norm, k).copy() for k in ("_mean", "_m2", "_min",
                                                                                           "_max")}
    return {"count": norm.count, "n_features": norm.n_features, "feature_names": norm.feature_names,
            "columns": getattr(norm, "_columns", None), "params": norm.get_params(), **arrays}


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], np.ndarray):
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        else:
            assert a[key] == b[key], key


# ---- 1. DataFrame columns are checked at transform, whatever their labels -----------------------------------
def test_integer_labelled_columns_in_another_order_are_refused(table):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(table)  # labels 0, 1, 2: no feature names, still checked
    norm = Normalizer().fit(df)
    assert norm.feature_names is None and list(norm.get_feature_names_out()) == ["x0", "x1", "x2"]
    np.testing.assert_array_equal(norm.transform(df), norm.transform(table))  # the same columns: works
    with pytest.raises(tn.ArgumentError, match=r"columns \[2, 1, 0\] are not the columns the normalizer was fitted "
                                               r"on \[0, 1, 2\].*another order.*df\[\[0, 1, 2\]\]"):
        norm.transform(df[[2, 1, 0]])
    with pytest.raises(tn.ArgumentError, match=r"missing 2"):
        norm.transform(df.rename(columns={2: 3}))
    with pytest.raises(tn.ArgumentError, match="another order"):
        norm.partial_fit(df[[1, 0, 2]])
    with pytest.raises(tn.ArgumentError, match="another order"):
        norm.inverse_transform(df[[0, 2, 1]])
    with pytest.raises(tn.ArgumentError, match="not the columns the normalizer was fitted on"):
        norm.transform(df.set_axis(["a", "b", "c"], axis=1))  # strings where the fit had integers
    np.testing.assert_array_equal(norm.transform(df[[2, 1, 0]].to_numpy()), norm.transform(table[:, ::-1]))


@pytest.mark.parametrize("labels", [
    [("a", "x"), ("a", "y"), ("b", "x")],  # a MultiIndex
    ["a", 1, "c"],  # mixed labels: kept and checked (scikit-learn refuses them; here they just name nothing)
    [0.5, 1.5, 2.5],
], ids=["multiindex", "mixed", "floats"])
def test_other_labels_are_kept_and_checked(table, labels):
    pd = pytest.importorskip("pandas")
    columns = pd.MultiIndex.from_tuples(labels) if isinstance(labels[0], tuple) else labels
    df = pd.DataFrame(table, columns=columns)
    norm = Normalizer("minmax").fit(df)
    assert norm.feature_names is None
    np.testing.assert_array_equal(norm.transform(df), Normalizer("minmax").fit(table).transform(table))
    shuffled = df[[df.columns[1], df.columns[0], df.columns[2]]]
    with pytest.raises(tn.ArgumentError, match="another order"):
        norm.transform(shuffled)
    with pytest.raises(tn.ArgumentError, match="another order"):
        Normalizer("minmax").fit(df).partial_fit(shuffled)


def test_labels_survive_state_dict_and_save(table, tmp_path):
    pd = pytest.importorskip("pandas")
    for columns in ([0, 1, 2], pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1)]), ["a", 1, "c"]):
        df = pd.DataFrame(table, columns=columns)
        norm = Normalizer().fit(df)
        tn.save(norm.state_dict(), tmp_path / "n.npz")
        back = Normalizer.from_state_dict(tn.load(tmp_path / "n.npz"))
        np.testing.assert_array_equal(back.transform(df), norm.transform(df))
        with pytest.raises(tn.ArgumentError, match="another order"):
            back.transform(df[df.columns[::-1]])
    state = Normalizer().fit(pd.DataFrame(table)).state_dict()
    with pytest.raises(tn.ArgumentError, match="columns must be a list of 3"):
        Normalizer.from_state_dict({**state, "columns": [0, 1]})
    with pytest.raises(tn.ArgumentError, match="more than once"):
        Normalizer.from_state_dict({**state, "columns": [0, 0, 1]})


def test_string_names_missing_extra_and_repeated_are_named(table):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(table, columns=["rooms", "price", "lat"])
    norm = Normalizer().fit(df)
    with pytest.raises(tn.ArgumentError, match=r"missing 'lat'; not fitted: 'latitude'.*df\[norm.feature_names\]"):
        norm.transform(df.rename(columns={"lat": "latitude"}))
    with pytest.raises(tn.ArgumentError, match=r"repeated: 'rooms'"):
        norm.transform(df[["rooms", "price", "rooms"]])
    with pytest.raises(tn.ArgumentError, match=r"missing 'lat'"):
        norm.transform(df[["rooms", "price"]])
    with pytest.raises(tn.ArgumentError, match="not the feature names"):
        norm.transform(pd.DataFrame(table))  # positions where the fit had names
    with pytest.raises(tn.ArgumentError, match=r"'a' appear more than once"):
        Normalizer().fit(pd.DataFrame(table, columns=["a", "a", "b"]))
    with pytest.raises(tn.ArgumentError, match=r"'a' appear\(s\) more than once"):
        Normalizer(feature_names=["a", "a", "b"])
    # feature_names given for an integer-labelled fit: either the fitted labels or the names select the columns
    named = Normalizer(feature_names=["a", "b", "c"]).fit(pd.DataFrame(table))
    np.testing.assert_array_equal(named.transform(pd.DataFrame(table, columns=["a", "b", "c"])),
                                  named.transform(table))
    np.testing.assert_array_equal(named.transform(pd.DataFrame(table)), named.transform(table))
    with pytest.raises(tn.ArgumentError, match="another order"):
        named.transform(pd.DataFrame(table)[[1, 0, 2]])


# ---- 2. a failed fit or partial_fit changes nothing ----------------------------------------------------------
def _failing_chunks(x: np.ndarray, how: str):
    yield x[:100]
    yield x[100:150]
    if how == "oserror":
        raise OSError("the file went away")
    if how == "interrupt":
        raise KeyboardInterrupt
    bad = x[150:].copy()
    bad[3, 1] = np.nan
    yield bad


@pytest.mark.parametrize("how,error", [("oserror", OSError), ("nan", ValueError), ("interrupt", KeyboardInterrupt)])
@pytest.mark.parametrize("method", ["standard", "minmax"])
def test_a_fit_that_fails_part_way_leaves_the_state_as_before(table, how, error, method):
    fresh = Normalizer(method)
    with pytest.raises(error):
        fresh.fit(_failing_chunks(table, how))
    assert not fresh.is_fitted and fresh.count == 0 and fresh.n_features is None
    pd = pytest.importorskip("pandas")
    fitted = Normalizer(method).fit(pd.DataFrame(table[:40] * 3, columns=["a", "b", "c"]))
    before = state_of(fitted)
    with pytest.raises(error):
        fitted.fit(_failing_chunks(table, how))
    assert_same_state(state_of(fitted), before)  # the old statistics and feature names, not the half fit
    with pytest.raises(error):
        fitted.partial_fit(_bad_chunk(table, how))
    assert_same_state(state_of(fitted), before)


def _bad_chunk(x: np.ndarray, how: str):
    """A single chunk that fails the way ``how`` says (for partial_fit)."""
    if how == "nan":
        bad = x.copy()
        bad[7, 2] = np.inf
        return bad
    return _Raiser(OSError("read error") if how == "oserror" else KeyboardInterrupt())


class _Raiser:
    """An array-like whose conversion raises (a file read lazily that fails)."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __array__(self, *args, **kwargs):
        raise self.error


def test_a_failed_partial_fit_after_good_chunks_keeps_them(table):
    pd = pytest.importorskip("pandas")
    norm = Normalizer().partial_fit(table[:100]).partial_fit(table[100:150])
    before = state_of(norm)
    bad = table[150:].copy()
    bad[0, 0] = np.nan
    for chunk in (bad, table[150:, :2], pd.DataFrame(table[150:], columns=["a", "b", "c"]).iloc[:, [0, 0, 1]]):
        with pytest.raises(ValueError):
            norm.partial_fit(chunk)
        assert_same_state(state_of(norm), before)
    norm.partial_fit(table[150:])
    np.testing.assert_allclose(norm.mean, table.mean(0), rtol=1e-12, atol=1e-12)


def test_a_fit_refused_for_its_options_keeps_the_old_fit(table):
    norm = Normalizer("minmax").fit(table)
    before = state_of(norm)
    norm.set_params(clip=True, with_std=False)
    with pytest.raises(tn.ArgumentError, match=r"fit: Normalizer\('minmax'\) does not use with_std=False"):
        norm.fit(table * 2)
    before["params"] = norm.get_params()
    assert_same_state(state_of(norm), before)


# ---- 3. zero features ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda: np.ones((5, 0)), lambda: np.ones((5, 0), np.int64),
                                  lambda: tn.Tensor(np.ones((5, 0)))], ids=["float", "int", "tensor"])
def test_zero_features_are_refused_at_fit(make):
    norm = Normalizer()
    with pytest.raises(tn.ArgumentError, match=r"no features \(shape \(5, 0\)\)"):
        norm.fit(make())
    assert not norm.is_fitted
    with pytest.raises(tn.ArgumentError, match="no features"):
        Normalizer("minmax").partial_fit(make())


# ---- 4. out= is checked before any kernel runs; a bad one never switches the fused kernel off ------------------
@pytest.fixture
def fused(monkeypatch):
    """The fused numba apply on, with a wrapper that records its calls (the real kernel does the work)."""
    if not HAS_NUMBA:
        pytest.skip("numba not installed")
    monkeypatch.setattr(_cpu, "USE_NUMBA", True)
    kernel = _cpu._numba_kernel()
    assert kernel is not None
    calls = []

    def recording(*args):
        calls.append(args[5:7])
        return kernel(*args)

    monkeypatch.setitem(_cpu._NUMBA, "affine_rows", recording)
    return calls


def test_a_read_only_out_is_a_clear_error_and_keeps_the_fused_kernel(fused):
    x = np.random.default_rng(1).standard_normal((4096, 8)).astype(np.float32)  # large enough for the kernel
    norm = Normalizer().fit(x)
    expected = norm.transform(x)
    assert fused  # the kernel did that transform
    fused.clear()
    frozen = np.zeros_like(x)
    frozen.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no "numba could not compile" RuntimeWarning
        with pytest.raises(tn.ArgumentError, match="out is read-only"):
            norm.transform(x, out=frozen)
        with pytest.raises(tn.ArgumentError, match="out is read-only"):
            norm.inverse_transform(x, out=frozen)
        with pytest.raises(tn.ArgumentError, match="out is read-only"):
            standardize(x, norm.mean, norm.std, out=frozen)
        with pytest.raises(tn.ArgumentError, match="out is read-only"):  # the careful (integer) path too
            norm.transform(x.astype(np.int64), out=frozen)
    assert not fused and not frozen.any()  # refused before any kernel ran, and nothing was written
    assert _cpu._NUMBA["affine_rows"] is not False  # still on
    out = np.empty_like(x)
    assert norm.transform(x, out=out) is out
    np.testing.assert_array_equal(out, expected)
    assert fused  # the fused kernel did this one


def test_bad_out_arguments_are_clear_errors(table):
    x = table.astype(np.float32)
    norm = Normalizer().fit(x)
    with pytest.raises(tn.ArgumentTypeError, match="out= must be a numpy.ndarray.*got list"):
        norm.transform(x[:2], out=[[0.0] * 3] * 2)
    with pytest.raises(tn.ArgumentTypeError, match="out= must be a numpy.ndarray.*got Tensor"):
        norm.transform(x, out=tn.Tensor(np.empty_like(x)))
    with pytest.raises(tn.ShapeError, match=r"out has shape \(199, 3\), needs the input's \(200, 3\)"):
        norm.transform(x, out=np.empty((199, 3), np.float32))
    with pytest.raises(tn.DTypeError, match="out has dtype float64, needs float32"):
        norm.transform(x, out=np.empty(x.shape))
    with pytest.raises(tn.DTypeError, match="out has dtype int64, needs float32"):
        norm.transform(x.astype(np.int64), out=np.empty(x.shape, np.int64))
    with pytest.raises(tn.DTypeError, match="float dtype"):
        standardize(x, norm.mean, norm.std, out=np.empty(x.shape, np.int32))
    with pytest.raises(tn.ArgumentTypeError):
        standardize(x, norm.mean, norm.std, out=[1, 2])
    # a non-contiguous (strided or Fortran-ordered) out is written correctly: the kernels take strides
    wide = np.zeros((200, 6), np.float32)
    for out in (wide[:, ::2], np.asfortranarray(np.zeros_like(x))):
        assert norm.transform(x, out=out) is out
        np.testing.assert_array_equal(out, norm.transform(x))
    assert not wide[:, 1::2].any()


# ---- 6. messages name a few items and count the rest ------------------------------------------------------------
def test_name_few():
    assert name_few(["a", "b"]) == "'a', 'b'"
    assert name_few(list(range(20_000))) == "0, 1, 2, 3, 4 and 19,995 more"
    assert name_few(["x" * 500]) == "'" + "x" * 56 + "..."
    assert name_few([], show=str) == ""


def test_a_million_constant_features_give_a_short_warning():
    with pytest.warns(NormalizerWarning) as record:
        Normalizer("minmax").fit_transform(np.ones((1, 1_000_000)))
    message = str(record[0].message)
    assert len(message) < MESSAGE_LIMIT
    assert "feature(s) 0, 1, 2, 3, 4 and 999,995 more are constant" in message


def test_nan_in_a_million_columns_gives_a_short_error():
    norm = Normalizer()
    with pytest.raises(tn.ArgumentError) as info:
        norm.fit(np.full((3, 1_000_000), np.nan))
    message = str(info.value)
    assert len(message) < MESSAGE_LIMIT
    assert "3,000,000 NaN/inf" in message and "feature 0: 3, feature 1: 3" in message and "999,995 more" in message


def test_wide_name_mismatches_give_short_errors():
    pd = pytest.importorskip("pandas")
    names = [f"c{i}" for i in range(20_000)]
    df = pd.DataFrame(np.arange(40_000.0).reshape(2, 20_000), columns=names)
    norm = Normalizer("minmax").fit(df)
    for other in (df[names[::-1]], df.rename(columns={f"c{i}": f"d{i}" for i in range(10_000)})):
        with pytest.raises(tn.ArgumentError) as info:
            norm.transform(other)
        message = str(info.value)
        assert len(message) < MESSAGE_LIMIT and "'c0'" in message and "19,995 more" in message
    with pytest.raises(tn.ArgumentError) as info:
        norm.get_feature_names_out([f"e{i}" for i in range(20_000)])
    assert len(str(info.value)) < MESSAGE_LIMIT and "19,995 more" in str(info.value)
    long = pd.DataFrame(np.ones((2, 2)), columns=["y" * 100_000, "z"])
    with pytest.raises(tn.ArgumentError) as info:
        Normalizer().fit(long).transform(long[["z", "y" * 100_000]])
    assert len(str(info.value)) < MESSAGE_LIMIT
    text = pd.DataFrame(np.full((2, 10_000), "a", dtype=object))
    with pytest.raises(tn.DTypeError) as info:
        Normalizer().fit(text)
    assert len(str(info.value)) < MESSAGE_LIMIT and "9,995 more" in str(info.value)


# ---- 7. sparse input -------------------------------------------------------------------------------------------
def test_sparse_input_is_refused_with_how_to_densify(table):
    sparse = pytest.importorskip("scipy.sparse")
    norm = Normalizer().fit(table)
    for matrix in (sparse.csr_matrix(table), sparse.csc_array(table), sparse.coo_matrix(table)):
        with pytest.raises(tn.ArgumentTypeError, match=r"sparse input.*not supported.*X\.toarray\(\)"):
            Normalizer().fit(matrix)
        with pytest.raises(tn.ArgumentTypeError, match="sparse input"):
            norm.transform(matrix)
        with pytest.raises(tn.ArgumentTypeError, match="sparse input"):
            Normalizer().fit(iter([matrix]))
    np.testing.assert_array_equal(norm.transform(sparse.csr_matrix(table).toarray()), norm.transform(table))


def test_every_sparse_format_is_told_how_to_densify(table):
    """dok_matrix is a dict subclass, and a Tensor or diagnose saw NumPy's 0-d object array: each says sparse."""
    sparse = pytest.importorskip("scipy.sparse")
    norm = Normalizer().fit(table)
    for matrix in (sparse.dok_matrix(table), sparse.lil_matrix(table), sparse.csr_array(table)):
        for call in (Normalizer().fit, Normalizer().partial_fit, norm.transform, norm.inverse_transform, tn.diagnose):
            with pytest.raises(tn.ArgumentTypeError, match=r"sparse input.*X\.toarray\(\)"):
                call(matrix)
        with pytest.raises(tn.DTypeError, match=r"sparse input.*X\.toarray\(\)"):
            tn.Tensor(matrix)


def test_scipy_is_not_imported_for_dense_input():
    from conftest import REPO

    code = ("import sys, numpy as np, tinygrad_norm as tn\n"
            "x = np.arange(12.0).reshape(6, 2)\n"
            "n = tn.Normalizer('maxabs').fit(x); n.transform(x); n.fit(iter([x[:3], x[3:]]))\n"
            "try:\n    n.fit(np.ones((2, 0)))\nexcept ValueError:\n    pass\n"
            "print('scipy' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


# ---- 8. set_params stores, fit validates: a grid over method runs ------------------------------------------------
def test_set_params_defers_the_combination_to_fit(table):
    norm = Normalizer(ddof=0)
    assert norm.set_params(method="minmax") is norm  # stored, as scikit-learn's set_params does
    assert norm.get_params()["method"] == "minmax" and norm.get_params()["ddof"] == 0
    with pytest.raises(tn.ArgumentError, match=r"fit: Normalizer\('minmax'\) does not use ddof=0.*default: ddof=1"):
        norm.fit(table)
    with pytest.raises(tn.ArgumentError, match="does not use ddof=0"):
        norm.partial_fit(table)
    assert not norm.is_fitted
    norm.set_params(ddof=1)
    assert norm.fit(table).is_fitted
    # a change after the fit that the method does not use: transform and state_dict refuse it, nothing is ignored
    norm.ddof = 0  # (assignment goes through set_params)
    for call in (lambda: norm.transform(table), lambda: norm.state_dict(), lambda: norm.scale):
        with pytest.raises(tn.ArgumentError, match="does not use ddof=0"):
            call()
    norm.ddof = 1
    np.testing.assert_allclose(norm.transform(table).min(0), 0.0, atol=1e-12)
    with pytest.raises(tn.ArgumentError, match="does not use clip=True"):
        Normalizer("standard", clip=True)  # written out in the constructor, the mistake is shown at once
    with pytest.raises(tn.ArgumentError, match="ddof must be a non-negative integer"):
        norm.set_params(ddof=-1)  # a bad value on its own is still refused when it is set


def _grid(n_jobs: int, table: np.ndarray):
    pytest.importorskip("sklearn")
    from sklearn.exceptions import FitFailedWarning
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    y = table @ np.array([1.0, 0.1, 0.01]) + np.random.default_rng(2).standard_normal(len(table)) * 0.1
    search = GridSearchCV(make_pipeline(Normalizer(ddof=0), Ridge()),
                          {"normalizer__method": ["standard", "minmax", "maxabs"]}, n_jobs=n_jobs, cv=3)
    with pytest.warns(FitFailedWarning, match="does not use ddof=0"):
        search.fit(table, y)
    scores = dict(zip([p["normalizer__method"] for p in search.cv_results_["params"]],
                      search.cv_results_["mean_test_score"]))
    assert np.isfinite(scores["standard"]) and np.isnan(scores["minmax"]) and np.isnan(scores["maxabs"])
    assert search.best_params_ == {"normalizer__method": "standard"}
    assert search.best_estimator_[0].is_fitted and search.best_estimator_[0].ddof == 0


GRID_WARNING = "ignore:One or more of the test scores are non-finite"  # (scikit-learn's note on the NaN scores)


@pytest.mark.filterwarnings(GRID_WARNING)
def test_grid_search_over_method_completes(table):
    _grid(1, table)


@pytest.mark.filterwarnings(GRID_WARNING)
def test_grid_search_over_method_completes_with_two_jobs(table):
    _grid(2, table)


def test_clone_keeps_the_arguments_as_given():
    pytest.importorskip("sklearn")
    from sklearn.base import clone

    given = [-1, 1]
    norm = Normalizer("minmax", feature_range=given)
    assert norm.get_params()["feature_range"] is given  # clone() checks its copy comes back as the same object
    twin = clone(norm)
    assert twin.get_params()["feature_range"] == given and twin.feature_range == (-1.0, 1.0)
    assert clone(Normalizer(ddof=0).set_params(method="maxabs", ddof=1)).get_params()["method"] == "maxabs"
