"""One error story: every deliberate error is a tn.TinygradNormError that is also the built-in type users
catch for that mistake; the command line prints those (and file-system errors) as one line and lets bugs
keep their traceback."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_norm as tn
from tinygrad_norm import cli, nn


@pytest.mark.parametrize("error,builtin", [
    (tn.ShapeError, ValueError), (tn.DTypeError, TypeError), (tn.DeviceError, RuntimeError),
    (tn.ArgumentError, ValueError), (tn.ArgumentTypeError, TypeError), (tn.AxisError, IndexError),
    (tn.NotFittedError, ValueError), (tn.NotFittedError, AttributeError), (tn.CheckpointError, ValueError),
    (tn.DataError, ValueError), (tn.DivergenceError, RuntimeError), (tn.GraphError, RuntimeError),
    (tn.MissingDependencyError, ImportError), (tn.ArtifactError, RuntimeError),
])
def test_each_error_is_also_the_builtin_users_expect(error, builtin):
    assert issubclass(error, tn.TinygradNormError) and issubclass(error, builtin)


def test_the_same_mistake_raises_the_same_type_everywhere():
    a32, a64 = tn.Tensor([1.0]), tn.Tensor([1.0], dtype="float64")
    with pytest.raises(tn.DTypeError):
        a32 + a64
    with pytest.raises(tn.DTypeError):
        nn.functional.mse_loss(a32, a64)
    with pytest.raises(tn.DTypeError):
        tn.cat([a32, a64])
    tn.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 2))
    bad = {k: np.zeros((3, 3)) for k in model.state_dict()}
    with pytest.raises(tn.ShapeError, match="shape"):
        model.load_state_dict(bad)
    with pytest.raises(tn.ShapeError):
        tn.Tensor(np.ones((2, 3))) @ tn.Tensor(np.ones((2, 3)))
    with pytest.raises(tn.NotFittedError):
        tn.Normalizer().transform(np.ones((2, 2)))
    with pytest.raises(tn.DeviceError):
        tn.Tensor([1.0], device="tpu")


def test_cli_prints_our_errors_and_file_errors_in_one_line_and_bugs_with_a_traceback(capsys, monkeypatch, tmp_path):
    assert cli.main(["diagnose", "--data", str(tmp_path / "missing.csv")]) == 2
    assert capsys.readouterr().err.startswith("error: ")

    def bug(args):
        raise KeyError("an internal bug")

    parser = cli.build_parser()
    args = parser.parse_args(["experiments"])
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    monkeypatch.setattr(parser, "parse_args", lambda argv=None: args)
    args.run = bug
    with pytest.raises(KeyError, match="an internal bug"):
        cli.main([])


def test_ctrl_c_while_the_package_is_still_importing_ends_quietly(monkeypatch, capsys):
    import importlib.abc
    import sys

    import _tinygrad_norm_cli as launcher

    class Interrupting(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "tinygrad_norm.cli":
                raise KeyboardInterrupt
            return None

    monkeypatch.delitem(sys.modules, "tinygrad_norm.cli", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Interrupting(), *sys.meta_path])
    assert launcher.main(["--version"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_the_installed_command_goes_through_the_launcher():
    import configparser

    from conftest import REPO

    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    assert "tinygrad-norm = _tinygrad_norm_cli:main" in cfg["options.entry_points"]["console_scripts"]
