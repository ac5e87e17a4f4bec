"""The README's commands and example stay true."""

from __future__ import annotations

import re

import numpy as np

from conftest import REPO

README = (REPO / "README.md").read_text()


def test_library_example_runs_and_learns(tmp_path, monkeypatch, capsys):
    code = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["loss"].item() < 0.05 * float(np.var(scope["y"]))  # it learned
    assert (tmp_path / "model.npz").is_file()
    assert "params:" in capsys.readouterr().out


def test_ci_runs_the_readme_test_command():
    command = re.search(r"# install the test extras and run the tests\n(.+)\n", README).group(1)
    assert command in (REPO / ".ci" / "run").read_text()
