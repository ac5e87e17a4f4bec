"""The simple-regression example: data loading and validation, the download path (offline), the split,
training + inference end to end, checkpoints, and the test that catches per-batch normalization."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

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
from tinygrad_norm.examples.simple_regression.inference import load_model, predict


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
    return ds.write_csv(tmp_path / "housing.csv", ds.convert_raw(raw_statlib(1200)))


def fast_config(csv, tmp_path, **kw) -> TrainingConfig:
    base = dict(num_epochs=3, data=str(csv), artifact_dir=str(tmp_path / "artifacts"), progress=False)
    base.update(kw)
    return TrainingConfig(**base)


# ---- data ---------------------------------------------------------------------------------
def test_conversion_matches_sklearn_formulas():
    raw = raw_statlib(5)
    conv = ds.convert_raw(raw)
    lon, lat, age, rooms, beds, pop, hh, inc, val = raw.T
    np.testing.assert_array_equal(conv[:, 0], inc)
    np.testing.assert_array_equal(conv[:, 2], rooms / hh)
    np.testing.assert_array_equal(conv[:, 3], beds / hh)
    np.testing.assert_array_equal(conv[:, 5], pop / hh)
    np.testing.assert_array_equal(conv[:, 6:8], np.column_stack([lat, lon]))
    np.testing.assert_array_equal(conv[:, 8], val / 100_000)


def test_csv_round_trip_and_reordered_columns(tmp_path):
    data = ds.convert_raw(raw_statlib(20))
    names, back = ds.read_csv(ds.write_csv(tmp_path / "a.csv", data), columns=ds.COLUMNS)
    np.testing.assert_array_equal(back, data)  # repr(float) round-trips exactly
    order = list(reversed(ds.COLUMNS))
    ds.write_csv(tmp_path / "b.csv", data[:, ::-1], columns=order)
    np.testing.assert_array_equal(ds.read_csv(tmp_path / "b.csv", columns=ds.COLUMNS)[1], data)


@pytest.mark.parametrize("text,match", [
    ("MedInc,HouseAge\n1,2\n", r"missing \['AveRooms'"),
    (",".join(ds.COLUMNS + ["Extra"]) + "\n" + ",".join(["1"] * 10) + "\n", r"unexpected \['Extra'\]"),
    (",".join(ds.COLUMNS) + "\n" + ",".join(["1"] * 9) + "\n" + ",".join(["1"] * 4 + ["x"] + ["1"] * 4) + "\n",
     r"line 3, column 5 \(Population\): 'x' is not a number"),
    (",".join(ds.COLUMNS) + "\n" + ",".join(["1"] * 9) + "\n" + ",".join(["1"] * 8) + "\n",
     r"line 3 has 8 values, the header has 9"),
    (",".join(ds.COLUMNS) + "\n" + ",".join(["1"] * 8 + ["nan"]) + "\n", r"line 2, column 9 \(MedHouseVal\)"),
    (",".join(ds.COLUMNS) + "\n", "no data rows"),
])
def test_bad_csv_errors_name_line_and_column(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ds.DataError, match=match):
        ds.read_csv(path, columns=ds.COLUMNS)


def test_data_location_order(tmp_path, monkeypatch, small_csv):
    monkeypatch.setenv(ds.ENV_CACHE, str(tmp_path / "cache"))
    monkeypatch.delenv(ds.ENV_DATA, raising=False)
    with pytest.raises(ds.DataError, match="--data PATH"):
        ds.locate(allow_download=False)
    cached = ds.write_csv(tmp_path / "cache" / ds.CSV_NAME, np.ones((3, 9)))
    assert ds.locate() == cached
    monkeypatch.setenv(ds.ENV_DATA, str(small_csv))
    assert ds.locate() == small_csv
    assert ds.locate(cached) == cached
    monkeypatch.setenv(ds.ENV_DATA, str(tmp_path / "missing.csv"))
    with pytest.raises(ds.DataError, match="TINYGRAD_NORM_DATA"):
        ds.locate()


def _archive(raw: np.ndarray) -> bytes:
    text = "\n".join(",".join(f"{v:f}" for v in row) for row in raw).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(ds.ARCHIVE_MEMBER)
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
    return buf.getvalue()


def test_download_verifies_checksum_converts_and_caches_offline(tmp_path, monkeypatch):
    raw = raw_statlib(50)
    blob = _archive(raw)
    archive = tmp_path / "cal_housing.tgz"
    archive.write_bytes(blob)
    cache = tmp_path / "cache"
    monkeypatch.setenv(ds.ENV_CACHE, str(cache))
    monkeypatch.delenv(ds.ENV_DATA, raising=False)
    # a wrong checksum: an error, and nothing at all in the cache
    with pytest.raises(ds.DataError, match="checksum mismatch"):
        ds.locate(url=archive.as_uri(), sha256="0" * 64)
    assert not cache.exists() or not any(cache.iterdir())
    path = ds.locate(url=archive.as_uri(), sha256=hashlib.sha256(blob).hexdigest())
    assert path == cache / ds.CSV_NAME
    parsed = np.loadtxt(io.StringIO("\n".join(",".join(f"{v:f}" for v in r) for r in raw)), delimiter=",")
    np.testing.assert_allclose(ds.read_csv(path, ds.COLUMNS)[1], ds.convert_raw(parsed), rtol=1e-15)
    with pytest.raises(ds.DataError, match="could not download.*--data PATH"):
        ds.download(url=(tmp_path / "nope.tgz").as_uri(), dest=tmp_path / "x.csv")


def test_split_is_deterministic_and_disjoint(small_csv):
    parts = HousingDataset.load(small_csv).split()
    assert [len(parts[k]) for k in ("train", "valid", "test")] == [968, 116, 116]  # 2000/20640 of 1200 = 116
    assert ds.split_sizes(20640) == (16640, 2000, 2000)
    again = HousingDataset.load(small_csv).split()
    np.testing.assert_array_equal(parts["test"].features, again["test"].features)
    rows = {tuple(r) for k in parts for r in parts[k].features}
    assert len(rows) == 1200


def test_shared_csv_matches_the_documented_data(housing_csv):
    full = HousingDataset.load(housing_csv)
    assert len(full) == 20640
    np.testing.assert_allclose(full.features[0], [8.3252, 41.0, 6.984127, 1.0238096, 322.0, 2.5555556, 37.88,
                                                  -122.23], rtol=1e-6)
    assert full.targets[0] == pytest.approx(4.526)
    parts = full.split()
    assert [len(parts[k]) for k in ("train", "valid", "test")] == [16640, 2000, 2000]


# ---- training and inference ------------------------------------------------------------------
def test_train_then_infer_end_to_end(small_csv, tmp_path):
    lines = []
    result = train(fast_config(small_csv, tmp_path), log=lines.append)
    art = tmp_path / "artifacts"
    assert {p.name for p in art.iterdir()} == {"config.json", "model.npz", "metrics.csv"}
    assert json.loads((art / "config.json").read_text())["norm"] == "minmax"
    metrics = np.loadtxt(art / "metrics.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(metrics[:, 2], result.valid_losses)
    assert result.valid_losses[-1] < result.valid_losses[0]
    text = "\n".join(lines)
    assert "params: 641" in text and "| Valid | Loss" in text
    out = infer(art, data=str(small_csv), show_chart=True, log=lines.append)
    assert len(out.predictions) == 116 and np.isfinite(out.mse)
    assert any(line.startswith("Predicted ") and " Expected " in line for line in lines)
    # the checkpoint round-trips to bit-identical predictions
    model, _ = load_model(art)
    test_x = HousingDataset.load(small_csv).split()["test"].features
    np.testing.assert_array_equal(predict(model, test_x, "minmax"), predict(result.model, test_x, "minmax"))


def test_normalizer_statistics_come_from_the_train_split_only(small_csv, tmp_path):
    result = train(fast_config(small_csv, tmp_path, num_epochs=1), log=lambda *_: None)
    train_x = HousingDataset.load(small_csv).split()["train"].features.astype(np.float64)
    np.testing.assert_allclose(result.model.normalize.shift.numpy(), train_x.min(0))
    np.testing.assert_allclose(1 / result.model.normalize.scale.numpy(), train_x.max(0) - train_x.min(0),
                               rtol=1e-12)


@pytest.mark.parametrize("norm", ["minmax", "standard", "none"])
def test_one_batch_equals_one_row_at_a_time(small_csv, tmp_path, norm):
    """The test that catches Burn's old bug class: a prediction must not depend on its batch-mates."""
    result = train(fast_config(small_csv, tmp_path, norm=norm, num_epochs=1), log=lambda *_: None)
    x = HousingDataset.load(small_csv).split()["test"].features[:40]
    together = predict(result.model, x, norm)
    alone = np.concatenate([predict(result.model, x[i:i + 1], norm) for i in range(len(x))])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)


def test_the_batch_size_check_catches_per_batch_normalization(small_csv, tmp_path):
    result = train(fast_config(small_csv, tmp_path, norm="batch-minmax", num_epochs=1), log=lambda *_: None)
    x = HousingDataset.load(small_csv).split()["test"].features[:40]
    together = predict(result.model, x, "batch-minmax")
    alone = np.concatenate([predict(result.model, x[i:i + 1], "batch-minmax") for i in range(len(x))])
    assert not np.allclose(together, alone, rtol=1e-3)
    assert np.ptp(alone) == 0  # one row per batch: every sample gets the same prediction, Burn's symptom


def test_infer_warns_when_predictions_collapse(small_csv, tmp_path, monkeypatch):
    from tinygrad_norm.examples.simple_regression import inference

    spread = inference.InferenceResult(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.5, 3.0]), "minmax")
    flat = inference.InferenceResult(np.array([2.0, 2.01, 2.0]), np.array([1.0, 2.5, 3.0]), "batch-minmax")
    assert not spread.collapsed and flat.collapsed
    train(fast_config(small_csv, tmp_path, num_epochs=1), log=lambda *_: None)
    # a model that predicts one value for every row, as Burn's per-batch normalization made it do
    monkeypatch.setattr(inference, "predict", lambda model, x, norm, device="cpu": np.full(len(x), 2.0, np.float32))
    lines = []
    res = infer(tmp_path / "artifacts", data=str(small_csv), show_chart=False, log=lines.append)
    assert res.collapsed and any("collapsed" in line and "normalization" in line for line in lines)
    one = infer(tmp_path / "artifacts", data=str(small_csv), num_samples=1, show_chart=False, log=lines.append)
    assert len(one.predictions) == 1 and np.isnan(one.r2)


def test_divergence_stops_training_naming_the_epoch(tmp_path):
    """Unscaled features large enough to overflow float32 in the first forward pass."""
    data = ds.convert_raw(raw_statlib(300))
    data[:, 4] *= 1e33  # Population: still a float32, but its square overflows
    csv = ds.write_csv(tmp_path / "huge.csv", data)
    with pytest.raises(DivergenceError, match="became (inf|NaN) at epoch 1.*--norm"):
        with np.errstate(over="ignore", invalid="ignore"):
            train(fast_config(csv, tmp_path, norm="none"), log=lambda *_: None)
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


def test_interrupted_training_keeps_the_previous_checkpoint(small_csv, tmp_path, monkeypatch):
    cfg = fast_config(small_csv, tmp_path, num_epochs=2)
    train(cfg, log=lambda *_: None)
    before = (tmp_path / "artifacts" / "model.npz").read_bytes()
    from tinygrad_norm.examples.simple_regression import training

    def crash(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "save_checkpoint", crash)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, log=lambda *_: None)
    assert (tmp_path / "artifacts" / "model.npz").read_bytes() == before
    load_model(tmp_path / "artifacts")


def test_model_summary_like_burn():
    text = repr(RegressionModel())
    assert "input_layer: Linear {d_input: 8, d_output: 64, bias: true, params: 576}" in text
    assert "output_layer: Linear {d_input: 64, d_output: 1, bias: true, params: 65}" in text
    assert text.splitlines()[-2].strip() == "params: 641"


def test_cli_train_and_infer(small_csv, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    art = str(tmp_path / "cli-art")
    assert cli.main(["train", "--data", str(small_csv), "--epochs", "2", "--artifact-dir", art, "--no-progress",
                     "--norm", "standard"]) == 0
    assert "best valid MSE" in capsys.readouterr().out
    png = tmp_path / "pred.png"
    assert cli.main(["infer", "--data", str(small_csv), "--artifact-dir", art, "--no-chart", "--plot", str(png)]) == 0
    assert "MSE" in capsys.readouterr().out and png.read_bytes()[:4] == b"\x89PNG"
    assert cli.main(["train", "--data", str(small_csv), "--device", "tpu", "--artifact-dir", art]) == 2
    assert "unknown device" in capsys.readouterr().err
    assert cli.main(["infer", "--artifact-dir", str(tmp_path / "none")]) == 2
    assert "tinygrad-norm train" in capsys.readouterr().err


def test_real_data_two_epochs(housing_csv, tmp_path):
    result = train(TrainingConfig(num_epochs=2, data=str(housing_csv), artifact_dir=str(tmp_path), progress=False),
                   log=lambda *_: None)
    assert result.valid_losses[1] < result.valid_losses[0] < 3.0
    out = infer(tmp_path, data=str(housing_csv), show_chart=False, log=lambda *_: None)
    assert len(out.predictions) == 1000 and out.r2 > 0


def test_default_progress_bar_path_and_item_batching(small_csv, tmp_path, capsys):
    """The CLI's default (progress bar on) must work too, and Burn-style item batching must agree
    with the array fast path."""
    train(fast_config(small_csv, tmp_path, num_epochs=1, progress=True), log=lambda *_: None)
    assert "Epoch 1/1" in capsys.readouterr().err  # tqdm writes its bar to stderr
    data = HousingDataset.load(small_csv)
    batcher = ds.HousingBatcher()
    x_items, y_items = batcher.batch([data[i] for i in range(5)])
    x_arr, y_arr = batcher.batch_arrays(data.features[:5], data.targets[:5])
    np.testing.assert_array_equal(x_items.numpy(), x_arr.numpy())
    np.testing.assert_array_equal(y_items.numpy(), y_arr.numpy())
    assert y_items.shape == (5, 1)
