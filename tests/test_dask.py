"""Fitting on Dask arrays and DataFrames: equal to the in-memory fit (and to float64 NumPy) on the threaded
scheduler and on a 2-process dask.distributed cluster, for every method and chunk layout; data that only
ever exists on the workers; the float32 large-offset case where dask's own var fails; lazy transforms."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_norm as tn
from tinygrad_norm import _dask
from tinygrad_norm.normalize import Normalizer

da = pytest.importorskip("dask.array", reason="dask is not installed (pip install -e '.[dask]')")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed (pip install -e '.[dask]')")

METHODS = ["standard", "minmax", "maxabs"]
ROWS = 300_000
LAYOUTS = {
    "regular": (20_000, 4),  # 15 blocks: the tree has combine steps (split_every 4)
    "irregular": ((1, 149_999, 150_000), 4),
    "column-chunked": (60_000, (1, 3)),
}


@pytest.fixture(scope="module")
def cluster_client(dask_cluster):
    """A client of the session's local 2-process cluster; not the default client, so other tests keep threads."""
    with distributed.Client(dask_cluster, set_as_default=False) as client:
        yield client


@pytest.fixture(params=["threads", "cluster"])
def scheduler(request):
    """Run the test's computations on dask's threaded scheduler or on the local cluster."""
    target = "threads" if request.param == "threads" else request.getfixturevalue("cluster_client")
    with dask.config.set(scheduler=target):
        yield request.param


@pytest.fixture(scope="module")
def table() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.standard_normal((ROWS, 4)) * [1.0, 1e3, 1e-2, 5.0] + [0.0, -5.0, 3.0, 1e4]


def assert_same_statistics(fitted: Normalizer, ref: Normalizer, x64: np.ndarray) -> None:
    """Dask fit == in-memory fit (rtol 1e-12 for mean and M2, exact min/max), both == float64 NumPy."""
    assert fitted.count == ref.count == x64.shape[0] and fitted.n_features == ref.n_features
    if ref.method == "standard":
        scale = np.abs(x64).max(0)  # a mean near 0 is compared relative to its column's magnitude
        np.testing.assert_allclose(fitted.mean, ref.mean, rtol=1e-12, atol=1e-15 * scale.max())
        np.testing.assert_allclose(fitted._m2, ref._m2, rtol=1e-12)
        np.testing.assert_allclose(fitted.mean, x64.mean(0), rtol=1e-12, atol=1e-14 * scale.max())
        np.testing.assert_allclose(fitted.var, x64.var(0, ddof=1), rtol=1e-12)
    else:
        np.testing.assert_array_equal(fitted.min, ref.min)
        np.testing.assert_array_equal(fitted.max, ref.max)
        np.testing.assert_array_equal(fitted.min, x64.min(0))
        np.testing.assert_array_equal(fitted.max, x64.max(0))


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_dask_fit_equals_in_memory_fit(table, layout, scheduler):
    x = table.astype(np.float32)
    x64 = x.astype(np.float64)
    dx = da.from_array(x, chunks=LAYOUTS[layout]).persist()  # on the cluster: sent to the workers once
    for method in METHODS:
        fitted = Normalizer(method).fit(dx)
        assert_same_statistics(fitted, Normalizer(method).fit(x), x64)
        if method == "standard":
            out = fitted.transform(dx)  # lazy, the same kind, whole rows per block
            assert isinstance(out, da.Array) and out.dtype == np.float32 and out.numblocks[1] == 1
            np.testing.assert_array_equal(out.compute(), fitted.transform(x))
            back = fitted.inverse_transform(out).compute()
            np.testing.assert_array_equal(back, fitted.inverse_transform(fitted.transform(x)))


def test_deep_tree_and_integer_blocks(table):
    """split_every=2 over 30 blocks: a 5-level tree of Chan merges; integer data is fitted in float64."""
    ints = (table[:, :2] * 100).astype(np.int64)
    with dask.config.set(scheduler="threads", split_every=2):
        fitted = Normalizer().fit(da.from_array(ints, chunks=10_000))
        assert_same_statistics(fitted, Normalizer().fit(ints), ints.astype(np.float64))
        assert fitted.transform(da.from_array(ints, chunks=10_000)).dtype == np.float32


def _block(i: int, rows: int, offset: float, scale: float) -> np.ndarray:
    """Block i of a table that is generated where it is needed (on a worker) from its seed."""
    rng = np.random.default_rng([11, i])
    return (offset + scale * rng.standard_normal((rows, 4))).astype(np.float32)


def generated(blocks: int, rows: int, offset: float = 0.0, scale: float = 1.0):
    """(the Dask array whose blocks are made on the workers, a function that makes the same table here)."""
    parts = [da.from_delayed(dask.delayed(_block)(i, rows, offset, scale), (rows, 4), np.float32)
             for i in range(blocks)]
    return da.concatenate(parts), lambda: np.concatenate([_block(i, rows, offset, scale) for i in range(blocks)])


def test_data_generated_on_the_workers(cluster_client):
    """The fit sends the workers a recipe and gets back d-sized summaries: the table never exists here."""
    dx, local = generated(blocks=6, rows=50_000, offset=-20.0, scale=4.0)
    with dask.config.set(scheduler=cluster_client):
        fitted = {m: Normalizer(m).fit(dx) for m in METHODS}
    x = local()
    for method in METHODS:
        assert_same_statistics(fitted[method], Normalizer(method).fit(x), x.astype(np.float64))


def test_float32_large_offset_stays_exact_where_dask_var_fails(cluster_client):
    """4M x 4 float32, mean 1e3, std 3, 1M-row blocks made on the workers (the issue's dask-ml case)."""
    dx, local = generated(blocks=4, rows=1_000_000, offset=1e3, scale=3.0)
    with dask.config.set(scheduler=cluster_client):
        dx = dx.persist()  # made once, on the workers
        fitted = Normalizer("standard", ddof=0).fit(dx)
        dask_var = dx.var(axis=0).compute()  # what dask-ml's StandardScaler uses
    columns = local().T.astype(np.float64)  # contiguous columns: NumPy sums them pairwise, to ~1e-16
    mean = columns.sum(1) / columns.shape[1]
    var = ((columns - mean[:, None]) ** 2).sum(1) / columns.shape[1]
    assert np.abs(fitted.mean / mean - 1).max() < 1e-10
    assert np.abs(fitted.var / var - 1).max() < 1e-10
    # the data really is hard: dask's own var accumulates float32 in float32 (if dask ever accumulates in
    # float64, drop this line)
    assert np.abs(dask_var / var - 1).max() > 1e-2


def test_dask_dataframe_fit_names_and_lazy_transform(scheduler):
    pd = pytest.importorskip("pandas", reason="pandas is not installed")
    dd = pytest.importorskip("dask.dataframe", reason="dask.dataframe needs pandas and pyarrow")
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"rooms": rng.integers(1, 9, 40_000), "price": rng.lognormal(12, 1, 40_000),
                       "lat": rng.uniform(32, 42, 40_000).astype(np.float32)}, index=np.arange(40_000) * 3)
    ddf = dd.from_pandas(df, npartitions=7)
    for method in METHODS:
        fitted = Normalizer(method).fit(ddf)
        ref = Normalizer(method).fit(df)
        assert fitted.feature_names == ["rooms", "price", "lat"] == list(fitted.feature_names_in_)
        assert_same_statistics(fitted, ref, df.to_numpy(np.float64))
    out = fitted.transform(ddf)
    assert type(out).__name__ == "DataFrame" and list(out.columns) == list(df.columns)
    result = out.compute()
    pd.testing.assert_index_equal(result.index, df.index)
    np.testing.assert_array_equal(result.to_numpy(), ref.transform(df))
    # a Series is one feature, named by the Series
    one = Normalizer().fit(ddf["price"])
    assert one.feature_names == ["price"] and one.count == 40_000
    s = one.transform(ddf["price"]).compute()
    assert isinstance(s, pd.Series) and s.name == "price"
    np.testing.assert_allclose(s.to_numpy(), (df["price"] - df["price"].mean()) / df["price"].std(), rtol=1e-9)
    with pytest.raises(ValueError, match=r"columns \['price', 'rooms', 'lat'\] are not the feature names"):
        fitted.transform(ddf[["price", "rooms", "lat"]])


def test_nan_errors_name_the_features(scheduler):
    x = np.ones((9_000, 3), np.float32)
    x[:, 0] = np.arange(9_000)
    x[4_500, 1], x[8_999, 2] = np.nan, np.inf
    for method in ("standard", "minmax"):
        with pytest.raises(ValueError, match=r"2 NaN/inf.*feature 'b': 1, feature 'c': 1"):
            Normalizer(method, feature_names=["a", "b", "c"]).fit(da.from_array(x, chunks=(1_000, 2)))
    pd = pytest.importorskip("pandas", reason="pandas is not installed")
    dd = pytest.importorskip("dask.dataframe", reason="dask.dataframe needs pandas and pyarrow")
    df = pd.DataFrame(x, columns=["a", "b", "c"]).astype({"a": "Int64"})
    df.loc[3, "a"] = pd.NA  # a nullable column's missing value counts too
    with pytest.raises(ValueError, match=r"3 NaN/inf.*feature 'a': 1, feature 'b': 1, feature 'c': 1"):
        Normalizer().fit(dd.from_pandas(df, npartitions=4))


def test_partial_fit_mixes_dask_and_in_memory_chunks(table):
    with dask.config.set(scheduler="threads"):
        for method in METHODS:
            streamed = Normalizer(method)
            streamed.partial_fit(table[:1_000])
            streamed.partial_fit(da.from_array(table[1_000:200_000], chunks=(33_333, 2)))
            streamed.partial_fit(tn.Tensor(table[200_000:250_000], dtype=np.float64))
            streamed.partial_fit(da.from_array(table[250_000:], chunks=7_000))
            assert_same_statistics(streamed, Normalizer(method).fit(table), table)


def test_dask_input_errors(table):
    dx = da.from_array(table, chunks=50_000)
    n = Normalizer()
    with pytest.raises(ValueError, match="2-D.*reshape"):
        n.fit(dx[:, 0])
    with pytest.raises(TypeError, match="numeric"):
        n.fit(da.from_array(np.array([["a", "b"]] * 4)))
    with pytest.raises(TypeError, match="Dask array or DataFrame"):
        n.fit(dask.delayed(np.ones)((3, 2)))
    with pytest.raises(tn.NotFittedError, match="not fitted"):
        n.transform(dx)
    with dask.config.set(scheduler="threads"):
        n.fit(dx)
    with pytest.raises(ValueError, match="3 features.*4"):
        n.transform(dx[:, :3])
    with pytest.raises(TypeError, match="out= is for in-memory arrays"):
        n.transform(dx, out=np.empty_like(table))
    with pytest.raises(ValueError, match="earlier chunks"):
        n.partial_fit(dx[:, :2])


def test_unknown_chunk_sizes_with_column_chunks(table):
    """A boolean-mask selection (or to_dask_array() without lengths) has NaN row chunks; with two column
    chunks the fit used to fail in dask's automatic rechunking. Rows are kept as they are, columns joined."""
    x = table[:40_000]
    mask = x[:, 0] > 0.3
    with dask.config.set(scheduler="threads"):
        for layout in ((7_000, 2), (7_000, (1, 3)), (7_000, 4)):
            dx = da.from_array(x, chunks=layout)[da.from_array(mask, chunks=layout[0])]
            assert np.isnan(dx.shape[0])
            for method in METHODS:
                fitted = Normalizer(method).fit(dx)
                assert_same_statistics(fitted, Normalizer(method).fit(x[mask]), x[mask])
            np.testing.assert_array_equal(fitted.transform(dx).compute(), fitted.transform(x[mask]))
            streamed = Normalizer().partial_fit(x[:10]).partial_fit(dx)
            assert streamed.count == 10 + mask.sum()
        pd = pytest.importorskip("pandas", reason="pandas is not installed")
        dd = pytest.importorskip("dask.dataframe", reason="dask.dataframe needs pandas and pyarrow")
        arr = dd.from_pandas(pd.DataFrame(x), npartitions=5).to_dask_array()  # no lengths: NaN row chunks
        for dx in (arr, arr.rechunk({1: 2})):
            assert np.isnan(dx.shape[0])
            np.testing.assert_allclose(Normalizer().fit(dx).mean, x.mean(0), rtol=1e-12, atol=1e-12)


def test_inputs_that_are_not_dask_arrays_or_frames_are_clear_errors(table):
    bag = pytest.importorskip("dask.bag", reason="dask.bag is not installed")
    fitted = Normalizer().fit(table)
    before = fitted.state_dict()
    for bad in (dask.delayed(np.ones)((3, 4)), bag.from_sequence([[1.0, 2.0, 3.0, 4.0]] * 3, npartitions=2)):
        with pytest.raises(tn.ArgumentTypeError, match="must be a Dask array or DataFrame/Series"):
            Normalizer().fit(bad)
        with pytest.raises(tn.ArgumentTypeError, match="must be a Dask array or DataFrame/Series"):
            fitted.partial_fit(bad)
        with pytest.raises(tn.ArgumentTypeError, match="must be a Dask array or DataFrame/Series"):
            fitted.transform(bad)
    with pytest.raises(tn.ArgumentError, match=r"no features \(shape \(5, 0\)\)"):
        Normalizer().fit(da.ones((5, 0)))
    with pytest.raises(tn.ArgumentError, match="no features"):
        fitted.fit(da.ones((5, 0), chunks=(2, 0)))
    np.testing.assert_array_equal(fitted.state_dict()["mean"], before["mean"])  # a failed fit keeps the old one
    sparse = pytest.importorskip("scipy.sparse", reason="scipy is not installed")
    blocks = da.from_array(table[:1000], chunks=(250, 4)).map_blocks(sparse.csr_matrix, dtype=table.dtype)
    with pytest.raises(tn.ArgumentTypeError, match="sparse blocks are not supported.*toarray"):
        Normalizer().fit(blocks)
    with pytest.raises(tn.ArgumentTypeError, match="sparse blocks"):
        fitted.transform(blocks)


def test_dask_dataframe_columns_are_checked_whatever_their_labels(table):
    pd = pytest.importorskip("pandas", reason="pandas is not installed")
    dd = pytest.importorskip("dask.dataframe", reason="dask.dataframe needs pandas and pyarrow")
    df = pd.DataFrame(table[:5_000])  # integer labels 0..3
    ddf = dd.from_pandas(df, npartitions=3)
    with dask.config.set(scheduler="threads"):
        fitted = Normalizer().fit(ddf)
        np.testing.assert_array_equal(fitted.transform(ddf).compute().to_numpy(), fitted.transform(df))
        with pytest.raises(tn.ArgumentError, match="another order"):
            fitted.transform(ddf[[3, 2, 1, 0]])
        with pytest.raises(tn.ArgumentError, match="another order"):
            fitted.transform(df[[3, 2, 1, 0]])  # the same check for the in-memory frame
        with pytest.raises(tn.ArgumentError, match="more than once"):
            Normalizer().fit(dd.from_pandas(df.set_axis(["a", "a", "b", "c"], axis=1), npartitions=2))


def test_transform_is_lazy_and_frozen(table):
    """Building the graph computes nothing; refitting afterwards does not change it."""
    calls = []

    def counted(block):
        if len(block):  # not dask's 0-row metadata probe
            calls.append(len(block))
        return block

    dx = da.from_array(table, chunks=100_000).map_blocks(counted, dtype=table.dtype)
    n = Normalizer("minmax").fit(table)
    out = n.transform(dx)
    assert calls == []
    expected = n.transform(table)
    n.fit(table * 2)
    with dask.config.set(scheduler="threads"):
        np.testing.assert_array_equal(out.compute(), expected)


def test_a_cupy_block_is_summarized_by_the_cuda_backend(monkeypatch):
    """Device choice goes through the seam's backend_of: a block with __cuda_array_interface__ gets 'cuda'
    (here a stand-in backend, so the rule is checked without a GPU; tests/test_cuda-style GPU runs use CuPy)."""
    asked = []
    cpu = tn.get_backend("cpu")

    class Block(np.ndarray):
        @property
        def __cuda_array_interface__(self):
            return {}

    def fake_backend_of(array):
        asked.append(tn._backend.device_of(array))
        return cpu

    monkeypatch.setattr(_dask, "backend_of", fake_backend_of)
    block = np.arange(12.0).reshape(6, 2).view(Block)
    summary = _dask._summarize_block(block, kind="moments")
    assert asked == ["cuda"] and summary["n"][0, 0] == 6
    np.testing.assert_allclose(summary["a"][0], [5.0, 6.0])


@pytest.mark.gpu
@pytest.mark.skipif(not tn.cuda_available(), reason="needs CuPy and an NVIDIA GPU")
def test_cupy_backed_dask_array_fits_and_transforms_on_the_gpu(table):
    import cupy as cp

    dx = da.from_array(cp.asarray(table.astype(np.float32)), chunks=(70_000, 4), asarray=False)
    with dask.config.set(scheduler="threads"):
        for method in METHODS:
            fitted = Normalizer(method).fit(dx)
            assert_same_statistics(fitted, Normalizer(method).fit(table.astype(np.float32)),
                                   table.astype(np.float32).astype(np.float64))
            out = fitted.transform(dx).compute()
            assert isinstance(out, cp.ndarray)


def test_an_unknown_number_of_columns_is_a_clear_error():
    """A Dask array whose column count is NaN was once fitted as 'nan features', leaving a broken normalizer."""
    a = np.arange(120.0).reshape(40, 3)
    for shape in ((40, np.nan), (np.nan, np.nan)):
        x = da.from_delayed(dask.delayed(lambda: a)(), shape=shape, dtype=float)
        norm = tn.Normalizer()
        with pytest.raises(tn.ShapeError, match=r"number of columns is unknown.*compute_chunk_sizes"):
            norm.fit(x)
        assert not norm.is_fitted
        fitted = tn.Normalizer().fit(a)
        with pytest.raises(tn.ShapeError, match="number of columns is unknown"):
            fitted.transform(x)
