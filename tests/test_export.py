"""Models leave the library: tn.export.to_torch / save_torch (torch), tn.export.to_onnx (ONNX, run by onnxruntime),
Normalizer.to_sklearn (scikit-learn's scalers) and `tinygrad-norm infer --export`.

Tolerances. An exported float32 model computes the same layers with another library's kernels (other summation
orders in the matrix products, fused batch-norm arithmetic): the outputs differ by a few float32 ulps of the
largest term, so they are compared with ``rtol=1e-5`` and ``atol=1e-5 * max|output|`` (the measured differences
are ~5e-7 of the largest output); float64 models with 1e-12. A model that computes anything else misses these by
orders of magnitude (the tests of the export-time check show it). The normalizers themselves are the same float32
operations in the same order, so a model that is only a normalizer matches bit for bit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import tinygrad_norm as tn
from tinygrad_norm import cli, nn
from tinygrad_norm.examples.simple_regression import TrainingConfig, train
from tinygrad_norm.examples.simple_regression.model import predict

quiet = lambda *_: None  # noqa: E731


def _close(theirs, ours, dtype=np.float32) -> None:
    """Equal to the dtype's rounding (see the module docstring)."""
    ours = np.asarray(ours, np.float64)
    tol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-12
    np.testing.assert_allclose(np.asarray(theirs, np.float64), ours, rtol=tol, atol=tol * np.abs(ours).max())


def _ours(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with tn.no_grad():
        return model.eval()(tn.Tensor(x, dtype=x.dtype)).numpy()


@pytest.fixture(scope="module")
def table() -> np.ndarray:
    """The whole shipped table's features, 20640 x 8, float32 (what the example model takes)."""
    x = tn.datasets.california_housing().features.astype(np.float32)
    assert x.shape == (20640, 8)
    return x


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The example model trained on the shipped data (2 epochs), with normalizers at both ends: the fitted input
    normalizer first, the target normalizer's inverse last."""
    result = train(TrainingConfig(num_epochs=2, norm="standard", target_norm="minmax", progress=False,
                                  artifact_dir=str(tmp_path_factory.mktemp("export") / "artifacts")), log=quiet)
    return result.model.eval()


def _features(rng, n=500, d=4) -> np.ndarray:
    """Columns on very different scales and offsets, as raw features are."""
    return (rng.standard_normal((n, d)) * np.array([1.0, 30.0, 0.01, 5e3])[:d] + np.array([0, -50, 3, 1e4])[:d])


def _bn(d: int, rng, **kw) -> nn.BatchNorm1d:
    """A BatchNorm1d whose running statistics and affine parameters are not their initial values."""
    layer = nn.BatchNorm1d(d, **kw)
    if layer.track_running_stats:
        layer.running_mean.data[...] = rng.standard_normal(d)
        layer.running_var.data[...] = rng.uniform(0.5, 2.0, d)
        layer.num_batches_tracked.data[...] = 7
    if layer.weight is not None:
        layer.weight.data[...] = rng.uniform(0.5, 1.5, d)
    if layer.bias is not None:
        layer.bias.data[...] = rng.standard_normal(d)
    return layer


def _ln(d: int, rng, **kw) -> nn.LayerNorm:
    layer = nn.LayerNorm(d, **kw)
    if layer.weight is not None:
        layer.weight.data[...] = rng.uniform(0.5, 1.5, d)
    if layer.bias is not None:
        layer.bias.data[...] = rng.standard_normal(d)
    return layer


# the activations and shape-keeping layers, with how to build each (those this tinygrad_norm has; the others skip)
ACTIVATIONS = {
    "ReLU": lambda: nn.ReLU(), "Sigmoid": lambda: nn.Sigmoid(), "Tanh": lambda: nn.Tanh(),
    "LeakyReLU": lambda: nn.LeakyReLU(0.2), "GELU": lambda: nn.GELU(), "GELU-tanh": lambda: nn.GELU("tanh"),
    "SiLU": lambda: nn.SiLU(), "Softmax": lambda: nn.Softmax(dim=1), "LogSoftmax": lambda: nn.LogSoftmax(dim=1),
    "Dropout": lambda: nn.Dropout(0.3), "Identity": lambda: nn.Identity(), "Flatten": lambda: nn.Flatten(),
}


def _activation(name: str) -> nn.Module:
    if not hasattr(nn, name.split("-")[0]):
        pytest.skip(f"tn.nn.{name.split('-')[0]} is not in this tinygrad_norm")
    return ACTIVATIONS[name]()


def _model(rng, x, activation: nn.Module, method: str = "minmax", dtype=np.float32) -> nn.Sequential:
    """Every kind of layer around ``activation``: a clipping min-max (or other) normalizer, Linear, BatchNorm1d
    (eval, running statistics), LayerNorm, and an inverted target normalizer last."""
    kw = {"feature_range": (-1.0, 2.0), "clip": True} if method == "minmax" else {"clip": method == "maxabs"}
    norm = tn.Normalizer(method, **kw).fit(x)
    target = tn.Normalizer("standard").fit(rng.standard_normal((100, 1)) * 3 + 7)
    model = nn.Sequential(nn.Normalize(norm), nn.Linear(x.shape[1], 6), _bn(6, rng), activation, nn.Linear(6, 5),
                          _ln(5, rng), nn.Tanh(), nn.Linear(5, 1), nn.Normalize(target, invert=True))
    return model.double() if dtype == np.float64 else model


# ---- to_torch -------------------------------------------------------------------------------------------------
def test_to_torch_is_the_trained_example_model_on_the_whole_table(trained, table):
    torch = pytest.importorskip("torch")
    from tinygrad_norm.export.torch_module import Normalize

    module = tn.export.to_torch(trained)
    assert isinstance(module, torch.nn.Sequential)
    assert [type(m) for m in module] == [Normalize, torch.nn.Linear, torch.nn.ReLU, torch.nn.Linear, Normalize]
    assert [name for name, _ in module.named_children()] == ["normalize", "input_layer", "activation", "output_layer",
                                                             "denormalize"]
    ours_state = trained.state_dict()
    for key, value in module.state_dict().items():  # the weights are ours, under our names
        if key in ours_state:
            np.testing.assert_array_equal(value.numpy(), ours_state[key].numpy(), err_msg=key)
    with torch.no_grad():
        theirs = module.eval()(torch.from_numpy(table)).numpy()
    assert theirs.dtype == np.float32
    _close(theirs, _ours(trained, table))


def test_torch_normalizers_are_buffers_that_state_dict_and_to_carry(trained, table, tmp_path):
    torch = pytest.importorskip("torch")
    module = tn.export.to_torch(trained)
    buffers = dict(module.named_buffers())
    assert {"normalize.shift", "normalize.scale", "denormalize.shift", "denormalize.scale"} <= set(buffers)
    assert not any(name.startswith(("normalize.", "denormalize.")) for name, _ in module.named_parameters())
    norm = trained.normalize.normalizer
    np.testing.assert_array_equal(buffers["normalize.shift"].numpy(), norm.mean)  # float64, as fitted
    np.testing.assert_array_equal(buffers["normalize.scale"].numpy(), 1 / norm.std)
    # torch.save of the state dict, into a fresh copy whose statistics were wiped: the same outputs
    torch.save(module.state_dict(), tmp_path / "state.pt")
    fresh = tn.export.to_torch(trained)
    for b in fresh.buffers():
        b.zero_()
    fresh.load_state_dict(torch.load(tmp_path / "state.pt"))
    x = torch.from_numpy(table[:2000])
    with torch.no_grad():
        np.testing.assert_array_equal(fresh.eval()(x).numpy(), module.eval()(x).numpy())
        # .to(float64) moves the buffers with the weights: the float64 module computes the same model
        double = module.to(torch.float64)
        assert double.normalize.shift.dtype == torch.float64 and double.input_layer.weight.dtype == torch.float64
        _close(double(x.double()).numpy(), _ours(trained, table[:2000]))


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_to_torch_translates_every_layer(activation, dtype, rng):
    torch = pytest.importorskip("torch")
    x = _features(rng)
    model = _model(rng, x, _activation(activation), dtype=dtype)
    module = tn.export.to_torch(model)
    probe = np.concatenate([x, x * 3 - 1]).astype(dtype)  # rows outside the min-max range: clipped
    with torch.no_grad():
        _close(module.eval()(torch.from_numpy(probe)).numpy(), _ours(model, probe), dtype)


@pytest.mark.parametrize("method", ["standard", "minmax", "maxabs"])
def test_a_normalizer_alone_is_bit_identical_in_torch(method, rng):
    torch = pytest.importorskip("torch")
    x = _features(rng).astype(np.float32)
    kw = {"standard": {}, "minmax": {"feature_range": (-1.0, 2.0), "clip": True}, "maxabs": {"clip": True}}[method]
    norm = tn.Normalizer(method, **kw).fit(x[:100])  # the other rows fall outside its range
    for layer in (nn.Normalize(norm), nn.Normalize(norm, invert=True)):
        module = tn.export.to_torch(nn.Sequential(layer))
        with torch.no_grad():
            np.testing.assert_array_equal(module(torch.from_numpy(x)).numpy(), _ours(nn.Sequential(layer), x))


def test_batchnorm_without_bias_and_layernorm_without_affine_translate(rng):
    torch = pytest.importorskip("torch")
    x = _features(rng).astype(np.float32)
    model = nn.Sequential(_bn(4, rng, bias=False), _ln(4, rng, elementwise_affine=False), nn.Linear(4, 2, bias=False),
                          _ln(2, rng, bias=False))
    module = tn.export.to_torch(model)
    assert module[0].bias is None and module[1].weight is None and module[2].bias is None
    with torch.no_grad():
        _close(module.eval()(torch.from_numpy(x)).numpy(), _ours(model, x))


def test_to_torch_keeps_each_layers_mode_and_trains_like_torch(rng):
    torch = pytest.importorskip("torch")
    x = _features(rng).astype(np.float32)
    model = nn.Sequential(nn.Linear(4, 3), _bn(3, rng))
    model.train()
    module = tn.export.to_torch(model)
    assert module.training and module[1].training
    assert model.training and model[1].training  # the export-time check ran in eval mode and put the mode back
    # one train-mode step in each: the same batch statistics, the same running-statistics update
    with torch.no_grad():
        theirs = module(torch.from_numpy(x)).numpy()
    with tn.no_grad():
        ours = model(tn.Tensor(x)).numpy()
    _close(theirs, ours)
    _close(module[1].running_mean.numpy(), model[1].running_mean.numpy())
    model.eval()
    assert not tn.export.to_torch(model).training


def test_a_declared_custom_module_exports_with_its_layer_names(rng):
    torch = pytest.importorskip("torch")

    class Net(nn.Module):
        def __init__(self, norm):
            self.norm = nn.Normalize(norm)
            self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
            self.head = nn.Linear(8, 2)

        def forward(self, x):
            return self.head(self.body(self.norm(x)))

        def export_layers(self):
            return [self.norm, self.body, self.head]

    x = _features(rng).astype(np.float32)
    model = Net(tn.Normalizer().fit(x))
    module = tn.export.to_torch(model)
    assert [n for n, _ in module.named_children()] == ["norm", "body_0", "body_1", "head"]
    with torch.no_grad():
        _close(module(torch.from_numpy(x)).numpy(), _ours(model, x))


def test_a_model_on_a_device_exports(device, rng, tmp_path):
    """The exporters read the weights and buffers from the model's device; the exported model is the same."""
    x = _features(rng).astype(np.float32)
    model = _model(rng, x, nn.ReLU()).to(device)
    with tn.no_grad():
        ours = model.eval()(tn.Tensor(x, device=device)).numpy()
    for what, export in _exporters(tmp_path):
        result = export(model)
        if what == "to_torch":
            import torch

            with torch.no_grad():
                _close(result.eval()(torch.from_numpy(x)).numpy(), ours)
        elif _has("onnxruntime"):
            _close(_session(tmp_path / "m.onnx").run(None, {"input": x})[0], ours)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# ---- errors (to_torch and to_onnx alike) ----------------------------------------------------------------------
class Square(nn.Module):
    def forward(self, x):
        return x * x


class Residual(nn.Module):
    """Declares one Linear, but its forward adds the input back: not what the declared layers compute."""

    def __init__(self):
        self.linear = nn.Linear(4, 4)

    def forward(self, x):
        return x + self.linear(x)

    def export_layers(self):
        return [self.linear]


def _exporters(tmp_path):
    """(name, export function) for each exporter whose library is installed."""
    out = []
    if _has("torch"):
        out.append(("to_torch", tn.export.to_torch))
    if _has("onnx"):
        out.append(("to_onnx", lambda model, **kw: tn.export.to_onnx(model, tmp_path / "m.onnx", **kw)))
    if not out:
        pytest.skip("neither torch nor onnx is installed")
    return out


def test_an_unfitted_normalize_is_refused(tmp_path):
    for _what, export in _exporters(tmp_path):
        with pytest.raises(tn.NotFittedError, match=r"Normalize layer\(s\) 0 hold no fitted normalizer"):
            export(nn.Sequential(nn.Normalize(4), nn.Linear(4, 1)))
    assert not (tmp_path / "m.onnx").exists()


def test_an_identity_normalize_exports_as_an_identity(tmp_path):
    model = nn.Sequential(nn.Normalize(4, identity=True), nn.Linear(4, 2))
    for _what, export in _exporters(tmp_path):
        export(model)  # (the export-time check compares it with ours)


def test_unsupported_layers_are_named(tmp_path):
    model = nn.Sequential(nn.Linear(4, 4), Square(), nn.ReLU(), Square())
    for what, export in _exporters(tmp_path):
        with pytest.raises(tn.ArgumentError, match=rf"{what}: 2 layer\(s\) cannot be exported: 1 \(Square\), "
                                                   r"3 \(Square\).*export_layers\(\)"):
            export(model)


def test_a_subclass_that_overrides_forward_is_not_its_base(tmp_path):
    class Doubled(nn.Linear):
        def forward(self, x):
            return super().forward(x) * 2

    for _what, export in _exporters(tmp_path):
        with pytest.raises(tn.ArgumentError, match=r"0 \(Doubled\)"):
            export(nn.Sequential(Doubled(4, 2)))


def test_a_forward_that_differs_from_its_declared_layers_is_refused(tmp_path):
    for _what, export in _exporters(tmp_path):
        with pytest.raises(tn.ArgumentError, match=r"outputs differ from Residual's.*Residual's forward\(\) does not "
                                                   r"apply the layers Residual.export_layers\(\) declares.*nothing "
                                                   "was exported"):
            export(Residual())
    assert not (tmp_path / "m.onnx").exists()


def test_a_model_in_the_wrong_order_is_refused(rng, tmp_path):
    """The declared layers, but in another order than forward applies them."""

    class Swapped(nn.Module):
        def __init__(self):
            self.a, self.b = nn.Linear(4, 4), nn.Tanh()

        def forward(self, x):
            return self.b(self.a(x))

        def export_layers(self):
            return [self.b, self.a]

    for _what, export in _exporters(tmp_path):
        with pytest.raises(tn.ArgumentError, match="outputs differ"):
            export(Swapped())


def test_export_layers_must_return_modules(tmp_path):
    class Bad(nn.Module):
        def __init__(self):
            self.a = nn.Linear(4, 4)

        def forward(self, x):
            return self.a(x)

        def export_layers(self):
            return [self.a, "relu"]

    for _what, export in _exporters(tmp_path):
        with pytest.raises(tn.ArgumentTypeError, match="export_layers\\(\\) item 1 is a str"):
            export(Bad())


def test_example_input_is_checked(tmp_path):
    model = nn.Sequential(nn.Linear(4, 2))
    for _what, export in _exporters(tmp_path):
        with pytest.raises(tn.ShapeError, match=r"example_input must be a 2-D batch \(N, 4\)"):
            export(model, example_input=np.zeros((3, 5), np.float32))
        with pytest.raises(tn.ArgumentError, match="NaN or inf"):
            export(model, example_input=np.full((3, 4), np.nan, np.float32))
        with pytest.raises(tn.ArgumentError, match="pass example_input="):  # no layer says the input width
            export(nn.Sequential(nn.ReLU()))
        export(nn.Sequential(nn.ReLU()), example_input=np.ones((2, 3), np.float32))


def test_a_module_that_is_not_ours_is_refused(tmp_path):
    for _what, export in _exporters(tmp_path):
        with pytest.raises(tn.ArgumentTypeError, match="takes a tinygrad_norm nn.Module, got list"):
            export([nn.Linear(2, 2)])


# ---- save_torch: a file that torch alone loads --------------------------------------------------------------------
def _run_without_tinygrad_norm(code: str, cwd: Path) -> None:
    """``code`` in an isolated interpreter (-I: no PYTHONPATH, no script folder) from ``cwd``, with tinygrad_norm
    made unimportable (it is installed in this environment): what a machine with torch alone does."""
    prelude = "import sys\nsys.modules['tinygrad_norm'] = None  # import tinygrad_norm -> ImportError\n"
    res = subprocess.run([sys.executable, "-I", "-c", prelude + textwrap.dedent(code)], cwd=cwd, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]


def _load_pt2_elsewhere(path: Path, x: np.ndarray, tmp_path: Path) -> np.ndarray:
    np.save(tmp_path / "x.npy", x)
    _run_without_tinygrad_norm(f"""
        import numpy as np, torch
        program = torch.export.load({str(path)!r})
        assert "tinygrad_norm" not in sys.modules or sys.modules["tinygrad_norm"] is None
        x = torch.from_numpy(np.load({str(tmp_path / "x.npy")!r}))
        with torch.no_grad():
            np.save({str(tmp_path / "y.npy")!r}, program.module()(x).numpy())
    """, tmp_path)
    return np.load(tmp_path / "y.npy")


def test_save_torch_writes_a_program_torch_alone_loads(trained, table, tmp_path):
    pytest.importorskip("torch")
    path = tn.export.save_torch(trained, tmp_path / "model.pt2")
    assert path == tmp_path / "model.pt2"
    _close(_load_pt2_elsewhere(path, table, tmp_path), _ours(trained, table))
    # any batch size, one row included (the batch dimension is dynamic)
    _close(_load_pt2_elsewhere(path, table[:1], tmp_path), _ours(trained, table[:1]))


def test_save_torch_refuses_other_names_and_keeps_an_existing_file(tmp_path):
    pytest.importorskip("torch")
    with pytest.raises(tn.ArgumentError, match=r"ends in \.pt2"):
        tn.export.save_torch(nn.Sequential(nn.Linear(2, 1)), tmp_path / "model.pt")
    with pytest.raises(tn.ArgumentTypeError, match="path must be a file path"):
        tn.export.save_torch(nn.Sequential(nn.Linear(2, 1)), 3)
    target = tmp_path / "model.pt2"
    target.write_bytes(b"the previous model")
    with pytest.raises(tn.ArgumentError, match="outputs differ"):
        tn.export.save_torch(Residual(), target)
    assert target.read_bytes() == b"the previous model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt2"]  # no temporary file left behind


# ---- to_onnx ----------------------------------------------------------------------------------------------------
def _session(path: Path):
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_to_onnx_is_the_trained_example_model_on_the_whole_table(trained, table, tmp_path):
    onnx = pytest.importorskip("onnx")
    proto = tn.export.to_onnx(trained, tmp_path / "model.onnx")
    loaded = onnx.load(tmp_path / "model.onnx")
    onnx.checker.check_model(loaded, full_check=True)
    assert loaded.SerializeToString() == proto.SerializeToString()
    assert [(o.domain, o.version) for o in loaded.opset_import] == [("", 17)]
    (inp,), (out,) = loaded.graph.input, loaded.graph.output
    assert (inp.name, out.name) == ("input", "output")
    assert [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim] == ["batch", 8]
    assert [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim] == ["batch", 1]
    ops = [n.op_type for n in loaded.graph.node]
    # standard in, minmax (0, 1) inverted out: no offset, no clip
    assert ops == ["Sub", "Mul", "Gemm", "Relu", "Gemm", "Div", "Add", "Identity"]
    inits = {i.name for i in loaded.graph.initializer}
    assert {"normalize.shift", "normalize.scale", "input_layer.weight", "denormalize.shift"} <= inits
    theirs = _session(tmp_path / "model.onnx").run(None, {"input": table})[0]
    _close(theirs, _ours(trained, table))


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_to_onnx_translates_every_layer(activation, dtype, rng, tmp_path):
    pytest.importorskip("onnx")
    x = _features(rng)
    model = _model(rng, x, _activation(activation), dtype=dtype)
    tn.export.to_onnx(model, tmp_path / "m.onnx")  # (checked at export by onnx's reference evaluator)
    if activation == "GELU" and dtype == np.float64:
        pytest.skip("onnxruntime has no float64 Erf kernel; the exported graph is valid ONNX (checked at export)")
    probe = np.concatenate([x, x * 3 - 1]).astype(dtype)
    _close(_session(tmp_path / "m.onnx").run(None, {"input": probe})[0], _ours(model, probe), dtype)


@pytest.mark.parametrize("method", ["standard", "maxabs"])
def test_to_onnx_other_normalizers_and_names(method, rng, tmp_path):
    pytest.importorskip("onnx")
    x = _features(rng).astype(np.float32)
    model = _model(rng, x, nn.ReLU(), method=method)
    tn.export.to_onnx(model, tmp_path / "m.onnx", input_name="features", output_name="price")
    session = _session(tmp_path / "m.onnx")
    assert [i.name for i in session.get_inputs()] == ["features"] and session.get_outputs()[0].name == "price"
    _close(session.run(None, {"features": x * 2})[0], _ours(model, x * 2))


def test_to_onnx_refuses_batch_statistics_and_keeps_the_existing_file(rng, tmp_path):
    pytest.importorskip("onnx")
    target = tmp_path / "m.onnx"
    target.write_bytes(b"the previous model")
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3, track_running_stats=False))
    with pytest.raises(tn.ArgumentError, match="track_running_stats=False"):
        tn.export.to_onnx(model, target)
    with pytest.raises(tn.ArgumentError, match="cannot be exported"):
        tn.export.to_onnx(nn.Sequential(Square()), target, example_input=np.ones((2, 4), np.float32))
    assert target.read_bytes() == b"the previous model"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_to_onnx_bad_paths(tmp_path):
    pytest.importorskip("onnx")
    model = nn.Sequential(nn.Linear(2, 1))
    with pytest.raises(IsADirectoryError, match="is a directory"):
        tn.export.to_onnx(model, tmp_path)
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError):  # a folder that is a file
        tn.export.to_onnx(model, tmp_path / "file" / "m.onnx")
    with pytest.raises(tn.ArgumentTypeError, match="path must be a file path"):
        tn.export.to_onnx(model, None)
    with pytest.raises(tn.ArgumentError, match="must differ"):
        tn.export.to_onnx(model, tmp_path / "m.onnx", input_name="x", output_name="x")


# ---- Normalizer.to_sklearn --------------------------------------------------------------------------------------
SCALERS = [
    ("standard", {}), ("standard", {"ddof": 0}), ("standard", {"ddof": 3}), ("standard", {"with_mean": False}),
    ("standard", {"with_std": False}), ("standard", {"with_mean": False, "with_std": False}),
    ("minmax", {}), ("minmax", {"feature_range": (-1.0, 2.0), "clip": True}),
    ("maxabs", {}), ("maxabs", {"clip": True}),
]


def _fitted_attributes(scaler) -> set[str]:
    return {k for k in vars(scaler) if k.endswith("_") and not k.startswith("_")}


def _check_sklearn(norm: tn.Normalizer, scaler, x: np.ndarray) -> None:
    """transform and inverse_transform equal ours. Both are the same affine map in float64, computed in another
    order (sklearn divides by scale_ where we multiply by its inverse; min-max adds min_ = low - min * scale_ after
    the product where we subtract min first): a few ulps of the largest intermediate, so rtol 1e-12 with an atol
    of 1e-12 times the largest magnitude involved."""
    ours, theirs = norm.transform(x), scaler.transform(x)
    np.testing.assert_allclose(theirs, ours, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(ours).max()))
    back = norm.inverse_transform(ours)
    np.testing.assert_allclose(scaler.inverse_transform(ours), back, rtol=1e-12, atol=1e-12 * np.abs(back).max())


@pytest.mark.filterwarnings("ignore::tinygrad_norm.NormalizerWarning")  # (the constant feature, on purpose)
@pytest.mark.parametrize("method, options", SCALERS, ids=[f"{m}-{o}" for m, o in SCALERS])
def test_to_sklearn_transforms_as_ours_on_random_data(method, options, rng):
    pytest.importorskip("sklearn")
    x = _features(rng, 300)
    x[:, 2] = 5.0  # a constant feature: scale 1 in ours and in the scaler
    norm = tn.Normalizer(method, **options).fit(x[:200])
    scaler = norm.to_sklearn()
    _check_sklearn(norm, scaler, x)  # the rows after the fitted ones fall outside its range: clipping is exercised
    assert scaler.n_samples_seen_ == 200 and scaler.n_features_in_ == 4
    assert not hasattr(scaler, "feature_names_in_")


@pytest.mark.parametrize("method, options", SCALERS, ids=[f"{m}-{o}" for m, o in SCALERS])
def test_to_sklearn_sets_what_sklearns_own_fit_sets_on_the_housing_table(method, options):
    """The same fitted attributes as the scaler's own fit; equal values where the definitions agree (ddof 0),
    our std where ours is another ddof; and the transform on the whole table."""
    pytest.importorskip("sklearn")
    from sklearn import preprocessing

    x = tn.datasets.california_housing().features
    names = tn.datasets.FEATURES
    norm = tn.Normalizer(method, feature_names=names, **options).fit(x)
    scaler = norm.to_sklearn()
    with warnings.catch_warnings():  # (an array, to a scaler that knows the feature names: sklearn warns)
        warnings.simplefilter("ignore", UserWarning)
        _check_sklearn(norm, scaler, x)
    sk_options = {k: v for k, v in options.items() if k != "ddof"}
    own = {"standard": preprocessing.StandardScaler, "minmax": preprocessing.MinMaxScaler,
           "maxabs": preprocessing.MaxAbsScaler}[method](**sk_options).fit(x)
    assert type(scaler) is type(own) and scaler.get_params() == own.get_params()
    assert _fitted_attributes(scaler) | {"feature_names_in_"} == _fitted_attributes(own) | {"feature_names_in_"}
    assert list(scaler.feature_names_in_) == names and scaler.n_samples_seen_ == own.n_samples_seen_ == 20640
    for key in _fitted_attributes(own) - {"scale_", "feature_names_in_"}:
        mine, theirs = getattr(scaler, key), getattr(own, key)
        if theirs is None or np.isscalar(theirs):
            assert mine == theirs, key
        else:
            np.testing.assert_allclose(mine, theirs, rtol=1e-12, err_msg=key)
    if own.scale_ is not None:
        ddof = options.get("ddof", 1) if method == "standard" else 0
        x64 = x.astype(np.float64)
        expected = {"standard": x64.std(0, ddof=ddof), "minmax": (options.get("feature_range", (0, 1))[1]
                                                                   - options.get("feature_range", (0, 1))[0])
                    / np.ptp(x64, 0), "maxabs": np.abs(x64).max(0)}[method]
        np.testing.assert_allclose(scaler.scale_, expected, rtol=1e-12)
        if ddof == 0:
            np.testing.assert_allclose(scaler.scale_, own.scale_, rtol=1e-12)


def test_to_sklearn_var_is_what_partial_fit_continues_from(rng):
    """var_ is the fitted rows' own variance (ddof 0), as sklearn keeps it: its partial_fit on more rows gives the
    statistics of all the rows (and, from then on, sklearn's population std)."""
    pytest.importorskip("sklearn")
    from sklearn.preprocessing import StandardScaler

    x = _features(rng, 400)
    scaler = tn.Normalizer("standard").fit(x[:250]).to_sklearn()  # ddof 1
    np.testing.assert_allclose(scaler.var_, x[:250].var(0), rtol=1e-12)
    scaler.partial_fit(x[250:])
    whole = StandardScaler().fit(x)
    for key in ("mean_", "var_", "scale_"):
        np.testing.assert_allclose(getattr(scaler, key), getattr(whole, key), rtol=1e-10, err_msg=key)
    assert scaler.n_samples_seen_ == 400


def test_to_sklearn_errors_and_pandas_output(rng):
    pytest.importorskip("sklearn")
    with pytest.raises(tn.NotFittedError, match="to_sklearn: this Normalizer is not fitted"):
        tn.Normalizer().to_sklearn()
    given = tn.Normalizer.from_stats("standard", mean=[0.0, 1.0], var=[1.0, 4.0])
    with pytest.raises(tn.ArgumentError, match=r"unknown number of rows.*from_stats\(\.\.\., count=N\)"):
        given.to_sklearn()
    counted = tn.Normalizer.from_stats("standard", mean=[0.0, 1.0], var=[1.0, 4.0], count=10)
    np.testing.assert_allclose(counted.to_sklearn().scale_, [1.0, 2.0], rtol=1e-15)
    bad = tn.Normalizer("minmax").fit(_features(rng))
    bad.set_params(ddof=0)  # stored, as a grid search would; refused when used
    with pytest.raises(tn.ArgumentError, match="to_sklearn: Normalizer\\('minmax'\\) does not use ddof=0"):
        bad.to_sklearn()
    pd = pytest.importorskip("pandas")
    x = pd.DataFrame(_features(rng), columns=["a", "b", "c", "d"])
    scaler = tn.Normalizer().set_output(transform="pandas").fit(x).to_sklearn()
    out = scaler.transform(x)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == ["a", "b", "c", "d"]
    assert list(scaler.feature_names_in_) == ["a", "b", "c", "d"]


# ---- tinygrad-norm infer --export --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """A model trained by the command line on the shipped data (1 epoch, input and target normalization)."""
    folder = tmp_path_factory.mktemp("cli") / "artifacts"
    env = os.environ.pop("TINYGRAD_NORM_DATA", None)
    try:
        assert cli.main(["train", "--epochs", "1", "--norm", "minmax", "--target-norm", "standard", "--no-progress",
                         "--artifact-dir", str(folder)]) == 0
    finally:
        if env is not None:
            os.environ["TINYGRAD_NORM_DATA"] = env
    return folder


def _trained_model(artifacts):
    from tinygrad_norm.examples.simple_regression.inference import load_checkpoint

    return load_checkpoint(artifacts)[0]


def test_infer_export_onnx(artifacts, table, tmp_path, capsys, monkeypatch):
    pytest.importorskip("onnx")
    monkeypatch.delenv("TINYGRAD_NORM_DATA", raising=False)
    path = tmp_path / "out" / "model.onnx"
    assert cli.main(["infer", "--artifact-dir", str(artifacts), "--no-chart", "--export", "onnx", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"exported the model to {path}, ONNX (opset 17): input 'input', output 'output'" in out
    assert "the target normalizer's inverse inside" in out
    theirs = _session(path).run(None, {"input": table})[0].ravel()
    _close(theirs, predict(_trained_model(artifacts), table, "minmax"))


def test_infer_export_torch_loads_with_torch_alone(artifacts, table, tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.delenv("TINYGRAD_NORM_DATA", raising=False)
    path = tmp_path / "model.pt2"
    path.write_bytes(b"an older export")  # replaced
    assert cli.main(["infer", "--artifact-dir", str(artifacts), "--no-chart", "--samples", "5", "--export", "torch",
                     str(path)]) == 0
    assert f"exported the model to {path}, a torch.export program" in capsys.readouterr().out
    theirs = _load_pt2_elsewhere(path, table, tmp_path).ravel()
    _close(theirs, predict(_trained_model(artifacts), table, "minmax"))


def test_infer_export_errors(artifacts, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TINYGRAD_NORM_DATA", raising=False)
    base = ["infer", "--artifact-dir", str(artifacts), "--no-chart", "--samples", "5", "--export"]
    assert cli.main([*base, "tflite", str(tmp_path / "m.tflite")]) == 2
    assert "unknown format 'tflite'; choose one of torch, onnx" in capsys.readouterr().err
    assert cli.main([*base, "torch", str(tmp_path / "m.pt")]) == 2
    assert "name ends in .pt2" in capsys.readouterr().err
    assert cli.main([*base, "onnx", str(tmp_path)]) == 2
    assert "that is a folder" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_infer_export_refuses_a_batch_minmax_model(tmp_path, capsys, monkeypatch):
    pytest.importorskip("onnx")
    monkeypatch.delenv("TINYGRAD_NORM_DATA", raising=False)
    folder = tmp_path / "artifacts"
    assert cli.main(["train", "--epochs", "1", "--norm", "batch-minmax", "--no-progress", "--artifact-dir",
                     str(folder)]) == 0
    capsys.readouterr()
    assert cli.main(["infer", "--artifact-dir", str(folder), "--no-chart", "--export", "onnx",
                     str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr()
    assert "batch-minmax" in err.err and "Predicted" not in err.out  # refused before the work
    assert not (tmp_path / "m.onnx").exists()
