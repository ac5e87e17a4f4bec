"""One Adam step of a two-hidden-layer MLP (D_in -> H -> ReLU -> H -> ReLU -> 1, MSE, lr 1e-3) in each engine:
ours, torch eager and the whole step compiled by ``jax.jit``. Shared by ``test_big_mlp.py`` (pytest-benchmark)
and ``mlp_interleaved.py`` (the table of bench/RESULTS.md). Each builder returns ``step()``; a step is complete
when it returns (JAX's is blocked on).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SIZES = [(256, 8, 64), (256, 8, 256), (4096, 8, 256), (4096, 64, 1024), (16384, 64, 512), (32768, 64, 1024)]


def batch(n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, d)).astype(np.float32), rng.standard_normal((n, 1)).astype(np.float32)


def ours(x: np.ndarray, y: np.ndarray, h: int) -> Callable[[], None]:
    import tinygrad_norm as tn

    tn.manual_seed(0)
    d = x.shape[1]
    model = tn.nn.Sequential(tn.nn.Linear(d, h), tn.nn.ReLU(), tn.nn.Linear(h, h), tn.nn.ReLU(), tn.nn.Linear(h, 1))
    opt = tn.optim.Adam(model.parameters(), lr=1e-3)
    tx, ty = tn.Tensor(x), tn.Tensor(y)
    mse = tn.nn.functional.mse_loss

    def step() -> None:
        opt.zero_grad()
        mse(model(tx), ty).backward()
        opt.step()
    return step


def torch_eager(x: np.ndarray, y: np.ndarray, h: int) -> Callable[[], None]:
    import torch

    torch.manual_seed(0)
    d = x.shape[1]
    nn = torch.nn
    model = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def step() -> None:
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(tx), ty).backward()
        opt.step()
    return step


def jax_jit(x: np.ndarray, y: np.ndarray, h: int) -> Callable[[], None]:
    """torch's initialization and Adam rule, the forward, backward and update compiled as one XLA program."""
    import jax
    import jax.numpy as jnp

    d = x.shape[1]
    keys = jax.random.split(jax.random.PRNGKey(0), 6)

    def layer(kw, kb, fan_in, fan_out):
        bound = 1 / np.sqrt(fan_in)
        return (jax.random.uniform(kw, (fan_in, fan_out), minval=-bound, maxval=bound),
                jax.random.uniform(kb, (fan_out,), minval=-bound, maxval=bound))

    params = [layer(keys[0], keys[1], d, h), layer(keys[2], keys[3], h, h), layer(keys[4], keys[5], h, 1)]

    def loss(p, x, y):
        a = jax.nn.relu(x @ p[0][0] + p[0][1])
        a = jax.nn.relu(a @ p[1][0] + p[1][1])
        return jnp.mean((a @ p[2][0] + p[2][1] - y) ** 2)

    tree = jax.tree_util.tree_map

    @jax.jit
    def update(p, m, v, t, x, y):
        g = jax.grad(loss)(p, x, y)
        m = tree(lambda m, g: 0.9 * m + 0.1 * g, m, g)
        v = tree(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
        c1, c2 = 1 - 0.9 ** t, 1 - 0.999 ** t
        p = tree(lambda p, m, v: p - 1e-3 / c1 * m / (jnp.sqrt(v / c2) + 1e-8), p, m, v)
        return p, m, v, t + 1

    state = [params, tree(jnp.zeros_like, params), tree(jnp.zeros_like, params), jnp.float32(1)]
    jx, jy = jnp.asarray(x), jnp.asarray(y)

    def step() -> None:
        state[:] = update(*state, jx, jy)
        jax.block_until_ready(state[0])
    return step


ENGINES = {"tinygrad_norm": ours, "torch": torch_eager, "jax.jit": jax_jit}
