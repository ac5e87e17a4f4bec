"""The README's commands and example stay true."""

from __future__ import annotations

import re

import numpy as np

import tinygrad_norm as tn

from conftest import DASK_CLUSTER, REPO

README = (REPO / "README.md").read_text()


def test_library_example_runs_and_learns(tmp_path, monkeypatch, capsys):
    code = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["loss"].item() < 0.05 * float(np.var(scope["y"]))  # it learned
    assert (tmp_path / "model.npz").is_file()
    assert "params:" in capsys.readouterr().out
    # the README's rebuild: a bare model filled from the checkpoint predicts exactly as the trained one
    trained = scope["model"]
    rebuild = re.findall(r"```python\n(.*?)```", README.split("A model rebuilt the PyTorch way", 1)[1], re.S)[0]
    exec(compile(rebuild, "README.md", "exec"), scope)
    assert scope["model"] is not trained
    x = tn.Tensor(scope["X"][:100])
    with tn.no_grad():
        np.testing.assert_array_equal(scope["model"](x).numpy(), trained(x).numpy())


def test_ci_runs_the_readme_test_command():
    command = re.search(r"# install the test extras and run the tests\n(.+)\n", README).group(1)
    assert command in (REPO / ".ci" / "run").read_text()


def test_ci_runs_the_readme_main_job_without_a_data_variable():
    command = re.search(r"# install, train .*\n(.+)\n", README).group(1)
    assert command.startswith("pip install -e . && tinygrad-norm train && tinygrad-norm infer")
    ci = (REPO / ".ci" / "run").read_text()
    assert "env -u TINYGRAD_NORM_DATA" in ci and "tinygrad-norm train" in ci and "tinygrad-norm infer" in ci


def test_compare_shows_the_lesson_on_the_shipped_data(monkeypatch):
    """What the README's compare table claims, recomputed on the shipped data. Its digits depend on the CPU
    (BLAS kernels, FMA, thread splits), so this checks the claims, with margins far wider than any rounding."""
    from tinygrad_norm.examples.simple_regression import HousingDataset
    from tinygrad_norm.examples.simple_regression.compare import DEFAULT_RUNS, compare

    monkeypatch.delenv("TINYGRAD_NORM_DATA", raising=False)
    all_rows = compare(DEFAULT_RUNS, log=lambda *_: None)
    rows = {(r.run.norm, r.run.target_norm, r.run.optimizer, r.run.lr): r for r in all_rows}
    assert len(rows) == len(all_rows) == len(DEFAULT_RUNS)
    overflow, collapse = rows["none", "none", "sgd", 5e-3], rows["none", "none", "sgd", 1.5e-4]
    # unscaled plain SGD: inf/NaN in the first epoch, no model
    assert overflow.diverged == 1 and overflow.test is None
    # a learning rate small enough not to overflow: every ReLU dies, one prediction for every house
    assert collapse.diverged is None and collapse.dead == 64
    assert len(np.unique(collapse.test.predictions)) == 1 and collapse.test.spread == 0
    assert collapse.test.mse > 100 * collapse.test.baseline_mse  # far worse than predicting the mean
    layers = [r for r in all_rows if r.run.norm in ("batchnorm", "layernorm")]  # (their own claims, below)
    robust = [r for r in all_rows if r.run.norm == "robust"]  # (its claims: tests/test_robust.py)
    trained = [r for r in all_rows if r is not overflow and r is not collapse and r not in layers + robust]
    for r in trained:
        assert r.diverged is None and r.test.mse < 0.7 * r.test.baseline_mse, r.run  # they all learn
    raw_targets = [r for r in trained if r.run.target_norm == "none"]
    for opt in ("adam", "sgd"):  # standardized with the training split's statistics: the best with either optimizer
        best = min((r for r in raw_targets if r.run.optimizer == opt), key=lambda r: r.training.best_valid[0])
        assert best.run.norm == "standard"
        assert best.test.mse == min(r.test.mse for r in raw_targets if r.run.optimizer == opt)
        assert best.dead == 0
        # standardized targets too: every figure in the target's units, so the rows compare directly; the same
        # model within 15% (measured within 5%; 5 init seeds spread ~6%; an MSE in normalized units would be
        # 1 / var(target) = 0.75x)
        target = rows["standard", "standard", opt, best.run.lr]
        assert abs(target.test.mse / best.test.mse - 1) < 0.15, opt
        assert abs(target.training.best_valid[0] / best.training.best_valid[0] - 1) < 0.15, opt
    # batch-minmax: a house's prediction depends on its batch (by whole units of $100,000); fitted statistics
    # (or none) give the same prediction batched or alone up to float32 rounding of inputs up to ~35,000
    for r in trained:
        if r.run.norm == "batch-minmax":
            assert r.batch_vs_rows > 1.0 and r.batch_vs_batch > 0.1, r.run
        else:
            assert r.batch_vs_rows < 1e-2 and r.batch_vs_batch < 1e-2, r.run
    valid = HousingDataset.load().split()["valid"].targets.astype(np.float64)
    valid_baseline = float(np.mean((valid - collapse.training.target_mean) ** 2))
    standard = rows["standard", "none", "adam", 1e-3]
    for r in layers:
        assert r.diverged is None and r.dead is not None, r.run
        if r.run.norm == "batchnorm":
            # train mode: a row's output depends on its batch-mates (measured ~1.5); eval mode (running
            # estimates) gives the same prediction batched or alone; it learns by its validation loss, with
            # plain SGD too on the raw features (where none/sgd overflows)
            assert r.batch_vs_batch > 0.1 and r.batch_vs_rows < 1e-2, r.run
            assert r.training.best_valid[0] < 0.7 * valid_baseline, r.run
        else:
            # each house scaled by its own 8 values: barely better than the mean (measured test MSE 1.31,
            # spread 0.07 at 30 epochs), far behind standardizing each feature across houses
            assert r.test.mse > 2 * standard.test.mse and r.test.mse > 0.7 * r.test.baseline_mse, r.run
            assert r.test.spread < 0.5 and r.batch_vs_rows < 1e-2 and r.batch_vs_batch < 1e-2, r.run


def _readme_block(name: str) -> list[str]:
    begin, end = f"<!-- readme_tables: {name} -->\n", f"\n<!-- /readme_tables: {name} -->"
    assert README.count(begin) == 1 and README.count(end) == 1, f"README: the {name} block's markers"
    return README.split(begin, 1)[1].split(end, 1)[0].splitlines()


def _machine_line(lines: list[str]) -> None:
    assert re.fullmatch(r"Measured by `python bench/readme_tables.py` on \d{4}-\d\d-\d\d: .+ \d+ cores; Python "
                        r"[\d.]+, tinygrad_norm \S+, NumPy \S+ with .+, numba .+\.", lines[-1]), lines[-1]


def test_readme_compare_table_has_the_shape_the_script_prints():
    """bench/readme_tables.py writes the table: one row per default run, in order, every cell in its format."""
    from tinygrad_norm.examples.simple_regression.compare import DEFAULT_RUNS, HEADER

    lines = _readme_block("compare")
    _machine_line(lines)
    assert lines[0] == "| " + " | ".join(HEADER) + " |" and lines[1] == "|" + "---|" * len(HEADER)
    rows = [line.strip("|").split(" | ") for line in lines[2:2 + len(DEFAULT_RUNS)]]
    assert lines[2 + len(DEFAULT_RUNS)] == ""
    num = r"-?\d+\.\d+"
    cell = [None, None, None, None, rf"{num} \(\d+\)|-", rf"{num}|-", rf"{num}|-", rf"{num}|-", rf"{num}|-",
            rf"{num}|-", r"\d+|-", r"[\d.e+-]+|-", r"[\d.e+-]+|-", r"\d+/64|-", r"epoch \d+|-"]
    assert len(cell) == len(HEADER)
    for run, cells in zip(DEFAULT_RUNS, rows):
        cells = [c.strip() for c in cells]
        assert len(cells) == len(HEADER), run
        assert cells[:4] == [run.norm, run.target_norm, run.optimizer, f"{run.lr:g}"]
        for pattern, c in zip(cell[4:], cells[4:]):
            assert re.fullmatch(pattern, c), (run, c)


def test_readme_experiments_and_seeds_blocks_have_the_shape_the_script_prints():
    from tinygrad_norm import experiments
    from tinygrad_norm.examples.simple_regression.training import NORMS

    lines = _readme_block("experiments")
    _machine_line(lines)
    assert lines[0] == "```" and "```" in lines[1:-1]
    names = [line.split()[0] for line in lines if line.split() and line.split()[0] in experiments.SPECS]
    assert names == list(experiments.SPECS)
    lines = _readme_block("seeds")
    _machine_line(lines)
    assert lines[:2] == ["| `--norm` | best valid MSE | test MSE |", "|---|---|---|"]
    assert [re.match(r"\| `([\w-]+)`", line).group(1) for line in lines[2:2 + len(NORMS)]] == list(NORMS)
    for line in lines[2:2 + len(NORMS)]:
        assert re.fullmatch(r"\| `[\w-]+`[^|]* \| \d+\.\d{3} - \d+\.\d{3} \| \d+\.\d{3} - \d+\.\d{3} \|", line)


def section_code(title: str) -> list[str]:
    """The python blocks of the README section with this heading."""
    section = README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_fit_where_the_data_lives_pandas_and_sklearn_example_runs(tmp_path, monkeypatch):
    import pytest

    pytest.importorskip("pandas", reason="pandas is not installed (the 'dask' extra)")
    pytest.importorskip("sklearn", reason="scikit-learn is not installed (the 'bench' extra)")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(section_code("Fit where the data lives")[0], "README.md", "exec"), scope)
    np.testing.assert_allclose(scope["scaled"].to_numpy().std(0, ddof=1), 1.0, rtol=1e-12)
    assert list(scope["scaled"].index) == list("abcde")
    assert list(scope["pipe"][:-1].get_feature_names_out()) == ["rooms", "price"]


def test_fit_where_the_data_lives_dask_example_runs(tmp_path, monkeypatch, capsys, request):
    """The Dask example on small generated CSV files (on the shipped table it takes 5 s). The example's
    LocalCluster(...) is the session's cluster, which has exactly the README's settings: a second cluster
    would cost 3 s of start, stop and worker imports."""
    import contextlib

    import pytest

    pytest.importorskip("dask.dataframe", reason="dask[dataframe] is not installed (the 'dask' extra)")
    import dask.distributed

    import tinygrad_norm as tn
    from tinygrad_norm.datasets import COLUMNS, FEATURES, TARGET

    _, files_block, dask_block = section_code("Fit where the data lives")
    (tmp_path / "shipped").mkdir()
    monkeypatch.chdir(tmp_path / "shipped")
    exec(compile(files_block, "README.md", "exec"), {})  # the shipped table as 8 files
    files = sorted((tmp_path / "shipped" / "housing").glob("part-*.csv"))
    assert len(files) == 8 and sum(len(f.read_text().splitlines()) - 1 for f in files) == 20640
    # the example reads whatever housing/part-*.csv holds: here 4 small generated files
    assert 'read_csv("housing/part-*.csv")' in dask_block
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    parts = []
    scales = rng.uniform(0.5, 1000, len(FEATURES))  # features 2000x apart, a target of order 1 (as housing's)
    for i in range(4):
        z = rng.standard_normal((1000, len(FEATURES)))
        part = np.column_stack([z * scales + 50, z[:, :2] @ [0.8, -0.5] + 2.0])
        tn.datasets.write_csv(tmp_path / "housing" / f"part-{i}.csv", part, COLUMNS)
        parts.append(part)
    data = np.vstack(parts)
    cluster = request.getfixturevalue("dask_cluster")

    def local_cluster(**settings):
        assert settings == DASK_CLUSTER
        return contextlib.nullcontext(cluster)

    monkeypatch.setattr(dask.distributed, "LocalCluster", local_cluster)
    exec(compile(dask_block, "README.md", "exec"), {"__name__": "__main__"})
    saved = tn.Normalizer.from_state_dict(tn.load(tmp_path / "normalizer.npz"))
    assert saved.feature_names == FEATURES and TARGET not in saved.feature_names and saved.count == 4000
    ref = tn.Normalizer("standard").fit(data[:, :-1])
    np.testing.assert_allclose(saved.mean, ref.mean, rtol=1e-12)
    np.testing.assert_allclose(saved.std, ref.std, rtol=1e-12)
    losses = [float(v) for v in re.findall(r"train MSE (\S+)", capsys.readouterr().out)]
    assert len(losses) == 5 and losses[-1] < 0.5 * losses[0]  # it trained
    model = tn.load(tmp_path / "model.npz")
    assert model["normalize._extra_state"]["normalizer"]["count"] == 4000  # the statistics went with the weights


def test_statistics_given_and_drift_example_runs(capsys):
    scope: dict = {}
    exec(compile(section_code("Statistics given, and inference checked against them")[0], "README.md", "exec"), scope)
    assert scope["report"].flagged == ["distance"] and not scope["report"].ok
    assert scope["given"].count is None and scope["norm"].count == 1000
    assert "distance" in capsys.readouterr().out


def test_the_strict_inference_command_in_the_readme_runs(tmp_path, monkeypatch, capsys):
    """The README's train + `infer --strict` line, on the shipped data (fewer epochs): the test split passes."""
    import shlex

    from tinygrad_norm import cli

    line = re.search(r"```bash\n(tinygrad-norm train --norm standard[^\n]*)\n```", README).group(1)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TINYGRAD_NORM_DATA", raising=False)
    for command in line.split(" && "):
        argv = shlex.split(command)[1:] + (["--epochs", "2", "--no-progress"] if "train" in command else [])
        assert cli.main(argv) == 0, command
    out = capsys.readouterr().out
    assert "drift: no feature of the 1000 rows differs" in out and "target normalization: standard" in out
