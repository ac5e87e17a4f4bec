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


def test_ci_runs_the_readme_main_job_without_a_data_variable():
    command = re.search(r"# install, train .*\n(.+)\n", README).group(1)
    assert command.startswith("pip install -e . && tinygrad-norm train && tinygrad-norm infer")
    ci = (REPO / ".ci" / "run").read_text()
    assert "env -u TINYGRAD_NORM_DATA" in ci and "tinygrad-norm train" in ci and "tinygrad-norm infer" in ci


def test_compare_symptoms_in_the_readme_hold(monkeypatch):
    """The two rows of the README's compare table that carry the lesson, recomputed on the shipped data."""
    from tinygrad_norm.examples.simple_regression.compare import DEFAULT_RUNS, compare, table_rows

    monkeypatch.delenv("TINYGRAD_NORM_DATA", raising=False)
    runs = [r for r in DEFAULT_RUNS if r.norm == "none" and r.optimizer == "sgd"]
    rows = compare(runs, log=lambda *_: None)
    for cells in table_rows(rows):
        assert "| " + " | ".join(cells) + " |" in README, cells
    overflow, collapse = rows
    assert overflow.diverged == 1 and collapse.dead == 64 and len(np.unique(collapse.test.predictions)) == 1
