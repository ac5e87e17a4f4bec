"""`tinygrad-norm diagnose --model`: data compared with the training statistics a trained model carries."""

from __future__ import annotations

import numpy as np
import pytest
from test_regression import fast_config, raw_statlib

import tinygrad_norm as tn
from tinygrad_norm import cli
from tinygrad_norm.datasets import COLUMNS
from tinygrad_norm.examples.simple_regression import train


def _flag_column(out: str) -> dict[str, str]:
    """feature -> its flag cell, from the report's table."""
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] in COLUMNS and len(parts) >= 5:
            rows[parts[0]] = " ".join(parts[5:])
    return rows


@pytest.mark.parametrize("norm", ["standard", "minmax"])
def test_a_shifted_feature_is_flagged_and_the_training_data_is_not(tmp_path, capsys, norm):
    table = tn.datasets.convert_statlib(raw_statlib(1200))
    csv = tn.datasets.write_csv(tmp_path / "housing.csv", table)
    train(fast_config(csv, tmp_path, num_epochs=1, norm=norm), log=lambda *_: None)
    model = tmp_path / "artifacts" / "model.npz"
    assert cli.main(["diagnose", "--model", str(model), "--data", str(csv)]) == 0
    flags = _flag_column(capsys.readouterr().out)
    assert len(flags) == 8 and not any(flags.values())  # the training table itself: nothing flagged
    shifted = table.copy()
    j = COLUMNS.index("HouseAge")
    shifted[:, j] += 3 * table[:, j].std()
    new = tn.datasets.write_csv(tmp_path / "new.csv", shifted)
    assert cli.main(["diagnose", "--model", str(model.parent), "--data", str(new)]) == 0
    flags = _flag_column(capsys.readouterr().out)
    assert [name for name, flag in flags.items() if flag] == ["HouseAge"] and "mean" in flags["HouseAge"]


def test_a_model_without_statistics_and_data_without_its_features_are_clear_errors(tmp_path, capsys):
    csv = tn.datasets.write_csv(tmp_path / "housing.csv", tn.datasets.convert_statlib(raw_statlib(600)))
    train(fast_config(csv, tmp_path, num_epochs=1, norm="none"), log=lambda *_: None)
    assert cli.main(["diagnose", "--model", str(tmp_path / "artifacts"), "--data", str(csv)]) == 2
    assert "holds no training statistics" in capsys.readouterr().err
    for layer in ("batchnorm", "layernorm"):  # first layers that keep no training statistics either
        art = tmp_path / layer
        train(fast_config(csv, tmp_path, num_epochs=1, norm=layer, artifact_dir=str(art)), log=lambda *_: None)
        assert cli.main(["diagnose", "--model", str(art), "--data", str(csv)]) == 2
        assert f"--norm {layer}, so it holds no training statistics" in capsys.readouterr().err
    train(fast_config(csv, tmp_path, num_epochs=1, norm="standard", artifact_dir=str(tmp_path / "std")),
          log=lambda *_: None)
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n3,4\n")
    assert cli.main(["diagnose", "--model", str(tmp_path / "std"), "--data", str(other)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "lacks the model's feature(s) 'MedInc'" in err and len(err) < 400
    np.testing.assert_equal(len(err.splitlines()), 1)


def test_infer_strict_passes_on_the_shipped_test_split_and_stops_on_a_shifted_feature(tmp_path, capsys,
                                                                                      monkeypatch):
    """The issue's check: `infer --strict` on the shipped test split passes; on the same rows with one feature
    shifted by 3 training standard deviations it exits 2 naming that feature, before any metric."""
    monkeypatch.delenv("TINYGRAD_NORM_DATA", raising=False)
    art = tmp_path / "art"
    assert cli.main(["train", "--no-progress", "--epochs", "1", "--norm", "standard",
                     "--artifact-dir", str(art)]) == 0
    capsys.readouterr()
    assert cli.main(["infer", "--no-chart", "--strict", "--artifact-dir", str(art)]) == 0
    out = capsys.readouterr().out
    assert "drift: no feature of the 1000 rows differs" in out and "MSE" in out
    table = tn.datasets.california_housing()
    norm = tn.load(art / "model.npz")["best"]["model"]["normalize._extra_state"]["normalizer"]
    std = np.sqrt(norm["m2"] / (norm["count"] - 1))
    shifted = table.data.copy()
    j = COLUMNS.index("AveRooms")
    shifted[:, j] += 3 * std[j]
    new = tn.datasets.write_csv(tmp_path / "shifted.csv", shifted)
    assert cli.main(["infer", "--no-chart", "--artifact-dir", str(art), "--data", str(new)]) == 0  # warns only
    out = capsys.readouterr().out
    assert "WARNING: 1 feature(s) of the 1000 rows differ from the training statistics: AveRooms (" in out
    assert out.index("WARNING: 1 feature(s)") < out.index("MSE")
    assert cli.main(["infer", "--no-chart", "--strict", "--artifact-dir", str(art), "--data", str(new)]) == 2
    captured = capsys.readouterr()
    assert "MSE" not in captured.out and captured.err.startswith("error: --strict: 1 feature(s)")
    assert "AveRooms" in captured.err and len(captured.err.splitlines()) == 1


def test_infer_strict_on_a_model_without_statistics_says_it_cannot_check(tmp_path, capsys):
    csv = tn.datasets.write_csv(tmp_path / "housing.csv", tn.datasets.convert_statlib(raw_statlib(600)))
    train(fast_config(csv, tmp_path, num_epochs=1, norm="none"), log=lambda *_: None)
    art = str(tmp_path / "artifacts")
    assert cli.main(["infer", "--no-chart", "--artifact-dir", art, "--data", str(csv)]) == 0
    assert "drift: not checked (--norm none" in capsys.readouterr().out
    assert cli.main(["infer", "--no-chart", "--strict", "--artifact-dir", art, "--data", str(csv)]) == 2
    assert "keeps no training statistics" in capsys.readouterr().err
