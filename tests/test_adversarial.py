"""The adversarial suite: crafted checkpoints, CSV files, flags, API inputs and file-system faults thrown at
the command line and the library, each probe classified as it ends.

Every probe must end as a clear error (one of our errors, or the CLI's exit 2 with a one-line
``error:``), or succeed with the right result. Counted as failures: tracebacks (any other exception),
silently wrong results, memory blow-ups (a traced peak over 200 MB), good models replaced and
temporary files left behind. The counts are printed at the end of the test session.
"""

from __future__ import annotations

import errno
import io
import json
import os
import tracemalloc
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from test_regression import raw_statlib

import tinygrad_norm as tn
from tinygrad_norm import cli
from tinygrad_norm.examples.simple_regression import TrainingConfig, train

PEAK_LIMIT = 200 << 20
COUNTS: Counter = Counter()


def pytest_terminal_summary_line() -> str:
    c = COUNTS
    return (f"adversarial probes: {c['tried']} tried, {c['clear error']} clear errors, {c['right result']} right "
            f"results, tracebacks {c['traceback']}, silent wrong results {c['silent wrong']}, memory blow-ups "
            f"{c['memory']}, good models replaced {c['replaced']}, temp files left {c['temp files']}")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A small CSV and a good trained model whose artifacts every probe must leave alone."""
    root = tmp_path_factory.mktemp("adversarial")
    csv = tn.datasets.write_csv(root / "housing.csv", tn.datasets.convert_statlib(raw_statlib(400)))
    art = root / "good"
    train(TrainingConfig(num_epochs=2, data=str(csv), artifact_dir=str(art), progress=False), log=lambda *_: None)
    return {"root": root, "csv": csv, "art": art, "model": (art / "model.npz").read_bytes()}


def _temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.tmp")]


def run_probe(world, action, check=None) -> str:
    """Run one probe; classify and count how it ended. ``action()`` returns the CLI's exit code or a value;
    ``check(value)`` says whether a successful result is right."""
    COUNTS["tried"] += 1
    tracemalloc.start()
    try:
        value = action()
        outcome = "right result"
        if isinstance(value, int) and not isinstance(value, bool) and check is None:
            outcome = "clear error" if value == 2 else ("right result" if value == 0 else "traceback")
        elif check is not None and not check(value):
            outcome = "silent wrong"
    except tn.TinygradNormError:
        outcome = "clear error"
    except SystemExit as e:  # argparse rejecting a flag: usage plus a one-line error, exit 2
        outcome = "clear error" if e.code == 2 else "traceback"
    except Exception:  # noqa: BLE001 - anything else escaping is what this suite hunts
        outcome = "traceback"
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    if peak > PEAK_LIMIT:
        COUNTS["memory"] += 1
    if (world["art"] / "model.npz").read_bytes() != world["model"]:
        COUNTS["replaced"] += 1
        (world["art"] / "model.npz").write_bytes(world["model"])
    if _temp_files(world["root"]):
        COUNTS["temp files"] += 1
        for p in _temp_files(world["root"]):
            p.unlink()
    COUNTS[outcome] += 1
    return outcome


def _craft(path: Path, mutate) -> Path:
    """Rewrite a checkpoint with its description (and tensors) changed by ``mutate(tree)``."""
    state = tn.load(path)
    mutate(state)
    tn.save(state, path)
    return path


def _raw_description(path: Path, text: str) -> Path:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.frombuffer(text.encode(), np.uint8))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("__tinygrad_norm__.npy", buf.getvalue())
    return path


# ---- crafted checkpoints through `infer` ----------------------------------------------------------------------
def _checkpoint_probes(good: bytes):
    rng = np.random.default_rng(7)
    probes = []
    for cut in rng.choice(len(good), 25, replace=False):
        probes.append(("truncated", lambda p, c=int(cut): p.write_bytes(good[:c])))
    for bit in rng.choice(len(good) * 8, 40, replace=False):
        def flip(p, b=int(bit)):
            blob = bytearray(good)
            blob[b // 8] ^= 1 << (b % 8)
            p.write_bytes(bytes(blob))
        probes.append(("bit flip", flip))
    mutations = {
        "config missing norm": lambda s: s["config"].pop("norm"),
        "config missing hidden_size": lambda s: s["config"].pop("hidden_size"),
        "config hidden_size 10**12": lambda s: s["config"].update(hidden_size=10**12),
        "config is a list": lambda s: s.update(config=[1, 2]),
        "best is a list": lambda s: s.update(best=[1]),
        "model entry is a list": lambda s: s["best"].update(model=[1, 2]),
        "epoch is a string": lambda s: s["best"].update(epoch="7"),
        "version is a string": lambda s: s.update(version="2"),
        "weights NaN": lambda s: s["best"]["model"]["input_layer.weight"].data.fill(np.nan),
        "weight shape wrong": lambda s: s["best"]["model"].update({"input_layer.weight": tn.Tensor(np.ones((3, 3)))}),
        "bias missing": lambda s: s["best"]["model"].pop("output_layer.bias"),
        "normalizer method unknown": lambda s: s["best"]["model"]["normalize._extra_state"]["normalizer"]["config"]
        .update(method="zscore"),
        "normalizer count negative": lambda s: s["best"]["model"]["normalize._extra_state"]["normalizer"]
        .update(count=-5),
        "normalizer arrays short": lambda s: s["best"]["model"]["normalize._extra_state"]["normalizer"]
        .update(min=np.zeros(3)),
        "normalizer extra state a string": lambda s: s["best"]["model"].update({"normalize._extra_state": "x"}),
        "data is a list": lambda s: s.update(data=[1]),
        "data fingerprint a number": lambda s: s.update(data={"fingerprint": 5}),
        "config data names a file": lambda s: s["config"].update(data="/etc/passwd"),
        "target_mean a string": lambda s: s.update(target_mean="x"),
        "normalizer statistics removed": lambda s: s["best"]["model"]["normalize._extra_state"].pop("normalizer"),
        "normalizer min == max everywhere": lambda s: s["best"]["model"]["normalize._extra_state"]["normalizer"]
        .update(max=s["best"]["model"]["normalize._extra_state"]["normalizer"]["min"].copy()),
        "normalize layer neither fitted nor identity": lambda s: s["best"]["model"].update(
            {"normalize._extra_state": {"n_features": 8, "identity": False}}),
    }
    for name, mutate in mutations.items():
        probes.append((name, lambda p, m=mutate: _craft(p, m)))
    raw = {
        "description a list": "[1, 2, 3]",
        "deep nesting": '{"format": "tinygrad_norm", "version": 2, "tree": ' + '{"__list__": [' * 3000 + "1"
                        + "]}" * 3000 + "}",
        "unclosed json": "{" * 50_000,
        "member 2**40": None,
    }
    for name, text in raw.items():
        if text is not None:
            probes.append((name, lambda p, t=text: _raw_description(p, t)))
    def huge_member(p):
        desc = json.dumps({"format": "tinygrad_norm", "version": 2, "tree": {"__array__": "a0"}})
        _raw_description(p, desc)
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (2**40,)})
        with zipfile.ZipFile(p, "a") as zf:
            zf.writestr("a0.npy", header.getvalue() + b"\0" * 64)
    probes.append(("member 2**40", huge_member))
    def model_is_directory(p):
        p.unlink()
        p.mkdir()
    probes.append(("model.npz is a directory", model_is_directory))
    return probes


def test_crafted_checkpoints(world, tmp_path):
    expected = cli_infer_mse(world, world["art"])
    for i, (name, make) in enumerate(_checkpoint_probes(world["model"])):
        art = tmp_path / f"{i}-{name.replace(' ', '_').replace('*', '')}"
        art.mkdir()
        (art / "model.npz").write_bytes(world["model"])
        make(art / "model.npz")
        outcome = run_probe(world, lambda a=art: cli_infer_mse(world, a), check=lambda mse: mse == expected)
        assert outcome in ("clear error", "right result"), f"{name}: {outcome}"


def cli_infer_mse(world, art: Path) -> float:
    lines: list[str] = []
    from tinygrad_norm.examples.simple_regression import infer

    try:
        return infer(art, data=str(world["csv"]), show_chart=False, log=lines.append).mse
    except OSError as e:  # the CLI shows these in one line too
        raise tn.CheckpointError(str(e)) from e


# ---- CSV files and flags through the command line ---------------------------------------------------------
ROW = ",".join(["1"] * 9)
HEADER = ",".join(tn.datasets.COLUMNS)
CSV_PROBES = {
    "blank lines then a bad cell": HEADER + "\n" + ROW + "\n\n\n" + "y," + ",".join(["1"] * 8) + "\n",
    "hash inside data": HEADER + "\n9.99#oops," + ",".join(["1"] * 8) + "\n",
    "underscore digits": HEADER + "\n1_000," + ",".join(["1"] * 8) + "\n",
    "full-width digit": HEADER + "\n\uff11," + ",".join(["1"] * 8) + "\n",
    "too large for float32": HEADER + "\n" + ",".join(["1"] * 4 + ["1e39"] + ["1"] * 4) + "\n",
    "a 2 MB cell": HEADER + "\n" + "x" * 2_000_000 + "," + ",".join(["1"] * 8) + "\n",
    "missing column": ",".join(tn.datasets.COLUMNS[:-1]) + "\n" + ",".join(["1"] * 8) + "\n",
    "extra column": HEADER + ",Extra\n" + ",".join(["1"] * 10) + "\n",
    "empty file": "",
    "header only": HEADER + "\n",
    "nan cell": HEADER + "\n" + ",".join(["nan"] * 9) + "\n",
    "inf cell": HEADER + "\n" + ",".join(["inf"] * 9) + "\n",
    "short row": HEADER + "\n" + ROW + "\n1,2\n",
    "raw file with 3 columns": "1,2,3\n4,5,6\n",
    "raw file with zero households": "\n".join([",".join(["1"] * 6 + ["0"] + ["1"] * 2)] * 30) + "\n",
}


def test_crafted_csv_files(world, tmp_path, capsys):
    for name, text in CSV_PROBES.items():
        path = tmp_path / f"{name.replace(' ', '_')}.csv"
        path.write_text(text, encoding="utf-8")
        outcome = run_probe(world, lambda p=path: cli.main(["train", "--data", str(p), "--epochs", "1",
                                                             "--artifact-dir", str(world["art"])]))
        err = capsys.readouterr().err
        assert outcome == "clear error" and "Traceback" not in err and len(err) < 1000, f"{name}: {outcome} {err}"
    for name, blob in {"latin-1 bytes": HEADER.encode() + b"\ncaf\xe9\n", "bom header": b"\xef\xbb\xbf" + b"x"}.items():
        path = tmp_path / f"{name.replace(' ', '_')}.csv"
        path.write_bytes(blob)
        outcome = run_probe(world, lambda p=path: cli.main(["train", "--data", str(p), "--epochs", "1",
                                                             "--artifact-dir", str(world["art"])]))
        assert outcome == "clear error", name
    for name, path in {"a directory": tmp_path, "no such file": tmp_path / "nope.csv"}.items():
        outcome = run_probe(world, lambda p=path: cli.main(["train", "--data", str(p), "--artifact-dir",
                                                             str(world["art"])]))
        assert outcome == "clear error", name
    capsys.readouterr()


FLAG_PROBES = [
    ["train", "--seed", "-1"], ["train", "--seed", "99999999999"], ["train", "--epochs", "0"],
    ["train", "--epochs", "-3"], ["train", "--batch-size", "0"], ["train", "--hidden-size", "1000000000000"],
    ["train", "--lr", "inf"], ["train", "--lr", "-1"], ["train", "--lr", "nan"], ["train", "--lr", "0"],
    ["train", "--device", "tpu"], ["train", "--device", "cuda:7"], ["train", "--norm", "zscore"],
    ["train", "--optimizer", "lbfgs"], ["train", "--epochs", "ten"], ["infer", "--samples", "0"],
    ["infer", "--samples", "-3"], ["infer", "--checkpoint", "middle"], ["experiments", "--lr", "inf"],
    ["experiments", "--lr", "0"], ["experiments", "--epochs", "0"], ["experiments", "--only", "nothing"],
    ["diagnose", "--data", "/nonexistent.csv"], ["compare", "--epochs", "0"], ["compare", "--norm", "nope"],
]


def test_bad_flags(world, capsys):
    for argv in FLAG_PROBES:
        full = [*argv, "--artifact-dir", str(world["art"])] if argv[0] in ("train", "infer") else argv
        if argv[0] == "train":
            full += ["--data", str(world["csv"])]
        outcome = run_probe(world, lambda a=full: cli.main(a))
        err = capsys.readouterr().err
        assert outcome == "clear error" and "Traceback" not in err, f"{argv}: {outcome} {err}"


# ---- the library's API -----------------------------------------------------------------------------------
def _api_probes():
    stamps = (1_700_000_000 + np.arange(100)).reshape(-1, 1)
    huge32 = np.array([[-3e38], [3e38]], np.float32)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200_001, 3)).astype(np.float32)

    def overlapping():
        norm = tn.Normalizer().fit(x)
        buf = x.copy()
        return norm.transform(buf, out=buf[::-1]), norm.transform(x)

    return [
        ("fit a dict", lambda: tn.Normalizer().fit({"a": [1, 2]}), None),
        ("fit a string", lambda: tn.Normalizer().fit("1,2"), None),
        ("fit 1-D", lambda: tn.Normalizer().fit(np.ones(4)), None),
        ("fit objects", lambda: tn.Normalizer().fit(np.array([[object()]])), None),
        ("fit empty", lambda: tn.Normalizer().fit(np.ones((0, 2))), None),
        ("fit NaN", lambda: tn.Normalizer().fit(np.array([[np.nan], [1.0]])), None),
        ("ddof 0.5", lambda: tn.Normalizer(ddof=0.5), None),
        ("feature_range inf", lambda: tn.Normalizer("minmax", feature_range=(0, np.inf)), None),
        ("clip for standard", lambda: tn.Normalizer("standard", clip=True), None),
        ("timestamps std", lambda: tn.Normalizer().fit(stamps).std[0],
         lambda v: abs(v - np.arange(100).std(ddof=1)) < 1e-9),
        ("int64 2**24", lambda: tn.Normalizer().fit(np.array([[2**24], [2**24 + 1], [2**24 + 1]])).std[0],
         lambda v: abs(v - np.std([0, 1, 1], ddof=1)) < 1e-12),
        ("float16 minmax", lambda: tn.Normalizer("minmax").fit_transform(np.array([[0], [1e-5]], np.float16)),
         lambda v: np.array_equal(v, [[0], [1]])),
        ("float32 +-3e38", lambda: tn.Normalizer("minmax").fit_transform(huge32),
         lambda v: np.array_equal(v, [[0], [1]])),
        ("float64 +-1e308", lambda: tn.Normalizer("minmax").fit_transform(np.array([[-1e308], [1e308]])),
         lambda v: np.array_equal(v, [[0], [1]])),
        ("standard float16", lambda: tn.Normalizer().fit_transform(np.array([[-6e4], [0], [6e4]], np.float16)),
         lambda v: np.isfinite(v).all() and np.allclose(v.astype(float).ravel(), [-1, 0, 1], atol=1e-3)),
        ("standard +-1e308", lambda: tn.Normalizer().fit(np.array([[-1e308], [1e308]])), None),
        ("out overlapping x", overlapping, lambda v: np.array_equal(v[0], v[1])),
        ("save reserved keys", lambda: _round_trip({"allow_pickle": np.ones(2), "__tinygrad_norm__": np.zeros(1),
                                                    "x": np.ones(1), "x.npy": np.full(1, 5.0)}),
         lambda v: v["x.npy"][0] == 5.0 and v["x"][0] == 1.0 and v["allow_pickle"].shape == (2,)),
        ("save empty key", lambda: _round_trip({"": {"a": 0}, "a": 1}), lambda v: v == {"": {"a": 0}, "a": 1}),
        ("load_state_dict half bad", _half_bad_state_dict, None),
        ("diagnose +-1e308", lambda: tn.diagnose(np.array([[1.0, -1e308], [2.0, 1e308]])), None),
        ("experiments lr inf", lambda: tn.experiments.run(["raw"], lr=float("inf"), log=lambda *_: None), None),
        ("Tensor of a dict", lambda: tn.Tensor({"a": 1}), None),
        ("unknown device", lambda: tn.zeros(2, device="tpu"), None),
    ]


_TMP = {}


def _round_trip(obj):
    path = _TMP["dir"] / "rt.npz"
    tn.save(obj, path)
    return tn.load(path)


def _half_bad_state_dict():
    tn.manual_seed(0)
    model = tn.nn.Sequential(tn.nn.Linear(2, 2))
    before = model[0].weight.numpy().copy()
    try:
        model.load_state_dict({"0.weight": np.full((2, 2), 42.0), "0.bias": np.array(["x", "y"])})
    finally:
        assert np.array_equal(model[0].weight.numpy(), before)  # a failed load changes nothing


def test_library_inputs(world, tmp_path):
    _TMP["dir"] = tmp_path
    for name, action, check in _api_probes():
        outcome = run_probe(world, action, check)
        assert outcome in (("clear error",) if check is None else ("right result",)), f"{name}: {outcome}"


# ---- file-system faults and kills while training ------------------------------------------------------------
def test_faults_and_interruptions_never_replace_the_good_model(world, tmp_path, monkeypatch, capsys):
    from tinygrad_norm import serialization
    from tinygrad_norm.examples.simple_regression import training

    def run_train(epochs=2):
        return cli.main(["train", "--data", str(world["csv"]), "--epochs", str(epochs), "--artifact-dir",
                         str(world["art"]), "--no-progress"])

    real_replace = os.replace
    for code in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EIO):
        def failing_replace(src, dst, c=code):
            if str(dst).endswith("model.npz"):
                raise OSError(c, os.strerror(c), str(dst))
            return real_replace(src, dst)
        monkeypatch.setattr(serialization.os, "replace", failing_replace)
        outcome = run_probe(world, run_train)
        monkeypatch.setattr(serialization.os, "replace", real_replace)
        err = capsys.readouterr().err
        assert outcome == "clear error" and "model.npz" in err and "Traceback" not in err, (code, err)
    monkeypatch.setattr(training, "CHECKPOINT_EVERY_S", 0.0)  # a checkpoint after every epoch
    for at_epoch in (1, 2):
        real = training._save_epoch

        def killed(out_dir, result, run, at=at_epoch, save=real):
            save(out_dir, result, run)
            if len(result.valid_losses) == at:
                raise KeyboardInterrupt
        monkeypatch.setattr(training, "_save_epoch", killed)
        outcome = run_probe(world, lambda: run_train(3) == 130)
        monkeypatch.setattr(training, "_save_epoch", real)
        assert outcome == "right result"
        assert "--resume" in capsys.readouterr().err
    # the interrupted run resumes, finishes, and only then replaces the model
    assert cli.main(["train", "--data", str(world["csv"]), "--epochs", "3", "--artifact-dir", str(world["art"]),
                     "--no-progress", "--resume"]) == 0
    world["model"] = (world["art"] / "model.npz").read_bytes()
    assert tn.load(world["art"] / "model.npz")["last"]["epoch"] == 3
    capsys.readouterr()


def test_counts_are_all_zero():
    """Runs last in this file: every probe above ended as a clear error or a right result."""
    assert COUNTS["tried"] > 150
    bad = {k: COUNTS[k] for k in ("traceback", "silent wrong", "memory", "replaced", "temp files")}
    assert not any(bad.values()), bad
