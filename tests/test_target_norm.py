"""--target-norm: the target normalizer, fitted on the training targets, is the model's last layer
(``nn.Normalize(norm, invert=True)``); the loss is in normalized units, every reported figure in the target's
own units (scikit-learn's TransformedTargetRegressor semantics); checkpoints (version 3, and version 2 still
read), resume and the command line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_regression import fast_config, raw_statlib

import tinygrad_norm as tn
from tinygrad_norm import cli, nn
from tinygrad_norm.examples.simple_regression import (
    HousingDataset,
    RegressionModel,
    RegressionModelConfig,
    TrainingConfig,
    infer,
    train,
)
from tinygrad_norm.examples.simple_regression.inference import load_checkpoint
from tinygrad_norm.examples.simple_regression.model import predict

quiet = lambda *_: None  # noqa: E731


@pytest.fixture
def csv(tmp_path):
    return tn.datasets.write_csv(tmp_path / "housing.csv", tn.datasets.convert_statlib(raw_statlib(1200)))


def _splits(csv):
    return HousingDataset.load(csv).split()


def _normalized_output(model: RegressionModel, x: np.ndarray) -> np.ndarray:
    """The network's output before its target layer (what the loss compares with normalized targets)."""
    with tn.no_grad():
        return model.output_layer(model.hidden(tn.Tensor(x))).numpy().ravel()


# ---- the layer and the loss ---------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["standard", "minmax"])
def test_the_last_layer_maps_the_output_back_to_the_targets_units(csv, tmp_path, method):
    result = train(fast_config(csv, tmp_path, norm="standard", target_norm=method), log=quiet)
    model = result.model
    layer = model.denormalize
    assert isinstance(layer, nn.Normalize) and layer.invert and layer.normalizer.method == method
    y = _splits(csv)["train"].targets.astype(np.float64)  # fitted on the training targets only
    if method == "standard":
        np.testing.assert_allclose([layer.normalizer.mean[0], layer.normalizer.std[0]], [y.mean(), y.std(ddof=1)],
                                   rtol=1e-12)
        slope, at_zero = y.std(ddof=1), y.mean()
    else:
        np.testing.assert_array_equal([layer.normalizer.min[0], layer.normalizer.max[0]], [y.min(), y.max()])
        slope, at_zero = y.max() - y.min(), y.min()
    # model(x) = the network's normalized output mapped back, computed here by hand (float32 model, so 1e-5)
    x = _splits(csv)["test"].features
    np.testing.assert_allclose(predict(model, x, "standard"), _normalized_output(model, x) * slope + at_zero,
                               rtol=1e-5, atol=1e-5)
    assert model.target_mse_factor == pytest.approx(slope**2, rel=1e-12)
    assert "denormalize: Normalize {method: " + method + ", d_input: 1, invert: true}" in repr(model)


def test_the_training_loss_is_in_normalized_units_and_its_gradient_matches_torch(csv, tmp_path):
    """forward_step's loss: MSE(normalized output, normalized targets), differentiable, checked against torch."""
    result = train(fast_config(csv, tmp_path, norm="standard", target_norm="standard", num_epochs=1), log=quiet)
    model = result.model.train()
    model.zero_grad()  # (the last training step's gradients are still there)
    part = _splits(csv)["train"]
    x, y = part.features[:64], part.targets[:64]
    step = model.forward_step(tn.Tensor(x), tn.Tensor(y.reshape(-1, 1)))
    step.loss.backward()
    # torch: the same weights and statistics, the loss written out from NumPy's mean and std of the targets
    train_y = part.targets.astype(np.float64)
    mean, std = train_y.mean(), train_y.std(ddof=1)
    inputs = model.normalize.normalizer.transform(x)
    w1, b1, w2, b2 = (torch.tensor(p.numpy(), requires_grad=True) for p in
                      (model.input_layer.weight, model.input_layer.bias, model.output_layer.weight,
                       model.output_layer.bias))
    z = torch.relu(torch.from_numpy(inputs) @ w1.T + b1) @ w2.T + b2
    ref = torch.mean((z - torch.from_numpy(((y.astype(np.float64) - mean) / std).astype(np.float32)[:, None])) ** 2)
    ref.backward()
    assert step.loss.item() == pytest.approx(ref.item(), rel=1e-5)
    for ours, theirs in ((model.input_layer.weight, w1), (model.input_layer.bias, b1),
                         (model.output_layer.weight, w2), (model.output_layer.bias, b2)):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-4, atol=1e-6)
    # the step's output and targets are in the target's units
    np.testing.assert_allclose(step.output.numpy().ravel(), z.detach().numpy().ravel() * std + mean, rtol=1e-5)
    np.testing.assert_array_equal(step.targets.numpy().ravel(), y)


# ---- every reported figure in the target's units ------------------------------------------------------------
def test_reported_metrics_are_those_of_a_transformed_target_regressor(csv, tmp_path):
    """scikit-learn's TransformedTargetRegressor fits its regressor on transformed targets and predicts
    inverse-transformed values: infer's predictions and MSE/MAE/R^2 must be exactly its, from our network's
    normalized output and the NumPy mean and std of the training targets."""
    pytest.importorskip("sklearn")
    from sklearn.base import BaseEstimator, RegressorMixin
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
    from sklearn.preprocessing import FunctionTransformer

    train(fast_config(csv, tmp_path, norm="standard", target_norm="standard", num_epochs=4), log=quiet)
    model, _ = load_checkpoint(tmp_path / "artifacts")
    parts = _splits(csv)
    mean, std = parts["train"].targets.astype(np.float64).mean(), parts["train"].targets.astype(np.float64).std(ddof=1)

    class Network(RegressorMixin, BaseEstimator):
        """The trained network without its target layer, as the regressor TransformedTargetRegressor wraps."""

        def fit(self, X, y):
            self.seen_ = y
            return self

        def predict(self, X):
            return _normalized_output(model, np.asarray(X, np.float32)).astype(np.float64)

    scaler = FunctionTransformer(lambda v: (v - mean) / std, inverse_func=lambda v: v * std + mean,
                                 check_inverse=False)
    ttr = TransformedTargetRegressor(regressor=Network(), transformer=scaler).fit(
        parts["train"].features, parts["train"].targets.astype(np.float64))
    # what the regressor was fitted on is what our loss compares with: the normalized training targets
    np.testing.assert_allclose(ttr.regressor_.seen_, model.denormalize.normalizer.transform(
        parts["train"].targets.reshape(-1, 1).astype(np.float64)).ravel(), rtol=1e-12, atol=1e-12)
    out = infer(tmp_path / "artifacts", data=str(csv), show_chart=False, log=quiet)
    x, y = parts["test"].features, parts["test"].targets.astype(np.float64)
    expected = ttr.predict(x)
    np.testing.assert_allclose(out.predictions, expected, rtol=1e-5, atol=1e-5)
    assert out.mse == pytest.approx(mean_squared_error(y, expected), rel=1e-4)
    assert out.mae == pytest.approx(mean_absolute_error(y, expected), rel=1e-4)
    assert out.r2 == pytest.approx(r2_score(y, expected), rel=1e-4, abs=1e-5)
    assert out.baseline_mse == pytest.approx(float(np.mean((y - parts["train"].targets.mean(dtype=np.float64)) ** 2)),
                                             rel=1e-6)


def test_train_and_valid_losses_and_metrics_csv_are_in_the_targets_units(csv, tmp_path):
    # valid loss: recomputed from the last model's predictions of the validation rows
    result = train(fast_config(csv, tmp_path / "a", norm="standard", target_norm="standard", num_epochs=3),
                   log=quiet)
    valid = _splits(csv)["valid"]
    mse = float(np.mean((predict(result.model, valid.features, "standard") - valid.targets) ** 2))
    assert result.valid_losses[-1] == pytest.approx(mse, rel=1e-5)
    metrics = np.loadtxt(tmp_path / "a" / "artifacts" / "metrics.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(metrics[:, 1:], np.column_stack([result.train_losses, result.valid_losses]),
                               rtol=1e-15)
    # train loss: with a learning rate too small to move a float32 weight, the epoch's mean batch loss is the MSE
    # of the initial model's predictions of the training rows, in $100,000 squared, not in normalized units
    frozen = train(fast_config(csv, tmp_path / "b", norm="standard", target_norm="standard", num_epochs=1,
                               learning_rate=1e-30), log=quiet)
    part = _splits(csv)["train"]
    mse = float(np.mean((predict(frozen.model, part.features, "standard") - part.targets) ** 2))
    var = float(part.targets.astype(np.float64).var(ddof=1))
    assert abs(var - 1) > 0.2  # (so a loss in normalized units, mse / var, could not pass for it)
    assert frozen.train_losses[0] == pytest.approx(mse, rel=1e-4)


# ---- checkpoints --------------------------------------------------------------------------------------------
def test_checkpoints_round_trip_and_a_bare_model_predicts_bit_identically(csv, tmp_path):
    result = train(fast_config(csv, tmp_path, norm="minmax", target_norm="standard"), log=quiet)
    ckpt = tn.load(tmp_path / "artifacts" / "model.npz")
    assert ckpt["version"] == 3 and ckpt["config"]["target_norm"] == "standard"
    x = _splits(csv)["test"].features
    expected = predict(result.model, x, "minmax")
    model, info = load_checkpoint(tmp_path / "artifacts", "last")
    assert info["config"]["target_norm"] == "standard" and not model.training
    np.testing.assert_array_equal(predict(model, x, "minmax"), expected)
    # the example's config, bare, filled from a saved state dict
    tn.save(result.model.state_dict(), tmp_path / "state.npz")
    bare = RegressionModel(RegressionModelConfig(target_norm="standard"))
    bare.load_state_dict(tn.load(tmp_path / "state.npz"))
    np.testing.assert_array_equal(predict(bare, x, "minmax"), expected)
    # a plain Sequential with a bare Normalize(1, invert=True) last, filled the same way
    names = {"normalize": "0", "input_layer": "1", "output_layer": "3", "denormalize": "4"}
    saved = tn.load(tmp_path / "state.npz")
    state = {names[k.split(".", 1)[0]] + "." + k.split(".", 1)[1]: v for k, v in saved.items()}
    seq = nn.Sequential(nn.Normalize(8), nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 1), nn.Normalize(1, invert=True))
    seq.load_state_dict(state)
    with tn.no_grad():
        np.testing.assert_array_equal(seq(tn.Tensor(x)).numpy().ravel(), expected)
    # a state without target normalization does not fit a model with it (nor the reverse)
    plain = train(fast_config(csv, tmp_path / "plain", num_epochs=1), log=quiet)
    with pytest.raises(tn.ArgumentError, match="missing key.*denormalize._extra_state"):
        RegressionModel(RegressionModelConfig(target_norm="standard")).load_state_dict(plain.model.state_dict())
    with pytest.raises(tn.ArgumentError, match="unexpected key.*denormalize._extra_state"):
        RegressionModel().load_state_dict(result.model.state_dict())


def _crafted(tmp_path, csv, mutate, **kw):
    art = tmp_path / "artifacts"
    if not (art / "model.npz").exists():
        train(fast_config(csv, tmp_path, num_epochs=1, **kw), log=quiet)
    state = tn.load(art / "model.npz")
    mutate(state)
    tn.save(state, tmp_path / "crafted.npz")
    (art / "current" / "model.npz").write_bytes((tmp_path / "crafted.npz").read_bytes())
    return art


TARGET = "denormalize._extra_state"


@pytest.mark.parametrize("name, mutate, match", [
    ("target statistics removed", lambda s: s["best"]["model"][TARGET].pop("normalizer"),
     "target layer of its 'best' checkpoint holds no statistics, its config says --target-norm standard"),
    ("target layer saved as a forward layer", lambda s: s["best"]["model"][TARGET].pop("invert"),
     "does not match the model.*forward layer"),
    ("config says minmax", lambda s: s["config"].update(target_norm="minmax"),
     "config says --target-norm minmax, the target layer of its 'best' checkpoint holds 'standard'"),
    ("target std 0", lambda s: s["best"]["model"][TARGET]["normalizer"].update(
        m2=np.zeros_like(s["best"]["model"][TARGET]["normalizer"]["m2"])), "every feature is constant"),
    ("target layer missing", lambda s: s["best"]["model"].pop(TARGET), "missing key.*denormalize"),
    ("unknown target_norm", lambda s: s["config"].update(target_norm="zscore"), "config.*malformed"),
    ("version 2 with target_norm", lambda s: s.update(version=2), "config.*malformed"),
    ("version 4", lambda s: s.update(version=4), "format version 4, this tinygrad_norm reads versions 2 and 3"),
])
def test_crafted_target_checkpoints_are_clear_errors(csv, tmp_path, name, mutate, match):
    state = tn.load(_crafted(tmp_path, csv, lambda s: None, target_norm="standard") / "model.npz")
    assert TARGET in state["best"]["model"] and {"m2", "mean"} <= set(state["best"]["model"][TARGET]["normalizer"])
    art = _crafted(tmp_path, csv, mutate)
    with pytest.raises(tn.CheckpointError, match=match):
        infer(art, data=str(csv), show_chart=False, log=quiet)


def _as_version_2(state: dict) -> None:
    """What the code before target normalization wrote: version 2, no target_norm in the config (a model without
    a target layer is unchanged; checked by hand against files that code wrote)."""
    assert state["config"].pop("target_norm") == "none"
    state["version"] = 2


def test_version_2_checkpoints_are_still_read(csv, tmp_path):
    result = train(fast_config(csv, tmp_path, norm="standard", num_epochs=2), log=quiet)
    art = _crafted(tmp_path, csv, _as_version_2)
    assert tn.load(art / "model.npz")["version"] == 2
    out = infer(art, data=str(csv), show_chart=False, log=quiet)
    np.testing.assert_array_equal(out.predictions, predict(result.best_model(), _splits(csv)["test"].features,
                                                           "standard"))
    assert out.target_norm == "none"
    _, info = load_checkpoint(art)
    assert info["config"]["target_norm"] == "none"  # filled in: every reader can rely on it
    # a version-2 epoch checkpoint resumes too
    from tinygrad_norm.examples.simple_regression import training

    path = training.latest_epoch_checkpoint(art)
    epoch = tn.load(path)
    _as_version_2(epoch)
    tn.save(epoch, path)
    whole = train(fast_config(csv, tmp_path / "whole", norm="standard", num_epochs=3), log=quiet)
    resumed = train(fast_config(csv, tmp_path, norm="standard", num_epochs=3), log=quiet, resume=True)
    assert resumed.valid_losses == whole.valid_losses


# ---- resume, the command line, refusals ---------------------------------------------------------------------
def test_resume_needs_the_same_target_norm_and_continues_bit_for_bit(csv, tmp_path):
    whole = train(fast_config(csv, tmp_path / "a", num_epochs=4, target_norm="standard"), log=quiet)
    train(fast_config(csv, tmp_path / "b", num_epochs=2, target_norm="standard"), log=quiet)
    with pytest.raises(tn.ArgumentError, match="other settings: target_norm 'standard' \\(checkpoint\\) vs 'none'"):
        train(fast_config(csv, tmp_path / "b", num_epochs=4), log=quiet, resume=True)
    resumed = train(fast_config(csv, tmp_path / "b", num_epochs=4, target_norm="standard"), log=quiet, resume=True)
    assert resumed.valid_losses == whole.valid_losses and resumed.train_losses == whole.train_losses


def test_cli_train_and_infer_with_target_norm(csv, tmp_path, capsys):
    art = str(tmp_path / "art")
    assert cli.main(["train", "--data", str(csv), "--epochs", "2", "--artifact-dir", art, "--no-progress",
                     "--target-norm", "minmax"]) == 0
    out = capsys.readouterr().out
    assert "target normalization: minmax (losses reported in the target's units)" in out
    assert "denormalize: Normalize {method: minmax, d_input: 1, invert: true}" in out
    assert cli.main(["infer", "--data", str(csv), "--artifact-dir", art, "--no-chart"]) == 0
    assert "(normalization: minmax, target normalization: minmax)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["train", "--target-norm", "zscore"])
    assert "invalid choice: 'zscore'" in capsys.readouterr().err


def test_bad_target_settings_are_clear_errors(csv, tmp_path):
    with pytest.raises(tn.ArgumentError, match="unknown --target-norm 'zscore'"):
        TrainingConfig(target_norm="zscore").validate()
    data = tn.datasets.convert_statlib(raw_statlib(300))
    data[:, 8] = 2.5  # every house the same price
    flat = tn.datasets.write_csv(tmp_path / "flat.csv", data)
    with pytest.raises(tn.DataError, match="target is constant in the training split.*--target-norm standard"):
        train(fast_config(flat, tmp_path, target_norm="standard"), log=quiet)
    norm = tn.Normalizer("standard").fit(np.arange(5.0).reshape(-1, 1))
    with pytest.raises(tn.ArgumentError, match="needs target_norm 'standard' or 'minmax'"):
        RegressionModel(target_normalizer=norm)
    with pytest.raises(tn.ArgumentError, match="config says target_norm 'minmax', the target normalizer is"):
        RegressionModel(RegressionModelConfig(target_norm="minmax"), target_normalizer=norm)
    with pytest.raises(tn.ArgumentError, match="unknown target_norm"):
        RegressionModel(RegressionModelConfig(target_norm="log"))
    with pytest.raises(tn.NotFittedError):  # a bare target layer is never a silent identity
        RegressionModel(RegressionModelConfig(target_norm="standard"))(tn.Tensor(np.zeros((2, 8), np.float32)))
