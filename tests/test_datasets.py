"""Data sources: the shipped California housing copy, StatLib's raw file and archive, CSVs and their errors."""

from __future__ import annotations

import io
import lzma
import tarfile
from importlib import resources

import numpy as np
import pytest
from test_regression import raw_statlib

from tinygrad_norm import datasets as ds


def _statlib_text(raw: np.ndarray) -> bytes:
    return "\n".join(",".join(f"{v:f}" for v in row) for row in raw).encode()


def _archive(raw: np.ndarray) -> bytes:
    text = _statlib_text(raw)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(ds.ARCHIVE_MEMBER)
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
    return buf.getvalue()


def test_conversion_matches_sklearn_formulas():
    raw = raw_statlib(5)
    conv = ds.convert_statlib(raw)
    lon, lat, age, rooms, beds, pop, hh, inc, val = raw.T
    np.testing.assert_array_equal(conv[:, 0], inc)
    np.testing.assert_array_equal(conv[:, 2], rooms / hh)
    np.testing.assert_array_equal(conv[:, 3], beds / hh)
    np.testing.assert_array_equal(conv[:, 5], pop / hh)
    np.testing.assert_array_equal(conv[:, 6:8], np.column_stack([lat, lon]))
    np.testing.assert_array_equal(conv[:, 8], val / 100_000)


def test_shipped_copy_is_statlibs_file_and_needs_no_network(monkeypatch):
    monkeypatch.delenv(ds.ENV_DATA, raising=False)
    import hashlib

    blob = lzma.decompress(resources.files("tinygrad_norm.datasets").joinpath(ds.EMBEDDED).read_bytes())
    assert hashlib.sha256(blob).hexdigest() == ds.STATLIB_SHA256
    table = ds.california_housing()
    assert table.source == ds.EMBEDDED_SOURCE and table.names == ds.COLUMNS and table.data.shape == (20640, 9)
    np.testing.assert_array_equal(table.data[0], [8.3252, 41.0, 6.984126984126984, 1.0238095238095237, 322.0,
                                                  2.5555555555555554, 37.88, -122.23, 4.526])
    # the documented per-column ranges (shared/data/README.md)
    np.testing.assert_array_equal(table.data.min(0)[[0, 1, 4, 6, 7]], [0.4999, 1, 3, 32.54, -124.35])
    np.testing.assert_array_equal(table.data.max(0)[[0, 1, 4, 6, 7, 8]], [15.0001, 52, 35682, 41.95, -114.31, 5.00001])


def test_shipped_copy_equals_the_shared_csv_bit_for_bit(housing_csv):
    shipped = ds.embedded_housing()
    csv = ds.read_housing(housing_csv)
    np.testing.assert_array_equal(shipped.data, csv.data)
    assert shipped.fingerprint == csv.fingerprint


def test_every_file_kind_reads_to_the_same_table(tmp_path):
    raw = raw_statlib(40)
    (tmp_path / "cal_housing.data").write_bytes(_statlib_text(raw))
    (tmp_path / "renamed.bin").write_bytes(lzma.compress(_statlib_text(raw)))  # the kind comes from the content
    parsed = np.loadtxt(io.BytesIO(_statlib_text(raw)), delimiter=",")
    ds.write_csv(tmp_path / "converted.csv", ds.convert_statlib(parsed))
    # (an archive must hold StatLib's file itself, not 40 rows: tests/test_data_files.py reads a real one)
    tables = [ds.read_housing(tmp_path / name) for name in ("cal_housing.data", "renamed.bin", "converted.csv")]
    for t in tables[1:]:
        np.testing.assert_array_equal(t.data, tables[0].data)
        assert t.fingerprint == tables[0].fingerprint


def test_source_order_argument_then_environment_then_shipped(tmp_path, monkeypatch):
    small = ds.write_csv(tmp_path / "small.csv", ds.convert_statlib(raw_statlib(30)))
    monkeypatch.delenv(ds.ENV_DATA, raising=False)
    assert ds.california_housing().data.shape[0] == 20640
    monkeypatch.setenv(ds.ENV_DATA, str(small))
    assert ds.california_housing().data.shape[0] == 30
    (tmp_path / "other.data").write_bytes(_statlib_text(raw_statlib(12)))
    assert ds.california_housing(tmp_path / "other.data").data.shape[0] == 12
    monkeypatch.setenv(ds.ENV_DATA, str(tmp_path / "missing.csv"))
    with pytest.raises(ds.DataError, match="TINYGRAD_NORM_DATA=.*no such file; unset it"):
        ds.california_housing()
    with pytest.raises(ds.DataError, match="no such file"):
        ds.california_housing(tmp_path / "nope.csv")


def test_csv_round_trip_and_reordered_columns(tmp_path):
    data = ds.convert_statlib(raw_statlib(20))
    names, back = ds.read_csv(ds.write_csv(tmp_path / "a.csv", data), columns=ds.COLUMNS)
    np.testing.assert_array_equal(back, data)  # repr(float) round-trips exactly
    order = list(reversed(ds.COLUMNS))
    ds.write_csv(tmp_path / "b.csv", data[:, ::-1], columns=order)
    np.testing.assert_array_equal(ds.read_csv(tmp_path / "b.csv", columns=ds.COLUMNS)[1], data)


ROW = ",".join(["1"] * 9)


@pytest.mark.parametrize("text,match", [
    ("MedInc,HouseAge\n1,2\n", r"missing \['AveRooms'"),
    (",".join(ds.COLUMNS + ["Extra"]) + "\n" + ",".join(["1"] * 10) + "\n", r"unexpected \['Extra'\]"),
    (",".join(ds.COLUMNS) + "\n" + ROW + "\n" + ",".join(["1"] * 4 + ["x"] + ["1"] * 4) + "\n",
     r"line 3, column 5 \(Population\): 'x' is not a number"),
    (",".join(ds.COLUMNS) + "\n" + ROW + "\n" + ",".join(["1"] * 8) + "\n", r"line 3 has 8 values, the header has 9"),
    (",".join(ds.COLUMNS) + "\n" + ",".join(["1"] * 8 + ["nan"]) + "\n", r"line 2, column 9 \(MedHouseVal\)"),
    (",".join(ds.COLUMNS) + "\n", "no data rows"),
    # blank lines count: the bad cell is on line 5 of the file
    (",".join(ds.COLUMNS) + "\n" + ROW + "\n\n\n" + ",".join(["y"] + ["1"] * 8) + "\n", r"line 5, column 1"),
    # '#' is not a comment: trailing fields would silently disappear
    (",".join(ds.COLUMNS) + "\n" + "9.99#oops," + ",".join(["1"] * 8) + "\n",
     r"line 2, column 1 \(MedInc\): '9.99#oops' is not a number \('#' is not a comment"),
    (",".join(ds.COLUMNS) + "\n" + ",".join(["1_000"] + ["1"] * 8) + "\n", r"line 2, column 1 \(MedInc\): '1_000'"),
    (",".join(ds.COLUMNS) + "\n" + ",".join(["\uff11"] + ["1"] * 8) + "\n", r"line 2, column 1"),
    (",".join(ds.COLUMNS) + "\n" + ",".join(["x" * 10_000] + ["1"] * 8) + "\n", r"line 2, column 1 .*'x{40}\.\.\.'"),
])
def test_bad_csv_errors_name_line_and_column(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ds.DataError, match=match) as err:
        ds.read_csv(path, columns=ds.COLUMNS)
    assert len(str(err.value)) < 400  # bad input is quoted, never echoed in full


def test_encoding_problems_are_located(tmp_path):
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + (",".join(ds.COLUMNS) + "\n" + ROW + "\n").encode())
    assert ds.read_csv(bom, columns=ds.COLUMNS)[0] == ds.COLUMNS  # a byte-order mark is not part of the header
    latin = tmp_path / "latin1.csv"
    latin.write_bytes((",".join(ds.COLUMNS) + "\n" + ROW + "\n").encode() + b"caf\xe9,1\n")
    with pytest.raises(ds.DataError, match=r"latin1.csv: line 3 is not UTF-8"):
        ds.read_csv(latin)


def test_bad_archives_and_raw_files(tmp_path):
    (tmp_path / "broken.tgz").write_bytes(_archive(raw_statlib(5))[:60])
    with pytest.raises(ds.DataError, match="broken.tgz: damaged or cut-short gzip data"):
        ds.read_housing(tmp_path / "broken.tgz")
    raw = raw_statlib(5)
    raw[2, 6] = 0
    (tmp_path / "zero.data").write_bytes(_statlib_text(raw))
    with pytest.raises(ds.DataError, match="line 3: households must be positive"):
        ds.read_housing(tmp_path / "zero.data")
    (tmp_path / "short.data").write_bytes(b"1,2,3\n")
    with pytest.raises(ds.DataError, match=r"line 1 has 3 values; rows of StatLib's cal_housing.data \(no header\) "
                                           "have 9"):
        ds.read_housing(tmp_path / "short.data")
