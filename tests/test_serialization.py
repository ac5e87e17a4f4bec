"""save/load: round trips, atomic writes, and clear errors for missing, corrupt and foreign files."""

from __future__ import annotations

import os
import stat

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

    def broken(f, **arrays):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
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
    with pytest.raises(TypeError, match="keys"):
        tn.save({"a/b": 1}, tmp_path / "x.npz")
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
