"""Data files as found in the wild: damaged archives, decompression bombs, huge files, other line endings,
compressed copies, StatLib's own file through `diagnose`, and errors from a file named by the environment."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import subprocess
import sys
import tarfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from test_regression import raw_statlib

from tinygrad_norm import cli
from tinygrad_norm import datasets as ds

from conftest import REPO

STATLIB = REPO.parent / "shared" / "data" / "cal_housing.data"
SHIPPED = REPO / "tinygrad_norm" / "datasets" / ds.EMBEDDED


@pytest.fixture
def statlib() -> bytes:
    """The real cal_housing.data (read-only, never copied into the repository)."""
    if not STATLIB.is_file():
        pytest.skip(f"StatLib's cal_housing.data not found at {STATLIB}")
    return STATLIB.read_bytes()


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(ds.ENV_DATA, raising=False)


def _statlib_text(raw: np.ndarray, newline: str = "\n") -> bytes:
    return newline.join(",".join(f"{v:f}" for v in row) for row in raw).encode()


def _tar(members: dict[str, bytes], compression: str = "gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=f"w:{compression}") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return buf.getvalue()


def _cli_error(argv: list[str], capsys) -> str:
    """Run the command; it must fail with one line `error: ...` (exit 2, no traceback). Returns that line."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err[:2000]
    return err


# ---- 1. diagnose reads what train reads ----------------------------------------------------------------------
def _diagnose_out(argv: list[str], capsys) -> tuple[str, list[str]]:
    assert cli.main(["diagnose", *argv]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("-----")) + 1  # the table's rows
    last = next(i for i in range(first, len(lines)) if not lines[i].strip())
    return out, [line.split()[0] for line in lines[first:last]]


def test_diagnose_reads_statlibs_raw_file_as_the_housing_table(tmp_path, capsys):
    path = tmp_path / "cal_housing.data"
    path.write_bytes(_statlib_text(raw_statlib(50)))
    out, features = _diagnose_out(["--data", str(path)], capsys)
    assert "50 rows x 8 features" in out and features == ds.FEATURES  # no row taken for a header, no target


def test_diagnose_without_data_reads_the_shipped_table_and_leaves_out_its_target(capsys):
    out, features = _diagnose_out([], capsys)
    assert "20640 rows x 8 features" in out and features == ds.FEATURES
    assert "target MedHouseVal left out" in out and ds.EMBEDDED_SOURCE in out
    _, features = _diagnose_out(["--target", "Population"], capsys)  # another label: the default one is kept
    assert "Population" not in features and "MedHouseVal" in features


def test_diagnose_honours_the_environment_like_train(tmp_path, monkeypatch, capsys):
    small = ds.write_csv(tmp_path / "small.csv", ds.convert_statlib(raw_statlib(30)))
    monkeypatch.setenv(ds.ENV_DATA, str(small))
    out, features = _diagnose_out([], capsys)
    assert "30 rows x 8 features" in out and f"(from ${ds.ENV_DATA})" in out and features == ds.FEATURES


def test_diagnose_reads_the_shipped_xz_file(capsys):
    out, features = _diagnose_out(["--data", str(SHIPPED)], capsys)
    assert "20640 rows x 8 features" in out and features == ds.FEATURES


def test_diagnose_and_train_read_every_kind_to_the_same_table(tmp_path):
    raw = raw_statlib(40)
    text = _statlib_text(raw)
    files = {"plain.data": text, "data.xz": lzma.compress(text), "data.gz": gzip.compress(text),
             "data.bz2": bz2.compress(text), "cr.data": text.replace(b"\n", b"\r")}
    for name, blob in files.items():
        (tmp_path / name).write_bytes(blob)
    ds.write_csv(tmp_path / "converted.csv", ds.convert_statlib(np.loadtxt(io.BytesIO(text), delimiter=",")))
    (tmp_path / "converted.csv.xz").write_bytes(lzma.compress((tmp_path / "converted.csv").read_bytes()))
    expected = ds.read_housing(tmp_path / "plain.data")
    for name in [*files, "converted.csv", "converted.csv.xz"]:
        for table in ds.read_housing(tmp_path / name), ds.read_table(tmp_path / name):
            assert table.names == ds.COLUMNS and table.fingerprint == expected.fingerprint, name


def test_diagnose_of_any_csv_keeps_working(tmp_path, capsys):
    path = tmp_path / "d.csv"
    path.write_text("a,b,y\n1,1000,3\n2,3000,4\n3,2000,5\n")
    out, features = _diagnose_out(["--data", str(path), "--target", "y"], capsys)
    assert features == ["a", "b"] and "WARNING" in out
    _, features = _diagnose_out(["--data", str(path)], capsys)  # no known target: every column is a feature
    assert features == ["a", "b", "y"]
    assert "is not a column" in _cli_error(["diagnose", "--data", str(path), "--target", "nope"], capsys)


# ---- 2. integrity: damaged and modified copies --------------------------------------------------------------
def test_the_real_file_is_statlibs_and_is_accepted(statlib, tmp_path):
    import hashlib

    assert hashlib.sha256(statlib).hexdigest() == ds.STATLIB_SHA256 and len(statlib) == ds.STATLIB_SIZE
    shipped = ds.embedded_housing()
    (tmp_path / "cal_housing.tgz").write_bytes(_tar({ds.ARCHIVE_MEMBER: statlib}))
    (tmp_path / "lf.data").write_bytes(statlib.replace(b"\r\n", b"\n") + b"\n")  # a checkout that converted CRLF
    for path in STATLIB, tmp_path / "cal_housing.tgz", tmp_path / "lf.data":
        assert ds.read_housing(path).fingerprint == shipped.fingerprint, path


def test_64_bit_flips_in_a_tgz_are_refused_or_change_nothing(statlib, tmp_path, capsys):
    good = _tar({ds.ARCHIVE_MEMBER: statlib, "CaliforniaHousing/cal_housing.domain": b"longitude: continuous.\n"})
    expected = ds.embedded_housing().fingerprint
    rng = np.random.default_rng(0)
    refused = same = 0
    for k, bit in enumerate(rng.choice(len(good) * 8, 64, replace=False)):
        flipped = bytearray(good)
        flipped[bit // 8] ^= 1 << (bit % 8)
        path = tmp_path / f"flip-{k}.tgz"
        path.write_bytes(bytes(flipped))
        try:
            table = ds.read_housing(path)
        except ds.DataError as e:
            assert str(path) in str(e) and len(str(e)) < 500, str(e)
            refused += 1
            continue
        assert table.fingerprint == expected, f"bit {bit} (byte {bit // 8}) changed the values silently"
        same += 1
    assert refused + same == 64 and refused > 48  # a flip in the gzip header's time stamp changes nothing
    # and through the command line: one line, exit 2
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 4
    (tmp_path / "bad.tgz").write_bytes(bytes(flipped))
    assert "bad.tgz" in _cli_error(["train", "--data", str(tmp_path / "bad.tgz"), "--artifact-dir",
                                    str(tmp_path / "art")], capsys)


def test_bit_flips_in_the_raw_file_are_refused(statlib, tmp_path):
    rng = np.random.default_rng(1)
    for k, bit in enumerate(rng.choice(len(statlib) * 8, 16, replace=False)):
        flipped = bytearray(statlib)
        flipped[bit // 8] ^= 1 << (bit % 8)
        (tmp_path / f"{k}.data").write_bytes(bytes(flipped))
        with pytest.raises(ds.DataError, match="not StatLib's cal_housing.data: it has StatLib's size.*sha256 differs"):
            ds.read_housing(tmp_path / f"{k}.data")


def test_modified_copies_of_statlibs_file_are_refused(statlib, tmp_path):
    first = statlib.index(b"\r\n")
    edits = {"same size": statlib.replace(b"37.880000", b"37.890000", 1),  # one value, in place
             "shorter value": statlib[:first].replace(b"452600.000000", b"45260.000000") + statlib[first:],
             "cut short": statlib[:-5]}  # 20640 rows, the last value cut: 89400.000000 -> 89400.0
    for name, blob in edits.items():
        (tmp_path / "x.data").write_bytes(blob)
        with pytest.raises(ds.DataError, match=r"not StatLib's cal_housing.data.*sha256 differs.*CSV") as err:
            ds.read_housing(tmp_path / "x.data")
        assert len(str(err.value)) < 500, name
        (tmp_path / "x.tgz").write_bytes(_tar({ds.ARCHIVE_MEMBER: blob}))
        with pytest.raises(ds.DataError, match="not StatLib's"):
            ds.read_housing(tmp_path / "x.tgz")
    # a copy cut short in the middle of a value, with other rows missing too: not a silent 894
    rows = statlib.split(b"\r\n")
    (tmp_path / "cut.data").write_bytes(b"\r\n".join(rows[:1000]) + b"\r\n" + rows[1000][:-10])
    with pytest.raises(ds.DataError, match=r"line 1001, column 9 \(medianHouseValue\).*cut short"):
        ds.read_housing(tmp_path / "cut.data")
    (tmp_path / "sample.data").write_bytes(b"\r\n".join(rows[:1000]))  # whole rows: a sample in StatLib's format
    assert ds.read_housing(tmp_path / "sample.data").data.shape == (1000, 9)


def test_an_archive_with_a_sample_named_like_statlibs_file_is_refused(tmp_path):
    (tmp_path / "small.tgz").write_bytes(_tar({ds.ARCHIVE_MEMBER: _statlib_text(raw_statlib(40))}))
    with pytest.raises(ds.DataError, match=r"small.tgz:CaliforniaHousing/cal_housing.data is .* bytes.*not "
                                           r"StatLib's file.*CSV"):
        ds.read_housing(tmp_path / "small.tgz")
    (tmp_path / "other.tgz").write_bytes(_tar({f"m{i}.csv": b"a\n1\n" for i in range(7)}))
    with pytest.raises(ds.DataError, match=r"without CaliforniaHousing/cal_housing.data \(it holds 'm0.csv', "
                                           r"'m1.csv', 'm2.csv' and 4 more\)"):
        ds.read_housing(tmp_path / "other.tgz")


def _damaged_files() -> dict[str, bytes]:
    text = _statlib_text(raw_statlib(200))
    gz, xz, bz = gzip.compress(text), lzma.compress(text), bz2.compress(text)
    tar = _tar({"CaliforniaHousing/cal_housing.data": text}, compression="")
    bad_header = bytearray(tar)
    bad_header[100] ^= 1  # the mode field: the header checksum no longer matches
    return {
        "gzip cut short": gz[: len(gz) // 2],  # EOFError
        "gzip data garbled": gz[:10] + b"\xff" * 20 + gz[30:],  # zlib.error
        "gzip wrong crc": gz[:-8] + bytes([gz[-8] ^ 1]) + gz[-7:],  # BadGzipFile: CRC check failed
        "gzip wrong length": gz[:-4] + bytes([gz[-4] ^ 1]) + gz[-3:],
        "gzip trailing garbage": gz + b"garbage",
        "xz cut short": xz[: len(xz) // 2],
        "xz garbled": xz[:40] + b"\x00" * 30 + xz[70:],
        "bzip2 garbled": bz[:20] + b"\x00" * 30 + bz[50:],
        "bzip2 cut short": bz[: len(bz) // 2],
        "tar bad header checksum": bytes(bad_header),
        "tgz cut short": _tar({"x": text})[:60],
    }


@pytest.mark.parametrize("name", list(_damaged_files()))
def test_decompression_errors_are_clear_errors_naming_the_file(tmp_path, capsys, name):
    path = tmp_path / (name.replace(" ", "-") + ".bin")
    path.write_bytes(_damaged_files()[name])
    with pytest.raises(ds.DataError) as err:
        ds.read_housing(path)
    assert str(path) in str(err.value) and len(str(err.value)) < 400
    assert str(path) in _cli_error(["diagnose", "--data", str(path)], capsys)


# ---- 3. decompression bombs -----------------------------------------------------------------------------------
class _Zeros(io.RawIOBase):
    def __init__(self, n: int) -> None:
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


def _bomb_tgz(name: str, size: int = 128 << 20) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo(name)
        info.size = size
        tar.addfile(info, _Zeros(size))
    return buf.getvalue()


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize("member", [ds.ARCHIVE_MEMBER, "zeros.bin"])
def test_an_archive_bomb_is_refused_from_the_declared_size(tmp_path, member):
    path = tmp_path / "bomb.tgz"
    path.write_bytes(_bomb_tgz(member))
    assert path.stat().st_size < 1 << 20

    def read():
        with pytest.raises(ds.DataError, match="bomb.tgz.*(StatLib's|declares 128.0 MiB)"):
            ds.read_housing(path)
    assert _peak(read) < 8 << 20  # refused at the member's header: nothing of it is decompressed


def test_compressed_files_may_expand_to_a_bounded_size(tmp_path):
    path = tmp_path / "zeros.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        for _ in range(128):
            f.write(bytes(1 << 20))
    xz = lzma.LZMACompressor(preset=0)
    (tmp_path / "zeros.xz").write_bytes(b"".join(xz.compress(bytes(1 << 20)) for _ in range(128)) + xz.flush())
    for p in path, tmp_path / "zeros.xz":
        def read(p=p):
            with pytest.raises(ds.DataError, match=r"expands to more than 64.0 MiB"):
                ds.read_housing(p)
        assert _peak(read) < 2 * ds.MAX_EXPANDED_BYTES  # the bound, not the 128 MiB


# ---- 4. line endings, bounded echoes, errors in the raw format's terms ----------------------------------------
def test_cr_crlf_and_lf_line_endings_read_alike(tmp_path):
    data = ds.convert_statlib(raw_statlib(10))
    lf = ds.write_csv(tmp_path / "lf.csv", data).read_bytes()
    tables = []
    for name, blob in {"lf": lf, "crlf": lf.replace(b"\n", b"\r\n"), "cr": lf.replace(b"\n", b"\r")}.items():
        (tmp_path / f"{name}.csv").write_bytes(blob)
        tables.append(ds.read_housing(tmp_path / f"{name}.csv"))
        assert ds.read_csv(tmp_path / f"{name}.csv", columns=ds.COLUMNS)[1].shape == (10, 9)
    assert all(t.fingerprint == tables[0].fingerprint for t in tables)
    lines = lf.split(b"\n")
    (tmp_path / "bad.csv").write_bytes(b"\r".join(lines[:3] + [b"1,2"] + lines[3:]))
    with pytest.raises(ds.DataError, match="line 4 has 2 values"):  # line numbers count \r breaks too
        ds.read_housing(tmp_path / "bad.csv")


@pytest.mark.parametrize("text", [
    "x" * 10_000_000,  # no newline at all
    ",".join(f"c{i}" for i in range(1_000_000)) + "\n1\n",  # a header of a million names
    "MedInc," + "y" * 5_000_000 + "\n1,2\n",
], ids=["no newline", "a million names", "a 5 MB name"])
def test_errors_never_echo_a_whole_line(tmp_path, capsys, text):
    path = tmp_path / "wide.csv"
    path.write_text(text)
    err = _cli_error(["train", "--data", str(path), "--artifact-dir", str(tmp_path / "art")], capsys)
    assert len(err) < 1000
    if "c0" in text:
        assert "'c0', 'c1', 'c2' and 999,997 more" in err


def test_diagnose_target_error_names_a_few_columns(tmp_path, capsys):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(2000)) + "\n" + ",".join(["1"] * 2000) + "\n")
    err = _cli_error(["diagnose", "--data", str(path), "--target", "z" * 10_000], capsys)
    assert "'c0', 'c1'" in err and "and 1,991 more" in err and len(err) < 1000


def test_raw_format_errors_speak_of_rows_of_9_not_a_header(tmp_path):
    (tmp_path / "short.data").write_bytes(b"1,2,3\n")
    with pytest.raises(ds.DataError, match=r"line 1 has 3 values; rows of StatLib's cal_housing.data \(no header\) "
                                           r"have 9") as err:
        ds.read_housing(tmp_path / "short.data")
    assert "the header" not in str(err.value)
    rows = _statlib_text(raw_statlib(5)).split(b"\n")
    (tmp_path / "cut.data").write_bytes(b"\n".join(rows[:4] + [rows[4][:20]]))
    with pytest.raises(ds.DataError, match="line 5 has 2 values.*cut short"):
        ds.read_housing(tmp_path / "cut.data")


def test_a_header_naming_a_column_twice_is_refused_not_reordered_away(tmp_path):
    (tmp_path / "twice.csv").write_text(",".join(ds.COLUMNS + ["MedInc"]) + "\n" + ",".join(["1"] * 10) + "\n")
    with pytest.raises(ds.DataError, match=r"twice.csv: the header names a column twice: 'MedInc'"):
        ds.read_housing(tmp_path / "twice.csv")


def test_unsupported_and_double_compression_are_named(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "a.zip", "w") as z:
        z.writestr("cal_housing.data", "1,2")
    with pytest.raises(ds.DataError, match="is a zip archive.*extract"):
        ds.read_housing(tmp_path / "a.zip")
    (tmp_path / "twice.gz.xz").write_bytes(lzma.compress(gzip.compress(b"1,2\n")))
    with pytest.raises(ds.DataError, match="compressed twice"):
        ds.read_housing(tmp_path / "twice.gz.xz")


# ---- 5. a bad file named by the environment --------------------------------------------------------------------
def test_errors_from_the_environment_file_say_where_it_came_from(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("MedInc,HouseAge\n1,2\n")
    monkeypatch.setenv(ds.ENV_DATA, str(bad))
    with pytest.raises(ds.DataError, match=r"bad.csv: wrong columns.*named by \$TINYGRAD_NORM_DATA.*unset "
                                           r"TINYGRAD_NORM_DATA"):
        ds.california_housing()
    for argv in (["diagnose"], ["train", "--artifact-dir", str(tmp_path / "art")]):
        assert "$TINYGRAD_NORM_DATA" in _cli_error(argv, capsys)
    with pytest.raises(ds.DataError, match="wrong columns") as err:  # --data: the variable is not involved
        ds.california_housing(bad)
    assert ds.ENV_DATA not in str(err.value)


# ---- 6. files too large for this in-memory reader -------------------------------------------------------------
_UNDER_3_GIB = ("import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30)); "
                "sys.argv = ['tinygrad-norm', *sys.argv[1:]]; runpy.run_module('tinygrad_norm', run_name='__main__')")


def test_a_30_gib_file_is_refused_before_reading(tmp_path):
    big = tmp_path / "big.csv"
    with open(big, "wb") as f:
        f.truncate(30 << 30)  # sparse: no disk used
    # first the command line under a 3 GiB memory limit, as the probe ran it (so a reader that tries to read
    # it all fails there, with MemoryError, and not in this process): a clear error
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for argv in (["diagnose", "--data", str(big)],
                 ["train", "--data", str(big), "--artifact-dir", str(tmp_path / "art"), "--epochs", "1"]):
        run = subprocess.run([sys.executable, "-c", _UNDER_3_GIB, *argv], capture_output=True, text=True,
                             timeout=120, env=env, cwd=tmp_path)
        assert run.returncode == 2 and run.stderr.startswith("error: ") and "30.0 GiB" in run.stderr, run.stderr[-2000:]
    # the library: refused from the size, before reading (a read would take far longer and far more memory)
    start = time.monotonic()
    peak = _peak(lambda: pytest.raises(ds.DataError, ds.read_housing, big))
    assert time.monotonic() - start < 10 and peak < 1 << 20
    with pytest.raises(ds.DataError, match=r"big.csv: the file is 30.0 GiB \(32,212,254,720 bytes\).*up to 2.0 GiB"
                                           r".*stream it with tn.datasets.iter_table"):
        ds.read_table(big)


def test_running_out_of_memory_while_parsing_is_a_clear_error(tmp_path, monkeypatch):
    path = ds.write_csv(tmp_path / "h.csv", ds.convert_statlib(raw_statlib(20)))

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(np, "loadtxt", no_memory)
    with pytest.raises(ds.DataError, match=r"h.csv: not enough memory to read this file.*sample"):
        ds.read_housing(Path(path))
