"""Datasets and loaders in the shape of torch.utils.data: ``Dataset``, ``TensorDataset``, ``Subset``,
``random_split``, ``DataLoader`` and ``default_collate``.

    ds = tn.data.TensorDataset(features, targets)
    train, valid = tn.data.random_split(ds, [0.8, 0.2], generator=0)
    for x, y in tn.data.DataLoader(train, batch_size=256, shuffle=True, seed=1337):
        ...

torch 2.x's batched fetch is kept: a dataset with ``__getitems__(indices)`` is asked once per batch,
and what it returns goes to ``collate_fn`` as it is. ``TensorDataset`` answers with :class:`Rows`,
the batch's samples held as stacked columns (one fancy index per tensor, no Python per row), which
:func:`default_collate` turns into Tensors without stacking row by row.

Deliberate differences from torch:

- Shuffling draws from a NumPy Generator: ``seed=`` makes one, ``generator=`` passes one (used and
  advanced in place, as torch uses a ``torch.Generator``). Without either, the loader's generator is
  seeded once, from ``tn``'s global generator (``tn.manual_seed``), when the loader is made; torch
  draws a new seed from its global generator every epoch. ``rng_state`` reads and restores it, so a
  resumed run shuffles as the uninterrupted one would.
- One process: no ``num_workers``, samplers, ``pin_memory`` or iterable datasets (an unknown keyword
  is a TypeError, never ignored); ``batch_size=None`` (no batching) is refused.
- ``__getitems__`` gets the batch's indices as a NumPy int64 array, not a list.
- Python floats collate to float32 (the default dtype; torch makes float64), and arrays convert as
  ``tn.Tensor`` converts them (float64 becomes float32).
"""

from __future__ import annotations

import copy
import math
import numbers
import warnings
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any

import numpy as np

from .errors import ArgumentError, ArgumentTypeError, ShapeError
from .tensor import Tensor, default_generator, stack, tensor

__all__ = ["DataLoader", "Dataset", "Rows", "Subset", "TensorDataset", "default_collate", "random_split"]


def _few(values: Sequence[Any], shown: int = 3) -> str:
    """``3, 4, 5 and 7 more``: some values named, the rest counted."""
    head = ", ".join(str(v) for v in values[:shown])
    return head + (f" and {len(values) - shown:,} more" if len(values) > shown else "")


class Dataset:
    """torch.utils.data.Dataset: a map-style dataset, ``dataset[i]`` for ``0 <= i < len(dataset)``.
    Subclasses define ``__getitem__`` and ``__len__``, and may define ``__getitems__(indices)`` to fetch
    a whole batch at once (the DataLoader then calls it once per batch)."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index)")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__()")


class Rows(Sequence):
    """A batch of samples held as stacked columns: ``columns[k][i]`` is field ``k`` of sample ``i``.

    It is the list of samples torch's ``__getitems__`` returns (``len``, ``rows[i]`` and iteration give
    one sample each: the tuple of its fields, or ``item(*fields)``), and it keeps the stacked columns,
    which :func:`default_collate` (or a collate function that knows them) uses without touching a row.
    No torch equivalent: torch's ``__getitems__`` returns a plain list."""

    __slots__ = ("columns", "item")

    def __init__(self, columns: Sequence[Any], item: Callable[..., Any] | None = None) -> None:
        columns = tuple(columns)
        if not columns:
            raise ArgumentError("Rows needs at least one column")
        n = len(columns[0])
        for c in columns:  # (a loop, not a list of lengths: this runs once per batch)
            if len(c) != n:
                sizes = [len(c) for c in columns]
                raise ShapeError(f"Rows: columns of different lengths ({_few(sizes)}); every column needs one entry "
                                 "per sample")
        self.columns, self.item = columns, item

    def __len__(self) -> int:
        return len(self.columns[0])

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return Rows([c[i] for c in self.columns], self.item)
        fields = tuple(c[i] for c in self.columns)
        return fields if self.item is None else self.item(*fields)

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"Rows({len(self)} samples x {len(self.columns)} columns)"


class TensorDataset(Dataset):
    """torch.utils.data.TensorDataset: sample ``i`` is the tuple ``(t[i] for t in tensors)``.

    Tensors or arrays (anything ``np.asarray`` makes numeric), all with the same first dimension.
    Tensors give Tensor rows, arrays give array rows. ``__getitems__`` fetches a batch with one index
    per tensor and returns :class:`Rows` (its columns are the batch of each tensor)."""

    def __init__(self, *tensors: Tensor | np.ndarray) -> None:
        if not tensors:
            raise ArgumentError("TensorDataset needs at least one tensor or array")
        held: list[Tensor | np.ndarray] = []
        for k, t in enumerate(tensors):
            if not isinstance(t, Tensor):
                arr = np.asarray(t)
                if arr.dtype.kind not in "biuf":
                    raise ArgumentTypeError(f"TensorDataset: argument {k} ({type(t).__name__}) has dtype {arr.dtype}; "
                                            "pass Tensors or numeric (bool, int or float) arrays")
                t = arr
            if t.ndim == 0:
                raise ShapeError(f"TensorDataset: argument {k} is 0-d; each tensor needs a first dimension that "
                                 "indexes its samples")
            held.append(t)
        sizes = [t.shape[0] for t in held]
        if len(set(sizes)) > 1:
            raise ShapeError(f"TensorDataset: size mismatch between tensors: first dimensions {_few(sizes)}; every "
                             "tensor needs one row per sample")
        self.tensors = tuple(held)

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        return tuple(t[index] for t in self.tensors)

    def __getitems__(self, indices: Sequence[int]) -> Rows:
        idx = np.asarray(indices, dtype=np.int64)
        # ndarray.take: the rows fancy indexing gives, several times faster for a batch of rows
        return Rows([t[idx] if isinstance(t, Tensor) else t.take(idx, axis=0) for t in self.tensors])

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def __repr__(self) -> str:
        return f"TensorDataset({len(self)} samples, shapes {[tuple(t.shape[1:]) for t in self.tensors]})"


class Subset(Dataset):
    """torch.utils.data.Subset: the samples of ``dataset`` at ``indices``, in that order. A batch is fetched
    through the dataset's own ``__getitems__`` when it has one. Unlike torch's, indices out of the dataset's
    range are an error here, when the subset is made, not when a sample is read."""

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        index = np.asarray(indices.numpy() if isinstance(indices, Tensor) else indices)
        if index.size == 0:
            index = index.astype(np.int64)
        if index.ndim != 1 or index.dtype.kind not in "iu":
            raise ArgumentTypeError(f"Subset indices must be a 1-d sequence of integers, got dtype {index.dtype} and "
                                    f"shape {index.shape}")
        n = len(dataset)
        bad = index[(index < -n) | (index >= n)]
        if bad.size:
            raise ArgumentError(f"Subset: indices {_few(bad.tolist())} are out of range for a dataset of {n} samples")
        self.dataset = dataset
        self.indices = indices
        self._index = np.where(index < 0, index + n, index).astype(np.int64)

    def __getitem__(self, idx: int | list[int]) -> Any:
        if isinstance(idx, list):
            return self.dataset[[int(self._index[i]) for i in idx]]
        return self.dataset[int(self._index[idx])]

    def __getitems__(self, indices: Sequence[int]) -> Any:
        picked = self._index[np.asarray(indices, dtype=np.int64)]
        fetch = getattr(self.dataset, "__getitems__", None)
        if callable(fetch):
            return fetch(picked)
        return [self.dataset[int(i)] for i in picked]

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return f"Subset({len(self)} of {len(self.dataset)} samples)"


def _as_generator(generator: np.random.Generator | int | None, what: str) -> np.random.Generator:
    if generator is None:
        return default_generator()
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool) and generator >= 0:
        return np.random.default_rng(int(generator))
    raise ArgumentTypeError(f"{what}: generator must be a numpy.random.Generator or a seed (an int >= 0), got "
                            f"{generator!r}")


def random_split(dataset: Any, lengths: Sequence[int | float],
                 generator: np.random.Generator | int | None = None) -> list[Subset]:
    """torch.utils.data.random_split: non-overlapping random Subsets of the given lengths.

    ``lengths`` are ints that sum to ``len(dataset)``, or fractions that sum to 1: each split then gets
    ``floor(len * fraction)`` samples and the remainder is given out one by one, round-robin from the
    first split (torch's rule). ``generator``: a NumPy Generator, a seed, or None for ``tn``'s global
    generator (torch: a ``torch.Generator``, default its global one)."""
    n = len(dataset)
    lengths = list(lengths)
    if not lengths or any(isinstance(v, bool) or not isinstance(v, numbers.Real) for v in lengths):
        raise ArgumentTypeError(f"random_split: lengths must be a non-empty sequence of ints or fractions, got "
                                f"{_few(lengths) or 'none'}")
    total = sum(lengths)
    if math.isclose(total, 1) and total <= 1:  # fractions (torch's test, which takes [1] and [1, 0] as fractions)
        bad = [i for i, f in enumerate(lengths) if not 0 <= f <= 1]
        if bad:
            raise ArgumentError(f"random_split: fractions at index {_few(bad)} are not between 0 and 1")
        sizes = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        for i, size in enumerate(sizes):
            if size == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.",
                              stacklevel=2)
    else:
        bad = [v for v in lengths if v < 0 or v != int(v)]
        if bad:
            raise ArgumentError(f"random_split: lengths must be ints >= 0 (or fractions summing to 1), got "
                                f"{_few(bad)}")
        sizes = [int(v) for v in lengths]
    if sum(sizes) != n:
        raise ArgumentError(f"random_split: the lengths sum to {sum(sizes)}, the dataset has {n} samples; pass "
                            "lengths that sum to its length, or fractions that sum to 1")
    order = _as_generator(generator, "random_split").permutation(n)
    ends = np.cumsum(sizes).tolist()
    return [Subset(dataset, order[end - size:end].tolist()) for end, size in zip(ends, sizes)]


def _to_tensor(column: Any) -> Tensor:
    """One collated field: a Tensor stays itself, an array converts as tn.Tensor converts it."""
    return column if isinstance(column, Tensor) else Tensor(column)


def default_collate(batch: Sequence[Any]) -> Any:
    """torch.utils.data.default_collate: samples -> one batch, stacked along a new first dimension.

    Tensors stack; NumPy arrays and numbers become Tensors (``tn.Tensor``'s dtypes: Python floats become
    float32, where torch makes float64); strings stay a list; dicts, namedtuples, tuples and lists are
    collated field by field (a tuple or list of fields gives a list, as in torch). :class:`Rows` of plain
    tuples give the list of their columns as Tensors, the same batch without a per-row step."""
    if isinstance(batch, Rows) and batch.item is None:
        return [_to_tensor(c) for c in batch.columns]
    if len(batch) == 0:
        raise ArgumentError("default_collate: the batch holds no samples")
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(list(batch))
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind not in "biuf":
            raise ArgumentTypeError(f"default_collate: found an array of dtype {elem.dtype}; batches hold numeric "
                                    "arrays (bool, int or float)")
        return Tensor(np.stack(batch))
    if isinstance(elem, (np.number, np.bool_)):
        return Tensor(np.array(batch))
    if isinstance(elem, numbers.Number) and not isinstance(elem, complex):
        return tensor(list(batch))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        if isinstance(elem, MutableMapping):  # keep the mapping's type (an OrderedDict stays one), as torch does
            clone = copy.copy(elem)
            clone.update(collated)
            return clone
        return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # a namedtuple keeps its type
        return type(elem)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(elem, Sequence):
        size = len(elem)
        if any(len(sample) != size for sample in batch):
            raise ShapeError(f"default_collate: samples of different lengths ({_few([len(s) for s in batch])}); "
                             "each element in list of batch should be of equal size")
        return [default_collate(list(field)) for field in zip(*batch)]
    raise ArgumentTypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                            f"found {type(elem).__name__}")


class DataLoader:
    """torch.utils.data.DataLoader for map-style datasets, in this process: batches of ``batch_size``
    samples, ``collate_fn(samples)`` each (default :func:`default_collate`); the last, smaller batch is
    dropped with ``drop_last``. ``shuffle``: a new permutation every epoch (every ``iter``) from the
    loader's generator (``seed`` or ``generator``; see the module's notes for what differs from torch).

    With ``__getitems__`` on the dataset (torch 2.x's batched fetch), it is called once per batch with
    the batch's indices and its result goes to ``collate_fn`` unchanged; otherwise the samples are
    ``[dataset[i] for i in indices]``."""

    def __init__(self, dataset: Any, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 seed: int | None = None, generator: np.random.Generator | None = None,
                 collate_fn: Callable[[Any], Any] | None = None) -> None:
        if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
            raise ArgumentTypeError(f"DataLoader needs a map-style dataset (with __getitem__ and __len__), got "
                                    f"{type(dataset).__name__}")
        if batch_size is None:
            raise ArgumentError("DataLoader(batch_size=None), torch's loading without batching, is not supported: "
                                "iterate over the dataset itself, or pass batch_size=1")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ArgumentError(f"DataLoader: batch_size must be an integer >= 1, got {batch_size!r}")
        for name, flag in (("shuffle", shuffle), ("drop_last", drop_last)):
            if not isinstance(flag, (bool, np.bool_)):
                raise ArgumentTypeError(f"DataLoader: {name} must be True or False, got {flag!r}")
        if seed is not None and generator is not None:
            raise ArgumentError("DataLoader: pass seed or generator, not both")
        if not shuffle and (seed is not None or generator is not None):
            raise ArgumentError("DataLoader: seed and generator decide the shuffling, and shuffle is False: pass "
                                "shuffle=True, or leave them out")
        if collate_fn is not None and not callable(collate_fn):
            raise ArgumentTypeError(f"DataLoader: collate_fn must be callable, got {type(collate_fn).__name__}")
        self.dataset, self.batch_size = dataset, int(batch_size)
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.collate_fn = collate_fn if collate_fn is not None else default_collate
        self.generator: np.random.Generator | None = None
        if self.shuffle:
            if generator is not None:
                self.generator = _as_generator(generator, "DataLoader")
            elif seed is not None:
                self.generator = _as_generator(seed, "DataLoader")
            else:  # seeded from the global generator, so tn.manual_seed makes the order reproducible
                self.generator = np.random.default_rng(int(default_generator().integers(2**63)))

    @property
    def rng_state(self) -> dict[str, Any] | None:
        """The shuffling generator's state (a copy; None when the loader does not shuffle): save it with a
        checkpoint and set it back so a resumed run draws the same permutations."""
        return None if self.generator is None else self.generator.bit_generator.state

    @rng_state.setter
    def rng_state(self, state: dict[str, Any] | None) -> None:
        if self.generator is None:
            if state is not None:
                raise ArgumentError("this DataLoader does not shuffle: it has no generator state to restore")
            return
        try:
            self.generator.bit_generator.state = state
        except (TypeError, ValueError, KeyError) as e:
            kind = type(self.generator.bit_generator).__name__
            raise ArgumentError(f"not a generator state of this DataLoader's {kind} ({e})") from None

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        n = len(self.dataset)
        order = self.generator.permutation(n) if self.generator is not None else np.arange(n)
        stop = n - n % self.batch_size if self.drop_last else n
        fetch = getattr(self.dataset, "__getitems__", None)
        fetch = fetch if callable(fetch) else None
        for start in range(0, stop, self.batch_size):
            indices = order[start:start + self.batch_size]
            samples = fetch(indices) if fetch is not None else [self.dataset[int(i)] for i in indices]
            yield self.collate_fn(samples)

    def __repr__(self) -> str:
        return (f"DataLoader({len(self.dataset)} samples, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last})")
