"""California housing, as in Burn's ``examples/simple-regression/src/dataset.rs``.

20640 block groups of the 1990 US census; 8 features and the median house value
(in units of $100,000). Where the data comes from, in this order:

1. a path given as ``data=`` / ``--data``;
2. the ``TINYGRAD_NORM_DATA`` environment variable;
3. ``california_housing.csv`` in the cache directory (``$TINYGRAD_NORM_CACHE``,
   else ``$XDG_CACHE_HOME/tinygrad_norm``, else ``~/.cache/tinygrad_norm``);
4. a one-time download of StatLib's ``cal_housing.tgz`` (the archive scikit-learn's
   ``fetch_california_housing`` uses), checked against its sha256, converted the
   same way scikit-learn converts it, and cached as that CSV.

The split is deterministic: ``numpy.random.default_rng(1337).permutation(n)``, the
first 16640 rows train, the next 2000 validation, the last 2000 test (Burn's sizes;
other row counts are split in the same proportions).
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...serialization import atomic_write

FEATURES = ["MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude", "Longitude"]
TARGET = "MedHouseVal"
COLUMNS = FEATURES + [TARGET]
NUM_FEATURES = len(FEATURES)

URL = "https://ndownloader.figshare.com/files/5976036"
SHA256 = "aaa5c9a6afe2225cc2aed2723682ae403280c4a3695a2ddda4ffb5d8215ea681"
ARCHIVE_MEMBER = "CaliforniaHousing/cal_housing.data"
CSV_NAME = "california_housing.csv"
ENV_DATA = "TINYGRAD_NORM_DATA"
ENV_CACHE = "TINYGRAD_NORM_CACHE"

SPLIT_SEED = 1337
FULL_ROWS, VALID_ROWS, TEST_ROWS = 20640, 2000, 2000


class DataError(ValueError):
    """The data file is missing, malformed or cannot be fetched; the message says what to do."""


# ---- reading and validating a CSV -----------------------------------------------------------
def _locate_bad_cell(path: Path, ncols: int) -> str:
    """Slow path, only after the fast parser failed: name the first bad line and column."""
    with open(path, newline="") as f:
        header = f.readline().strip().split(",")
        for lineno, line in enumerate(f, start=2):
            if not line.strip():
                continue
            cells = line.rstrip("\r\n").split(",")
            if len(cells) != ncols:
                return f"line {lineno} has {len(cells)} values, the header has {ncols}"
            for j, cell in enumerate(cells):
                try:
                    float(cell)
                except ValueError:
                    return f"line {lineno}, column {j + 1} ({header[j]}): {cell.strip()!r} is not a number"
    return "a value could not be parsed"


def read_csv(path: str | os.PathLike, columns: list[str] | None = None) -> tuple[list[str], np.ndarray]:
    """Read a numeric CSV with a header row; returns (column names, float64 array).

    With ``columns``, the file must have exactly those columns (in any order) and the
    result is reordered to match. Errors name the file, line and column.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with open(path, newline="") as f:
        header_line = f.readline()
    names = [c.strip() for c in header_line.strip().split(",")]
    if not header_line.strip() or not all(names):
        raise DataError(f"{path}: the first line must be a header of column names, got {header_line.strip()!r}")
    if columns is not None:
        missing = [c for c in columns if c not in names]
        extra = [c for c in names if c not in columns]
        if missing or extra:
            raise DataError(f"{path}: wrong columns" + (f"; missing {missing}" if missing else "")
                            + (f"; unexpected {extra}" if extra else "") + f". Expected exactly {columns}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": we say so below
            data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    except ValueError:
        raise DataError(f"{path}: {_locate_bad_cell(path, len(names))}") from None
    if data.shape[0] == 0:
        raise DataError(f"{path}: no data rows after the header")
    if data.shape[1] != len(names):
        raise DataError(f"{path}: rows have {data.shape[1]} values, the header has {len(names)}")
    if not np.isfinite(data).all():
        r, c = np.argwhere(~np.isfinite(data))[0]
        raise DataError(f"{path}: line {r + 2}, column {c + 1} ({names[c]}) is {data[r, c]}; "
                        "the data must be finite numbers")
    if columns is not None and names != columns:
        data = data[:, [names.index(c) for c in columns]]
        names = list(columns)
    return names, data


# ---- StatLib archive -> CSV (the conversion scikit-learn's fetch_california_housing does) -------
def convert_raw(raw: np.ndarray) -> np.ndarray:
    """StatLib columns (longitude, latitude, housingMedianAge, totalRooms, totalBedrooms, population,
    households, medianIncome, medianHouseValue) -> the CSV's columns, as scikit-learn computes them."""
    if raw.ndim != 2 or raw.shape[1] != 9:
        raise DataError(f"cal_housing.data must have 9 columns, got shape {raw.shape}")
    lon, lat, age, rooms, bedrooms, pop, households, income, value = raw.T
    return np.column_stack([income, age, rooms / households, bedrooms / households, pop, pop / households,
                            lat, lon, value / 100_000.0])


def write_csv(path: str | os.PathLike, data: np.ndarray, columns: list[str] = COLUMNS) -> Path:
    """Write rows with ``repr(float)`` (shortest round-trip form), atomically."""
    def write(f):
        f.write(",".join(columns) + "\n")
        for row in data:
            f.write(",".join(repr(float(v)) for v in row) + "\n")
    return atomic_write(path, write, mode="w")


def cache_dir() -> Path:
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tinygrad_norm"


def download(url: str = URL, sha256: str = SHA256, dest: Path | None = None, timeout: float = 60.0) -> Path:
    """Download the StatLib archive, verify its sha256, convert and cache the CSV; returns its path.

    Nothing is left in the cache if the download fails or the checksum does not match.
    """
    dest = dest or cache_dir() / CSV_NAME
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            blob = response.read()
    except (urllib.error.URLError, OSError) as e:
        raise DataError(f"could not download the California housing data from {url} ({e}). Offline? Put "
                        f"california_housing.csv somewhere and pass --data PATH or set {ENV_DATA}=PATH "
                        f"(or copy it to {dest}).") from e
    digest = hashlib.sha256(blob).hexdigest()
    if digest != sha256:
        raise DataError(f"checksum mismatch for {url}: got sha256 {digest}, expected {sha256}; "
                        "the download is corrupt or the file changed. Nothing was cached.")
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            member = tar.extractfile(ARCHIVE_MEMBER)
            if member is None:
                raise KeyError(ARCHIVE_MEMBER)
            raw = np.loadtxt(member, delimiter=",", dtype=np.float64, ndmin=2)
    except (tarfile.TarError, KeyError, ValueError, OSError) as e:
        raise DataError(f"{url}: the archive does not hold a readable {ARCHIVE_MEMBER} ({e})") from e
    return write_csv(dest, convert_raw(raw))


def locate(data: str | os.PathLike | None = None, *, url: str = URL, sha256: str = SHA256,
           allow_download: bool = True) -> Path:
    """Find the CSV: argument, then $TINYGRAD_NORM_DATA, then the cache, then download."""
    if data is not None:
        path = Path(data)
        if not path.is_file():
            raise DataError(f"--data {path}: no such file")
        return path
    env = os.environ.get(ENV_DATA)
    if env:
        path = Path(env)
        if not path.is_file():
            raise DataError(f"{ENV_DATA}={env}: no such file")
        return path
    cached = cache_dir() / CSV_NAME
    if cached.is_file():
        return cached
    if not allow_download:
        raise DataError(f"no California housing CSV: pass --data PATH, set {ENV_DATA}=PATH, or put it at {cached}")
    return download(url, sha256, cached)


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


class HousingDataset:
    """Rows of features and targets (float32), with Burn's ``train/validation/test`` constructors."""

    def __init__(self, features: np.ndarray, targets: np.ndarray, name: str = "all") -> None:
        if features.ndim != 2 or features.shape[1] != NUM_FEATURES or targets.shape != (features.shape[0],):
            raise DataError(f"HousingDataset needs features (N, {NUM_FEATURES}) and targets (N,), got "
                            f"{features.shape} and {targets.shape}")
        with np.errstate(over="ignore"):
            self.features = np.ascontiguousarray(features, dtype=np.float32)
            self.targets = np.ascontiguousarray(targets, dtype=np.float32)
        if not (np.isfinite(self.features).all() and np.isfinite(self.targets).all()):
            bad = [COLUMNS[j] for j in range(NUM_FEATURES) if not np.isfinite(self.features[:, j]).all()]
            bad += [TARGET] if not np.isfinite(self.targets).all() else []
            raise DataError(f"columns {bad} hold values too large for float32 (|x| > 3.4e38)")
        self.name = name

    @classmethod
    def load(cls, data: str | os.PathLike | None = None, **kw) -> HousingDataset:
        _, table = read_csv(locate(data, **kw), columns=COLUMNS)
        return cls(table[:, :NUM_FEATURES], table[:, NUM_FEATURES])

    def split(self) -> dict[str, HousingDataset]:
        n = len(self)
        train, valid, _ = split_sizes(n)
        order = np.random.default_rng(SPLIT_SEED).permutation(n)
        parts = {"train": order[:train], "valid": order[train:train + valid], "test": order[train + valid:]}
        return {k: HousingDataset(self.features[idx], self.targets[idx], k) for k, idx in parts.items()}

    @classmethod
    def train(cls, data: str | os.PathLike | None = None) -> HousingDataset:
        return cls.load(data).split()["train"]

    @classmethod
    def validation(cls, data: str | os.PathLike | None = None) -> HousingDataset:
        return cls.load(data).split()["valid"]

    @classmethod
    def test(cls, data: str | os.PathLike | None = None) -> HousingDataset:
        return cls.load(data).split()["test"]

    def __len__(self) -> int:
        return self.features.shape[0]

    def __getitem__(self, i: int) -> HousingDistrictItem:
        return HousingDistrictItem(self.features[i], float(self.targets[i]))

    def __repr__(self) -> str:
        return f"HousingDataset({self.name}: {len(self)} rows x {NUM_FEATURES} features)"


# ---- batching, as Burn's HousingBatcher + DataLoader ------------------------------------------------
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
    """Turns rows into ``(inputs (B, 8), targets (B, 1))`` Tensors on ``device``.

    Burn's batcher also normalizes; here the fitted statistics live inside the model (its
    ``Normalize`` layer) so a checkpoint carries them, and the batcher only applies a per-batch
    normalizer, which exists to demonstrate the ``batch-minmax`` bug.
    """

    def __init__(self, device: str = "cpu", per_batch: BatchMinMax | None = None) -> None:
        self.device = device
        self.per_batch = per_batch

    def batch_arrays(self, features: np.ndarray, targets: np.ndarray):
        from ...tensor import Tensor

        if self.per_batch is not None:
            features = self.per_batch(features)
        return Tensor(features, device=self.device), Tensor(targets.reshape(-1, 1), device=self.device)

    def batch(self, items: list[HousingDistrictItem]):
        feats = np.stack([it.features for it in items]).astype(np.float32)
        targets = np.array([it.median_house_value for it in items], dtype=np.float32)
        return self.batch_arrays(feats, targets)


class DataLoader:
    """Batches of a HousingDataset, reshuffled every epoch by a seeded generator when ``shuffle``."""

    def __init__(self, dataset: HousingDataset, batcher: HousingBatcher, batch_size: int, shuffle: bool = False,
                 seed: int | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.dataset, self.batcher, self.batch_size, self.shuffle = dataset, batcher, batch_size, shuffle
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return -(-len(self.dataset) // self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        order = self._rng.permutation(n) if self.shuffle else None
        for start in range(0, n, self.batch_size):
            if order is None:
                sl = slice(start, start + self.batch_size)
                yield self.batcher.batch_arrays(self.dataset.features[sl], self.dataset.targets[sl])
            else:
                idx = order[start:start + self.batch_size]
                yield self.batcher.batch_arrays(self.dataset.features[idx], self.dataset.targets[idx])
