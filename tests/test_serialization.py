"""save/load: round trips, atomic writes, and clear errors for missing, corrupt and foreign files."""

from __future__ import annotations

import io
import json
import os
import stat
import tracemalloc
import zipfile

import numpy as np
import pytest

import tinygrad_norm as tn


def test_round_trip_nested(tmp_path):
    obj = {"model": {"w": tn.Tensor([[1.0, 2.0]]), "b": np.arange(3)}, "step": 7, "name": "x", "lr": 1e-3,
           "betas": [0.9, 0.999], "none": None}
    tn.save(obj, tmp_path / "a.npz")
    back = tn.load(tmp_path / "a.npz")
    assert isinstance(back["model"]["w"], tn.Tensor) and back["model"]["w"].dtype == np.float32
    np.testing.assert_array_equal(back["model"]["w"].numpy(), [[1.0, 2.0]])
    np.testing.assert_array_equal(back["model"]["b"], np.arange(3))
    assert back["step"] == 7 and back["name"] == "x" and back["betas"] == [0.9, 0.999] and back["none"] is None


def test_failed_save_keeps_previous_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    tn.save({"w": tn.Tensor([1.0])}, path)

    def broken(f, arr, **kwargs):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(np.lib.format, "write_array", broken)
    with pytest.raises(OSError, match="disk full"):
        tn.save({"w": tn.Tensor([2.0])}, path)
    monkeypatch.undo()
    assert tn.load(path)["w"].item() == 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]


def test_missing_truncated_foreign_and_pickled_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        tn.load(tmp_path / "nope.npz")
    path = tmp_path / "c.npz"
    tn.save({"w": tn.Tensor(np.ones(1000))}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(tn.CheckpointError, match="truncated or corrupt"):
        tn.load(path)
    path.write_bytes(b"not a zip at all")
    with pytest.raises(tn.CheckpointError):
        tn.load(path)
    np.savez(tmp_path / "foreign.npz", a=np.ones(2))
    with pytest.raises(tn.CheckpointError, match="not a tinygrad_norm checkpoint"):
        tn.load(tmp_path / "foreign.npz")
    np.savez(tmp_path / "pickled.npz", a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(tn.CheckpointError):
        tn.load(tmp_path / "pickled.npz")


def test_unsupported_values_are_rejected_before_writing(tmp_path):
    with pytest.raises(TypeError, match="cannot store"):
        tn.save({"f": object()}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="keys must be strings"):
        tn.save({1: 1}, tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()


def test_saved_files_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = tn.save({"a": np.ones(2)}, tmp_path / "m.npz")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        os.umask(0o077)
        path = tn.save({"a": np.ones(2)}, tmp_path / "m.npz")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(old)
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary file left behind


@pytest.mark.parametrize("obj", [
    {"allow_pickle": np.ones(2), "__tinygrad_norm__": np.zeros(3), "x": np.ones(1), "x.npy": np.full(2, 5.0)},
    {"": {"a": np.zeros(1)}, "a": np.ones(1), "a/b": 3, "a.npy/": [np.arange(2)]},
    {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf"), "big": 10**30},
])
def test_any_keys_and_values_round_trip(tmp_path, obj):
    tn.save(obj, tmp_path / "k.npz")
    back = tn.load(tmp_path / "k.npz")
    assert set(back) == set(obj)
    for k, v in obj.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(back[k], v)
        elif isinstance(v, float) and np.isnan(v):
            assert np.isnan(back[k])
        elif isinstance(v, dict):
            np.testing.assert_array_equal(back[k]["a"], v["a"])
        elif isinstance(v, list):
            np.testing.assert_array_equal(back[k][0], v[0])
        else:
            assert back[k] == v


def _crafted(path, description, members=None, compress=zipfile.ZIP_STORED):
    """A zip laid out like ours, with any description and members."""
    with zipfile.ZipFile(path, "w", compress) as zf:
        def put(name, arr):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, arr, allow_pickle=False)
            zf.writestr(f"{name}.npy", buf.getvalue())
        text = description if isinstance(description, str) else json.dumps(description)
        put("__tinygrad_norm__", np.frombuffer(text.encode(), np.uint8))
        for name, arr in (members or {}).items():
            put(name, arr)
    return path


def _npy_header(shape):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return buf.getvalue()


@pytest.mark.parametrize("description", [
    [1, 2, 3],
    {"format": "tinygrad_norm", "version": "1", "tree": 1},
    {"format": "tinygrad_norm", "version": 1},
    {"format": "tinygrad_norm", "version": 1, "tree": [1, 2]},
    {"format": "tinygrad_norm", "version": 1, "tree": {"__dict__": [1]}},
    {"format": "tinygrad_norm", "version": 1, "tree": {"__tensor__": 5}},
    {"format": "tinygrad_norm", "version": 1, "tree": {"__array__": "missing"}},
    {"format": "tinygrad_norm", "version": 1, "tree": {"__weird__": 1}},
    {"format": "tinygrad_norm", "version": 99, "tree": 1},
    "{" * 100_000,
    '{"format": "tinygrad_norm", "version": 1, "tree": ' + '{"__list__": [' * 5000 + "1" + "]}" * 5000 + "}",
    "not json",
])
def test_crafted_descriptions_give_checkpoint_errors(tmp_path, description):
    with pytest.raises(tn.CheckpointError):
        tn.load(_crafted(tmp_path / "c.npz", description))


def test_crafted_members_are_checked_before_allocating(tmp_path):
    tree = {"format": "tinygrad_norm", "version": 2, "tree": {"__array__": "a0"}}
    path = _crafted(tmp_path / "c.npz", tree)
    with zipfile.ZipFile(path, "a") as zf:  # a member declaring 2**40 float64s (8 TiB) in a few bytes
        zf.writestr("a0.npy", _npy_header((2**40,)) + b"\0" * 64)
    with pytest.raises(tn.CheckpointError, match=r"declares shape \(1099511627776,\)"):
        tn.load(path)
    # a deflated member could be a zip bomb: refused without being inflated
    bomb = _crafted(tmp_path / "bomb.npz", tree, {"a0": np.zeros(4_000_000)}, zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 200_000
    tracemalloc.start()
    with pytest.raises(tn.CheckpointError, match="compressed"):
        tn.load(bomb)
    assert tracemalloc.get_traced_memory()[1] < 5_000_000
    tracemalloc.stop()


def test_members_the_description_does_not_name_are_never_read(tmp_path):
    tree = {"format": "tinygrad_norm", "version": 2, "tree": {"__array__": "a0"}}
    path = _crafted(tmp_path / "c.npz", tree, {"a0": np.ones(3), "junk": np.zeros(5_000_000)})
    tracemalloc.start()
    np.testing.assert_array_equal(tn.load(path), np.ones(3))
    assert tracemalloc.get_traced_memory()[1] < 5_000_000  # the 40 MB member stayed on disk
    tracemalloc.stop()


def test_every_bit_flip_and_truncation_is_an_error_or_identical(tmp_path):
    path = tmp_path / "m.npz"
    tn.save({"w": tn.Tensor(np.arange(6.0).reshape(2, 3)), "n": 3}, path)
    good = path.read_bytes()
    bad = tmp_path / "bad.npz"
    rng = np.random.default_rng(0)
    positions = rng.choice(len(good) * 8, 400, replace=False)
    cuts = rng.choice(len(good), 100, replace=False)
    for blob in [bytes(good[:c]) for c in cuts] + [
            bytes(b ^ (1 << (p % 8)) if i == p // 8 else b for i, b in enumerate(good)) for p in positions]:
        bad.write_bytes(blob)
        try:
            back = tn.load(bad)
        except tn.CheckpointError:
            continue
        assert back["n"] == 3 and back["w"].numpy().tolist() == [[0, 1, 2], [3, 4, 5]]


def test_a_file_that_would_not_load_never_replaces_one_that_does(tmp_path, monkeypatch):
    from tinygrad_norm import serialization

    path = tmp_path / "m.npz"
    tn.save({"w": np.ones(2)}, path)
    before = path.read_bytes()

    def refuse(p):
        raise tn.CheckpointError("simulated unreadable result")

    monkeypatch.setattr(serialization, "load", refuse)
    with pytest.raises(tn.CheckpointError, match="simulated"):
        serialization.save({"w": np.zeros(2)}, path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_stale_temporary_files_of_killed_writers_are_swept(tmp_path):
    dead = tmp_path / ".m.npz.999999999.abcd1234.tmp"  # no such pid
    dead.write_bytes(b"half a file")
    mine_other_name = tmp_path / ".other.npz.999999999.abcd1234.tmp"
    mine_other_name.write_bytes(b"x")
    foreign = tmp_path / ".m.npz.notes.tmp"
    foreign.write_bytes(b"x")
    tn.save({"w": np.ones(1)}, tmp_path / "m.npz")
    assert not dead.exists() and mine_other_name.exists() and foreign.exists()


def test_a_directory_in_the_way_is_a_clear_error(tmp_path):
    (tmp_path / "m.npz").mkdir()
    with pytest.raises(IsADirectoryError, match="is a directory"):
        tn.save({"w": np.ones(1)}, tmp_path / "m.npz")
    with pytest.raises(tn.CheckpointError, match="is a directory"):
        tn.load(tmp_path / "m.npz")


@pytest.mark.parametrize("text,match", [
    ('{"format": "tinygrad_norm", "version": 2, "tree": NaN}', "NaN"),
    ('{"format": "tinygrad_norm", "version": 2, "tree": {"__list__": [1, Infinity]}}', "Infinity"),
    ('{"format": "tinygrad_norm", "version": 2, "tree": -Infinity}', "Infinity"),
    ('{"format": "tinygrad_norm", "version": 2, "tree": {"__dict__": {"lr": 0.1, "lr": 10.0}}}', "'lr'"),
    ('{"format": "tinygrad_norm", "version": 2, "tree": 1, "tree": 2}', "'tree'"),
])
def test_json_that_is_not_what_save_writes_is_refused_naming_the_file(tmp_path, text, match):
    path = _crafted(tmp_path / "c.npz", text)
    with pytest.raises(tn.CheckpointError, match=match) as e:
        tn.load(path)
    assert str(path) in str(e.value)


def test_a_zip_with_two_members_of_one_name_is_refused(tmp_path):
    import warnings

    path = tmp_path / "d.npz"
    tn.save({"w": np.ones(2)}, path)
    with zipfile.ZipFile(path) as zf:
        members = [(i.filename, zf.read(i)) for i in zf.infolist()]
    second = io.BytesIO()
    np.lib.format.write_array(second, np.full(2, 7.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns "Duplicate name": writing one is the point
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in members:
                zf.writestr(name, data)
            zf.writestr("a0.npy", second.getvalue())  # the last one would win
    with pytest.raises(tn.CheckpointError, match="a0.npy") as e:
        tn.load(path)
    assert str(path) in str(e.value) and "twice" in str(e.value)


@pytest.mark.parametrize("dtype", [np.int64, np.float32, np.float64, np.bool_])
def test_zero_dimensional_arrays_and_tensors_keep_shape_and_dtype(tmp_path, dtype):
    # torch's num_batches_tracked is a 0-d int64 tensor: a round trip must not turn it into shape (1,)
    value = np.array(3, dtype=dtype)
    path = tmp_path / "z.npz"
    tn.save({"a": value, "t": tn.Tensor(value, dtype=dtype), "f": np.asfortranarray(np.ones((2, 3)))[:, ::2]}, path)
    back = tn.load(path)
    assert back["a"].shape == () and back["a"].dtype == dtype and back["a"] == value
    assert isinstance(back["t"], tn.Tensor) and back["t"].shape == () and back["t"].dtype == dtype
    assert back["t"].item() == value.item()
    # a non-contiguous view is still stored (made contiguous) with its shape
    assert back["f"].shape == (2, 2) and back["f"].flags.c_contiguous
