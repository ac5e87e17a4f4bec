"""Artifacts published as one unit, checkpoints whose statistics are missing or impossible, and the command
line's behaviour around them: broken artifact folders, Ctrl-C, --plot without matplotlib, closed pipes."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_regression import fast_config, raw_statlib

import tinygrad_norm as tn
from tinygrad_norm import cli
from tinygrad_norm.examples.simple_regression import infer, train
from tinygrad_norm.examples.simple_regression import training as training_module


@pytest.fixture(scope="module")
def csv(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("checkpoints-cli")
    return tn.datasets.write_csv(root / "housing.csv", tn.datasets.convert_statlib(raw_statlib(1200)))


def quiet(*_):
    pass


# ---- 1. model.npz and metrics.csv are published as one unit --------------------------------------------------
def published(art: Path) -> tuple[bytes, bytes]:
    """What a reader of the documented paths sees, checked to be one run: the model's last epoch and validation
    loss are the last row of metrics.csv."""
    model, metrics = (art / "model.npz").read_bytes(), (art / "metrics.csv").read_bytes()
    ckpt = tn.load(art / "model.npz")
    rows = np.loadtxt(art / "metrics.csv", delimiter=",", skiprows=1, ndmin=2)
    assert ckpt["last"]["epoch"] == len(rows), "model.npz and metrics.csv come from different runs"
    assert ckpt["last"]["valid_loss"] == rows[-1, 2], "model.npz and metrics.csv come from different runs"
    return model, metrics


def _crash_after(monkeypatch, name: str) -> None:
    """A kill right after ``name`` (model.npz or metrics.csv) of the published artifacts is written."""
    real_save, real_write = tn.save, tn.serialization.atomic_write

    def save(obj, path):
        out = real_save(obj, path)
        if Path(path).name == name:
            raise KeyboardInterrupt
        return out

    def write(path, *args, **kwargs):
        out = real_write(path, *args, **kwargs)
        if Path(path).name == name:
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(tn, "save", save)
    monkeypatch.setattr(tn.serialization, "atomic_write", write)


@pytest.mark.parametrize("crash_after", ["model.npz", "metrics.csv"])
def test_a_kill_while_publishing_leaves_one_runs_model_and_metrics(csv, tmp_path, monkeypatch, crash_after):
    art = tmp_path / "artifacts"
    train(fast_config(csv, tmp_path, num_epochs=2), log=quiet)
    before = published(art)
    with monkeypatch.context() as m:
        _crash_after(m, crash_after)
        with pytest.raises(KeyboardInterrupt):
            train(fast_config(csv, tmp_path, num_epochs=3, norm="standard"), log=quiet)
    assert published(art) == before  # all of the old run, never the new model beside the old metrics
    assert infer(art, data=str(csv), show_chart=False, log=quiet).epoch >= 1
    train(fast_config(csv, tmp_path, num_epochs=4, norm="standard"), log=quiet)
    assert tn.load(art / "model.npz")["last"]["epoch"] == 4 and published(art) != before
    assert not list(art.rglob("*.tmp"))


def test_artifacts_of_the_old_layout_are_taken_over_safely(csv, tmp_path, monkeypatch):
    """A folder written by an earlier version (model.npz and metrics.csv plain files) is switched to the new
    layout without a moment where the two disagree."""
    art = tmp_path / "artifacts"
    train(fast_config(csv, tmp_path, num_epochs=2), log=quiet)
    model, metrics = published(art)
    for entry in list(art.iterdir()):  # rebuild the folder as the old version left it
        if entry.is_symlink() or entry.is_file():
            entry.unlink()
        elif entry.name != "checkpoints":
            import shutil

            shutil.rmtree(entry)
    (art / "model.npz").write_bytes(model)
    (art / "metrics.csv").write_bytes(metrics)
    with monkeypatch.context() as m:
        _crash_after(m, "model.npz")
        with pytest.raises(KeyboardInterrupt):
            train(fast_config(csv, tmp_path, num_epochs=3), log=quiet)
    assert published(art) == (model, metrics)
    train(fast_config(csv, tmp_path, num_epochs=3), log=quiet)
    assert tn.load(art / "model.npz")["last"]["epoch"] == 3
    published(art)


# ---- 2 and 3. checkpoints whose normalizer statistics are missing or impossible --------------------------------
def _mutated_checkpoint(csv, tmp_path, mutate, norm="standard") -> Path:
    art = tmp_path / "artifacts"
    train(fast_config(csv, tmp_path, num_epochs=2, norm=norm), log=quiet)
    state = tn.load(art / "model.npz")
    for entry in ("best", "last"):
        mutate(state[entry]["model"]["normalize._extra_state"])
    tn.save(state, art / "model.npz")
    return art


def _zero_m2(extra):
    extra["normalizer"]["m2"] = np.zeros_like(extra["normalizer"]["m2"])


def _huge_mean(extra):
    extra["normalizer"]["mean"] = np.full_like(extra["normalizer"]["mean"], 1e300)


@pytest.mark.parametrize("name,mutate,match", [
    ("statistics removed", lambda extra: extra.pop("normalizer"), "holds no statistics"),
    ("m2 all zero", _zero_m2, "every feature is constant"),
    ("count 1", lambda extra: extra["normalizer"].update(count=1), "statistics"),
    ("mean 1e300", _huge_mean, "statistics"),
])
def test_checkpoint_statistics_that_cannot_be_right_are_an_error_naming_the_file(csv, tmp_path, capsys, name,
                                                                                   mutate, match):
    art = _mutated_checkpoint(csv, tmp_path, mutate)
    with pytest.raises(tn.CheckpointError, match=match) as e:
        infer(art, data=str(csv), show_chart=False, log=quiet)
    assert str(art / "model.npz") in str(e.value)
    assert cli.main(["infer", "--artifact-dir", str(art), "--data", str(csv), "--no-chart"]) == 2
    out, err = capsys.readouterr()
    assert "MSE" not in out and err.startswith("error: ") and str(art / "model.npz") in err
    assert "Warning" not in err and "Traceback" not in err and len(err.splitlines()) == 1


def _nan_weights(model_state):
    w = model_state["input_layer.weight"]
    model_state["input_layer.weight"] = np.full_like(w.numpy() if isinstance(w, tn.Tensor) else w, np.nan)


@pytest.mark.parametrize("name,mutate,match", [
    ("statistics removed", lambda m: m["normalize._extra_state"].pop("normalizer"), "holds no normalizer statistics"),
    ("m2 all zero", lambda m: _zero_m2(m["normalize._extra_state"]), "every feature is constant"),
    ("count 1", lambda m: m["normalize._extra_state"]["normalizer"].update(count=1), "statistics"),
    ("mean 1e300", lambda m: _huge_mean(m["normalize._extra_state"]), "statistics"),
    ("NaN weights", _nan_weights, "not finite"),
])
def test_resume_checks_the_epoch_checkpoint_as_infer_checks_the_model(csv, tmp_path, name, mutate, match):
    """--resume from an epoch checkpoint with impossible statistics or weights: an error naming that file before
    training (it used to train on with scale 1, or call the run diverged and delete the checkpoint)."""
    config = fast_config(csv, tmp_path, num_epochs=2, norm="standard")
    train(config, log=quiet)
    ckpt = training_module.latest_epoch_checkpoint(Path(config.artifact_dir))
    state = tn.load(ckpt)
    for key in ("model", "best_state"):
        mutate(state[key])
    tn.save(state, ckpt)
    model = (Path(config.artifact_dir) / "model.npz").read_bytes()
    with pytest.raises(tn.CheckpointError, match=match) as e:
        train(fast_config(csv, tmp_path, num_epochs=4, norm="standard"), log=quiet, resume=True)
    assert str(ckpt) in str(e.value) and "without --resume" in str(e.value)
    assert ckpt.is_file() and (Path(config.artifact_dir) / "model.npz").read_bytes() == model


def test_training_data_with_every_feature_constant_is_refused(tmp_path):
    """What makes the checkpoint error above true: no training run makes statistics of all-constant features."""
    table = tn.datasets.convert_statlib(raw_statlib(300))
    table[:, :8] = table[0, :8]
    path = tn.datasets.write_csv(tmp_path / "flat.csv", table)
    with pytest.raises(tn.DataError, match="every feature is constant in the training split"):
        train(fast_config(path, tmp_path, num_epochs=1), log=quiet)
    assert not (tmp_path / "artifacts" / "model.npz").exists()


def test_a_none_checkpoint_stays_an_identity_and_statistics_there_are_refused(csv, tmp_path):
    art = tmp_path / "artifacts"
    train(fast_config(csv, tmp_path, num_epochs=2, norm="none"), log=quiet)
    good = infer(art, data=str(csv), show_chart=False, log=quiet)
    # a checkpoint of the previous version: an identity layer saved as {'n_features': 8} only
    state = tn.load(art / "model.npz")
    for entry in ("best", "last"):
        state[entry]["model"]["normalize._extra_state"] = {"n_features": 8}
    tn.save(state, art / "model.npz")
    assert infer(art, data=str(csv), show_chart=False, log=quiet).mse == good.mse
    x = tn.datasets.california_housing(str(csv)).features
    for entry in ("best", "last"):
        state[entry]["model"]["normalize._extra_state"] = {
            "n_features": 8, "normalizer": tn.Normalizer("standard").fit(x).state_dict()}
    tn.save(state, art / "model.npz")
    with pytest.raises(tn.CheckpointError, match="none"):
        infer(art, data=str(csv), show_chart=False, log=quiet)


# ---- 7. artifact folders that cannot work are named before training starts -------------------------------------
@pytest.mark.parametrize("kind", ["loop", "dangling", "dangling parent"])
def test_an_artifact_dir_behind_a_broken_symlink_is_named(csv, tmp_path, capsys, kind):
    link = tmp_path / "art"
    if kind == "loop":
        os.symlink(link, link)
        target = link
    else:
        os.symlink(tmp_path / "nowhere", link)
        target = link / "sub" if kind == "dangling parent" else link
    rc = cli.main(["train", "--data", str(csv), "--epochs", "1", "--artifact-dir", str(target), "--no-progress"])
    out, err = capsys.readouterr()
    assert rc == 2 and "symlink" in err and str(link) in err and "File exists" not in err, err
    assert "params:" not in out


@pytest.mark.parametrize("name", ["checkpoints", "runs"])
def test_a_file_where_train_needs_a_folder_is_named_before_training(csv, tmp_path, capsys, name):
    art = tmp_path / "art"
    art.mkdir()
    (art / name).write_text("x")
    rc = cli.main(["train", "--data", str(csv), "--epochs", "1", "--artifact-dir", str(art), "--no-progress"])
    out, err = capsys.readouterr()
    assert rc == 2 and str(art / name) in err and "not a directory" in err, err
    assert "params:" not in out  # nothing was trained


# ---- 8. Ctrl-C prints the command that resumes, from the epoch it says --------------------------------------
def _interrupt_during_epoch(monkeypatch, epoch: int) -> None:
    """Ctrl-C while epoch ``epoch`` is validated: the epochs before it finished."""
    real, calls = training_module.evaluate, []

    def evaluate(model, loader):
        calls.append(1)
        if len(calls) == epoch:
            raise KeyboardInterrupt
        return real(model, loader)

    monkeypatch.setattr(training_module, "evaluate", evaluate)
    monkeypatch.setattr(training_module, "CHECKPOINT_EVERY_S", 1e9)  # no timed checkpoint: only the interrupt's


def test_ctrl_c_prints_the_exact_command_that_resumes_from_the_last_finished_epoch(csv, tmp_path, monkeypatch,
                                                                                     capsys):
    flags = ["--data", str(csv), "--epochs", "5", "--no-progress", "--norm", "standard", "--seed", "7",
             "--batch-size", "128"]
    whole, art = tmp_path / "whole dir", tmp_path / "it's interrupted"
    assert cli.main(["train", *flags, "--artifact-dir", str(whole)]) == 0
    argv = ["train", *flags, "--artifact-dir", str(art)]
    with monkeypatch.context() as m:
        _interrupt_during_epoch(m, 4)
        assert cli.main(argv) == 130
    err = capsys.readouterr().err
    command = shlex.join(["tinygrad-norm", *argv, "--resume"])
    assert f"`{command}`" in err and "epoch 3" in err, err
    assert cli.main(shlex.split(command)[1:]) == 0  # run exactly as printed
    assert "resuming after epoch 3" in capsys.readouterr().out
    assert (art / "metrics.csv").read_bytes() == (whole / "metrics.csv").read_bytes()  # nothing lost or redone


def test_ctrl_c_before_an_epoch_finished_says_there_is_nothing_to_resume(csv, tmp_path, monkeypatch, capsys):
    argv = ["train", "--data", str(csv), "--epochs", "3", "--artifact-dir", str(tmp_path / "a"), "--no-progress"]
    with monkeypatch.context() as m:
        _interrupt_during_epoch(m, 1)
        assert cli.main(argv) == 130
    err = capsys.readouterr().err
    assert "no epoch" in err and f"`{shlex.join(['tinygrad-norm', *argv])}`" in err and "--resume" not in err, err


# ---- 9. --plot without matplotlib fails before any work; --samples beyond the test rows says so ----------------
@pytest.mark.parametrize("command", ["infer", "compare", "experiments"])
def test_plot_without_matplotlib_fails_before_the_work(csv, tmp_path, capsys, monkeypatch, command):
    art = tmp_path / "artifacts"
    if command == "infer":
        train(fast_config(csv, tmp_path, num_epochs=1), log=quiet)
    for name in ("matplotlib", "matplotlib.pyplot"):
        monkeypatch.setitem(sys.modules, name, None)  # `import matplotlib` raises ImportError
    argv = {"infer": ["infer", "--artifact-dir", str(art), "--data", str(csv), "--no-chart"],
            "compare": ["compare", "--epochs", "1", "--norm", "standard", "--optimizer", "adam", "--data", str(csv)],
            "experiments": ["experiments", "--epochs", "3"]}[command]
    assert cli.main([*argv, "--plot", str(tmp_path / "p.png")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "matplotlib" in err and "pip install" in err, (out, err)
    assert not (tmp_path / "p.png").exists()


def test_infer_says_when_fewer_test_rows_exist_than_asked(csv, tmp_path, capsys):
    train(fast_config(csv, tmp_path, num_epochs=1), log=quiet)
    lines: list[str] = []
    result = infer(tmp_path / "artifacts", data=str(csv), num_samples=100_000, show_chart=False, log=lines.append)
    assert len(result.predictions) == 116
    assert any("only 116 test rows" in line and "100000" in line for line in lines), lines


# ---- 10. a closed pipe ends any subcommand quietly ------------------------------------------------------------
@pytest.mark.parametrize("command", ["experiments --verbose", "experiments --verbose --only raw standard"])
def test_a_closed_pipe_is_not_an_error(command):
    proc = subprocess.run(["bash", "-c", f"set -o pipefail; {shlex.quote(sys.executable)} -m tinygrad_norm "
                                         f"{command} | head -n 1"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stderr == "", (proc.returncode, proc.stderr)
    assert proc.stdout.count("\n") == 1
