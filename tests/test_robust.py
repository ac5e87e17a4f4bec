"""Normalizer("robust"): scikit-learn's RobustScaler in memory (the same quantiles, the same zero rule, the same
unit_variance), KLL quantile sketches for partial_fit, chunk streams and Dask (within the stated rank error, in
any merge order, on a 2-process cluster too), and the save/load, nn.Normalize, invert, to_sklearn and export round
trips of every other method.

Tolerances. The in-memory fit makes scikit-learn's own calls (np.nanmedian, np.nanpercentile) on the same float64
values, so the median and the quantiles are compared for equality. unit_variance divides by the normal's spread
between the quantiles, which we take from the standard library's inverse CDF and scikit-learn from scipy's: they
differ by a few ulp (measured at most 8.5e-16 relative over 10,000 percentiles), hence rtol 4e-15 there.
Transforms: ours multiplies by 1 / scale where scikit-learn divides by scale, 1-2 ulp of each output; after the
subtraction of the median (same in both) the outputs are compared with rtol 1e-14 and an absolute 1e-14 of the
largest output. Sketches: a quantile read from a sketch is right when its rank in the data (an interval: ties)
comes within the sketch's stated normalized rank error (0.997% for k=269, stated at 99% confidence). The sketch's
coin flips differ from run to run, so these checks are random: measured, the worst of 45 quantiles of 10^7 values
fitted in shuffled chunks was 0.55%, the worst of 900 of 10^6 values 0.43% (their 99th percentile 0.38%). KLL's
error is a sum of many independent compaction errors, thin-tailed: none of our runs came near the bound.
"""

from __future__ import annotations

import pickle
import re
import sys
import warnings

import numpy as np
import pytest

import tinygrad_norm as tn
from tinygrad_norm import nn
from tinygrad_norm.normalize import Normalizer, NormalizerWarning
from tinygrad_norm.normalize import quantiles as _quantiles


def _sklearn():
    """scikit-learn's preprocessing, the in-memory reference (a skip without it: the sketch tests need none)."""
    return pytest.importorskip("sklearn.preprocessing", reason="scikit-learn is the reference (the 'bench' or "
                                                               "'sklearn' extra)")


needs_sketches = pytest.mark.skipif(not _quantiles.available(),
                                    reason="datasketches is not installed (pip install -e '.[robust]')")

RANGES = [(25.0, 75.0), (10.0, 90.0), (0.0, 100.0), (5.0, 50.0)]
OPTIONS = [dict(quantile_range=q, with_centering=c, with_scaling=s, unit_variance=u)
           for q in RANGES for c in (True, False) for s in (True, False) for u in (False, True)
           if not (u and q[0] == 0.0)]  # (unit_variance needs both quantiles inside (0, 100): refused, tested below)


def _datasets() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    n = 501
    normal = rng.standard_normal((n, 3)) * [1.0, 1e3, 1e-3] + [0.0, -7.0, 2e3]
    mostly_zero = np.where(rng.random(n) < 0.8, 0.0, rng.standard_normal(n) * 50)  # zero IQR, not constant
    return {
        "normal": normal,
        "constant and mostly-zero columns": np.column_stack([normal[:, 0], np.full(n, 4.25), mostly_zero]),
        "integers with ties": rng.integers(-3, 4, (n, 2)).astype(np.float64),
        "heavy-tailed, an outlier": np.column_stack([rng.standard_cauchy(n), rng.pareto(1.5, n)]) * [1, 1e6],
        "tiny spread (below 10 ulp of 1: constant by scikit-learn's rule)": rng.standard_normal((n, 1)) * 1e-17,
        "two rows": np.array([[1.0, -2.0], [3.0, 5.0]]),
        "one row": np.array([[1.5, -2.0, 0.0]]),
    }


DATASETS = _datasets()


def _fit_both(x: np.ndarray, **options) -> tuple[Normalizer, object]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NormalizerWarning)  # (constant columns: tested on their own)
        ours = Normalizer("robust", **options).fit(x)
        ours.shift, ours.scale  # noqa: B018 (derive here, where the warning is silenced)
    return ours, _sklearn().RobustScaler(**options).fit(x)


def _close(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Equal to the rounding of a multiplication by 1 / scale against a division by it (the module docstring)."""
    np.testing.assert_allclose(ours, theirs, rtol=1e-14, atol=1e-14 * max(1.0, float(np.abs(theirs).max())))


# ---- in memory: scikit-learn's RobustScaler -----------------------------------------------------------------------
@pytest.mark.parametrize("name", list(DATASETS))
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_in_memory_fit_is_scikit_learns_robust_scaler(name, options):
    x = DATASETS[name]
    ours, theirs = _fit_both(x, **options)
    assert ours.rank_error == 0.0  # exact, datasketches installed or not
    if options["with_centering"]:
        np.testing.assert_array_equal(ours.shift, theirs.center_)
    else:
        assert theirs.center_ is None and not ours.shift.any()
    if options["with_scaling"]:
        if options["unit_variance"]:
            np.testing.assert_allclose(1.0 / ours.scale, theirs.scale_, rtol=4e-15)
        else:
            np.testing.assert_array_equal(ours.to_sklearn().scale_, theirs.scale_)
    else:
        assert theirs.scale_ is None and (ours.scale == 1.0).all()
    y = ours.transform(x)
    _close(y, theirs.transform(x))
    _close(ours.inverse_transform(y), theirs.inverse_transform(y))
    # to_sklearn: a fitted RobustScaler whose transform and inverse are ours
    exported = ours.to_sklearn()
    assert isinstance(exported, _sklearn().RobustScaler)
    assert exported.get_params() == {**theirs.get_params(), "quantile_range": options["quantile_range"]}
    assert exported.n_features_in_ == x.shape[1]
    _close(exported.transform(x), y)
    _close(exported.inverse_transform(y), ours.inverse_transform(y))


def test_float32_and_integer_input_fit_on_float64_values():
    """Statistics in float64: float32 data's quantiles are those of its values in float64 (scikit-learn computes
    them in float32); integers are exact."""
    x = np.random.default_rng(0).standard_normal((999, 2)).astype(np.float32) * 100
    ours = Normalizer("robust").fit(x)
    x64 = x.astype(np.float64)
    np.testing.assert_array_equal(ours.median, np.median(x64, axis=0))
    np.testing.assert_array_equal(ours.iqr, np.diff(np.percentile(x64, [25, 75], axis=0), axis=0)[0])
    assert ours.transform(x).dtype == np.float32
    ints = np.arange(20).reshape(10, 2)
    np.testing.assert_array_equal(Normalizer("robust").fit(ints).median, [9.0, 10.0])


def test_a_constant_or_zero_iqr_feature_warns_and_gets_scikit_learns_scale():
    x = DATASETS["constant and mostly-zero columns"]
    with pytest.warns(NormalizerWarning, match=r"feature\(s\) 1, 2 have no spread between the quantiles \(its 25% "
                                               r"and 75% quantiles are equal\)"):
        y = Normalizer("robust", unit_variance=True).fit_transform(x)
    theirs = _sklearn().RobustScaler(unit_variance=True).fit(x)
    # a zero IQR becomes 1, then divided by the normal's IQR: the mostly-zero column's outliers are multiplied by
    # 1.349, as in scikit-learn
    np.testing.assert_allclose(theirs.scale_[1:], 1 / 1.3489795003921634, rtol=4e-15)
    _close(y, theirs.transform(x))
    assert not y[:, 1].any() and y[:, 2].any()


def test_nan_is_refused_as_by_every_method():
    """As the other methods (and unlike scikit-learn, which leaves NaN out of its percentiles): a normalizer fitted
    on whichever rows happen to be complete is another normalizer."""
    x = DATASETS["normal"].copy()
    x[[3, 9], 1] = np.nan
    for method in ("standard", "robust"):
        with pytest.raises(tn.ArgumentError, match=r"2 NaN/inf value\(s\) \(feature 1: 2\)"):
            Normalizer(method).fit(x)
    if _quantiles.available():
        n = Normalizer("robust").partial_fit(DATASETS["normal"][:50])
        before = n.state_dict()
        with pytest.raises(tn.ArgumentError, match="NaN/inf"):
            n.partial_fit(x)
        _same_state(n.state_dict(), before)


def test_a_tensor_fits_exactly_and_transforms_differentiably():
    x = DATASETS["normal"]
    n = Normalizer("robust").fit(tn.Tensor(x, dtype=np.float64))
    np.testing.assert_array_equal(n.median, np.median(x, axis=0))
    t = tn.Tensor(x, dtype=np.float64, requires_grad=True)
    n.transform(t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), np.broadcast_to(n.scale, x.shape), rtol=1e-15)


# ---- options ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method, options, unused", [
    ("standard", {"quantile_range": (10, 90)}, "quantile_range=(10, 90)"),
    ("minmax", {"with_centering": False}, "with_centering=False"),
    ("maxabs", {"unit_variance": True}, "unit_variance=True"),
    ("standard", {"with_scaling": False}, "with_scaling=False"),
    ("robust", {"clip": True}, "clip=True"),
    ("robust", {"ddof": 0}, "ddof=0"),
    ("robust", {"with_std": False}, "with_std=False"),
    ("robust", {"feature_range": (-1, 1)}, "feature_range=(-1, 1)"),
])
def test_an_option_another_method_uses_is_refused(method, options, unused):
    with pytest.raises(tn.ArgumentError, match=re.escape(f"Normalizer('{method}') does not use {unused}")):
        Normalizer(method, **options)


@pytest.mark.parametrize("options, message", [
    ({"quantile_range": (75, 25)}, r"0 <= low < high <= 100, got \(75, 25\)"),
    ({"quantile_range": (50, 50)}, r"0 <= low < high <= 100"),
    ({"quantile_range": (-1, 50)}, r"0 <= low < high <= 100"),
    ({"quantile_range": (25, 101)}, r"0 <= low < high <= 100"),
    ({"quantile_range": "25-75"}, r"two percentiles \(low, high\)"),
    ({"quantile_range": (0, 75), "unit_variance": True}, r"infinite for quantile_range=\(0, 75\)"),
    ({"quantile_range": (25, 100), "unit_variance": True}, r"infinite for quantile_range=\(25, 100\)"),
])
def test_bad_robust_options_are_refused(options, message):
    with pytest.raises(tn.ArgumentError, match=message):
        Normalizer("robust", **options)


def test_unit_variance_with_an_end_quantile_is_refused_at_fit_after_set_params():
    """As every combination of settings: set_params checks each value, fit the combination (a grid search sets
    one parameter at a time)."""
    n = Normalizer("robust", unit_variance=True).set_params(quantile_range=(0, 100))
    with pytest.raises(tn.ArgumentError, match=r"fit: unit_variance=True .* infinite for quantile_range=\(0, 100\)"):
        n.fit(DATASETS["normal"])


def test_set_params_keeps_the_quantiles_unless_the_range_changes():
    x = DATASETS["normal"]
    n = Normalizer("robust").fit(x)
    n.set_params(with_centering=False, unit_variance=True)
    _close(n.transform(x), _sklearn().RobustScaler(with_centering=False, unit_variance=True).fit(x).transform(x))
    n.quantile_range = (10, 90)  # (an attribute goes through set_params)
    assert not n.is_fitted and n.median is None
    from sklearn.base import clone

    twin = clone(Normalizer("robust", quantile_range=(5, 95), unit_variance=True))
    assert twin.get_params()["quantile_range"] == (5, 95) and twin.unit_variance


@pytest.mark.parametrize("options", [OPTIONS[0], OPTIONS[9], dict(quantile_range=(5.0, 50.0), unit_variance=True),
                                     dict(with_centering=False), dict(with_scaling=False)],
                         ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "defaults")
@pytest.mark.parametrize("count", [501, None], ids=["count", "no_count"])
def test_from_stats_robust_is_the_fit_its_quantiles_came_from(tmp_path, options, count):
    """A fit's median and quantiles given back: the same transform and inverse (the zero-spread rule included:
    a constant and a mostly-zero column), scikit-learn's RobustScaler's, a save/load round trip; taken as exact
    and without a sketch, so more rows are refused and the state stays as it was."""
    x = DATASETS["constant and mostly-zero columns"]
    fitted, reference = _fit_both(x, **options)
    state = fitted.state_dict()
    given = Normalizer.from_stats("robust", median=state["median"], q_low=state["q_low"], q_high=state["q_high"],
                                  count=count, feature_names=["a", "b", "c"], **options)
    assert given.is_fitted and given.rank_error == 0.0 and given.count == count and given.n_features == 3
    probe = x * 1.5 - 0.25
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NormalizerWarning)
        np.testing.assert_array_equal(given.transform(probe), fitted.transform(probe))
        y = fitted.transform(probe)
        np.testing.assert_array_equal(given.inverse_transform(y), fitted.inverse_transform(y))
        _close(given.transform(probe), reference.transform(probe))
        tn.save(given.state_dict(), tmp_path / "given.npz")
        back = Normalizer.from_state_dict(tn.load(tmp_path / "given.npz"))
        np.testing.assert_array_equal(back.transform(probe), y)
    before = given.state_dict()
    with pytest.raises(tn.ArgumentError, match=r"holds exact quantiles of .*or from_stats\) and no quantile sketch"):
        given.partial_fit(x)
    _same_state(given.state_dict(), before)


@pytest.mark.parametrize("kwargs,match", [
    (dict(median=[0.0, 5.0], q_low=[-1.0, 6.0], q_high=[1.0, 7.0]), r"q_low <= median <= q_high.*feature\(s\) 1"),
    (dict(median=[0.0], q_low=[-1.0], q_high=[-0.5]), r"q_low <= median <= q_high.*feature\(s\) 0"),
    (dict(median=[0.0], q_low=[-1.0]), r"needs q_high="),
    (dict(median=[0.0], q_low=[-1.0], q_high=[1.0], min=[0.0]), r"takes median= and q_low= and q_high=; min= is not"),
    (dict(median=[0.0], q_low=[-1.0], q_high=[np.inf]), r"q_high is not finite"),
    (dict(median=[0.0], q_low=[-1.0], q_high=[1.0], quantile_range=(75.0, 25.0)), r"quantile_range"),
])
def test_from_stats_robust_refuses_bad_quantiles(kwargs, match):
    with pytest.raises(tn.ArgumentError, match=match):
        Normalizer.from_stats("robust", **kwargs)


def test_robust_options_are_refused_by_the_other_methods_from_stats():
    with pytest.raises(tn.ArgumentError, match="quantile_range"):
        Normalizer.from_stats("standard", mean=[0.0], var=[1.0], quantile_range=(10.0, 90.0))
    with pytest.raises(tn.ArgumentError, match="median= is not one of its statistics"):
        Normalizer.from_stats("minmax", min=[0.0], max=[1.0], median=[0.5])


def test_repr_and_drift():
    x = DATASETS["normal"]
    n = Normalizer("robust", quantile_range=(10, 90)).fit(x)
    text = repr(n)
    assert text.startswith("Normalizer('robust', quantile_range=(10.0, 90.0), fitted on 501 rows x 3 features)")
    assert "median:" in text and "(quantiles exact)" in text
    report = n.drift(x)  # the drift baseline is kept whatever the method
    assert report.ok and report.unavailable == {}


# ---- save / load, nn.Normalize, invert, export ------------------------------------------------------------------
def _same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys() and a["config"] == b["config"]
    for k in a:
        if isinstance(a[k], np.ndarray):
            np.testing.assert_array_equal(a[k], b[k])
        else:
            assert a[k] == b[k], k


@pytest.mark.parametrize("options", [{}, {"quantile_range": (5.0, 50.0), "with_centering": False,
                                          "unit_variance": True}])
def test_save_load_round_trip(options, tmp_path):
    x = DATASETS["normal"]
    n = Normalizer("robust", feature_names=["a", "b", "c"], **options).fit(x)
    tn.save(n.state_dict(), tmp_path / "norm.npz")
    back = Normalizer.from_state_dict(tn.load(tmp_path / "norm.npz"))
    _same_state(back.state_dict(), n.state_dict())
    np.testing.assert_array_equal(back.transform(x), n.transform(x))
    np.testing.assert_array_equal(back.inverse_transform(x), n.inverse_transform(x))
    assert back.rank_error == 0.0 and back.feature_names == ["a", "b", "c"]
    # pickles too (a joblib-saved Pipeline): the sketches are bytes
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(n)).transform(x), n.transform(x))


def test_a_state_of_another_method_has_no_robust_keys():
    """Older readers refuse unknown config keys: the robust options are written only for robust."""
    state = Normalizer("minmax").fit(DATASETS["normal"]).state_dict()
    assert set(state["config"]) == {"method", "ddof", "with_mean", "with_std", "feature_range", "clip",
                                    "feature_names"}
    assert not {"median", "q_low", "q_high", "rank_error", "sketch"} & set(state)


def test_normalize_layer_forward_and_inverted_round_trip(tmp_path):
    x = DATASETS["heavy-tailed, an outlier"]
    n = Normalizer("robust", unit_variance=True).fit(x)
    model = nn.Sequential(nn.Normalize(n), nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2), nn.Normalize(n, invert=True))
    tn.save(model.state_dict(), tmp_path / "model.npz")
    bare = nn.Sequential(nn.Normalize(2), nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2), nn.Normalize(2, invert=True))
    bare.load_state_dict(tn.load(tmp_path / "model.npz"))
    t = tn.Tensor(x, dtype=np.float64)
    np.testing.assert_array_equal(bare[0](t).numpy(), n.transform(x))
    y = n.transform(x)
    np.testing.assert_array_equal(bare[4](tn.Tensor(y, dtype=np.float64)).numpy(), n.inverse_transform(y))
    np.testing.assert_allclose(n.inverse_transform(n.transform(x)), x, rtol=1e-12, atol=1e-9)
    assert bare[0].method == "robust" and bare[4].normalizer.rank_error == 0.0


@pytest.mark.parametrize("options", [{}, {"with_centering": False, "unit_variance": True}])
def test_export_to_torch_and_onnx(options, tmp_path):
    torch = pytest.importorskip("torch")
    x = DATASETS["normal"].astype(np.float32)
    n = Normalizer("robust", **options).fit(x[:100])
    for layer in (nn.Normalize(n), nn.Normalize(n, invert=True)):
        model = nn.Sequential(layer)
        with tn.no_grad():
            ours = model(tn.Tensor(x)).numpy()
        module = tn.export.to_torch(model)
        assert module[0].method == "robust"
        with torch.no_grad():
            np.testing.assert_array_equal(module(torch.from_numpy(x)).numpy(), ours)  # the same float32 operations
        pytest.importorskip("onnx", reason="onnx is not installed (the 'onnx' extra)")
        tn.export.to_onnx(model, tmp_path / "m.onnx")  # (checked by ONNX's reference evaluator at export)
        ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (the 'onnx' extra)")
        got = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"input": x})[0]
        # ONNX runs Sub, Mul (or Div, inverted) in float32 as we do: the same to one float32 rounding
        np.testing.assert_allclose(got, ours, rtol=2e-7, atol=2e-7 * np.abs(ours).max())


# ---- without datasketches ---------------------------------------------------------------------------------------
@pytest.fixture
def no_datasketches(monkeypatch):
    """datasketches cannot be imported (find_spec answers None for a module set to None in sys.modules)."""
    monkeypatch.setitem(sys.modules, "datasketches", None)
    assert not _quantiles.available()


def test_in_memory_fit_needs_no_datasketches_and_chunks_say_what_to_install(no_datasketches, tmp_path):
    x = DATASETS["normal"]
    n = Normalizer("robust").fit(x)
    np.testing.assert_array_equal(n.median, np.median(x, axis=0))
    assert n._sketch is None and "sketch" not in n.state_dict()
    install = r"pip install 'tinygrad_norm\[robust\]' \(or pip install datasketches\)"
    for call in (lambda: Normalizer("robust").partial_fit(x), lambda: Normalizer("robust").fit([x[:9], x[9:]]),
                 lambda: Normalizer("robust").fit(iter([x]))):
        with pytest.raises(tn.MissingDependencyError, match=install):
            call()
    with pytest.raises(tn.ArgumentError, match="no quantile sketch"):  # (installing datasketches would not help)
        n.partial_fit(x)
    tn.save(n.state_dict(), tmp_path / "n.npz")
    np.testing.assert_array_equal(Normalizer.from_state_dict(tn.load(tmp_path / "n.npz")).transform(x),
                                  n.transform(x))
    _close(n.transform(x), _sklearn().RobustScaler().fit(x).transform(x))


@needs_sketches
def test_an_exact_fit_made_without_datasketches_cannot_take_more_rows(monkeypatch):
    """(Nor one made with it: an exact fit keeps no sketch either way.)"""
    x = DATASETS["normal"]
    monkeypatch.setitem(sys.modules, "datasketches", None)
    n = Normalizer("robust").fit(x)
    monkeypatch.delitem(sys.modules, "datasketches")
    state = n.state_dict()
    with pytest.raises(tn.ArgumentError, match=r"holds exact quantiles of 501 rows \(from fit\(\) on one in-memory"):
        n.partial_fit(x)
    _same_state(n.state_dict(), state)


def test_a_saved_sketch_loads_without_datasketches(tmp_path, monkeypatch):
    if not _quantiles.available():
        pytest.skip("datasketches is not installed (pip install -e '.[robust]')")
    x = DATASETS["normal"]
    n = Normalizer("robust").fit([x[:200], x[200:]])
    monkeypatch.setitem(sys.modules, "datasketches", None)
    back = Normalizer.from_state_dict(n.state_dict())
    np.testing.assert_array_equal(back.transform(x), n.transform(x))
    with pytest.raises(tn.MissingDependencyError, match="which need datasketches"):
        back.partial_fit(x)


# ---- sketches: partial_fit, chunk streams, save and continue -----------------------------------------------------
def _rank_interval(x: np.ndarray, q: float) -> tuple[float, float]:
    """The ranks ``q`` has in ``x``: from the fraction below it to the fraction at or below it (ties)."""
    return float(np.count_nonzero(x < q)) / x.size, float(np.count_nonzero(x <= q)) / x.size


def _assert_within_rank_error(norm: Normalizer, columns: list[np.ndarray]) -> None:
    eps = norm.rank_error
    assert 0 < eps <= 0.01
    low, high = (q / 100 for q in norm.quantile_range)
    for j, x in enumerate(columns):
        for rank, q in ((0.5, norm.median[j]), (low, norm._q_low[j]), (high, norm._q_high[j])):
            below, at = _rank_interval(x, q)
            assert below <= rank + eps and at >= rank - eps, (j, rank, q, below, at)


@needs_sketches
def test_the_sketch_size_is_the_smallest_k_stating_at_most_one_percent():
    from datasketches import kll_doubles_sketch as kll

    assert kll.get_normalized_rank_error(_quantiles.SKETCH_K, False) <= 0.01
    assert kll.get_normalized_rank_error(_quantiles.SKETCH_K - 1, False) > 0.01
    n = Normalizer("robust").partial_fit(DATASETS["normal"])
    assert n.rank_error == kll.get_normalized_rank_error(_quantiles.SKETCH_K, False)
    assert "rank error <= 0.997%" in repr(n)


def _distributions(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"normal": rng.standard_normal(n) * 3 + 10, "lognormal": rng.lognormal(0.0, 2.0, n),
            "cauchy": rng.standard_cauchy(n), "pareto": rng.pareto(1.1, n),
            "poisson (ties)": rng.poisson(2.5, n).astype(np.float64)}


@needs_sketches
def test_sketched_quantiles_of_ten_million_values_are_within_the_stated_rank_error_in_any_chunk_order():
    """10^7 values of each distribution, fed as chunks of 10^6 rows in order, in two shuffled orders of unequal
    chunks, and merged in a tree of partial fits: every quantile is within the stated rank error."""
    rng = np.random.default_rng(11)
    n = 10**7
    for name, x in _distributions(n, rng).items():
        cuts = np.sort(rng.choice(np.arange(1, n), 9, replace=False))
        chunks = [x[i:i + n // 10].reshape(-1, 1) for i in range(0, n, n // 10)]
        uneven = np.split(x.reshape(-1, 1), cuts)
        fits = [Normalizer("robust").fit(chunks), Normalizer("robust").fit(iter(uneven[::-1]))]
        shuffled = Normalizer("robust")
        for i in rng.permutation(len(uneven)):
            shuffled.partial_fit(uneven[i])
        fits.append(shuffled)
        for fitted in fits:
            assert fitted.count == n
            _assert_within_rank_error(fitted, [x])
        del x, chunks, uneven, name


@needs_sketches
@pytest.mark.parametrize("quantile_range", [(25.0, 75.0), (1.0, 99.0)])
def test_partial_fit_after_an_exact_fit_is_refused_and_partial_fit_from_the_start_streams(quantile_range):
    """fit() on one array keeps exact quantiles and no sketch (a sketch would double its time), so rows cannot be
    added to it later: a clear error, the normalizer unchanged; partial_fit from the first chunk streams."""
    rng = np.random.default_rng(5)
    columns = list(_distributions(200_000, rng).values())
    x = np.column_stack(columns)
    n = Normalizer("robust", quantile_range=quantile_range).fit(x[:50_000])
    assert n.rank_error == 0.0 and n._sketch is None
    before = n.median.copy()
    with pytest.raises(tn.ArgumentError, match="partial_fit .* from the start"):
        n.partial_fit(x[50_000:])
    assert n.count == 50_000 and np.array_equal(n.median, before)
    streamed = Normalizer("robust", quantile_range=quantile_range).partial_fit(x[:50_000]).partial_fit(x[50_000:])
    assert streamed.count == len(x)
    _assert_within_rank_error(streamed, columns)


@needs_sketches
def test_a_loaded_normalizer_continues_its_sketch_exactly(tmp_path):
    """The state holds each feature's serialized sketch: after tn.save / tn.load the sketches are the same bytes,
    and partial_fit merges new rows into them as if the normalizer had never been saved."""
    rng = np.random.default_rng(8)
    columns = list(_distributions(100_000, rng).values())
    x = np.column_stack(columns)
    n = Normalizer("robust").fit([x[:30_000], x[30_000:60_000]])
    tn.save(n.state_dict(), tmp_path / "n.npz")
    back = Normalizer.from_state_dict(tn.load(tmp_path / "n.npz"))
    assert back._sketch == n._sketch and back.rank_error == n.rank_error > 0
    _same_state(back.state_dict(), n.state_dict())
    back.partial_fit(x[60_000:])
    assert back.count == len(x)
    _assert_within_rank_error(back, columns)
    # a Normalize layer's state carries the sketches too
    model = nn.Sequential(nn.Normalize(n))
    bare = nn.Sequential(nn.Normalize(5))
    bare.load_state_dict(model.state_dict())
    assert bare[0].normalizer._sketch == n._sketch


@needs_sketches
def test_a_failed_chunk_leaves_the_sketches_as_they_were():
    x = DATASETS["normal"]
    n = Normalizer("robust").fit([x[:200], x[200:]])
    before = n.state_dict()
    bad = x.copy()
    bad[7, 2] = np.inf

    def stream():
        yield x
        yield bad

    with pytest.raises(tn.ArgumentError, match="NaN/inf"):
        n.fit(stream())
    with pytest.raises(tn.ShapeError):
        n.partial_fit(x[:, :2])
    _same_state(n.state_dict(), before)


@needs_sketches
@pytest.mark.parametrize("edit, message", [
    (lambda s: s.update(sketch=s["sketch"][:-3]), r"'sketch_sizes' 3 positive integers adding up to its length"),
    (lambda s: s.update(sketch_sizes=s["sketch_sizes"][:2]), r"'sketch_sizes' 3 positive integers"),
    (lambda s: s.update(sketch=s["sketch"].astype(np.float64)), r"'sketch' must be a 1-D uint8 array"),
    (lambda s: s["sketch"].__setitem__(slice(0, 8), 0), r"the quantile sketch of feature 0 is not a KLL sketch"),
    (lambda s: s.update(count=s["count"] + 1), r"sketch of feature 0 holds 501 values, the normalizer was fitted "
                                               r"on 502 rows"),
    (lambda s: s.pop("rank_error"), r"needs 'rank_error', a number in \[0, 1\)"),
    (lambda s: s.update(q_low=s["q_high"] + 1), r"q_low > q_high"),
    (lambda s: s.pop("median"), r"'median' must be a 1-D numeric array"),
    (lambda s: s["config"].update(method="standard"), r"'median', 'q_low', 'q_high' are robust statistics"),
    (lambda s: s["config"].update(with_centering="yes"), r"with_centering must be true or false"),
])
def test_a_bad_robust_state_is_refused(edit, message):
    state = Normalizer("robust").partial_fit(DATASETS["normal"]).state_dict()
    state["config"] = dict(state["config"])
    edit(state)
    with pytest.raises(tn.ArgumentError, match=message):
        Normalizer.from_state_dict(state)


# ---- Dask: threads and a 2-process cluster ----------------------------------------------------------------------
@needs_sketches
@pytest.mark.parametrize("where", ["threads", "cluster"])
def test_dask_fit_is_within_the_stated_rank_error(where, request):
    da = pytest.importorskip("dask.array", reason="dask is not installed (pip install -e '.[dask]')")
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed (the 'dask' extra)")
    # 20 blocks made on the workers (only their seeds travel), each split in 2 column blocks: rechunked to whole
    # rows, their sketches merged in a tree
    blocks = [da.from_delayed(dask.delayed(_block)(seed), (BLOCK_ROWS, 5), np.float64) for seed in range(20)]
    dx = da.concatenate(blocks).rechunk({1: (2, 3)})
    x = np.concatenate([_block(seed) for seed in range(20)])
    columns = list(x.T)
    if where == "threads":
        scheduler, client = "threads", None
    else:
        client = distributed.Client(request.getfixturevalue("dask_cluster"), set_as_default=False)
        scheduler = client
    try:
        with dask.config.set(scheduler=scheduler):
            dx = dx.persist()  # (made once, where it lives)
            n = Normalizer("robust").fit(dx)
            # a Dask DataFrame of the same rows, and a Dask chunk added to an in-memory fit
            frame = Normalizer("robust").fit(_dask_frame(x[:100_000]))
            mixed = Normalizer("robust").partial_fit(x[:150_000]).partial_fit(dx[150_000:])
            lazy = n.transform(dx).compute()
    finally:
        if client is not None:
            client.close()
    assert n.count == mixed.count == len(x)
    _assert_within_rank_error(n, columns)
    _assert_within_rank_error(mixed, columns)
    _assert_within_rank_error(frame, [c[:100_000] for c in columns])
    assert frame.feature_names == [f"c{j}" for j in range(5)]
    np.testing.assert_array_equal(lazy, n.transform(x))


BLOCK_ROWS = 25_000


def _block(seed: int) -> np.ndarray:
    return np.column_stack(list(_distributions(BLOCK_ROWS, np.random.default_rng(seed)).values()))


def _dask_frame(x: np.ndarray):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe", reason="dask[dataframe] is not installed (the 'dask' extra)")
    return dd.from_pandas(pd.DataFrame(x, columns=[f"c{j}" for j in range(x.shape[1])]), npartitions=3)


def test_dask_without_datasketches_says_what_to_install(no_datasketches):
    da = pytest.importorskip("dask.array", reason="dask is not installed (pip install -e '.[dask]')")
    with pytest.raises(tn.MissingDependencyError, match=r"tinygrad_norm\[robust\]"):
        Normalizer("robust").fit(da.from_array(DATASETS["normal"], chunks=100))


# ---- the example: --norm robust, compare --outliers, the README's table ----------------------------------------
def test_train_and_infer_with_norm_robust(tmp_path, capsys, monkeypatch):
    from tinygrad_norm import cli

    monkeypatch.delenv("TINYGRAD_NORM_DATA", raising=False)  # the shipped data
    art = str(tmp_path / "robust")
    assert cli.main(["train", "--epochs", "1", "--norm", "robust", "--no-progress", "--artifact-dir", art]) == 0
    assert "normalization: robust" in capsys.readouterr().out
    assert cli.main(["infer", "--artifact-dir", art, "--no-chart"]) == 0
    assert "(normalization: robust)" in capsys.readouterr().out
    state = tn.load(tmp_path / "robust" / "model.npz")
    saved = state["best"]["model"]["normalize._extra_state"]["normalizer"]
    assert saved["config"]["method"] == "robust" and saved["rank_error"] == 0.0  # exact: fitted on the train split


def test_compare_rows_of_robust_show_what_the_readme_says(monkeypatch):
    """The README's robust lessons, recomputed on the shipped data (margins far wider than the CPU's rounding):
    with Adam it learns and its validation loss is standard's within 10%, but the test row with AveOccup 1243 is
    scaled to over 1000 IQRs and its error is over a fifth of the test MSE; with plain SGD the loss overflows
    within the first epochs."""
    from tinygrad_norm.examples.simple_regression.compare import DEFAULT_RUNS, compare
    from tinygrad_norm.examples.simple_regression.dataset import FEATURES, HousingDataset

    monkeypatch.delenv("TINYGRAD_NORM_DATA", raising=False)
    runs = [r for r in DEFAULT_RUNS if r.target_norm == "none" and (r.norm == "robust" or (
        r.norm == "standard" and r.optimizer == "adam"))]
    adam, sgd, standard = sorted(compare(runs, log=lambda *_: None), key=lambda r: (r.run.norm, r.run.optimizer))
    assert [(r.run.norm, r.run.optimizer) for r in (adam, sgd, standard)] == [("robust", "adam"), ("robust", "sgd"),
                                                                              ("standard", "adam")]
    assert adam.diverged is None and adam.test.mse < 0.7 * adam.test.baseline_mse and adam.dead == 0
    assert abs(adam.training.best_valid[0] / standard.training.best_valid[0] - 1) < 0.1
    test = HousingDataset.load().split()["test"]
    far = int(np.argmax(test.features[:, FEATURES.index("AveOccup")]))
    assert test.features[far, FEATURES.index("AveOccup")] > 1000
    scaled = adam.training.best_model().normalize.normalizer.transform(test.features[far:far + 1])
    assert scaled[0, FEATURES.index("AveOccup")] > 1000
    errors = (adam.test.predictions - adam.test.targets) ** 2
    assert errors[far] > 0.2 * errors.sum()
    assert sgd.diverged is not None and sgd.diverged <= 3


def test_with_outliers_multiplies_only_the_drawn_training_rows():
    from tinygrad_norm.examples.simple_regression.compare import (
        OUTLIER_FACTOR,
        OUTLIER_FEATURES,
        outlier_rows,
        with_outliers,
    )
    from tinygrad_norm.examples.simple_regression.dataset import FEATURES, HousingDataset

    rng = np.random.default_rng(2)
    clean = HousingDataset(rng.random((1000, 8)).astype(np.float32) + 1, rng.random(1000).astype(np.float32))
    bad = with_outliers(clean, 0.01, seed=7)
    changed = np.flatnonzero((bad.features != clean.features).any(axis=1))
    assert len(changed) == outlier_rows(1000, 0.01) == 10
    cols = [FEATURES.index(f) for f in OUTLIER_FEATURES]
    np.testing.assert_array_equal(bad.features[changed][:, cols],
                                  clean.features[changed][:, cols] * OUTLIER_FACTOR)
    others = [j for j in range(8) if j not in cols]
    np.testing.assert_array_equal(bad.features[:, others], clean.features[:, others])
    np.testing.assert_array_equal(bad.targets, clean.targets)
    np.testing.assert_array_equal(with_outliers(clean, 0.01, seed=7).features, bad.features)  # seeded
    assert outlier_rows(1000, 0.0) == 0 and outlier_rows(1000, 1e-9) == 1
    with pytest.raises(tn.ArgumentError, match="from 0 to 1"):
        with_outliers(clean, 1.5, seed=7)


def test_compare_outliers_squeezes_minmax_and_not_robust(capsys, monkeypatch):
    """MedInc's bulk after scaling depends on the fitted statistics only (not on training): min-max by the
    outliers' range squeezes its interquartile range below 1e-3, robust keeps it near 1; the validation and test
    rows are untouched (the same test split and baseline as without outliers)."""
    from tinygrad_norm import cli
    from tinygrad_norm.examples.simple_regression.compare import BULK_HEADER, HEADER, Run, compare, table

    monkeypatch.delenv("TINYGRAD_NORM_DATA", raising=False)
    runs = [Run("minmax", "adam", 1e-3, ""), Run("robust", "adam", 1e-3, "")]
    dirty = compare(runs, epochs=1, log=lambda *_: None, outliers=0.01)
    clean = compare(runs, epochs=1, log=lambda *_: None)
    assert [r.outliers for r in dirty] == [166, 166] and [r.outliers for r in clean] == [0, 0]
    minmax, robust = (r.bulk_iqr for r in dirty)
    assert minmax < 1e-3 < 0.5 < robust < 2
    assert clean[0].bulk_iqr > 0.1 and abs(clean[1].bulk_iqr - robust) < 0.05
    for d, c in zip(dirty, clean):
        np.testing.assert_array_equal(d.test.targets, c.test.targets)
        assert d.test.baseline_mse == c.test.baseline_mse
    assert table(dirty).splitlines()[0].split(" | ")[-1].strip(" |") == BULK_HEADER
    assert BULK_HEADER not in table(clean) and len(table(clean).splitlines()[0].split(" | ")) == len(HEADER)
    assert cli.main(["compare", "--epochs", "1", "--outliers", "0.01", "--norm", "minmax", "robust",
                     "--optimizer", "adam"]) == 0
    out = capsys.readouterr().out
    assert "--outliers 0.01: 166 training rows have MedInc and AveRooms multiplied by 1000" in out
    assert BULK_HEADER in out and "- robust/adam" not in out  # (the lessons are of the runs without outliers)
    with pytest.raises(SystemExit):
        cli.main(["compare", "--outliers", "2"])
    assert "must be a fraction from 0 to 1" in capsys.readouterr().err


def test_readme_outliers_block_has_the_shape_the_script_prints():
    from pathlib import Path

    from tinygrad_norm.examples.simple_regression.compare import BULK_HEADER

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    begin, end = "<!-- readme_tables: outliers -->\n", "\n<!-- /readme_tables: outliers -->"
    assert readme.count(begin) == 1 and readme.count(end) == 1
    lines = readme.split(begin, 1)[1].split(end, 1)[0].splitlines()
    assert lines[0] == ("| training rows with the unit error | norm | best valid (epoch) | test MSE | test R^2 | "
                        f"spread | dead ReLUs | {BULK_HEADER} |") and lines[1] == "|" + "---|" * 8
    rows = [line.strip("|").split(" | ") for line in lines[2:8]]
    assert [(r[0].strip(), r[1]) for r in rows] == [(n, m) for n in ("0", "166")
                                                    for m in ("standard", "minmax", "robust")]
    for r in rows:
        assert re.fullmatch(r"\d+\.\d{4} \(\d+\)", r[2]) and re.fullmatch(r"[\d.e+-]+", r[-1].strip())
    assert lines[-1].startswith("Measured by `python bench/readme_tables.py` on ")
