"""--norm batchnorm and --norm layernorm: nn.BatchNorm1d(8) / nn.LayerNorm(8) as the regression model's first
layer. Trained in train mode, predicted in eval mode (BatchNorm's running statistics, carried by checkpoints);
checked against torch and an independent replay of the running averages; compare's batch-mate measures."""

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
    infer,
    train,
)
from tinygrad_norm.examples.simple_regression.compare import HEADER, Run, compare, table_rows
from tinygrad_norm.examples.simple_regression.inference import load_checkpoint
from tinygrad_norm.examples.simple_regression.model import predict, predict_batches, predict_rows

quiet = lambda *_: None  # noqa: E731


@pytest.fixture
def csv(tmp_path):
    return tn.datasets.write_csv(tmp_path / "housing.csv", tn.datasets.convert_statlib(raw_statlib(1200)))


def _splits(csv):
    return HousingDataset.load(csv).split()


def _torch_model(model: RegressionModel) -> torch.nn.Sequential:
    """The same network in torch, its state copied from ours (torch's layers are the reference)."""
    first = (torch.nn.BatchNorm1d(8) if isinstance(model.normalize, nn.BatchNorm1d) else torch.nn.LayerNorm(8))
    ref = torch.nn.Sequential(first, torch.nn.Linear(8, model.config.hidden_size), torch.nn.ReLU(),
                              torch.nn.Linear(model.config.hidden_size, 1))
    names = {"normalize": "0", "input_layer": "1", "output_layer": "3"}
    ref.load_state_dict({names[k.split(".", 1)[0]] + "." + k.split(".", 1)[1]: torch.from_numpy(v.numpy().copy())
                         for k, v in model.state_dict().items()})
    return ref


# ---- BatchNorm1d ----------------------------------------------------------------------------------------------
def test_batchnorm_running_statistics_are_the_average_of_the_training_batches(csv, tmp_path):
    """Trained in train mode: the running estimates are exactly the momentum-0.1 average of each shuffled training
    batch's mean and unbiased variance, replayed here from the loader's seed with NumPy."""
    config = fast_config(csv, tmp_path, norm="batchnorm", num_epochs=3, batch_size=100)
    result = train(config, log=quiet)
    layer = result.model.normalize
    assert isinstance(layer, nn.BatchNorm1d) and not result.model.training and not layer.training
    x = _splits(csv)["train"].features.astype(np.float64)
    rng = np.random.default_rng(config.seed)  # the loader's shuffling generator
    mean, var, batches = np.zeros(8), np.ones(8), 0
    for _ in range(config.num_epochs):
        rows = x[rng.permutation(len(x))]
        for lo in range(0, len(rows), config.batch_size):
            b = rows[lo:lo + config.batch_size]
            mean, var, batches = 0.9 * mean + 0.1 * b.mean(0), 0.9 * var + 0.1 * b.var(0, ddof=1), batches + 1
    np.testing.assert_allclose(layer.running_mean.numpy(), mean, rtol=1e-4)  # (float32 batch statistics)
    np.testing.assert_allclose(layer.running_var.numpy(), var, rtol=1e-4)
    assert int(layer.num_batches_tracked.numpy()) == batches
    assert not np.allclose(var, x.var(0, ddof=1), rtol=0.05)  # an average of recent batches, not the data's


def test_batchnorm_predicts_in_eval_mode_like_torch_and_checkpoints_carry_the_running_statistics(csv, tmp_path):
    result = train(fast_config(csv, tmp_path, norm="batchnorm", num_epochs=3), log=quiet)
    ckpt = tn.load(tmp_path / "artifacts" / "model.npz")
    assert ckpt["version"] == 3 and ckpt["config"]["norm"] == "batchnorm"
    assert {"normalize.running_mean", "normalize.running_var", "normalize.num_batches_tracked",
            "normalize.weight", "normalize.bias"} <= set(ckpt["last"]["model"])
    model, _ = load_checkpoint(tmp_path / "artifacts", "last")
    assert not model.training and not model.normalize.training
    x = _splits(csv)["test"].features
    ours = predict(model, x, "batchnorm")
    np.testing.assert_array_equal(ours, predict(result.model, x, "batchnorm"))  # round trip: bit-identical
    ref = _torch_model(model).eval()
    with torch.no_grad():
        np.testing.assert_allclose(ours, ref(torch.from_numpy(x)).numpy().ravel(), rtol=1e-5, atol=1e-5)
    # eval mode: a row's prediction is its own, batched or alone; infer reports those predictions
    np.testing.assert_allclose(ours, predict_rows(model, x, "batchnorm"), rtol=1e-5, atol=1e-5)
    out = infer(tmp_path / "artifacts", data=str(csv), show_chart=False, checkpoint="last", log=quiet)
    np.testing.assert_array_equal(out.predictions, ours)


def test_batchnorm_in_train_mode_depends_on_the_batch_and_measuring_it_moves_nothing(csv, tmp_path):
    result = train(fast_config(csv, tmp_path, norm="batchnorm", num_epochs=3), log=quiet)
    model = result.model
    x = _splits(csv)["test"].features
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    rng = np.random.default_rng(0)
    a = predict_batches(model, x, "batchnorm", 16, rng.permutation(len(x)))
    b = predict_batches(model, x, "batchnorm", 16, rng.permutation(len(x)))
    # train mode like torch's: one batch through torch in train mode gives predict_batches' numbers
    order = np.arange(len(x))
    ref = _torch_model(model).train()
    with torch.no_grad():
        np.testing.assert_allclose(predict_batches(model, x, "batchnorm", len(x), order),
                                   ref(torch.from_numpy(x)).numpy().ravel(), rtol=1e-4, atol=1e-4)
    assert np.max(np.abs(a - b)) > 1e-2  # other batch-mates, another prediction
    predict(model, x, "batchnorm")
    for k, v in model.state_dict().items():  # the running statistics (and everything else) as they were
        np.testing.assert_array_equal(v.numpy(), before[k])
    assert not model.training
    # a model that does not look at its batch-mates gives the same either way
    plain = train(fast_config(csv, tmp_path / "std", norm="standard", num_epochs=1), log=quiet).model
    np.testing.assert_allclose(predict_batches(plain, x, "standard", 16, rng.permutation(len(x))),
                               predict(plain, x, "standard"), rtol=1e-5, atol=1e-5)


def test_batchnorm_resumes_bit_for_bit(csv, tmp_path):
    whole = train(fast_config(csv, tmp_path / "a", norm="batchnorm", num_epochs=4), log=quiet)
    train(fast_config(csv, tmp_path / "b", norm="batchnorm", num_epochs=2), log=quiet)
    resumed = train(fast_config(csv, tmp_path / "b", norm="batchnorm", num_epochs=4), log=quiet, resume=True)
    assert resumed.valid_losses == whole.valid_losses
    for k, v in whole.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[k].numpy(), v.numpy())


def test_a_training_batch_of_one_row_is_refused_before_training(csv, tmp_path):
    # 968 training rows: batches of 967 leave one row, which has no batch variance (torch raises mid-epoch)
    with pytest.raises(tn.ArgumentError, match="last batch of 968 rows in batches of 967 is one row"):
        train(fast_config(csv, tmp_path, norm="batchnorm", batch_size=967), log=quiet)
    with pytest.raises(tn.ArgumentError, match="every batch is one row"):
        train(fast_config(csv, tmp_path, norm="batchnorm", batch_size=1), log=quiet)
    assert not (tmp_path / "artifacts" / "model.npz").exists()
    train(fast_config(csv, tmp_path, norm="standard", batch_size=967, num_epochs=1), log=quiet)  # others: fine


def _crafted(tmp_path, csv, mutate):
    art = tmp_path / "artifacts"
    if not (art / "model.npz").exists():
        train(fast_config(csv, tmp_path, norm="batchnorm", num_epochs=1), log=quiet)
    state = tn.load(art / "model.npz")
    mutate(state["best"]["model"])
    tn.save(state, tmp_path / "crafted.npz")
    (art / "current" / "model.npz").write_bytes((tmp_path / "crafted.npz").read_bytes())
    return art


@pytest.mark.parametrize("name, mutate, match", [
    ("negative running variance", lambda m: m["normalize.running_var"].data.__setitem__(0, -1.0),
     "normalize.running_var of its 'best' checkpoint holds values no training run makes"),
    ("NaN running mean", lambda m: m["normalize.running_mean"].data.fill(np.nan), "normalize.running_mean"),
    ("running variance missing", lambda m: m.pop("normalize.running_var"), "missing key.*normalize.running_var"),
    ("a Normalize layer's state", lambda m: m.update({"normalize._extra_state": {"n_features": 8, "identity": True}}),
     "unexpected key.*normalize._extra_state"),
])
def test_crafted_batchnorm_checkpoints_are_clear_errors(csv, tmp_path, name, mutate, match):
    art = _crafted(tmp_path, csv, mutate)
    with pytest.raises(tn.CheckpointError, match=match):
        infer(art, data=str(csv), show_chart=False, log=quiet)


# ---- LayerNorm -----------------------------------------------------------------------------------------------
def test_layernorm_scales_each_house_by_its_own_values(csv, tmp_path):
    result = train(fast_config(csv, tmp_path, norm="layernorm", num_epochs=2), log=quiet)
    model = result.model
    assert isinstance(model.normalize, nn.LayerNorm) and not list(model.named_buffers())
    x = _splits(csv)["test"].features
    ours = predict(model, x, "layernorm")
    with torch.no_grad():
        np.testing.assert_allclose(ours, _torch_model(model)(torch.from_numpy(x)).numpy().ravel(), rtol=1e-5,
                                   atol=1e-5)
    # each row by its own mean and spread: a house whose 8 values are all scaled and shifted alike (a population
    # and a latitude times 3, plus 5) is the same house to this model, which a model of the features cannot be
    np.testing.assert_allclose(predict(model, 3 * x + 5, "layernorm"), ours, rtol=1e-3, atol=1e-3)
    standard = train(fast_config(csv, tmp_path / "std", norm="standard", num_epochs=2), log=quiet).model
    assert np.max(np.abs(predict(standard, 3 * x + 5, "standard") - predict(standard, x, "standard"))) > 0.1
    np.testing.assert_allclose(ours, predict_rows(model, x, "layernorm"), rtol=1e-5, atol=1e-5)
    loaded, _ = load_checkpoint(tmp_path / "artifacts", "last")
    np.testing.assert_array_equal(predict(loaded, x, "layernorm"), ours)
    # a bare model of the config, filled from the state dict
    bare = RegressionModel(RegressionModelConfig(norm_layer="layernorm"))
    bare.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(predict(bare, x, "layernorm"), ours)


def test_a_fitted_normalizer_is_refused_by_a_model_that_normalizes_by_itself():
    norm = tn.Normalizer("standard").fit(np.random.default_rng(0).standard_normal((20, 8)))
    for layer in ("batchnorm", "layernorm"):
        with pytest.raises(tn.ArgumentError, match="normalizes by statistics of its own"):
            RegressionModel(RegressionModelConfig(norm_layer=layer), normalizer=norm)
    with pytest.raises(tn.ArgumentError, match="unknown norm_layer"):
        RegressionModel(RegressionModelConfig(norm_layer="groupnorm"))


# ---- compare and the command line ---------------------------------------------------------------------------
def test_compare_measures_batch_mates_in_train_and_eval_mode(csv):
    runs = [Run("batchnorm", "adam", 1e-2, ""), Run("layernorm", "adam", 1e-2, ""), Run("standard", "adam", 1e-2, ""),
            Run("standard", "adam", 1e-2, "", target_norm="standard")]
    bn, ln, std, target = compare(runs, epochs=2, data=str(csv), batch_size=32, log=quiet)
    assert bn.batch_vs_batch > 1e-2 and bn.batch_vs_rows < 1e-4  # train mode: its batch; eval: its own
    for r in (ln, std, target):
        assert r.batch_vs_batch < 1e-4 and r.batch_vs_rows < 1e-4, r.run
    cells = table_rows([bn, ln, std, target])
    assert all(len(c) == len(HEADER) for c in cells)
    assert [c[:2] for c in cells] == [["batchnorm", "none"], ["layernorm", "none"], ["standard", "none"],
                                      ["standard", "standard"]]
    assert target.test.target_norm == "standard" and target.test.baseline_mse == std.test.baseline_mse
    with pytest.raises(tn.ArgumentError, match="unknown target_norm 'log'"):
        compare([Run("standard", "adam", 1e-2, "", target_norm="log")], epochs=1, data=str(csv), log=quiet)


def test_cli_trains_and_infers_with_each_layer_and_compare_filters(csv, tmp_path, capsys, monkeypatch):
    for norm in ("batchnorm", "layernorm"):
        art = str(tmp_path / norm)
        assert cli.main(["train", "--data", str(csv), "--epochs", "2", "--artifact-dir", art, "--no-progress",
                         "--norm", norm]) == 0
        out = capsys.readouterr().out
        assert f"normalization: {norm}" in out and ("BatchNorm1d(8" if norm == "batchnorm" else "LayerNorm((8,)") in out
        assert cli.main(["infer", "--data", str(csv), "--artifact-dir", art, "--no-chart"]) == 0
        assert f"(normalization: {norm})" in capsys.readouterr().out
    monkeypatch.delenv("TINYGRAD_NORM_DATA", raising=False)
    assert cli.main(["compare", "--epochs", "1", "--norm", "batchnorm", "standard", "--optimizer", "adam",
                     "--target-norm", "none"]) == 0
    out = capsys.readouterr().out
    assert "batch vs batch (train)" in out and "- batchnorm/adam lr 0.001:" in out and "target standard" not in out
    assert cli.main(["compare", "--norm", "layernorm", "--optimizer", "sgd"]) == 2  # no such default run
    assert "no default run has all of the chosen" in capsys.readouterr().err
