"""tn.data against torch.utils.data: TensorDataset, Subset, random_split, DataLoader, default_collate."""

from __future__ import annotations

import collections
import itertools
import warnings

import numpy as np
import pytest

import tinygrad_norm as tn
from tinygrad_norm.data import DataLoader, Rows, Subset, TensorDataset, default_collate, random_split

torch = pytest.importorskip("torch")
tud = torch.utils.data


def _np(x):
    """A batch (Tensor, torch tensor, or a list/dict of them) as NumPy, for comparing."""
    if isinstance(x, tn.Tensor):
        return x.numpy()
    if isinstance(x, torch.Tensor):
        return x.numpy()
    if isinstance(x, dict):
        return {k: _np(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_np(v) for v in x]
    return x


def _assert_same_batch(ours, theirs, exact_dtype=True):
    a, b = _np(ours), _np(theirs)
    if isinstance(b, dict):
        assert type(a) is dict and a.keys() == b.keys()
        for k in b:
            _assert_same_batch(a[k], b[k], exact_dtype)
    elif isinstance(b, list):
        assert isinstance(a, list) and len(a) == len(b)
        for u, v in zip(a, b):
            _assert_same_batch(u, v, exact_dtype)
    elif isinstance(b, np.ndarray):
        assert a.shape == b.shape
        if exact_dtype:
            assert a.dtype == b.dtype, (a.dtype, b.dtype)
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


@pytest.fixture
def arrays():
    rng = np.random.default_rng(0)
    return rng.standard_normal((23, 3)).astype(np.float32), rng.integers(0, 5, 23)


# ---- TensorDataset --------------------------------------------------------------------------------
def test_tensor_dataset_items_are_tuples_like_torch(arrays):
    x, y = arrays
    ours, theirs = TensorDataset(x, y), tud.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    assert len(ours) == len(theirs) == 23
    for i in (0, 7, -1):
        a, b = ours[i], theirs[i]
        assert isinstance(a, tuple) and len(a) == 2
        _assert_same_batch(list(a), list(b))
    rows = TensorDataset(tn.Tensor(x), tn.Tensor(y))[3]  # Tensors give Tensor rows
    assert all(isinstance(r, tn.Tensor) for r in rows) and rows[0].shape == (3,)


def test_tensor_dataset_getitems_is_one_index_per_tensor(arrays):
    x, y = arrays
    for ds in (TensorDataset(x, y), TensorDataset(tn.Tensor(x), tn.Tensor(y))):
        idx = np.array([5, 0, 22, 5, -1])
        rows = ds.__getitems__(idx)
        assert isinstance(rows, Rows) and len(rows) == 5
        for k, i in enumerate(idx):  # the same samples as fetching them one by one
            _assert_same_batch(list(rows[k]), list(ds[int(i)]))
        assert [len(list(r)) for r in rows] == [2] * 5


def test_tensor_dataset_errors_say_what_is_wrong():
    with pytest.raises(tn.ShapeError, match=r"first dimensions 4, 5"):
        TensorDataset(np.zeros((4, 2)), np.zeros(5))
    with pytest.raises(tn.ShapeError, match="0-d"):
        TensorDataset(np.float32(1))
    with pytest.raises(tn.ArgumentTypeError, match="dtype <U1"):
        TensorDataset(np.array(["a", "b"]))
    with pytest.raises(tn.ArgumentError, match="at least one"):
        TensorDataset()


# ---- DataLoader: batches, drop_last, len --------------------------------------------------------------
@pytest.mark.parametrize("batch_size,drop_last", [(1, False), (5, False), (5, True), (23, True), (30, False),
                                                  (30, True), (7, True)])
def test_unshuffled_batches_equal_torch(arrays, batch_size, drop_last):
    x, y = arrays
    ours = DataLoader(TensorDataset(x, y), batch_size=batch_size, drop_last=drop_last)
    theirs = tud.DataLoader(tud.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=batch_size,
                            drop_last=drop_last)
    assert len(ours) == len(theirs)
    got, want = list(ours), list(theirs)
    assert len(got) == len(want) == len(ours)
    for a, b in zip(got, want):
        _assert_same_batch(a, b)


@pytest.mark.parametrize("drop_last", [False, True])
def test_shuffling_gives_every_row_once_per_epoch_and_a_new_order_each_epoch(drop_last):
    n, bs = 50, 8
    ds = TensorDataset(np.arange(n))
    ours = DataLoader(ds, batch_size=bs, shuffle=True, drop_last=drop_last, seed=3)
    theirs = tud.DataLoader(tud.TensorDataset(torch.arange(n)), batch_size=bs, shuffle=True, drop_last=drop_last,
                            generator=torch.Generator().manual_seed(3))
    epochs = []
    for _ in range(3):
        batches = [b[0].numpy() for b in ours]
        torch_batches = [b[0].numpy() for b in theirs]
        assert [len(b) for b in batches] == [len(b) for b in torch_batches]  # the same batch sizes as torch
        rows = np.concatenate(batches)
        assert len(set(rows.tolist())) == len(rows)  # no row twice
        if not drop_last:
            assert sorted(rows.tolist()) == list(range(n))
        epochs.append(rows)
    assert not np.array_equal(epochs[0], epochs[1])  # reshuffled every epoch
    again = DataLoader(ds, batch_size=bs, shuffle=True, drop_last=drop_last, seed=3)
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in again]), epochs[0])  # the seed decides


def test_rng_state_resumes_the_shuffle_exactly():
    ds = TensorDataset(np.arange(40))
    whole = DataLoader(ds, batch_size=6, shuffle=True, seed=11)
    orders = [np.concatenate([b[0].numpy() for b in whole]) for _ in range(4)]
    first = DataLoader(ds, batch_size=6, shuffle=True, seed=11)
    for _ in range(2):
        list(first)
    state = first.rng_state
    resumed = DataLoader(ds, batch_size=6, shuffle=True, seed=999)  # another seed: the state decides
    resumed.rng_state = state
    for want in orders[2:]:
        np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in resumed]), want)
    with pytest.raises(tn.ArgumentError, match="not a generator state"):
        resumed.rng_state = {"bit_generator": "MT19937"}
    unshuffled = DataLoader(ds, batch_size=6)
    assert unshuffled.rng_state is None
    with pytest.raises(tn.ArgumentError, match="does not shuffle"):
        unshuffled.rng_state = state


def test_a_generator_is_used_in_place_and_the_global_seed_decides_without_one():
    ds = TensorDataset(np.arange(30))
    gen = np.random.default_rng(5)
    loader = DataLoader(ds, batch_size=30, shuffle=True, generator=gen)
    assert loader.generator is gen
    np.testing.assert_array_equal(next(iter(loader))[0].numpy(), np.random.default_rng(5).permutation(30))
    tn.manual_seed(0)
    a = [b[0].numpy() for b in DataLoader(ds, batch_size=30, shuffle=True)]
    tn.manual_seed(0)
    b = [b[0].numpy() for b in DataLoader(ds, batch_size=30, shuffle=True)]
    np.testing.assert_array_equal(a[0], b[0])


def test_getitems_is_called_once_per_batch_and_its_result_goes_to_collate_fn():
    """torch 2.x's batched fetch: the same calls in torch and here (indices as a list there, an array here)."""
    class Batched(tud.Dataset):
        def __init__(self):
            self.calls = []

        def __len__(self):
            return 10

        def __getitem__(self, i):
            raise AssertionError("the loader must use __getitems__")

        def __getitems__(self, indices):
            self.calls.append([int(i) for i in indices])
            return ("batch", [int(i) for i in indices])

    ours, theirs = Batched(), Batched()
    got = list(DataLoader(ours, batch_size=4, collate_fn=lambda b: b))
    want = list(tud.DataLoader(theirs, batch_size=4, collate_fn=lambda b: b))
    assert got == want == [("batch", [0, 1, 2, 3]), ("batch", [4, 5, 6, 7]), ("batch", [8, 9])]
    assert ours.calls == theirs.calls


def test_a_dataset_without_getitems_is_read_row_by_row():
    data = [(float(i), {"id": i, "name": f"row{i}"}) for i in range(7)]  # a list is a map-style dataset
    for a, b in itertools.zip_longest(DataLoader(data, batch_size=3), tud.DataLoader(data, batch_size=3)):
        assert a[1]["name"] == b[1]["name"]
        _assert_same_batch(a[1]["id"], b[1]["id"])
        np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())  # the values; the dtype: see below


def test_dataloader_refuses_what_it_cannot_do():
    ds = TensorDataset(np.arange(4))
    for bad in (0, -1, True, 2.0):
        with pytest.raises(tn.ArgumentError, match="batch_size must be an integer >= 1"):
            DataLoader(ds, batch_size=bad)
    with pytest.raises(tn.ArgumentError, match="batch_size=None"):
        DataLoader(ds, batch_size=None)
    with pytest.raises(tn.ArgumentError, match="seed or generator, not both"):
        DataLoader(ds, shuffle=True, seed=1, generator=np.random.default_rng(1))
    with pytest.raises(tn.ArgumentError, match="shuffle is False"):
        DataLoader(ds, seed=1)
    with pytest.raises(tn.ArgumentTypeError, match="map-style dataset"):
        DataLoader(iter(range(3)))
    with pytest.raises(tn.ArgumentTypeError, match="shuffle must be True or False"):
        DataLoader(ds, shuffle="yes")
    with pytest.raises(TypeError):
        DataLoader(ds, num_workers=2)  # not silently ignored


# ---- default_collate --------------------------------------------------------------------------------
Point = collections.namedtuple("Point", "x y")


@pytest.mark.parametrize("samples", [
    [(np.arange(3, dtype=np.float32), np.int64(1)), (np.ones(3, np.float32), np.int64(2))],
    [{"a": np.zeros((2, 2), np.float32), "b": [1, 2]}, {"a": np.ones((2, 2), np.float32), "b": [3, 4]}],
    [Point(np.float32(1), 2), Point(np.float32(3), 4)],
    [[1, 2, 3], [4, 5, 6]],
    [np.array([True, False]), np.array([False, False])],
    [("a", 1), ("b", 2)],
], ids=["tuples", "dicts", "namedtuples", "lists", "bools", "strings"])
def test_default_collate_equals_torch(samples):
    ours, theirs = default_collate(samples), tud.default_collate(samples)
    if isinstance(theirs, Point):
        assert type(ours) is Point
        ours, theirs = list(ours), list(theirs)
    _assert_same_batch(ours, theirs)


def test_default_collate_of_tensors_stacks_and_keeps_the_graph():
    rows = [tn.Tensor(np.full(2, i, np.float32), requires_grad=True) for i in range(3)]
    batch = default_collate(rows)
    assert batch.shape == (3, 2)
    batch.sum().backward()
    assert all(np.array_equal(r.grad.numpy(), np.ones(2)) for r in rows)


def test_python_floats_collate_to_the_default_dtype():
    """A deliberate difference: torch makes float64 of Python floats; here they are float32 (the default)."""
    batch = default_collate([1.5, 2.25])
    assert batch.dtype == np.float32 and batch.numpy().tolist() == [1.5, 2.25]
    assert tud.default_collate([1.5, 2.25]).dtype == torch.float64


def test_rows_collate_to_what_their_samples_collate_to(arrays):
    x, y = arrays
    rows = TensorDataset(x, y).__getitems__(np.array([3, 1, 4]))
    fast, slow = default_collate(rows), default_collate(list(rows))
    _assert_same_batch(fast, slow)
    _assert_same_batch(fast, tud.default_collate([(torch.from_numpy(x[i]), torch.from_numpy(y[i:i + 1])[0])
                                                  for i in (3, 1, 4)]))


def test_default_collate_errors():
    with pytest.raises(tn.ShapeError, match="equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(tn.ArgumentTypeError, match="found object"):
        default_collate([object(), object()])
    with pytest.raises(tn.ArgumentError, match="no samples"):
        default_collate([])


# ---- random_split and Subset ------------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 7, 10, 101, 1000])
@pytest.mark.parametrize("fractions", [[0.5, 0.5], [0.8, 0.1, 0.1], [1 / 3] * 3, [0.7, 0.3], [0.25] * 4, [1.0],
                                       [0.6, 0.2, 0.2], [0.05, 0.95]])
def test_random_split_fraction_sizes_equal_torch(n, fractions):
    with warnings.catch_warnings():  # both warn alike of an empty split ("Length of split at index i is 0")
        warnings.simplefilter("ignore")
        ours = random_split(list(range(n)), fractions, generator=0)
        theirs = tud.random_split(list(range(n)), fractions, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    assert sorted(itertools.chain.from_iterable(ours)) == list(range(n))  # disjoint, and together everything


def test_random_split_with_lengths_and_generators():
    parts = random_split(range(10), [3, 7], generator=4)
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(list(parts[0]) + list(parts[1])) == list(range(10))
    again = random_split(range(10), [3, 7], generator=np.random.default_rng(4))
    assert [list(p) for p in parts] == [list(p) for p in again]  # a seed and a Generator of that seed agree
    with pytest.warns(UserWarning, match="index 1 is 0"):
        random_split(range(3), [1.0, 0.0])
    with pytest.raises(tn.ArgumentError, match="sum to 9, the dataset has 10"):
        random_split(range(10), [3, 6])
    with pytest.raises(tn.ArgumentError, match="ints >= 0"):
        random_split(range(10), [11, -1])
    with pytest.raises(tn.ArgumentError, match="ints >= 0"):
        random_split(range(10), [0.5, 9.5])
    with pytest.raises(tn.ArgumentTypeError, match="generator must be"):
        random_split(range(10), [5, 5], generator="seed")
    with pytest.raises(tn.ArgumentTypeError, match="ints or fractions"):
        random_split(range(10), [])


def test_subset_indexes_and_fetches_batches_through_the_dataset(arrays):
    x, y = arrays
    base = TensorDataset(x, y)
    sub = Subset(base, [4, 2, -1])
    assert len(sub) == 3
    _assert_same_batch(list(sub[2]), list(base[22]))
    rows = sub.__getitems__([0, 2])
    assert isinstance(rows, Rows)  # the base dataset's batched fetch
    _assert_same_batch(default_collate(rows), [tn.Tensor(x[[4, 22]]), tn.Tensor(y[[4, 22]])])
    batches = list(DataLoader(sub, batch_size=2))
    theirs = list(tud.DataLoader(tud.Subset(tud.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                            [4, 2, 22]), batch_size=2))
    for a, b in zip(batches, theirs):
        _assert_same_batch(a, b)
    with pytest.raises(tn.ArgumentError, match="indices 23, 40 are out of range for a dataset of 23"):
        Subset(base, [0, 23, 40])
    with pytest.raises(tn.ArgumentTypeError, match="integers"):
        Subset(base, [0.5])
