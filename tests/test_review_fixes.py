"""Bugs a review of the reliability and speed work found, each reproduced here first."""

from __future__ import annotations

import io
import json
import os
import threading
import tracemalloc
import zipfile

import numpy as np
import pytest
import torch

import tinygrad_norm as tn
from tinygrad_norm import nn


# ---- files -------------------------------------------------------------------------------------------------
def _npz_claiming(path, claimed: int):
    """A zip whose directory says its one member holds ``claimed`` bytes (the file is a few hundred)."""
    desc = json.dumps({"format": "tinygrad_norm", "version": 2, "tree": {"__array__": "a0"}}).encode()
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.frombuffer(desc, np.uint8))
    header = io.BytesIO()
    n = (claimed - 128) // 8
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (n,)})
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("__tinygrad_norm__.npy", buf.getvalue())
        zf.writestr("a0.npy", header.getvalue() + b"\0" * 16)
    blob = bytearray(path.read_bytes())
    # patch the member's sizes in its local header and the central directory to the claimed size
    size = (len(header.getvalue()) + 16).to_bytes(4, "little")
    fake = (len(header.getvalue()) + n * 8).to_bytes(4, "little")
    start = blob.index(b"a0.npy") - 30
    for at in (start + 18, start + 22):
        assert blob[at:at + 4] == size
        blob[at:at + 4] = fake
    central = blob.rindex(b"a0.npy") - 46
    for at in (central + 20, central + 24):
        blob[at:at + 4] = fake
    path.write_bytes(bytes(blob))
    return path


def test_sizes_the_file_does_not_hold_are_refused_before_allocating(tmp_path):
    path = _npz_claiming(tmp_path / "c.npz", 1 << 30)
    assert path.stat().st_size < 1000
    tracemalloc.start()
    with pytest.raises(tn.CheckpointError, match="does not hold"):
        tn.load(path)
    assert tracemalloc.get_traced_memory()[1] < 50 << 20
    tracemalloc.stop()


def test_an_array_named_twice_is_refused(tmp_path):
    path = tmp_path / "d.npz"
    tn.save({"a": np.ones(1000)}, path)
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    desc = json.dumps({"format": "tinygrad_norm", "version": 2,
                       "tree": {"__list__": [{"__array__": "a0"}] * 50}}).encode()
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.frombuffer(desc, np.uint8))
    members["__tinygrad_norm__.npy"] = buf.getvalue()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(tn.CheckpointError, match="twice"):
        tn.load(path)


def test_concurrent_saves_and_other_files_temps_are_left_alone(tmp_path):
    errors = []

    def writer():
        for _ in range(20):
            try:
                tn.save({"w": np.ones(100)}, tmp_path / "m.npz")
            except Exception as e:  # noqa: BLE001 - the test counts any failure
                errors.append(e)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    live = tmp_path / f".m.npz.20240101.{os.getpid()}.deadbeef.tmp"  # another target's file, being written
    live.write_bytes(b"x")
    huge_pid = tmp_path / ".m.npz.999999999999999.deadbeef.tmp"  # no such pid: stale
    huge_pid.write_bytes(b"x")
    tn.save({"w": np.ones(1)}, tmp_path / "m.npz")
    assert live.exists() and not huge_pid.exists()


def test_a_killed_runs_half_written_epoch_checkpoint_is_swept(tmp_path):
    from test_regression import fast_config, raw_statlib, small_csv  # noqa: F401

    from tinygrad_norm.datasets import convert_statlib, write_csv
    from tinygrad_norm.examples.simple_regression import train

    csv = write_csv(tmp_path / "h.csv", convert_statlib(raw_statlib(300)))
    stale = tmp_path / "art" / "checkpoints" / ".epoch-3.npz.999999999.deadbeef.tmp"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half")
    train(fast_config(csv, tmp_path, num_epochs=1, artifact_dir=str(tmp_path / "art")), log=lambda *_: None)
    assert not stale.exists()


# ---- optimizer ---------------------------------------------------------------------------------------------
def test_step_counts_survive_a_regroup():
    """A parameter that has never stepped keeps its own step count after a dtype change regroups the optimizer."""
    w1, w2 = tn.Tensor([1.0], requires_grad=True), tn.Tensor([1.0], requires_grad=True)
    t1, t2 = torch.tensor([1.0], requires_grad=True), torch.tensor([1.0], requires_grad=True)
    opt, ref = tn.optim.Adam([w1, w2], lr=0.1), torch.optim.Adam([t1, t2], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        ref.zero_grad()
        (w1 * w1).sum().backward()
        (t1 * t1).sum().backward()
        opt.step()
        ref.step()
    for p in (w1, w2):
        p.data = p.data.astype(np.float64)
    opt.zero_grad()
    ref.zero_grad()
    ((w1 * w1).sum() + (w2 * w2).sum()).backward()
    ((t1 * t1).sum() + (t2 * t2).sum()).backward()
    opt.step()
    ref.step()
    np.testing.assert_allclose([w1.item(), w2.item()], [t1.item(), t2.item()], rtol=1e-6)


def test_optimizer_state_is_checked_before_anything_changes():
    p = tn.Tensor([1.0, 2.0], requires_grad=True)
    opt = tn.optim.Adam([p], lr=0.1)
    good = opt.state_dict()
    bad = {**good, "param_groups": [{**good["param_groups"][0], "lr": 5.0}],
           "state": [{"step": 7, "exp_avg": np.array(["x", "y"]), "exp_avg_sq": np.zeros(2)}]}
    with pytest.raises(tn.CheckpointError):
        opt.load_state_dict(bad)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.state_dict()["state"] == [{}]
    with pytest.raises(tn.CheckpointError, match="learning rate"):
        opt.load_state_dict({**good, "param_groups": [{**good["param_groups"][0], "lr": -1.0}]})
    q = tn.Tensor([1.0], requires_grad=True)
    sgd = tn.optim.SGD([q], lr=0.1)
    with pytest.raises(tn.CheckpointError, match="never keeps"):  # Adam's moments are no SGD state
        sgd.load_state_dict({**sgd.state_dict(), "state": [{"step": 1, "exp_avg": [0.0], "exp_avg_sq": [0.0]}]})


# ---- statistics and layers -----------------------------------------------------------------------------------
@pytest.mark.parametrize("method,x,expected", [
    ("maxabs", np.array([[1e-310], [0.0]]), [[1.0], [0.0]]),
    ("minmax", np.array([[0.0], [5e-324]]), [[0.0], [1.0]]),
    ("minmax", np.array([[0.0], [1e-39]], np.float32), [[0.0], [1.0]]),
    ("maxabs", np.array([[1e-39], [0.0]], np.float32), [[1.0], [0.0]]),
])
def test_spreads_too_small_to_invert_still_scale(method, x, expected):
    out = tn.Normalizer(method).fit(x).transform(x)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out.astype(np.float64), expected)


def test_tensors_with_statistics_at_the_limits_are_an_error_not_inf():
    x = np.array([[-1.5e308], [1.5e308], [0.0]])
    norm = tn.Normalizer("minmax").fit(x)
    with pytest.raises(tn.ArgumentError, match="limits of float64"):
        norm.transform(tn.Tensor(x, dtype="float64"))
    with pytest.raises(tn.ArgumentError, match="limits of float64"):
        nn.Normalize(norm)(tn.Tensor(x, dtype="float64"))
    np.testing.assert_allclose(norm.transform(x).ravel(), [0.0, 1.0, 0.5])  # arrays take the careful path


def test_a_gradient_never_aliases_what_a_retained_graph_saved():
    pred = tn.Tensor([1.0, 2.0], requires_grad=True, dtype="float64")
    loss = nn.functional.mse_loss(pred, tn.Tensor([0.0, 0.0], dtype="float64"))
    loss.backward(retain_graph=True)
    first = pred.grad.numpy().copy()
    pred.grad.data *= 0.0
    pred.grad = None
    loss.backward()
    np.testing.assert_array_equal(pred.grad.numpy(), first)


def test_a_normalizer_of_the_wrong_width_or_count_is_refused_at_load():
    x = np.random.default_rng(0).standard_normal((20, 3))
    state = {"0._extra_state": {"n_features": 8, "normalizer": tn.Normalizer().fit(x).state_dict()}}
    with pytest.raises(tn.TinygradNormError, match="3 features for a layer of 8"):
        nn.Sequential(nn.Normalize(8)).load_state_dict(state)
    big = tn.Normalizer().fit(x).state_dict()
    big["count"] = 10**400
    with pytest.raises(tn.ArgumentError, match=r"count must be a positive integer below 2\*\*63, got 1000"):
        tn.Normalizer.from_state_dict(big)


def test_a_bad_apply_call_does_not_poison_the_next_good_one():
    be = tn.get_backend("cpu")
    x = np.ones((4, 3), np.float32)
    sh, sc = np.array([1.0, 2.0, 3.0]), np.ones(3)
    with pytest.raises(tn.ShapeError):
        be.affine_apply(x, sh.reshape(1, 3), sc.reshape(1, 3), None)
    np.testing.assert_array_equal(be.affine_apply(x, sh, sc, None)[0], [0.0, -1.0, -2.0])


def test_fit_takes_any_array_like():
    t = torch.randn(10, 3, dtype=torch.float64)
    norm = tn.Normalizer().fit(t)
    np.testing.assert_allclose(norm.mean, t.numpy().mean(0), rtol=1e-12)


# ---- data files and operands ---------------------------------------------------------------------------------
def test_whitespace_only_lines_and_form_feeds_do_not_break_or_shift_lines(tmp_path):
    from tinygrad_norm import datasets as ds

    header = ",".join(ds.COLUMNS)
    row = ",".join(["1"] * 9)
    ok = tmp_path / "ok.csv"
    ok.write_text(f"{header}\n{row}\n   \n{row}\n \t\n")
    assert ds.read_csv(ok, columns=ds.COLUMNS)[1].shape == (2, 9)
    ff = tmp_path / "ff.csv"
    ff.write_text(f"{header}\n{row}\x0c\n{row}\nx,{','.join(['1'] * 8)}\n")
    with pytest.raises(ds.DataError, match="line 4, column 1"):
        ds.read_csv(ff, columns=ds.COLUMNS)
    raw = tmp_path / "cal.data"
    good = ",".join(["1"] * 9)
    bad = ",".join(["1"] * 6 + ["0"] + ["1"] * 2)
    raw.write_text(f"{good}\n\n\n{good}\n{bad}\n")
    with pytest.raises(ds.DataError, match="line 5: households must be positive"):
        ds.read_housing(raw)


def test_operands_that_are_not_numbers_and_integer_powers():
    t = tn.Tensor([1.0])
    with pytest.raises(tn.DTypeError):
        t + None
    with pytest.raises(tn.DTypeError):
        t * "a"
    assert (tn.arange(5) ** 2).dtype == np.float32 and tn.arange(5).mean().dtype == np.float32
    assert (tn.arange(5) ** 2).numpy().tolist() == [0, 1, 4, 9, 16]


def test_resume_with_fewer_epochs_than_done_is_refused(tmp_path):
    from test_regression import fast_config, raw_statlib

    from tinygrad_norm.datasets import convert_statlib, write_csv
    from tinygrad_norm.examples.simple_regression import train

    csv = write_csv(tmp_path / "h.csv", convert_statlib(raw_statlib(300)))
    train(fast_config(csv, tmp_path, num_epochs=3), log=lambda *_: None)
    with pytest.raises(tn.ArgumentError, match="already has 3 epochs"):
        train(fast_config(csv, tmp_path, num_epochs=2), log=lambda *_: None, resume=True)
