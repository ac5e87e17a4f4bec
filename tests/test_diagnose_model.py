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
