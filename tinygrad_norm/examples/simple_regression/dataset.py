"""California housing, as in Burn's ``examples/simple-regression/src/dataset.rs``: the items, the
split, the dataset and the batcher.

20640 block groups of the 1990 US census; 8 features and the median house value (in units of
$100,000). The table comes from ``tn.datasets.california_housing`` (``--data PATH``, else
``$TINYGRAD_NORM_DATA``, else the copy shipped with the package: no network).

The split is deterministic: ``numpy.random.default_rng(1337).permutation(n)``, the first 16640
rows train, the next 2000 validation, the last 2000 test (Burn's sizes; other row counts are
split in the same proportions).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import tinygrad_norm as tn
from tinygrad_norm.datasets import COLUMNS, FEATURES, TARGET, DataError

NUM_FEATURES = len(FEATURES)
SPLIT_SEED = 1337
FULL_ROWS, VALID_ROWS, TEST_ROWS = 20640, 2000, 2000

__all__ = ["COLUMNS", "FEATURES", "NUM_FEATURES", "TARGET", "BatchMinMax", "DataError", "HousingBatcher",
           "HousingDataset", "HousingDistrictItem", "check_memory", "make_batcher", "split_sizes"]


# ---- the dataset and its split --------------------------------------------------------------------
def split_sizes(n: int) -> tuple[int, int, int]:
    """(train, valid, test): Burn's 16640/2000/2000 for the full data, the same proportions otherwise."""
    if n == FULL_ROWS:
        return FULL_ROWS - VALID_ROWS - TEST_ROWS, VALID_ROWS, TEST_ROWS
    valid = test = max(1, round(n * VALID_ROWS / FULL_ROWS))
    if n - valid - test < 1:
        raise DataError(f"{n} rows are too few to split into train, validation and test")
    return n - valid - test, valid, test


@dataclass
class HousingDistrictItem:
    """One row, like Burn's ``HousingDistrictItem``."""

    features: np.ndarray  # the 8 features, in FEATURES order
    median_house_value: float


def _item(features: np.ndarray, target: np.floating) -> HousingDistrictItem:
    return HousingDistrictItem(features, float(target))


class HousingDataset(tn.data.Dataset):
    """Rows of features and targets (float32), Burn's ``Dataset<HousingDistrictItem>``. ``load`` reads
    the table, ``split`` gives Burn's train/valid/test parts; ``source`` and ``fingerprint`` say which
    data it is. ``__getitems__`` gives a DataLoader a whole batch with one index per array."""

    def __init__(self, features: np.ndarray, targets: np.ndarray, name: str = "all", source: str = "arrays",
                 fingerprint: str | None = None) -> None:
        if features.ndim != 2 or features.shape[1] != NUM_FEATURES or targets.shape != (features.shape[0],):
            raise DataError(f"HousingDataset needs features (N, {NUM_FEATURES}) and targets (N,), got "
                            f"{features.shape} and {targets.shape}")
        with np.errstate(over="ignore"):
            self.features = np.ascontiguousarray(features, dtype=np.float32)
            self.targets = np.ascontiguousarray(targets, dtype=np.float32)
        if not (np.isfinite(self.features).all() and np.isfinite(self.targets).all()):
            table = np.column_stack([self.features, self.targets])
            r, c = np.argwhere(~np.isfinite(table))[0]
            bad = [COLUMNS[j] for j in range(len(COLUMNS)) if not np.isfinite(table[:, j]).all()]
            raise DataError(f"{source}: columns {bad} hold values too large for float32 (|x| > 3.4e38), first "
                            f"{COLUMNS[c]} in data row {r + 1} (line {r + 2} of a CSV with a header): "
                            f"{float(np.column_stack([features, targets])[r, c]):.4g}")
        self.name = name
        self.source = source
        self.fingerprint = fingerprint

    @classmethod
    def load(cls, data: str | os.PathLike | None = None) -> HousingDataset:
        """The whole table: ``data`` (CSV, cal_housing.data or .tgz), else $TINYGRAD_NORM_DATA, else the
        copy shipped with the package; refused before reading when it needs more memory than is available
        (``check_memory``)."""
        env = os.environ.get(tn.datasets.ENV_DATA)
        if data is not None or env:
            check_memory(data if data is not None else env, "" if data is not None else f" (${tn.datasets.ENV_DATA})")
        table = tn.datasets.california_housing(data)
        return cls(table.features, table.target, source=table.source, fingerprint=table.fingerprint)

    def split(self) -> dict[str, HousingDataset]:
        n = len(self)
        train, valid, _ = split_sizes(n)
        order = np.random.default_rng(SPLIT_SEED).permutation(n)
        parts = {"train": order[:train], "valid": order[train:train + valid], "test": order[train + valid:]}
        return {k: HousingDataset(self.features[idx], self.targets[idx], k, self.source, self.fingerprint)
                for k, idx in parts.items()}

    def __len__(self) -> int:
        return self.features.shape[0]

    def __getitem__(self, i: int) -> HousingDistrictItem:
        return HousingDistrictItem(self.features[i], float(self.targets[i]))

    def __getitems__(self, indices: Sequence[int]) -> tn.data.Rows:
        """The items at ``indices``, held as the stacked features (B, 8) and targets (B,)."""
        idx = np.asarray(indices, dtype=np.int64)
        # (ndarray.take: the rows features[idx] gives, several times faster for a batch of rows)
        return tn.data.Rows((self.features.take(idx, axis=0), self.targets.take(idx)), item=_item)

    def __repr__(self) -> str:
        return f"HousingDataset({self.name}: {len(self)} rows x {NUM_FEATURES} features)"


# what the example keeps of the table besides the reader's own peak, in bytes per value: the float64 table, its
# bytes hashed for the fingerprint, the float32 dataset and its float32 train/valid/test split
_COPY_BYTES = 8 + 8 + 4 + 4


def check_memory(source: str | os.PathLike, origin: str = "") -> None:
    """Refuse a table too big for memory before reading it: the example holds it whole (the reader's peak,
    ``tn.datasets.estimate_table``, or its own copies, whichever is more) against what the system has
    (``tn.datasets.available_memory``). Nothing to check when either is unknown (the reader then reports)."""
    estimate = tn.datasets.estimate_table(source)
    available = tn.datasets.available_memory()
    if estimate is None or available is None:
        return
    need = max(estimate.read_bytes, estimate.rows * estimate.columns * _COPY_BYTES)
    if need > available:
        gib = lambda n: f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.0f} MiB"  # noqa: E731
        raise DataError(f"{source}{origin}: loading this table takes about {gib(need)} of memory (about "
                        f"{estimate.rows:,} rows x {estimate.columns} columns, {gib(estimate.text_bytes)} of text), "
                        f"and {gib(available)} is available: free some memory, or train on a sample of the rows "
                        "(head -n 1000001 FILE > sample.csv). Statistics of the whole file fit in bounded memory: "
                        "tn.Normalizer().fit(tn.datasets.iter_table(FILE)), or tinygrad-norm diagnose --data FILE")


# ---- batching, as Burn's HousingBatcher (the DataLoader is tn.data.DataLoader) --------------------
class BatchMinMax:
    """The bug Burn's example once shipped: min-max statistics taken from each batch by itself.

    Every batch is scaled differently, so the same house gets different inputs depending on its
    batch-mates, and a batch of one row becomes all zeros: the model predicts the same value for
    every sample. Kept so ``--norm batch-minmax`` can show it; never use it.
    """

    def __call__(self, features: np.ndarray) -> np.ndarray:
        lo, hi = features.min(axis=0), features.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)
        return ((features - lo) / span).astype(np.float32)


class HousingBatcher:
    """Turns items into ``(inputs (B, 8), targets (B, 1))`` Tensors on ``device``: the DataLoader's
    ``collate_fn``, as Burn's ``Batcher`` is its DataLoaderBuilder's.

    Burn's batcher also normalizes; here the fitted statistics live inside the model (its
    ``Normalize`` layer) so a checkpoint carries them, and the batcher only applies a per-batch
    normalizer, which exists to demonstrate the ``batch-minmax`` bug.
    """

    def __init__(self, device: str = "cpu", per_batch: BatchMinMax | None = None) -> None:
        self.device = device
        self.per_batch = per_batch

    def batch_arrays(self, features: np.ndarray, targets: np.ndarray) -> tuple[tn.Tensor, tn.Tensor]:
        if self.per_batch is not None:
            features = self.per_batch(features)
        return (tn.Tensor(features, device=self.device),
                tn.Tensor(targets.reshape(-1, 1), device=self.device))

    def batch(self, items: Sequence[HousingDistrictItem]) -> tuple[tn.Tensor, tn.Tensor]:
        """Burn's ``Batcher::batch``. ``items`` from ``HousingDataset.__getitems__`` are already stacked
        columns (tn.data.Rows): no step per row."""
        if isinstance(items, tn.data.Rows):
            features, targets = items.columns
        else:
            features = np.stack([it.features for it in items]).astype(np.float32)
            targets = np.array([it.median_house_value for it in items], dtype=np.float32)
        return self.batch_arrays(features, targets)

    __call__ = batch  # a collate_fn


def make_batcher(norm: str, device: str) -> HousingBatcher:
    return HousingBatcher(device, BatchMinMax() if norm == "batch-minmax" else None)
