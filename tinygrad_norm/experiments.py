"""The normalization experiments: the same tiny linear regression, with and without feature scaling.

Data (features: number of lights, distance; label: a price):

    inputs = [[2, 1000], [3, 2000], [2, 500], [1, 800], [4, 3000]]
    labels = [[19], [31], [14], [15], [43]]

Each epoch: ``out = inputs @ w + b``, ``loss = mean((out - labels)^2)``, backward,
``w -= lr * w.grad``, ``b -= lr * b.grad``, with ``w = ones(2, 1)`` and ``b = ones(1)``.

1. ``raw``: no scaling, lr 0.001. The distance weight's gradient is ~700x the other's; the loss overflows.
2. ``maxabs``: each feature divided by its largest value, lr 0.5: converges.
3. ``standard``: (x - mean) / std (unbiased std), lr 0.5: converges fastest.
4. ``standard-predict``: as 3 with lr 0.1 for 2000 epochs, then predicts [3, 2500] with the SAME mean/std.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import nn, optim
from .normalize import Normalizer
from .tensor import Tensor

INPUTS = np.array([[2, 1000], [3, 2000], [2, 500], [1, 800], [4, 3000]], dtype=np.float32)
LABELS = np.array([[19], [31], [14], [15], [43]], dtype=np.float32)
NEW_SAMPLE = np.array([[3, 2500]], dtype=np.float32)


@dataclass(frozen=True)
class Spec:
    name: str
    norm: str | None
    lr: float
    epochs: int
    predict: bool = False


SPECS = {
    "raw": Spec("raw", None, 0.001, 200),
    "maxabs": Spec("maxabs", "maxabs", 0.5, 1000),
    "standard": Spec("standard", "standard", 0.5, 1000),
    "standard-predict": Spec("standard-predict", "standard", 0.1, 2000, predict=True),
}


@dataclass
class Result:
    name: str
    lr: float
    epochs: int
    losses: list[float] = field(default_factory=list)
    w_grads: list[list[float]] = field(default_factory=list)
    b_grads: list[float] = field(default_factory=list)
    first_inf: int | None = None  # 1-based epoch whose loss was first inf
    first_nan: int | None = None  # training stops at this epoch: nothing changes after a NaN
    w: list[float] = field(default_factory=list)
    b: float = 0.0
    prediction: float | None = None
    normalizer: Normalizer | None = None

    @property
    def first_loss(self) -> float:
        return self.losses[0]

    @property
    def final_loss(self) -> float:
        return self.losses[-1]

    @property
    def grad_ratio(self) -> float:
        """|second weight's first gradient| / |first weight's|: how lopsided the first step is."""
        g = self.w_grads[0]
        return abs(g[1]) / abs(g[0]) if g[0] else math.inf


def run_experiment(name: str, lr: float | None = None, epochs: int | None = None, verbose: bool = False,
                   log=print) -> Result:
    if name not in SPECS:
        raise ValueError(f"unknown experiment {name!r}; choose from {', '.join(SPECS)}")
    spec = SPECS[name]
    lr = spec.lr if lr is None else lr
    epochs = spec.epochs if epochs is None else epochs
    if epochs < 1 or not lr > 0:
        raise ValueError(f"epochs must be >= 1 and lr > 0, got epochs={epochs}, lr={lr}")
    res = Result(name, lr, epochs)
    x = INPUTS
    if spec.norm is not None:
        res.normalizer = Normalizer(spec.norm, feature_names=["lights", "distance"]).fit(INPUTS)
        x = res.normalizer.transform(INPUTS)
    inputs, labels = Tensor(x), Tensor(LABELS)
    w = nn.Parameter(np.ones((2, 1), np.float32))
    b = nn.Parameter(np.ones(1, np.float32))
    opt = optim.SGD([w, b], lr=lr)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is the lesson of `raw`; we report it below
        for epoch in range(1, epochs + 1):
            opt.zero_grad()
            loss = nn.functional.mse_loss(inputs @ w + b, labels)
            loss.backward()
            value = loss.item()
            res.losses.append(value)
            res.w_grads.append(w.grad.numpy().ravel().tolist())
            res.b_grads.append(b.grad.item())
            if verbose:
                log(f"[{name}] epoch {epoch:5d}  loss {value:.8g}  w.grad {res.w_grads[-1]}")
            if math.isinf(value) and res.first_inf is None:
                res.first_inf = epoch
            if math.isnan(value):
                res.first_nan = epoch
                log(f"[{name}] stopped: the loss became NaN at epoch {epoch} (inf first at epoch {res.first_inf}); "
                    "the features need scaling")
                break
            opt.step()
    res.w = w.numpy().ravel().tolist()
    res.b = b.item()
    if spec.predict:
        sample = res.normalizer.transform(NEW_SAMPLE) if res.normalizer else NEW_SAMPLE
        res.prediction = (Tensor(sample) @ w + b).item()
    return res


def run(names: list[str] | None = None, lr: float | None = None, epochs: int | None = None, verbose: bool = False,
        log=print) -> list[Result]:
    """Run the named experiments (default: all four) and return their results."""
    return [run_experiment(n, lr, epochs, verbose, log) for n in (names or list(SPECS))]


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.6g}"


def table(results: list[Result]) -> str:
    head = ["experiment", "lr", "epochs", "first loss", "final loss", "first inf", "first NaN", "w", "b",
            "|grad w2/w1|", "prediction"]
    rows = [[r.name, _fmt(r.lr), str(len(r.losses)), _fmt(r.first_loss), _fmt(r.final_loss),
             str(r.first_inf or "-"), str(r.first_nan or "-"), "[" + ", ".join(_fmt(v) for v in r.w) + "]",
             _fmt(r.b), f"{r.grad_ratio:.4g}", _fmt(r.prediction)] for r in results]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in rows])


def plot(results: list[Result], path: str) -> None:
    """Loss curves of the experiments on a log scale (needs matplotlib: pip install -e '.[plot]')."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise RuntimeError("--plot needs matplotlib: pip install -e '.[plot]'") from e
    fig, ax = plt.subplots(figsize=(8, 5))
    for r in results:
        ys = np.array(r.losses, dtype=np.float64)
        ys[~np.isfinite(ys)] = np.nan
        ax.plot(np.arange(1, len(ys) + 1), ys, label=f"{r.name} (lr {r.lr:g})")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE loss")
    ax.set_title("Feature scaling decides whether gradient descent works")
    ax.legend()
    from .serialization import atomic_write

    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120))
    plt.close(fig)
