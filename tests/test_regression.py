"""The simple-regression example: the split, training + inference end to end, checkpoints (best and
last), compare, and the test that catches per-batch normalization."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_norm as tn
from tinygrad_norm import cli
from tinygrad_norm.diagnose import DivergenceError
from tinygrad_norm.examples.simple_regression import (
    HousingDataset,
    RegressionModel,
    TrainingConfig,
    infer,
    train,
)
from tinygrad_norm.examples.simple_regression import dataset as ds
from tinygrad_norm.examples.simple_regression.inference import load_checkpoint
from tinygrad_norm.examples.simple_regression.model import predict, predict_rows


def raw_statlib(n: int, seed: int = 0) -> np.ndarray:
    """Rows in StatLib's cal_housing.data layout with realistic ranges."""
    rng = np.random.default_rng(seed)
    households = rng.integers(50, 1500, n).astype(float)
    rooms = households * rng.uniform(3, 8, n)
    income = rng.uniform(0.5, 15, n)
    lat, lon = rng.uniform(32.5, 42, n), rng.uniform(-124.3, -114.3, n)
    value = np.clip(40_000 * income + 2_000 * (lat - 32) + rng.normal(0, 30_000, n), 15_000, 500_001)
    return np.column_stack([lon, lat, rng.integers(1, 53, n), rooms, rooms * rng.uniform(0.15, 0.25, n),
                            households * rng.uniform(1.5, 4, n), households, income, value])


@pytest.fixture
def small_csv(tmp_path):
    return tn.datasets.write_csv(tmp_path / "housing.csv", tn.datasets.convert_statlib(raw_statlib(1200)))


def fast_config(csv, tmp_path, **kw) -> TrainingConfig:
    base = dict(num_epochs=3, data=str(csv), artifact_dir=str(tmp_path / "artifacts"), progress=False)
    base.update(kw)
    return TrainingConfig(**base)


# ---- split -----------------------------------------------------------------------------------
def test_split_is_deterministic_and_disjoint(small_csv):
    parts = HousingDataset.load(small_csv).split()
    assert [len(parts[k]) for k in ("train", "valid", "test")] == [968, 116, 116]  # 2000/20640 of 1200 = 116
    assert ds.split_sizes(20640) == (16640, 2000, 2000)
    again = HousingDataset.load(small_csv).split()
    np.testing.assert_array_equal(parts["test"].features, again["test"].features)
    rows = {tuple(r) for k in parts for r in parts[k].features}
    assert len(rows) == 1200


def test_shipped_data_matches_the_documented_data(monkeypatch):
    monkeypatch.delenv("TINYGRAD_NORM_DATA", raising=False)
    full = HousingDataset.load()
    assert len(full) == 20640
    np.testing.assert_allclose(full.features[0], [8.3252, 41.0, 6.984127, 1.0238096, 322.0, 2.5555556, 37.88,
                                                  -122.23], rtol=1e-6)
    assert full.targets[0] == pytest.approx(4.526)
    parts = full.split()
    assert [len(parts[k]) for k in ("train", "valid", "test")] == [16640, 2000, 2000]


# ---- training and inference ------------------------------------------------------------------
def test_train_then_infer_end_to_end(small_csv, tmp_path):
    lines = []
    result = train(fast_config(small_csv, tmp_path, num_epochs=8, learning_rate=1e-2), log=lines.append)
    art = tmp_path / "artifacts"
    assert {p.name for p in art.iterdir()} == {"model.npz", "metrics.csv", "checkpoints", ".lock", "current", "runs"}
    # the published pair is one run folder, switched to by one symlink (see test_checkpoints_cli.py)
    assert (art / "model.npz").resolve().parent == (art / "metrics.csv").resolve().parent == (art / "current").resolve()
    assert [p.name for p in (art / "checkpoints").iterdir()] == ["epoch-8.npz"]  # only the latest is kept
    metrics = np.loadtxt(art / "metrics.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(metrics[:, 2], result.valid_losses)
    np.testing.assert_allclose(metrics[:, 1], result.train_losses)
    # training worked: eight epochs of Adam (lr 1e-2) beat predicting the training mean on the validation rows
    baseline = float(np.mean((HousingDataset.load(small_csv).split()["valid"].targets - result.target_mean) ** 2))
    assert result.best_valid[0] < 0.9 * baseline
    text = "\n".join(lines)
    assert "params: 641" in text and "| Valid | Loss" in text and "baseline (predict the training mean)" in text
    out = infer(art, data=str(small_csv), show_chart=True, log=lines.append)
    assert len(out.predictions) == 116 and np.isfinite(out.mse) and out.mse < out.baseline_mse
    assert any(line.startswith("Predicted ") and " Expected " in line for line in lines)
    assert any(f"best checkpoint (epoch {result.best_valid[1]})" in line for line in lines)
    # the checkpoint round-trips to bit-identical predictions
    model, info = load_checkpoint(art, "last")
    assert info["epoch"] == 8 and info["config"]["norm"] == "minmax"
    test_x = HousingDataset.load(small_csv).split()["test"].features
    np.testing.assert_array_equal(predict(model, test_x, "minmax"), predict(result.model, test_x, "minmax"))
    best, _ = load_checkpoint(art, "best")
    np.testing.assert_array_equal(predict(best, test_x, "minmax"), predict(result.best_model(), test_x, "minmax"))


def test_infer_uses_the_best_epoch_not_the_last(small_csv, tmp_path):
    """Plain SGD on unscaled inputs wanders: the saved 'best' must be the epoch of the lowest validation loss."""
    cfg = fast_config(small_csv, tmp_path, num_epochs=6, norm="none", optimizer="sgd", learning_rate=1e-7)
    result = train(cfg, log=lambda *_: None)
    best_loss, best_epoch = result.best_valid
    lines = []
    out = infer(tmp_path / "artifacts", data=str(small_csv), num_samples=10_000, show_chart=False, log=lines.append)
    assert out.epoch == best_epoch and out.checkpoint == "best"
    last = infer(tmp_path / "artifacts", data=str(small_csv), show_chart=False, checkpoint="last", log=lines.append)
    assert last.epoch == 6
    model, _ = load_checkpoint(tmp_path / "artifacts", "best")
    valid = HousingDataset.load(small_csv).split()["valid"]
    mse = float(np.mean((predict(model, valid.features, "none") - valid.targets) ** 2))
    assert mse == pytest.approx(best_loss, rel=1e-5)


def test_normalizer_statistics_come_from_the_train_split_only(small_csv, tmp_path):
    result = train(fast_config(small_csv, tmp_path, num_epochs=1), log=lambda *_: None)
    train_x = HousingDataset.load(small_csv).split()["train"].features.astype(np.float64)
    norm = result.model.normalize.normalizer
    np.testing.assert_array_equal(norm.min, train_x.min(0))
    np.testing.assert_array_equal(norm.max, train_x.max(0))
    assert norm.count == len(train_x) and norm.feature_names == ds.FEATURES


@pytest.mark.parametrize("norm", ["minmax", "standard", "none"])
def test_one_batch_equals_one_row_at_a_time(small_csv, tmp_path, norm):
    """The test that catches Burn's old bug class: a prediction must not depend on its batch-mates."""
    result = train(fast_config(small_csv, tmp_path, norm=norm, num_epochs=1), log=lambda *_: None)
    x = HousingDataset.load(small_csv).split()["test"].features[:40]
    np.testing.assert_allclose(predict(result.model, x, norm), predict_rows(result.model, x, norm),
                               rtol=1e-5, atol=1e-6)


def test_the_batch_size_check_catches_per_batch_normalization(small_csv, tmp_path):
    result = train(fast_config(small_csv, tmp_path, norm="batch-minmax", num_epochs=1), log=lambda *_: None)
    x = HousingDataset.load(small_csv).split()["test"].features[:40]
    together = predict(result.model, x, "batch-minmax")
    alone = predict_rows(result.model, x, "batch-minmax")
    assert not np.allclose(together, alone, rtol=1e-3)
    assert np.ptp(alone) == 0  # one row per batch: every sample gets the same prediction, Burn's symptom


def test_infer_warns_when_predictions_collapse(small_csv, tmp_path, monkeypatch):
    from tinygrad_norm.examples.simple_regression import inference

    spread = inference.InferenceResult(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.5, 3.0]), "minmax")
    flat = inference.InferenceResult(np.array([2.0, 2.01, 2.0]), np.array([1.0, 2.5, 3.0]), "batch-minmax")
    assert not spread.collapsed and flat.collapsed
    train(fast_config(small_csv, tmp_path, num_epochs=1), log=lambda *_: None)
    # a model that predicts one value for every row, as Burn's per-batch normalization made it do
    monkeypatch.setattr(inference, "predict", lambda model, x, norm, device="cpu": np.full(len(x), 9.0, np.float32))
    lines = []
    res = infer(tmp_path / "artifacts", data=str(small_csv), show_chart=False, log=lines.append)
    assert res.collapsed and any("collapsed" in line and "normalization" in line for line in lines)
    assert any("no better than predicting the training mean" in line for line in lines)
    one = infer(tmp_path / "artifacts", data=str(small_csv), num_samples=1, show_chart=False, log=lines.append)
    assert len(one.predictions) == 1 and np.isnan(one.r2)


@pytest.mark.parametrize("samples", [0, -3, True, 2.5])
def test_infer_rejects_bad_sample_counts(small_csv, tmp_path, samples):
    train(fast_config(small_csv, tmp_path, num_epochs=1), log=lambda *_: None)
    with pytest.raises(ValueError, match="--samples must be an integer >= 1"):
        infer(tmp_path / "artifacts", data=str(small_csv), num_samples=samples, show_chart=False)


def test_divergence_stops_training_naming_the_epoch(tmp_path):
    """Unscaled features large enough to overflow float32 in the first forward pass."""
    data = tn.datasets.convert_statlib(raw_statlib(300))
    data[:, 4] *= 1e33  # Population: still a float32, but its square overflows
    csv = tn.datasets.write_csv(tmp_path / "huge.csv", data)
    with pytest.raises(DivergenceError, match="became inf/NaN at epoch 1.*--norm.*Nothing was published"):
        train(fast_config(csv, tmp_path, norm="none"), log=lambda *_: None)
    art = tmp_path / "artifacts"
    assert not (art / "model.npz").exists() and not list((art / "checkpoints").glob("*"))
    # the same data trains with the normalizer fitted on it
    train(fast_config(csv, tmp_path, norm="standard", num_epochs=1), log=lambda *_: None)
    data[:, 4] *= 1e10
    with pytest.raises(ds.DataError, match="Population.*too large for float32"):
        HousingDataset(data[:, :8], data[:, 8])


def test_missing_and_corrupt_artifacts(small_csv, tmp_path):
    with pytest.raises(FileNotFoundError, match="tinygrad-norm train"):
        infer(tmp_path / "nothing", data=str(small_csv))
    art = tmp_path / "artifacts"
    train(fast_config(small_csv, tmp_path, num_epochs=1), log=lambda *_: None)
    good = (art / "model.npz").read_bytes()
    (art / "model.npz").write_bytes(good[:100])
    with pytest.raises(tn.CheckpointError, match="truncated or corrupt"):
        infer(art, data=str(small_csv))
    tn.save({"model": {}}, art / "model.npz")
    with pytest.raises(tn.CheckpointError, match="not a simple-regression checkpoint"):
        infer(art, data=str(small_csv))


def test_interrupted_training_keeps_the_previous_artifacts(small_csv, tmp_path, monkeypatch):
    cfg = fast_config(small_csv, tmp_path, num_epochs=2)
    train(cfg, log=lambda *_: None)
    published = ("model.npz", "metrics.csv")
    before = {name: (tmp_path / "artifacts" / name).read_bytes() for name in published}
    from tinygrad_norm.examples.simple_regression import training

    def crash(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "evaluate", crash)  # interrupted during the first epoch
    with pytest.raises(KeyboardInterrupt):
        train(fast_config(small_csv, tmp_path, num_epochs=2, norm="standard"), log=lambda *_: None)
    assert {name: (tmp_path / "artifacts" / name).read_bytes() for name in published} == before
    load_checkpoint(tmp_path / "artifacts")


def test_relative_data_path_is_stored_resolved(small_csv, tmp_path, monkeypatch):
    monkeypatch.chdir(small_csv.parent)
    result = train(fast_config(small_csv.name, tmp_path, num_epochs=1), log=lambda *_: None)
    assert result.config.data == str(small_csv.resolve())
    _, info = load_checkpoint(tmp_path / "artifacts")
    assert info["config"]["data"] == str(small_csv.resolve())
    assert info["data"]["fingerprint"] == tn.datasets.read_housing(small_csv).fingerprint


def test_model_summary_like_burn():
    text = repr(RegressionModel())
    assert "input_layer: Linear {d_input: 8, d_output: 64, bias: true, params: 576}" in text
    assert "output_layer: Linear {d_input: 64, d_output: 1, bias: true, params: 65}" in text
    assert text.splitlines()[-2].strip() == "params: 641"


def test_cli_train_and_infer(small_csv, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    art = str(tmp_path / "cli-art")
    assert cli.main(["train", "--data", str(small_csv), "--epochs", "2", "--artifact-dir", art, "--no-progress",
                     "--norm", "standard", "--optimizer", "sgd"]) == 0
    out = capsys.readouterr().out
    assert "best valid MSE" in out and "optimizer: sgd (lr 0.01)" in out and "Epoch   1/" not in out
    assert "Normalize {method: standard, d_input: 8}" in out
    png = tmp_path / "pred.png"
    assert cli.main(["infer", "--data", str(small_csv), "--artifact-dir", art, "--no-chart", "--plot", str(png),
                     "--checkpoint", "last"]) == 0
    out = capsys.readouterr().out
    assert "MSE" in out and "last checkpoint (epoch 2)" in out and png.read_bytes()[:4] == b"\x89PNG"
    assert cli.main(["train", "--data", str(small_csv), "--device", "tpu", "--artifact-dir", art]) == 2
    assert "unknown device" in capsys.readouterr().err
    assert cli.main(["infer", "--artifact-dir", str(tmp_path / "none")]) == 2
    assert "tinygrad-norm train" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["infer", "--artifact-dir", art, "--samples", "0"])
    assert "--samples: must be >= 1" in capsys.readouterr().err


def test_cli_train_verbose_and_norm_none_warns_about_scales(small_csv, tmp_path, capsys):
    assert cli.main(["train", "--data", str(small_csv), "--epochs", "2", "--artifact-dir", str(tmp_path),
                     "--norm", "none", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "WARNING: features differ in scale by" in out
    assert "Epoch   1/2" in out and "Epoch   2/2" in out


def test_real_data_two_epochs(housing_csv, tmp_path):
    result = train(TrainingConfig(num_epochs=2, data=str(housing_csv), artifact_dir=str(tmp_path), progress=False),
                   log=lambda *_: None)
    assert result.valid_losses[1] < result.valid_losses[0] < 3.0
    out = infer(tmp_path, data=str(housing_csv), show_chart=False, log=lambda *_: None)
    assert len(out.predictions) == 1000 and out.r2 > 0


def test_progress_bar_is_one_bar_over_epochs_and_item_batching(small_csv, tmp_path, capsys):
    """A forced progress bar is one bar over the epochs with the losses in it; Burn-style item batching
    agrees with the array fast path."""
    train(fast_config(small_csv, tmp_path, num_epochs=2, progress=True), log=lambda *_: None)
    err = capsys.readouterr().err  # tqdm writes its bar to stderr
    assert "2/2" in err and "valid" in err and "Epoch 1/" not in err
    train(fast_config(small_csv, tmp_path, num_epochs=2, progress=None), log=lambda *_: None)
    assert capsys.readouterr().err == ""  # not a terminal: no bar, no carriage-return debris
    data = HousingDataset.load(small_csv)
    batcher = ds.HousingBatcher()
    x_items, y_items = batcher.batch([data[i] for i in range(5)])
    x_arr, y_arr = batcher.batch_arrays(data.features[:5], data.targets[:5])
    np.testing.assert_array_equal(x_items.numpy(), x_arr.numpy())
    np.testing.assert_array_equal(y_items.numpy(), y_arr.numpy())
    assert y_items.shape == (5, 1)


# ---- compare -------------------------------------------------------------------------------------
def test_compare_shows_each_symptom(small_csv, tmp_path):
    from tinygrad_norm.examples.simple_regression.compare import Run, compare, plot, table

    runs = [Run("standard", "adam", 1e-2, ""), Run("batch-minmax", "adam", 1e-2, ""),
            Run("none", "sgd", 1e-2, ""), Run("none", "sgd", 1e-5, "")]
    rows = compare(runs, epochs=3, data=str(small_csv), log=lambda *_: None)
    good, batch, diverged, tiny = rows
    assert good.diverged is None and good.test.mse < good.test.baseline_mse and good.batch_vs_rows < 1e-4
    assert batch.batch_vs_rows > 0.01  # a row's prediction depends on its batch-mates
    assert diverged.diverged == 1 and diverged.test is None
    assert tiny.dead is not None and 0 <= tiny.dead <= 64
    text = table(rows)
    assert "epoch 1" in text and "batch vs rows" in text and len(text.splitlines()) == 6
    if pytest.importorskip("matplotlib"):
        plot(rows, tmp_path / "cmp.png")
        assert (tmp_path / "cmp.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_compare_on_the_shipped_data(capsys, monkeypatch):
    """The command as a user runs it, on the shipped copy of the data (short: one epoch, a few runs)."""
    monkeypatch.delenv("TINYGRAD_NORM_DATA", raising=False)
    assert cli.main(["compare", "--epochs", "1", "--norm", "standard", "none", "--optimizer", "sgd"]) == 0
    out = capsys.readouterr().out
    assert "| standard | sgd" in out.replace("  ", " ").replace("  ", " ") or "standard" in out
    assert "epoch 1" in out  # none/sgd at lr 5e-3 overflows in its first epoch


# ---- reliability: resume, one run per folder, folders that cannot be written -----------------------------
def _params(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items() if isinstance(v, tn.Tensor)}


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_three_epochs_then_resume_two_equals_five_bit_for_bit(small_csv, tmp_path, optimizer):
    whole = train(fast_config(small_csv, tmp_path / "a", num_epochs=5, optimizer=optimizer), log=lambda *_: None)
    first = fast_config(small_csv, tmp_path / "b", num_epochs=3, optimizer=optimizer)
    train(first, log=lambda *_: None)
    resumed = train(fast_config(small_csv, tmp_path / "b", num_epochs=5, optimizer=optimizer), log=lambda *_: None,
                    resume=True)
    assert resumed.valid_losses == whole.valid_losses and resumed.train_losses == whole.train_losses
    for k, v in _params(whole.model).items():
        np.testing.assert_array_equal(_params(resumed.model)[k], v)
    assert (tmp_path / "a" / "artifacts" / "metrics.csv").read_bytes() == \
        (tmp_path / "b" / "artifacts" / "metrics.csv").read_bytes()


def test_an_interrupted_run_resumes_from_its_last_epoch(small_csv, tmp_path, monkeypatch):
    from tinygrad_norm.examples.simple_regression import training

    whole = train(fast_config(small_csv, tmp_path / "a", num_epochs=4), log=lambda *_: None)
    monkeypatch.setattr(training, "CHECKPOINT_EVERY_S", 0.0)  # a checkpoint after every epoch
    real = training._save_epoch

    def killed_after_two(out_dir, result, run):
        real(out_dir, result, run)
        if len(result.valid_losses) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(training, "_save_epoch", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        train(fast_config(small_csv, tmp_path / "b", num_epochs=4), log=lambda *_: None)
    monkeypatch.undo()
    art = tmp_path / "b" / "artifacts"
    assert not (art / "model.npz").exists()  # nothing half-trained was published
    resumed = train(fast_config(small_csv, tmp_path / "b", num_epochs=4), log=lambda *_: None, resume=True)
    assert resumed.valid_losses == whole.valid_losses
    with pytest.raises(ValueError, match="--resume: the interrupted run used other settings: norm"):
        train(fast_config(small_csv, tmp_path / "b", num_epochs=6, norm="standard"), log=lambda *_: None,
              resume=True)
    with pytest.raises(FileNotFoundError, match="--resume: no epoch checkpoint"):
        train(fast_config(small_csv, tmp_path / "c", num_epochs=2), log=lambda *_: None, resume=True)


def test_a_second_run_into_the_same_folder_is_refused(small_csv, tmp_path):
    import fcntl
    import os

    art = tmp_path / "artifacts"
    art.mkdir()
    fd = os.open(art / ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, b"4242\n")
    try:
        with pytest.raises(RuntimeError, match=r"another training run \(pid 4242\) is writing to"):
            train(fast_config(small_csv, tmp_path), log=lambda *_: None)
    finally:
        os.close(fd)
    train(fast_config(small_csv, tmp_path, num_epochs=1), log=lambda *_: None)  # free again


def test_folders_that_cannot_hold_the_artifacts_fail_before_training(small_csv, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert cli.main(["train", "--data", str(small_csv), "--artifact-dir", str(tmp_path / "file")]) == 2
    assert "is a file, not a directory" in capsys.readouterr().err
    (tmp_path / "art" / "model.npz").mkdir(parents=True)
    assert cli.main(["train", "--data", str(small_csv), "--artifact-dir", str(tmp_path / "art")]) == 2
    err = capsys.readouterr().err
    assert "model.npz is a directory" in err and "Traceback" not in err


def test_output_piped_into_head_does_not_stop_training(small_csv, tmp_path):
    import subprocess
    import sys

    art = tmp_path / "piped"
    cmd = (f"{sys.executable} -m tinygrad_norm train --data {small_csv} --epochs 3 --verbose --artifact-dir {art} "
           "| head -n 1")
    proc = subprocess.run(["bash", "-c", f"set -o pipefail; {cmd}"], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert (art / "model.npz").is_file()  # training went on and published its artifacts


def test_the_example_uses_only_the_public_api():
    """Like Burn's example uses only burn::, ours imports only public names of tinygrad_norm."""
    import ast

    from conftest import REPO

    folder = REPO / "tinygrad_norm" / "examples" / "simple_regression"
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                assert node.level <= 1, f"{path.name} reaches into the library with a relative import: {module}"
                if module.startswith("tinygrad_norm"):
                    assert not any(part.startswith("_") for part in module.split(".")), f"{path.name}: {module}"
                    assert not any(a.name.startswith("_") for a in node.names), f"{path.name}: {module}"
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "tn":
                assert not node.attr.startswith("_"), f"{path.name} uses tn.{node.attr}"
