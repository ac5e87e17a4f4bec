"""The save / bare rebuild / load round trip is bit-identical for models with an input normalizer and an inverted
target normalizer, for every method and option (fitted or given by from_stats)."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_norm as tn
from tinygrad_norm import nn

OPTIONS = [("standard", {}), ("standard", {"ddof": 0}), ("standard", {"with_mean": False}),
           ("standard", {"with_std": False}), ("minmax", {}), ("minmax", {"feature_range": (-1.0, 1.0)}),
           ("minmax", {"clip": True}), ("maxabs", {}), ("maxabs", {"clip": True})]


def _model(inputs: nn.Module, target: nn.Module) -> nn.Sequential:
    tn.manual_seed(0)
    return nn.Sequential(inputs, nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1), target)


@pytest.mark.parametrize("method,options", OPTIONS, ids=[f"{m}-{o}" for m, o in OPTIONS])
@pytest.mark.parametrize("target_method", ["standard", "minmax", "maxabs"])
def test_a_bare_model_filled_from_the_file_predicts_bit_for_bit(tmp_path, method, options, target_method):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((300, 3)) * [1, 100, 1e4] + [0, 5, -3e3]).astype(np.float32)
    y = (x @ np.array([[1.0], [0.02], [1e-4]], np.float32) + 7).astype(np.float32)
    model = _model(nn.Normalize(tn.Normalizer(method, **options).fit(x)),
                   nn.Normalize(tn.Normalizer(target_method).fit(y), invert=True))
    path = tn.save(model.state_dict(), tmp_path / "model.npz")
    bare = _model(nn.Normalize(3), nn.Normalize(1, invert=True))
    result = bare.load_state_dict(tn.load(path))
    assert not result.missing_keys and not result.unexpected_keys
    new = (rng.standard_normal((50, 3)) * [2, 300, 3e4]).astype(np.float32)  # beyond the training range too
    with tn.no_grad():
        np.testing.assert_array_equal(bare(tn.Tensor(new)).numpy(), model(tn.Tensor(new)).numpy())
    assert bare[0].normalizer.get_params() == model[0].normalizer.get_params()


@pytest.mark.parametrize("method,stats", [("standard", {"mean": [1.0, 2.0, 3.0], "std": [0.5, 2.0, 10.0]}),
                                          ("minmax", {"min": [0.0, -1.0, 5.0], "max": [1.0, 1.0, 50.0]}),
                                          ("maxabs", {"max_abs": [1.0, 3.0, 40.0]})])
def test_given_statistics_round_trip_bit_for_bit(tmp_path, method, stats):
    model = _model(nn.Normalize(tn.Normalizer.from_stats(method, **stats)),
                   nn.Normalize(tn.Normalizer.from_stats("standard", mean=[10.0], var=[4.0], count=None), invert=True))
    path = tn.save(model.state_dict(), tmp_path / "model.npz")
    bare = _model(nn.Normalize(3), nn.Normalize(1, invert=True))
    bare.load_state_dict(tn.load(path))
    x = tn.Tensor(np.random.default_rng(1).standard_normal((20, 3)).astype(np.float32) * 10)
    with tn.no_grad():
        np.testing.assert_array_equal(bare(x).numpy(), model(x).numpy())
    assert bare[-1].normalizer.count is None
