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
from .errors import ArgumentError
from .normalize import Normalizer
from .plotting import pyplot
from .serialization import atomic_write
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
        raise ArgumentError(f"unknown experiment {name!r}; choose from {', '.join(SPECS)}")
    spec = SPECS[name]
    lr = spec.lr if lr is None else lr
    epochs = spec.epochs if epochs is None else epochs
    if not isinstance(epochs, int) or epochs < 1 or not (math.isfinite(lr) and lr > 0):
        raise ArgumentError(f"--epochs must be an integer >= 1 and --lr a finite number > 0, got epochs={epochs}, "
                         f"lr={lr}")
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
                inf = f" (inf at epoch {res.first_inf})" if res.first_inf is not None else ""
                log(f"[{name}] stopped: loss NaN at epoch {epoch}{inf}; scale the features")
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


DATA_NOTE = ("Data: 5 houses; features: number of lights and distance (m); label: price. Model: price = w1 * lights "
             "+ w2 * distance + b, full-batch gradient descent on the MSE, w = [1, 1], b = 1 at the start.")


def table(results: list[Result]) -> str:
    """The experiments side by side, under 80 columns; the final weights and the prediction follow it."""
    head = ["experiment", "lr", "epoch", "first loss", "final loss", "inf at", "NaN at", "|g2/g1|"]
    rows = [[r.name, f"{r.lr:g}", str(len(r.losses)), f"{r.first_loss:.4g}", f"{r.final_loss:.4g}",
             str(r.first_inf or "-"), str(r.first_nan or "-"), f"{r.grad_ratio:.4g}"] for r in results]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    lines = [line(head), line(["-" * w for w in widths])] + [line(r) for r in rows]
    lines.append("")
    lines += [f"{r.name}: final w = [{', '.join(_fmt(v) for v in r.w)}], b = {_fmt(r.b)}" for r in results]
    for r in results:
        if r.prediction is not None:
            x = ", ".join(f"{v:g}" for v in NEW_SAMPLE[0])
            lines.append(f"{r.name}: a new house, [lights, distance] = [{x}], scaled with the")
            lines.append(f"  training mean and std, gets the predicted price {r.prediction:.4g}")
    lines.append("|g2/g1| = |first gradient of w2 (distance)| / |first gradient of w1 (lights)|.")
    return "\n".join(lines)


def plot(results: list[Result], path: str) -> None:
    """Loss curves of the experiments on a log scale, marking where a loss overflowed to inf and became
    NaN (needs matplotlib: pip install 'tinygrad_norm[plot]')."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    for r in results:
        ys = np.array(r.losses, dtype=np.float64)
        finite = np.isfinite(ys)
        epochs = np.arange(1, len(ys) + 1)
        (curve,) = ax.plot(epochs[finite], ys[finite], label=f"{r.name} (lr {r.lr:g})")
        top = ys[finite].max() if finite.any() else 1.0
        for epoch, kind in ((r.first_inf, "inf"), (r.first_nan, "NaN")):
            if epoch is not None:
                ax.axvline(epoch, color=curve.get_color(), ls="--", lw=1)
                ax.plot([epoch], [top], marker="x" if kind == "inf" else "o", color=curve.get_color(), ms=8)
                ax.annotate(f"{r.name}: loss {kind} at epoch {epoch}", (epoch, top), textcoords="offset points",
                            xytext=(5, -12 if kind == "inf" else -24), fontsize=8, color=curve.get_color())
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE loss")
    ax.set_title("Feature scaling decides whether gradient descent works")
    ax.legend()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120))
    plt.close(fig)
