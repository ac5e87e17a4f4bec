"""``tinygrad-norm train``'s Learner features (Burn's): early stopping, weight decay, learning-rate schedulers
(against torch's), resume keeping their state bit for bit, the learner summary, the test-split metrics, it/s;
and the example's data pipeline on tn.data."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from test_regression import fast_config, raw_statlib

import tinygrad_norm as tn
from tinygrad_norm import cli
from tinygrad_norm.examples.simple_regression import HousingDataset, train, training
from tinygrad_norm.examples.simple_regression import dataset as ds
from tinygrad_norm.examples.simple_regression.model import predict
from tinygrad_norm.examples.simple_regression.training import PLATEAU, EarlyStopping

FROZEN = 1e-30  # a learning rate that moves no float32 weight: every epoch's valid loss is the same
CRAWL = 1e-7  # Adam this slow improves the valid loss by less than ReduceLROnPlateau's 1e-4: the rate drops


@pytest.fixture(scope="module")
def csv(tmp_path_factory):
    root = tmp_path_factory.mktemp("train-loop")
    return tn.datasets.write_csv(root / "housing.csv", tn.datasets.convert_statlib(raw_statlib(1200)))


def quiet(*_):
    pass


def _params(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items() if isinstance(v, tn.Tensor)}


def _burn_stop(values, patience):
    """Reference: the epoch Burn's MetricEarlyStoppingStrategy (NoImprovementSince) stops after, or None."""
    best, best_epoch = float("inf"), 1
    for epoch, v in enumerate(values, 1):
        if v < best:
            best, best_epoch = v, epoch
        elif epoch - best_epoch >= patience:
            return epoch
    return None


# ---- early stopping ---------------------------------------------------------------------------------------
def test_early_stopping_follows_burns_rule():
    for values, patience in [([3, 2, 2, 2], 2), ([5, 4, 6, 3, 7, 7, 7], 3), ([1, 1], 1), ([4, 3, 2, 1], 1)]:
        stopper, stopped = EarlyStopping(patience), None
        for epoch, v in enumerate(values, 1):
            if stopper.should_stop(epoch, float(v)):
                stopped = epoch
                break
        assert stopped == _burn_stop(values, patience), (values, patience)


def test_training_stops_where_the_rule_says_and_publishes_the_best_epoch(csv, tmp_path):
    whole = train(fast_config(csv, tmp_path / "a", num_epochs=12, learning_rate=0.1), log=quiet)
    stop = _burn_stop(whole.valid_losses, 2)
    assert stop is not None and stop < 12  # (this run's losses rise early: the test is about a real stop)
    lines = []
    early = train(fast_config(csv, tmp_path / "b", num_epochs=12, learning_rate=0.1, early_stopping=2),
                  log=lines.append)
    assert early.stopped_epoch == stop and early.valid_losses == whole.valid_losses[:stop]
    ckpt = tn.load(tmp_path / "b" / "artifacts" / "model.npz")
    assert ckpt["history"]["stopped_epoch"] == stop and ckpt["last"]["epoch"] == stop
    assert ckpt["best"]["epoch"] == early.best_valid[1]
    assert any(line.startswith("early stopping: no better valid loss for 2 epochs") for line in lines)
    with pytest.raises(tn.ArgumentError, match=f"stopped early after epoch {stop}"):
        train(fast_config(csv, tmp_path / "b", num_epochs=12, learning_rate=0.1, early_stopping=2), log=quiet,
              resume=True)


# ---- schedulers: the learning rates torch's schedulers give ------------------------------------------------
def _torch_lrs(scheduler, epochs, lr, valid_losses):
    torch = pytest.importorskip("torch")
    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = {"step": lambda: torch.optim.lr_scheduler.StepLR(opt, step_size=math.ceil(epochs / 3), gamma=0.1),
             "cosine": lambda: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs),
             "plateau": lambda: torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **PLATEAU)}[scheduler]()
    lrs = []
    for v in valid_losses:
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()  # (no gradient: nothing moves; torch wants a step before the scheduler's)
        if scheduler == "plateau":
            sched.step(v)
        else:
            sched.step()
    return lrs


@pytest.mark.parametrize("scheduler,epochs,lr", [("step", 7, 1e-2), ("cosine", 6, 1e-2), ("plateau", 12, CRAWL)])
def test_each_epochs_learning_rate_is_torchs(csv, tmp_path, scheduler, epochs, lr):
    result = train(fast_config(csv, tmp_path, num_epochs=epochs, learning_rate=lr, scheduler=scheduler), log=quiet)
    want = _torch_lrs(scheduler, epochs, lr, result.valid_losses)
    assert result.learning_rates == pytest.approx(want, rel=1e-12, abs=0)
    assert len(set(want)) > 1  # the schedule did change the rate in this run
    assert tn.load(tmp_path / "artifacts" / "model.npz")["history"]["learning_rates"] == result.learning_rates


def test_the_schedule_reaches_the_optimizer(csv, tmp_path):
    plain = train(fast_config(csv, tmp_path / "a", num_epochs=3, learning_rate=1e-2), log=quiet)
    stepped = train(fast_config(csv, tmp_path / "b", num_epochs=3, learning_rate=1e-2, scheduler="step"), log=quiet)
    assert stepped.valid_losses[0] == plain.valid_losses[0]  # epoch 1: the same rate
    assert stepped.valid_losses[1] != plain.valid_losses[1]  # epoch 2 trains with a tenth of it


# ---- weight decay ---------------------------------------------------------------------------------------------
def test_weight_decay_goes_to_the_optimizer_and_is_validated(csv, tmp_path, capsys):
    plain = train(fast_config(csv, tmp_path / "a", num_epochs=2), log=quiet)
    decayed = train(fast_config(csv, tmp_path / "b", num_epochs=2, weight_decay=0.5), log=quiet)
    assert decayed.valid_losses != plain.valid_losses
    groups = tn.load(training.latest_epoch_checkpoint(tmp_path / "b" / "artifacts"))["optimizer"]["param_groups"]
    assert all(g["weight_decay"] == 0.5 for g in groups)
    for bad in (-1.0, math.nan, math.inf, True, "0.1"):
        with pytest.raises(tn.ArgumentError, match="--weight-decay must be a finite number >= 0"):
            fast_config(csv, tmp_path, weight_decay=bad).validate()
    assert cli.main(["train", "--data", str(csv), "--artifact-dir", str(tmp_path / "c"), "--weight-decay",
                     "-0.1"]) == 2
    assert "--weight-decay must be a finite number >= 0, got -0.1" in capsys.readouterr().err
    with pytest.raises(tn.ArgumentError, match="unknown --scheduler 'linear'"):
        fast_config(csv, tmp_path, scheduler="linear").validate()
    with pytest.raises(tn.ArgumentError, match="--early-stopping must be"):
        fast_config(csv, tmp_path, early_stopping=0).validate()


# ---- resume keeps the scheduler's and early stopping's state, bit for bit --------------------------------------
def _interrupted_after(monkeypatch, epoch):
    monkeypatch.setattr(training, "CHECKPOINT_EVERY_S", 0.0)  # a checkpoint after every epoch
    real = training._save_epoch

    def killed(out_dir, result, run):
        real(out_dir, result, run)
        if len(result.valid_losses) == epoch:
            raise KeyboardInterrupt

    monkeypatch.setattr(training, "_save_epoch", killed)


@pytest.mark.parametrize("settings", [
    dict(scheduler="step", num_epochs=6, learning_rate=1e-2),
    dict(scheduler="cosine", num_epochs=5, weight_decay=1e-3, learning_rate=1e-2),
    dict(scheduler="plateau", num_epochs=10, learning_rate=CRAWL),  # the rate drops after epoch 7
    dict(early_stopping=4, num_epochs=10, learning_rate=FROZEN),  # stops after epoch 5
    dict(scheduler="plateau", early_stopping=3, num_epochs=12, learning_rate=0.1, optimizer="sgd"),
], ids=["step", "cosine+wd", "plateau", "early-stopping", "plateau+early-stopping"])
def test_an_interrupted_run_resumes_to_the_same_bits(csv, tmp_path, monkeypatch, settings):
    whole = train(fast_config(csv, tmp_path / "a", **settings), log=quiet)
    _interrupted_after(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        train(fast_config(csv, tmp_path / "b", **settings), log=quiet)
    monkeypatch.undo()
    resumed = train(fast_config(csv, tmp_path / "b", **settings), log=quiet, resume=True)
    assert resumed.valid_losses == whole.valid_losses and resumed.train_losses == whole.train_losses
    assert resumed.learning_rates == whole.learning_rates and resumed.stopped_epoch == whole.stopped_epoch
    for k, v in _params(whole.model).items():
        np.testing.assert_array_equal(_params(resumed.model)[k], v)
    art_a, art_b = tmp_path / "a" / "artifacts", tmp_path / "b" / "artifacts"
    assert (art_a / "metrics.csv").read_bytes() == (art_b / "metrics.csv").read_bytes()
    a, b = tn.load(art_a / "model.npz"), tn.load(art_b / "model.npz")
    assert a["history"] == b["history"] and a["test"] == b["test"]


def test_resume_refuses_other_learner_settings(csv, tmp_path):
    train(fast_config(csv, tmp_path, num_epochs=2, scheduler="cosine", early_stopping=5, weight_decay=0.01),
          log=quiet)
    same = dict(num_epochs=2, scheduler="cosine", early_stopping=5, weight_decay=0.01)
    for change, match in [(dict(scheduler="step"), "scheduler 'cosine' \\(checkpoint\\) vs 'step'"),
                          (dict(weight_decay=0.0), "weight_decay 0.01 \\(checkpoint\\) vs 0.0"),
                          (dict(early_stopping=None), "early_stopping 5 \\(checkpoint\\) vs None"),
                          (dict(num_epochs=4), "--scheduler cosine is shaped by --epochs.*pass --epochs 2")]:
        with pytest.raises(tn.ArgumentError, match=match):
            train(fast_config(csv, tmp_path, **{**same, **change}), log=quiet, resume=True)


def _as_version_3(state):
    """An epoch checkpoint as the previous version wrote it: no learner settings, no scheduler state."""
    state["version"] = 3
    for key in ("scheduler", "early_stopping", "stopped_epoch", "learning_rates"):
        del state[key]
    for key in ("weight_decay", "scheduler", "early_stopping"):
        del state["config"][key]


def test_an_epoch_checkpoint_of_the_previous_version_still_resumes(csv, tmp_path):
    whole = train(fast_config(csv, tmp_path / "a", num_epochs=4), log=quiet)
    train(fast_config(csv, tmp_path / "b", num_epochs=2), log=quiet)
    path = training.latest_epoch_checkpoint(tmp_path / "b" / "artifacts")
    state = tn.load(path)
    _as_version_3(state)
    tn.save(state, path)
    with pytest.raises(tn.ArgumentError, match="scheduler 'none' \\(checkpoint\\) vs 'plateau'"):
        train(fast_config(csv, tmp_path / "b", num_epochs=4, scheduler="plateau"), log=quiet, resume=True)
    resumed = train(fast_config(csv, tmp_path / "b", num_epochs=4), log=quiet, resume=True)
    assert resumed.valid_losses == whole.valid_losses and resumed.learning_rates == whole.learning_rates
    for k, v in _params(whole.model).items():
        np.testing.assert_array_equal(_params(resumed.model)[k], v)


# ---- the learner summary, the test split, it/s --------------------------------------------------------------
def _table(text):
    """{(split, metric): (min, min epoch, max, max epoch)} from Burn's summary table."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] in ("Train", "Valid", "Test"):
            rows[cells[0], cells[1]] = (float(cells[2]), int(cells[3]), float(cells[4]), int(cells[5]))
    return rows


def test_the_summary_is_burns_and_the_test_metrics_are_the_best_epochs(csv, tmp_path):
    lines = []
    result = train(fast_config(csv, tmp_path, num_epochs=6, learning_rate=0.1, scheduler="step"), log=lines.append)
    text = "\n".join(lines)
    assert "======================== Learner Summary ========================\nTotal Epochs: 6\n\n\n| Split" in text
    table = _table(text)
    for (split, metric), values in (("Train", "Loss"), result.train_losses), (("Valid", "Loss"),
                                                                               result.valid_losses):
        lo, lo_epoch, hi, hi_epoch = table[split, metric]
        assert lo_epoch == int(np.argmin(values)) + 1 and lo == pytest.approx(min(values), abs=5e-4)
        assert hi_epoch == len(values) - int(np.argmax(values[::-1])) and hi == pytest.approx(max(values), abs=5e-4)
    assert table["Train", "Learning Rate"][1:4:2] == (5, 2)  # lowest first at epoch 5, highest last at epoch 2
    # the test split, with the best epoch's model, in the target's units and in dollars
    best, epoch = result.best_valid
    test = HousingDataset.load(csv).split()["test"]
    err = predict(result.best_model(), test.features, "minmax").astype(np.float64) - test.targets
    want = {"mse": np.mean(err ** 2), "rmse_usd": np.sqrt(np.mean(err ** 2)) * 1e5,
            "mae_usd": np.mean(np.abs(err)) * 1e5}
    ckpt = tn.load(tmp_path / "artifacts" / "model.npz")
    assert ckpt["test"] == result.test and result.test["epoch"] == epoch and result.test["rows"] == len(test)
    for key, value in want.items():
        assert result.test[key] == pytest.approx(value, rel=1e-6)
    assert table["Test", "RMSE ($)"] == (pytest.approx(want["rmse_usd"], abs=5e-4), epoch,
                                        pytest.approx(want["rmse_usd"], abs=5e-4), epoch)
    assert f"RMSE ${want['rmse_usd']:,.0f}, MAE ${want['mae_usd']:,.0f}" in text
    assert re.search(r"6 epochs in [\d.]+ s \([\d,]+ it/s\)", text)


def test_iterations_per_second_in_the_bar_and_the_verbose_lines(csv, tmp_path, capsys):
    train(fast_config(csv, tmp_path, num_epochs=2, progress=True), log=quiet)
    assert re.search(r"[\d,]+ it/s", capsys.readouterr().err)
    assert cli.main(["train", "--data", str(csv), "--epochs", "2", "--artifact-dir", str(tmp_path / "v"), "--verbose",
                     "--scheduler", "cosine", "--early-stopping", "3", "--weight-decay", "0.01"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"Epoch   2/2  train loss [\d.]+  valid loss [\d.]+  [\d,]+ it/s  lr ", out)
    assert "scheduler: cosine; early stopping: patience 3" in out and "weight decay 0.01" in out
    for flags in (["--scheduler", "linear"], ["--early-stopping", "0"]):
        with pytest.raises(SystemExit):
            cli.main(["train", "--data", str(csv), "--artifact-dir", str(tmp_path / "x"), *flags])


# ---- the example's data pipeline is tn.data's ---------------------------------------------------------------
def test_the_training_batches_are_the_seeded_permutations_rows(csv):
    """tn.data.DataLoader over HousingDataset.__getitems__ gives the batches the example's own loader gave:
    one permutation of the rows per epoch from default_rng(seed), in contiguous batches."""
    train_set = HousingDataset.load(csv).split()["train"]
    loader = tn.data.DataLoader(train_set, 256, shuffle=True, seed=7, collate_fn=ds.HousingBatcher())
    rng = np.random.default_rng(7)
    for _ in range(2):
        order = rng.permutation(len(train_set))
        batches = list(loader)
        assert len(batches) == len(loader) == math.ceil(len(train_set) / 256)
        np.testing.assert_array_equal(np.concatenate([x.numpy() for x, _ in batches]), train_set.features[order])
        np.testing.assert_array_equal(np.concatenate([y.numpy() for _, y in batches]).ravel(),
                                      train_set.targets[order])
    rows = train_set.__getitems__([3, 1])
    assert isinstance(rows, tn.data.Rows)
    item, want = rows[1], train_set[1]  # the items Burn's dataset gives
    assert type(item) is ds.HousingDistrictItem and item.median_house_value == want.median_house_value
    np.testing.assert_array_equal(item.features, want.features)
