"""tn.datasets.iter_table: CSV and Parquet files (one, a glob, a list) streamed as float64 chunks, with the in-memory
reader's checks and messages; Normalizer.fit / partial_fit / drift and tn.diagnose on streams, equal to the
in-memory results; `diagnose` streaming files; `train --data` refusing a table too big for memory. Small files
in tmp_path; memory is bounded by construction (chunk and block sizes), shown here by those sizes."""

from __future__ import annotations

import bz2
import gzip
import lzma

import numpy as np
import pytest

import tinygrad_norm as tn
from tinygrad_norm import cli
from tinygrad_norm.datasets import DataError, _stream

pa = pytest.importorskip("pyarrow", reason="iter_table needs pyarrow: pip install -e '.[files]'")
pq = pytest.importorskip("pyarrow.parquet", reason="iter_table needs pyarrow: pip install -e '.[files]'")

NAMES = ["rooms", "price", "age"]


def _table(rng: np.random.Generator, n: int = 500) -> np.ndarray:
    """Features of very different scales and offsets (what normalizers are for)."""
    return rng.normal([3.0, 2.5e5, -40.0], [1.0, 8e4, 1e-3], (n, 3))


def _csv(path, data: np.ndarray, names=NAMES, newline: str = "\n") -> str:
    """A CSV with repr() values (shortest exact form), as tn.datasets.write_csv writes them."""
    text = newline.join([",".join(names)] + [",".join(repr(float(v)) for v in row) for row in data]) + newline
    path.write_bytes(text.encode())
    return str(path)


def _chunks(stream) -> list[np.ndarray]:
    return list(stream)


def _error(fn) -> str:
    with pytest.raises(DataError) as e:
        fn()
    return str(e.value)


# ---- values: exactly the in-memory reader's --------------------------------------------------------------------
@pytest.mark.parametrize("chunk_rows", [1, 7, 499, 500, 501, 10_000])
def test_csv_chunks_hold_the_in_memory_readers_values_bit_for_bit(tmp_path, rng, chunk_rows):
    path = _csv(tmp_path / "t.csv", _table(rng))
    names, expected = tn.datasets.read_csv(path)
    stream = tn.datasets.iter_table(path, chunk_rows=chunk_rows)
    chunks = _chunks(stream)
    assert stream.names == names == NAMES
    # every chunk has chunk_rows rows but the last (bounded memory, whatever the file's size)
    assert [len(c) for c in chunks[:-1]] == [chunk_rows] * (len(chunks) - 1) and 0 < len(chunks[-1]) <= chunk_rows
    assert all(c.dtype == np.float64 and c.flags.c_contiguous and c.shape[1] == 3 for c in chunks)
    np.testing.assert_array_equal(np.concatenate(chunks), expected)
    assert np.concatenate(_chunks(stream)).tobytes() == expected.tobytes()  # a second pass reads it again


def test_hard_numbers_parse_as_the_in_memory_reader_parses_them(tmp_path):
    cells = ["0.1", "1e-320", "4.9e-324", "1.7976931348623157e308", "-0", "+.5", "5.", " 7 ", "\t8",
             "0.30000000000000004441", "123456789012345678901234567890", "1.00000000000000011102230246251565404",
             "2.2250738585072011e-308", "9007199254740993", "1E+05", "-2.5e-3"]
    path = tmp_path / "hard.csv"
    path.write_text("x\n" + "\n".join(cells) + "\n")
    _, expected = tn.datasets.read_csv(path)
    got = np.concatenate(_chunks(tn.datasets.iter_table(path)))
    assert got.tobytes() == expected.tobytes()


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_line_endings_blank_lines_and_blocks_smaller_than_a_line(tmp_path, rng, monkeypatch, newline):
    """Blocks cut at line breaks (\\r\\n never split), lines longer than a block, blank and whitespace-only lines
    (pyarrow refuses those: the careful parser takes that block) give the in-memory reader's values."""
    data = _table(rng, 300)
    rows = [",".join(repr(float(v)) for v in row) for row in data]
    for i in (5, 50, 51, 200):
        rows[i] = rows[i] + newline + ("" if i % 2 else "   ")
    path = tmp_path / "t.csv"
    path.write_bytes((newline.join([",".join(NAMES)] + rows) + newline).encode())
    _, expected = tn.datasets.read_csv(path)
    for block in (16, 100, 4096):  # smaller than a line, a few lines, many lines
        monkeypatch.setattr(_stream, "BLOCK_BYTES", block)
        got = np.concatenate(_chunks(tn.datasets.iter_table(path, chunk_rows=64)))
        assert got.tobytes() == expected.tobytes(), block


def test_the_blocks_handed_to_pyarrow_are_bounded(tmp_path, rng, monkeypatch):
    """Memory is bounded by construction: pyarrow parses blocks of about BLOCK_BYTES (at most one line more), and
    the caller gets chunk_rows rows at a time, whatever the file's size."""
    path = _csv(tmp_path / "t.csv", _table(rng, 3000))
    longest = max(len(line) for line in open(path, "rb"))
    monkeypatch.setattr(_stream, "BLOCK_BYTES", 4096)
    sizes = []
    parse = _stream._arrow_block
    monkeypatch.setattr(_stream, "_arrow_block", lambda pa_, block, options: sizes.append(len(block)) or
                        parse(pa_, block, options))
    chunks = _chunks(tn.datasets.iter_table(path, chunk_rows=100))
    assert len(sizes) > 10 and max(sizes) <= 4096 + longest
    assert max(c.nbytes for c in chunks) == 100 * 3 * 8 and sum(map(len, chunks)) == 3000
    assert tn.datasets.iter_table(path).chunk_rows * 3 * 8 <= _stream.CHUNK_BYTES  # the default: 16 MiB a chunk


@pytest.mark.parametrize("codec", [gzip.compress, lzma.compress, bz2.compress], ids=["gzip", "xz", "bzip2"])
def test_compressed_csvs_stream_like_plain_ones(tmp_path, rng, codec):
    plain = _csv(tmp_path / "t.csv", _table(rng))
    packed = tmp_path / "t.csv.z"
    packed.write_bytes(codec(open(plain, "rb").read()))
    got = np.concatenate(_chunks(tn.datasets.iter_table(packed, chunk_rows=64)))
    assert got.tobytes() == tn.datasets.read_csv(plain)[1].tobytes()
    blob = packed.read_bytes()
    (tmp_path / "cut.z").write_bytes(blob[: len(blob) // 2])
    assert "cut.z" in _error(lambda: _chunks(tn.datasets.iter_table(tmp_path / "cut.z")))


def test_parquet_files_stream_with_integer_columns_and_row_groups(tmp_path, rng):
    data = _table(rng, 1000)
    table = pa.table({"rooms": data[:, 0], "price": data[:, 1], "count": np.arange(1000, dtype=np.int32)})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=300)
    stream = tn.datasets.iter_table(tmp_path / "t.parquet", chunk_rows=128)
    chunks = _chunks(stream)
    assert stream.names == ["rooms", "price", "count"]
    assert [len(c) for c in chunks] == [128] * 7 + [104]  # rechunked across row groups
    np.testing.assert_array_equal(np.concatenate(chunks), np.column_stack([data[:, :2], np.arange(1000)]))
    picked = np.concatenate(_chunks(tn.datasets.iter_table(tmp_path / "t.parquet", columns=["count", "rooms"])))
    np.testing.assert_array_equal(picked, np.column_stack([np.arange(1000), data[:, 0]]))


def test_parquet_errors_name_the_file_row_and_column(tmp_path):
    pq.write_table(pa.table({"a": [1.0, 2.0, None], "b": [1.0, np.nan, 3.0], "s": ["x", "y", "z"]}),
                   tmp_path / "bad.parquet")
    path = str(tmp_path / "bad.parquet")
    assert _error(lambda: tn.datasets.iter_table(path)) == (
        f"{path}: column 3 (s) holds string, not numbers; the data must be numeric: read the numeric columns only, "
        "with columns=[...]")  # from the schema, before any row is read
    assert "bad.parquet: row 3, column 1 (a) is missing (null)" in _error(
        lambda: _chunks(tn.datasets.iter_table(path, columns=["a"])))
    assert "bad.parquet: row 2, column 2 (b) is nan; the data must be finite numbers" in _error(
        lambda: _chunks(tn.datasets.iter_table(path, columns=["b"])))
    (tmp_path / "cut.parquet").write_bytes((tmp_path / "bad.parquet").read_bytes()[:40])
    cut = tmp_path / "cut.parquet"
    assert "cut.parquet: not a readable Parquet file" in _error(lambda: tn.datasets.iter_table(cut))


# ---- many files -----------------------------------------------------------------------------------------------
def test_a_glob_or_a_list_reads_every_file_in_order(tmp_path, rng):
    data = _table(rng, 1000)
    parts = np.array_split(data, 5)
    for i, part in enumerate(parts):
        _csv(tmp_path / f"part-{i}.csv", part)
    pq.write_table(pa.table({n: data[:10, j] for j, n in enumerate(NAMES)}), tmp_path / "extra.parquet")
    stream = tn.datasets.iter_table(str(tmp_path / "part-*.csv"), chunk_rows=150)
    chunks = _chunks(stream)
    assert stream.files == [str(tmp_path / f"part-{i}.csv") for i in range(5)] and "5 files" in stream.source
    assert all(len(c) <= 150 for c in chunks)  # a file's last chunk is shorter: chunks never span files
    np.testing.assert_array_equal(np.concatenate(chunks), data)
    mixed = tn.datasets.iter_table([tmp_path / "extra.parquet", str(tmp_path / "part-[01].csv")])
    np.testing.assert_array_equal(np.concatenate(_chunks(mixed)), np.concatenate([data[:10], parts[0], parts[1]]))


def test_files_with_other_columns_are_errors_and_the_same_columns_are_matched_by_name(tmp_path, rng):
    data = _table(rng, 20)
    _csv(tmp_path / "a.csv", data[:10])
    _csv(tmp_path / "b.csv", data[10:, [2, 0, 1]], names=["age", "rooms", "price"])  # same columns, other order
    np.testing.assert_array_equal(np.concatenate(_chunks(tn.datasets.iter_table(str(tmp_path / "*.csv")))), data)
    _csv(tmp_path / "c.csv", data[:5, :2], names=["rooms", "size"])
    err = _error(lambda: tn.datasets.iter_table(str(tmp_path / "*.csv")))
    assert err.startswith(f"{tmp_path / 'c.csv'}: its columns are not those of {tmp_path / 'a.csv'}")
    assert "lacks ['price', 'age']" in err and "has ['size'] besides" in err and "columns=[...]" in err
    # columns= reads what they share; a file without one of them is an error naming it
    shared = tn.datasets.iter_table(str(tmp_path / "*.csv"), columns=["rooms"])
    np.testing.assert_array_equal(np.concatenate(_chunks(shared))[:, 0], np.r_[data[:, 0], data[:5, 0]])
    assert "c.csv: has no column(s) ['price'] (asked for by columns=)" in _error(
        lambda: tn.datasets.iter_table(str(tmp_path / "*.csv"), columns=["price"]))


def test_bad_sources_are_clear_errors(tmp_path, rng):
    path = _csv(tmp_path / "t.csv", _table(rng, 5))
    assert _error(lambda: tn.datasets.iter_table(str(tmp_path / "none-*.csv"))).endswith("no file matches this pattern")
    assert "no such file" in _error(lambda: tn.datasets.iter_table(tmp_path / "missing.csv"))
    assert "is a directory; pass its files as a pattern" in _error(lambda: tn.datasets.iter_table(tmp_path))
    assert "named twice" in _error(lambda: tn.datasets.iter_table([path, str(tmp_path / "*.csv")]))
    with pytest.raises(tn.ArgumentError, match="chunk_rows must be a positive integer"):
        tn.datasets.iter_table(path, chunk_rows=0)
    with pytest.raises(TypeError, match=r"columns= takes a list.*columns=\['rooms'\]"):
        tn.datasets.iter_table(path, columns="rooms")
    with pytest.raises(tn.ArgumentError, match="names a column twice"):
        tn.datasets.iter_table(path, columns=["rooms", "rooms"])


# ---- located errors: the in-memory reader's messages ---------------------------------------------------------------
@pytest.mark.parametrize("bad", ["abc", "", "1,5", "nan", "inf", "nan(1)", "1e999", "1#2", '"7"', "0x10", "1_0"])
@pytest.mark.parametrize("row", [0, 137, 299])
def test_a_bad_cell_is_reported_as_the_in_memory_reader_reports_it(tmp_path, rng, monkeypatch, bad, row):
    data = _table(rng, 300)
    lines = [",".join(NAMES)] + [",".join(repr(float(v)) for v in r) for r in data]
    cells = lines[row + 1].split(",")
    cells[1] = bad
    lines[row + 1] = ",".join(cells)
    lines.insert(3, "")  # a blank line before it: line numbers count it
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    expected = _error(lambda: tn.datasets.read_csv(path))
    assert f"line {row + 2 + (row >= 2)}" in expected
    for block in (64, 1 << 20):  # the bad line in a later block: its number is counted by reading the file again
        monkeypatch.setattr(_stream, "BLOCK_BYTES", block)
        assert _error(lambda: _chunks(tn.datasets.iter_table(path, chunk_rows=50))) == expected


def test_headers_empty_files_and_not_utf8(tmp_path):
    cases = {"empty.csv": b"", "header-only.csv": b"a,b\n", "no-name.csv": b"a,,b\n1,2,3\n",
             "numbers.csv": b"1,2\n3,4\n", "latin1.csv": b"a,b\n1,2\n3,\xe9\n"}
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
    assert _error(lambda: tn.datasets.iter_table(tmp_path / "empty.csv")) == _error(
        lambda: tn.datasets.read_csv(tmp_path / "empty.csv"))  # "the first line must be a header ..."
    assert _error(lambda: _chunks(tn.datasets.iter_table(tmp_path / "header-only.csv"))).endswith(": no data rows")
    assert _error(lambda: tn.datasets.iter_table(tmp_path / "no-name.csv")) == _error(
        lambda: tn.datasets.read_csv(tmp_path / "no-name.csv"))
    assert "the first line is numbers, not a header" in _error(lambda: tn.datasets.iter_table(tmp_path / "numbers.csv"))
    assert _error(lambda: _chunks(tn.datasets.iter_table(tmp_path / "latin1.csv"))) == _error(
        lambda: tn.datasets.read_csv(tmp_path / "latin1.csv"))  # "line 3 is not UTF-8 text"


def test_columns_picks_and_orders_and_leaves_the_others_unread(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("id,x,when,y\na1,1.5,2020-01-01,10\nb2,2.5,2020-01-02,20\n")  # text columns beside numbers
    got = np.concatenate(_chunks(tn.datasets.iter_table(path, columns=["y", "x"])))
    np.testing.assert_array_equal(got, [[10.0, 1.5], [20.0, 2.5]])
    assert "line 2, column 1 (id): 'a1' is not a number" in _error(lambda: _chunks(tn.datasets.iter_table(path)))
    assert "has no column(s) ['z']" in _error(lambda: tn.datasets.iter_table(path, columns=["x", "z"]))
    path.write_text("x,y\n1,2\n3\n")
    assert "line 3 has 1 values, the header has 2" in _error(lambda: _chunks(tn.datasets.iter_table(path, ["x"])))


# ---- the normalizer, drift and diagnose on streams -------------------------------------------------------------
def _close(got: np.ndarray, expected: np.ndarray, scale: np.ndarray) -> None:
    """Equal to 1e-12 of each feature's scale: chunked moments merged with Chan's formula differ from one pass
    by rounding, a few ulp of the values' magnitude (a mean near 0 is compared with the std, not itself)."""
    assert np.all(np.abs(got - expected) <= 1e-12 * scale), (got, expected)


def test_fit_on_a_stream_equals_the_in_memory_fit_and_names_the_features(tmp_path, rng):
    data = _table(rng, 5000)
    data[:, 1] += 1e9  # a large offset: the hard case for a streamed variance
    for i, part in enumerate(np.array_split(data, 3)):
        _csv(tmp_path / f"p{i}.csv", part)
    stream = tn.datasets.iter_table(str(tmp_path / "p*.csv"), chunk_rows=333)
    for method in ("standard", "minmax", "maxabs"):
        streamed = tn.Normalizer(method).fit(stream)
        memory = tn.Normalizer(method).fit(data)
        assert streamed.feature_names == NAMES and streamed.count == 5000
        scale = np.maximum(np.abs(data).max(axis=0), data.std(axis=0))
        _close(streamed.mean, memory.mean, scale)
        _close(streamed.std, memory.std, memory.std)
        np.testing.assert_array_equal(streamed.min, memory.min)
        np.testing.assert_array_equal(streamed.max, memory.max)
        np.testing.assert_allclose(streamed.transform(data), memory.transform(data), rtol=0, atol=1e-9)
    again = tn.Normalizer().partial_fit(tn.datasets.iter_table(tmp_path / "p0.csv"))
    again.partial_fit(tn.datasets.iter_table([tmp_path / "p1.csv", tmp_path / "p2.csv"]))
    _close(again.std, tn.Normalizer().fit(data).std, data.std(axis=0))


def test_a_stream_that_fails_part_way_leaves_the_normalizer_as_it_was(tmp_path, rng):
    data = _table(rng, 400)
    _csv(tmp_path / "a.csv", data)
    bad = data.copy()
    lines = open(_csv(tmp_path / "b.csv", bad)).read().splitlines()
    lines[350] = lines[350].replace(",", ",x", 1)
    (tmp_path / "b.csv").write_text("\n".join(lines) + "\n")
    norm = tn.Normalizer().fit(data[:100])
    before = norm.state_dict()
    with pytest.raises(DataError, match="b.csv: line 351, column 2"):
        norm.fit(tn.datasets.iter_table([tmp_path / "a.csv", tmp_path / "b.csv"], chunk_rows=64))
    after = norm.state_dict()
    assert after["count"] == before["count"] == 100 and norm.feature_names is None
    np.testing.assert_array_equal(after["mean"], before["mean"])


def test_a_named_stream_must_match_the_normalizers_feature_names(tmp_path, rng):
    path = _csv(tmp_path / "t.csv", _table(rng, 50))
    norm = tn.Normalizer(feature_names=["price", "rooms", "age"])
    with pytest.raises(tn.ArgumentError, match=r"stream's columns.*not the normalizer's features.*columns=norm"):
        norm.fit(tn.datasets.iter_table(path))
    norm.fit(tn.datasets.iter_table(path, columns=norm.feature_names))
    assert norm.feature_names == ["price", "rooms", "age"]
    (tmp_path / "twice.csv").write_text("a,a\n1,2\n")  # the in-memory reader reads it; names must be unique
    with pytest.raises(tn.ArgumentError, match="the stream names a column twice"):
        tn.Normalizer().fit(tn.datasets.iter_table(tmp_path / "twice.csv"))


def test_generators_of_chunks_fit_partial_fit_drift_and_diagnose(rng):
    data = _table(rng, 2000)

    def chunks():
        for i in range(0, 2000, 300):
            yield data[i:i + 300]

    memory = tn.Normalizer().fit(data)
    for norm in (tn.Normalizer().fit(chunks()), tn.Normalizer().partial_fit(chunks())):
        assert norm.count == 2000
        _close(norm.std, memory.std, memory.std)
    report, expected = memory.drift(chunks()), memory.drift(data)
    assert report.rows == expected.rows == 2000
    # (a shift is a difference of means in training stds: its rounding is that of the mean, over the std)
    _close(report.mean_shift, expected.mean_shift, 1 + np.abs(memory.mean) / memory.std)
    _close(report.std_ratio, expected.std_ratio, np.ones(3))
    streamed, whole = tn.diagnose(chunks()), tn.diagnose(data)
    assert streamed.rows == 2000 and str(streamed.table()) == str(whole.table())
    with pytest.raises(tn.ArgumentError, match="gave no chunks"):
        tn.Normalizer().partial_fit(iter([]))


def test_diagnose_and_drift_of_a_file_stream(tmp_path, rng, capsys):
    data = _table(rng, 3000)
    for i, part in enumerate(np.array_split(data, 4)):
        _csv(tmp_path / f"p{i}.csv", part)
    stream = tn.datasets.iter_table(str(tmp_path / "p*.csv"), chunk_rows=100)
    d = tn.diagnose(stream)
    assert [f.name for f in d.features] == NAMES and d.rows == 3000
    whole = tn.diagnose(data, feature_names=NAMES)
    for a, b in zip(d.features, whole.features):
        _close(np.array([a.mean, a.std, a.rms]), np.array([b.mean, b.std, b.rms]), np.array([b.rms] * 3))
    norm = tn.Normalizer().fit(data[:1000])
    report = norm.drift(stream)
    expected = norm.drift(data)
    assert report.rows == 3000 and report.flagged == expected.flagged
    _close(report.fraction_outside, expected.fraction_outside, np.ones(3))
    # the command line streams a glob of files, and its target column is left out
    assert cli.main(["diagnose", "--data", str(tmp_path / "p*.csv"), "--target", "age"]) == 0
    out = capsys.readouterr().out
    assert "3000 rows x 2 features" in out and "4 files" in out and "target age left out" in out


def test_diagnose_names_the_line_of_a_bad_cell_in_a_streamed_file(tmp_path, capsys, monkeypatch):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n" + "1,2\n" * 5000 + "3,oops\n")
    monkeypatch.setattr(_stream, "BLOCK_BYTES", 1000)
    assert cli.main(["diagnose", "--data", str(path)]) == 2
    assert capsys.readouterr().err == f"error: {path}: line 5002, column 2 (b): 'oops' is not a number\n"


def test_without_pyarrow_diagnose_reads_a_csv_in_memory(tmp_path, rng, capsys, monkeypatch):
    path = _csv(tmp_path / "t.csv", _table(rng, 40))
    real = _stream.importlib.util.find_spec
    monkeypatch.setattr(_stream.importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else
                        real(name, *a))
    assert not tn.datasets.streamable(path) and tn.datasets.streamable(str(tmp_path / "*.csv"))
    assert cli.main(["diagnose", "--data", path]) == 0 and "40 rows x 3 features" in capsys.readouterr().out


# ---- train --data: refused before reading when memory is short ----------------------------------------------------
def test_train_refuses_a_table_too_big_for_the_available_memory(tmp_path, capsys, monkeypatch):
    from test_regression import raw_statlib

    path = tn.datasets.write_csv(tmp_path / "housing.csv", tn.datasets.convert_statlib(raw_statlib(300)))
    estimate = tn.datasets.estimate_table(path)
    assert estimate.rows == 300 and estimate.columns == 9 and estimate.text_bytes == path.stat().st_size
    assert estimate.read_bytes > 3 * estimate.text_bytes  # the bytes, the text and its lines, then the values
    read = []
    monkeypatch.setattr(tn.datasets, "available_memory", lambda: estimate.read_bytes // 2)
    monkeypatch.setattr(tn.datasets, "california_housing", lambda *a: read.append(a))  # must not be reached
    assert cli.main(["train", "--data", str(path), "--artifact-dir", str(tmp_path / "art"), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: loading this table takes about ") and "300 rows x 9 columns" in err
    assert "is available: free some memory, or train on a sample" in err and "iter_table" in err
    assert not read and not (tmp_path / "art" / "model.npz").exists()
    monkeypatch.setenv(tn.datasets.ENV_DATA, str(path))  # the file named by the variable is checked too
    assert cli.main(["train", "--artifact-dir", str(tmp_path / "art"), "--epochs", "1"]) == 2
    assert "($TINYGRAD_NORM_DATA)" in capsys.readouterr().err


def test_available_memory_reads_meminfo_without_psutil(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_psutil(name, *args, **kwargs):
        if name == "psutil":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_psutil)
    got = tn.datasets.available_memory()
    try:
        with open("/proc/meminfo") as f:
            line = next(x for x in f if x.startswith("MemAvailable:"))
    except (OSError, StopIteration):
        assert got is None
        return
    assert abs(got - int(line.split()[1]) * 1024) < 1 << 30  # (it moves between the two reads)


def test_the_readmes_streaming_diagnose_command_runs(tmp_path, monkeypatch, capsys):
    import re
    import shlex

    from conftest import REPO

    section = (REPO / "README.md").read_text().split("\n## Fit where the data lives\n", 1)[1].split("\n## ", 1)[0]
    command = re.search(r"```bash\n(tinygrad-norm diagnose --data .*?)\s+#", section).group(1)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(tn.datasets.ENV_DATA, raising=False)
    table = tn.datasets.california_housing()
    for i, part in enumerate(np.array_split(table.data[:900], 3)):
        tn.datasets.write_csv(tmp_path / "housing" / f"part-{i}.csv", part)
    assert cli.main(shlex.split(command)[1:]) == 0
    out = capsys.readouterr().out
    assert "900 rows x 8 features" in out and "3 files" in out and "target MedHouseVal left out" in out
