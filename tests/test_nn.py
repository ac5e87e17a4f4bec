"""Modules: traversal, state dicts, initialisation, summary."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tinygrad_norm as tn
from tinygrad_norm import nn


def mlp(seed: int = 0) -> nn.Sequential:
    tn.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 1))


def test_state_dict_names_match_torch():
    ours = mlp()
    ref = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    # and torch's weights load into ours and give torch's outputs
    ours.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    np.testing.assert_allclose(ours(tn.Tensor(x)).numpy(), ref(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_load_state_dict_reports_missing_unexpected_and_shapes_and_changes_nothing():
    model = mlp()
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    state = {k: v.numpy() for k, v in mlp(1).state_dict().items()}
    state["0.weight"] = np.zeros((3, 3), np.float32)
    del state["2.bias"]
    state["extra"] = np.zeros(1)
    with pytest.raises(ValueError, match="nothing was changed") as e:
        model.load_state_dict(state)
    msg = str(e.value)
    assert "2.bias" in msg and "extra" in msg and "0.weight: shape (3, 3)" in msg and "(64, 8)" in msg
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])


def test_linear_initialisation_like_torch():
    tn.manual_seed(0)
    layer = nn.Linear(400, 300)
    bound = 1 / np.sqrt(400)
    w = layer.weight.numpy()
    assert w.shape == (300, 400) and layer.bias.shape == (300,)
    assert np.abs(w).max() <= bound and np.abs(layer.bias.numpy()).max() <= bound
    # uniform(-b, b) has variance b^2 / 3: the same distribution torch's default init draws from
    ref = torch.nn.Linear(400, 300).weight.detach().numpy()
    assert abs(w.var() / (bound**2 / 3) - 1) < 0.02
    assert abs(ref.var() / w.var() - 1) < 0.03
    tn.manual_seed(0)
    np.testing.assert_array_equal(nn.Linear(400, 300).weight.numpy(), w)


def test_summary_shows_layers_and_param_counts():
    text = repr(mlp())
    assert "Linear {d_input: 8, d_output: 64, bias: true, params: 576}" in text
    assert "Linear {d_input: 64, d_output: 1, bias: true, params: 65}" in text
    assert text.splitlines()[-2].strip() == "params: 641" and text.splitlines()[-1] == "}"
    assert mlp().num_params() == 641


def test_custom_module_and_train_eval():
    class Net(nn.Module):
        def __init__(self):
            self.body = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
            self.head = nn.Linear(4, 2, bias=False)
            self.scale = nn.Buffer(np.ones(2))

        def forward(self, x):
            return self.head(self.body(x)) * self.scale

    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["body.0.weight", "body.0.bias", "head.weight"]
    assert list(net.state_dict()) == ["scale", "body.0.weight", "body.0.bias", "head.weight"]
    net.eval()
    assert not net.body.layers[0].training
    assert net(tn.ones(5, 3)).shape == (5, 2)
    with pytest.raises(TypeError, match="Modules"):
        nn.Sequential(nn.ReLU(), 3)


def test_load_state_dict_changes_nothing_when_a_value_cannot_be_converted():
    tn.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    state["0.weight"] = np.full((2, 2), 42.0)
    state["1.bias"] = np.array(["x"])  # fails after 0.weight would have been written
    with pytest.raises(ValueError, match="1.bias: dtype <U1 is not numeric"):
        model.load_state_dict(state)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
