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


def test_pytorch_habits_work():
    class Tower(nn.Module):
        def __init__(self):
            self.blocks = [nn.Linear(3, 3), nn.Linear(3, 3)]  # a plain list: collected, named like a ModuleList
            self.heads = nn.ModuleDict({"a": nn.Linear(3, 1), "b": nn.Linear(3, 2)})
            self.extra = nn.ModuleList([nn.ReLU()])

        def forward(self, x):
            for block in self.blocks:
                x = block(x)
            return self.heads["a"](x)

    tn.manual_seed(0)
    model = Tower()
    names = [n for n, _ in model.named_parameters()]
    assert names == ["blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "blocks.1.bias", "heads.a.weight",
                     "heads.a.bias", "heads.b.weight", "heads.b.bias"]
    assert len(list(model.modules())) == 8 and len(list(model.children())) == 4
    tn.optim.SGD(model.parameters(), lr=0.1)  # not "empty parameter list"
    assert model(tn.Tensor(np.ones((2, 3)))).shape == (2, 1)
    assert model.double().blocks[0].weight.dtype == np.float64
    assert model.float().heads["b"].bias.dtype == np.float32
    assert model.cpu() is model
    assert tn.Tensor([1.0], device="cuda:0" if tn.cuda_available() else "cpu").shape == (1,)
    with pytest.raises(tn.DeviceError, match="only the current GPU"):
        tn.Tensor([1.0], device="cuda:1")


def test_an_array_given_to_a_layer_is_a_clear_error():
    model = nn.Sequential(nn.ReLU(), nn.Linear(2, 1))
    with pytest.raises(TypeError, match="takes Tensors, got ndarray; wrap arrays with tn.Tensor"):
        model(np.ones((1, 2)))
    with pytest.raises(TypeError, match="got ndarray"):
        nn.Linear(2, 1)(np.ones((1, 2)))


def test_load_state_dict_returns_the_missing_and_unexpected_keys_like_torch():
    model = mlp()
    state = {k: v.numpy() for k, v in mlp(1).state_dict().items()}
    keys = model.load_state_dict(state)
    assert keys == ([], []) and keys.missing_keys == [] and keys.unexpected_keys == []
    assert repr(keys) == repr(torch.nn.Linear(1, 1).load_state_dict(torch.nn.Linear(1, 1).state_dict()))
    del state["2.bias"]
    state["extra"] = np.zeros(1)
    keys = model.load_state_dict(state, strict=False)
    assert keys.missing_keys == ["2.bias"] and keys.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(model[0].weight.numpy(), state["0.weight"])  # what was there was loaded
    torch_keys = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1)).load_state_dict(
        {k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}, strict=False)
    assert (keys.missing_keys, keys.unexpected_keys) == (torch_keys.missing_keys, torch_keys.unexpected_keys)


def test_strict_load_names_a_few_keys_and_counts_the_rest():
    model = mlp()
    state = {k: v.numpy() for k, v in mlp(1).state_dict().items()}
    state.update({f"stray.{i}": np.zeros(1) for i in range(40)})
    with pytest.raises(tn.ArgumentError) as e:
        model.load_state_dict(state)
    msg = str(e.value)
    assert "40 unexpected keys: stray.0, stray.1, stray.2 and 37 more" in msg and "stray.39" not in msg
    assert "strict=False" in msg


def test_an_unfitted_normalize_is_an_error_and_an_identity_says_so():
    x = tn.Tensor(np.arange(6.0).reshape(2, 3))
    with pytest.raises(tn.NotFittedError, match=r"Normalize\(3\) holds no fitted normalizer"):
        nn.Normalize(3)(x)
    ident = nn.Normalize(3, identity=True)
    assert ident(x) is x and "identity" in repr(ident)
    # the state says which: a bare layer becomes what was saved, an identity included
    bare = nn.Sequential(nn.Normalize(3))
    bare.load_state_dict(nn.Sequential(ident).state_dict())
    assert bare[0](x) is x
    fitted = nn.Normalize(tn.Normalizer().fit(x.numpy()))
    fitted.load_state_dict(nn.Normalize(3).state_dict())  # statistics-free state: the layer is unfitted again
    with pytest.raises(tn.NotFittedError):
        fitted(x)
    with pytest.raises(tn.ArgumentError, match="identity"):
        nn.Normalize(tn.Normalizer().fit(x.numpy()), identity=True)


# ---- Normalize(norm, invert=True): the normalizer's inverse as a differentiable layer -------------------------
def _fit_data(seed: int = 0) -> np.ndarray:
    """3 columns on unlike scales (a price, a count, a small signed number)."""
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.normal(2e5, 5e4, 200), rng.integers(1, 40, 200), rng.normal(-0.3, 0.01, 200)])


@pytest.mark.parametrize("method", ["standard", "minmax"])
def test_inverted_normalize_matches_torch_forward_and_gradient(method):
    data = _fit_data()
    kwargs = {"feature_range": (-1.0, 2.0)} if method == "minmax" else {}
    norm = tn.Normalizer(method, **kwargs).fit(data)
    layer = nn.Normalize(norm, invert=True)
    z = np.random.default_rng(1).standard_normal((16, 3))
    w = np.random.default_rng(2).standard_normal((16, 3))  # a weighted sum: every output gets its own gradient
    x = tn.Tensor(z, dtype=np.float64, requires_grad=True)
    out = layer(x)
    (out * tn.Tensor(w, dtype=np.float64)).sum().backward()
    # torch, written out from NumPy's statistics of the same data (not from the normalizer's)
    tz = torch.tensor(z, requires_grad=True)
    if method == "standard":
        ref = tz * torch.tensor(data.std(axis=0, ddof=1)) + torch.tensor(data.mean(axis=0))
    else:
        lo, hi = data.min(axis=0), data.max(axis=0)
        ref = (tz - (-1.0)) / 3.0 * torch.tensor(hi - lo) + torch.tensor(lo)
    (ref * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-12 * np.abs(data).max())
    np.testing.assert_allclose(x.grad.numpy(), tz.grad.numpy(), rtol=1e-12)
    # the exact mirror of the forward layer (and of Normalizer.inverse_transform, float64 arrays)
    np.testing.assert_allclose(layer(nn.Normalize(norm)(tn.Tensor(data, dtype=np.float64))).numpy(), data,
                               rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(out.numpy(), norm.inverse_transform(z), rtol=1e-12)


def test_inverted_normalize_does_not_undo_clipping():
    data = _fit_data()
    norm = tn.Normalizer("minmax", clip=True).fit(data)
    z = np.array([[-0.5, 0.5, 1.5]])  # outside feature_range: a clipping forward layer never outputs these
    lo, hi = data.min(axis=0), data.max(axis=0)
    out = nn.Normalize(norm, invert=True)(tn.Tensor(z, dtype=np.float64)).numpy()
    np.testing.assert_allclose(out, z * (hi - lo) + lo, rtol=1e-12)  # linear beyond the range, not clipped


def test_inverted_normalize_state_fills_a_bare_layer_and_never_loads_into_a_forward_one():
    data = _fit_data()
    norm = tn.Normalizer("standard").fit(data[:, :1])
    tn.manual_seed(0)
    trained = nn.Sequential(nn.Linear(3, 1), nn.Normalize(norm, invert=True))
    assert "invert: true" in repr(trained[1])
    bare = nn.Sequential(nn.Linear(3, 1), nn.Normalize(1, invert=True))
    x = tn.Tensor(np.random.default_rng(3).standard_normal((10, 3)))
    with pytest.raises(tn.NotFittedError):
        bare(x)
    state = trained.state_dict()
    assert state["1._extra_state"]["invert"] is True
    bare.load_state_dict(state)
    with tn.no_grad():
        np.testing.assert_array_equal(bare(x).numpy(), trained(x).numpy())
    # a forward layer's state has no 'invert' (what it always was); either state into the other kind: an error
    forward = nn.Normalize(norm)
    assert "invert" not in forward.get_extra_state()
    with pytest.raises(tn.ArgumentError, match=r"inverted layer \(invert=True\), this layer is a forward layer"):
        nn.Normalize(1).load_state_dict(trained[1].state_dict())
    with pytest.raises(tn.ArgumentError, match=r"forward layer \(invert=False\), this layer is an inverted layer"):
        nn.Normalize(1, invert=True).load_state_dict(forward.state_dict())
    with pytest.raises(tn.ArgumentError, match="'invert' must be true or false"):
        nn.Normalize(1, invert=True).load_state_dict({"_extra_state": {**trained[1].get_extra_state(), "invert": 1}})
    with pytest.raises(tn.ArgumentError, match="no normalizer to invert"):
        nn.Normalize(1, identity=True, invert=True)
    with pytest.raises(tn.ArgumentTypeError, match="invert must be True or False"):
        nn.Normalize(norm, invert="yes")


def test_inverted_normalize_takes_integer_tensors_like_inverse_transform():
    data = _fit_data()[:, 1:2]  # the integer column
    norm = tn.Normalizer("standard").fit(data)
    out = nn.Normalize(norm, invert=True)(tn.Tensor(np.array([[1], [-2]]), dtype=np.int64))
    assert out.dtype == np.float32  # (what Normalizer.inverse_transform gives integers)
    np.testing.assert_allclose(out.numpy().ravel(), np.array([1, -2]) * data.std(ddof=1) + data.mean(), rtol=1e-6)
