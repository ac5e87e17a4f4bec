"""The normalization experiments, epoch by epoch against torch run the same way, and the CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import tinygrad_norm as tn
from tinygrad_norm import cli, experiments
from tinygrad_norm.diagnose import DivergenceError, check_finite_loss, diagnose


def torch_run(name: str, lr: float | None = None, epochs: int | None = None):
    spec = experiments.SPECS[name]
    lr, epochs = lr or spec.lr, epochs or spec.epochs
    x = torch.tensor(experiments.INPUTS)
    if spec.norm == "maxabs":
        x = x / x.abs().max(dim=0).values
    elif spec.norm == "standard":
        x = (x - x.mean(dim=0)) / x.std(dim=0)
    y = torch.tensor(experiments.LABELS)
    w = torch.ones(2, 1, requires_grad=True)
    b = torch.ones(1, requires_grad=True)
    losses, grads = [], []
    for _ in range(epochs):
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        losses.append(loss.item())
        grads.append(w.grad.numpy().ravel().copy())
        if math.isnan(loss.item()):
            break
        with torch.no_grad():
            w -= lr * w.grad
            b -= lr * b.grad
        w.grad.zero_()
        b.grad.zero_()
    return np.array(losses), np.array(grads), w.detach().numpy().ravel(), b.item()


def test_raw_reproduces_the_tutorial_numbers_and_diverges_like_torch():
    r = experiments.run_experiment("raw", log=lambda *_: None)
    assert r.first_loss == 2898583.75
    assert r.w_grads[0] == [8600.0, 5876040.0]
    assert 600 < r.grad_ratio < 700
    losses, grads, _, _ = torch_run("raw")
    first_inf = int(np.argmax(np.isinf(losses))) + 1
    first_nan = int(np.argmax(np.isnan(losses))) + 1
    assert (r.first_inf, r.first_nan) == (first_inf, first_nan)
    finite = np.isfinite(losses)
    np.testing.assert_allclose(np.array(r.losses)[finite], losses[finite], rtol=1e-5)
    finite_grads = np.isfinite(grads).all(axis=1)
    np.testing.assert_allclose(np.array(r.w_grads)[finite_grads], grads[finite_grads], rtol=1e-5)


@pytest.mark.parametrize("name", ["maxabs", "standard", "standard-predict"])
def test_scaled_experiments_match_torch_every_epoch(name):
    r = experiments.run_experiment(name, log=lambda *_: None)
    losses, grads, w, b = torch_run(name)
    assert len(r.losses) == len(losses)
    # losses fall to ~1e-12; compare them with an absolute floor
    np.testing.assert_allclose(r.losses, losses, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.array(r.w_grads), grads, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(r.w, w, rtol=1e-5)
    np.testing.assert_allclose(r.b, b, rtol=1e-5)
    assert r.final_loss < 1e-4
    if name == "maxabs":
        # the first loss in float64 from the data (w = [1, 1], b = 1); float32 rounds a 5-row MSE by a few ulps
        x = experiments.INPUTS.astype(np.float64)
        first = np.mean((x / np.abs(x).max(0) @ [1.0, 1.0] + 1 - experiments.LABELS.astype(np.float64)[:, 0]) ** 2)
        assert r.first_loss == pytest.approx(first, rel=1e-6)
    else:
        np.testing.assert_allclose(r.normalizer.mean, [2.4, 1460])
        np.testing.assert_allclose(r.normalizer.std, [1.1402, 1028.5913], rtol=1e-4)


def test_prediction_uses_the_training_statistics():
    r = experiments.run_experiment("standard-predict", log=lambda *_: None)
    assert r.prediction == pytest.approx(36.0, abs=0.5)
    x = torch.tensor(experiments.INPUTS)
    mean, std = x.mean(0), x.std(0)
    _, _, w, b = torch_run("standard-predict")
    expected = (((torch.tensor(experiments.NEW_SAMPLE) - mean) / std).numpy() @ w + b).item()
    assert r.prediction == pytest.approx(expected, rel=1e-4)


def test_standard_converges_faster_than_maxabs():
    rs = {r.name: r for r in experiments.run(["maxabs", "standard"], log=lambda *_: None)}
    epoch_below = {k: next(i for i, v in enumerate(r.losses) if v < 1e-3) for k, r in rs.items()}
    assert epoch_below["standard"] < epoch_below["maxabs"]


def test_cli_experiments_table_and_plot(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    out_png = tmp_path / "curves.png"
    assert cli.main(["experiments", "--epochs", "20", "--plot", str(out_png)]) == 0
    text = capsys.readouterr().out
    for name in ("raw", "maxabs", "standard", "standard-predict"):
        assert name in text
    assert "2.899e+06" in text and out_png.stat().st_size > 1000
    assert max(len(line) for line in text.splitlines()) < 80  # fits a terminal without wrapping
    assert "5 houses" in text and "gets the predicted price" in text


def test_cli_verbose_prints_every_epoch(capsys):
    assert cli.main(["experiments", "--only", "standard", "--epochs", "5", "--verbose"]) == 0
    assert capsys.readouterr().out.count("[standard] epoch") == 5


def test_diagnose_flags_the_tutorial_features():
    d = diagnose(experiments.INPUTS, feature_names=["lights", "distance"])
    assert d.scale_ratio == pytest.approx(1028.5913 / 1.1402, rel=1e-4)
    assert 600 < d.gradient_ratio < 700  # the first gradients really were 683x apart
    assert any("lights" in w and "distance" in w for w in d.warnings)
    assert "standard" in d.recommendation
    calm = diagnose(np.random.default_rng(0).standard_normal((100, 3)))
    assert not calm.warnings
    assert "constant" in diagnose(np.array([[1.0, 2.0], [1.0, 3.0]])).warnings[0]


def test_divergence_check_names_the_epoch():
    check_finite_loss(1.0, 3)
    with pytest.raises(DivergenceError, match="inf at epoch 7"):
        check_finite_loss(float("inf"), 7)
    with pytest.raises(DivergenceError, match="NaN at epoch 2.*[Nn]ormalize"):
        check_finite_loss(float("nan"), 2)


def test_cli_diagnose_on_a_csv(tmp_path, capsys):
    path = tmp_path / "d.csv"
    path.write_text("a,b,y\n1,1000,3\n2,3000,4\n3,2000,5\n")
    assert cli.main(["diagnose", "--data", str(path), "--target", "y"]) == 0
    out = capsys.readouterr().out
    first_column = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert "WARNING" in out and "a" in first_column and "b" in first_column and "y" not in first_column
    assert cli.main(["diagnose", "--data", str(path), "--target", "nope"]) == 2
    assert "not a column" in capsys.readouterr().err


def test_diagnose_of_huge_finite_values_names_them():
    with pytest.raises(tn.ArgumentError, match=r"feature\(s\) b \(\|x\| up to 1e\+308\) are too large"):
        diagnose(np.array([[1.0, -1e308], [2.0, 1e308]]), feature_names=["a", "b"])
