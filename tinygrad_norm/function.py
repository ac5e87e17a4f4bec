"""Every differentiable op, forward and backward side by side.

An op is a :class:`Function` subclass. ``forward`` receives the parents' raw
arrays and returns the output array, keeping in ``self.saved`` only what
``backward`` needs; ``backward`` receives the output's gradient and returns
one gradient (or None) per parent. ``backward`` never writes into the gradient it
receives: it may be shared (``Add`` hands one array to both inputs; ``backward()``
starts from one read-only 0-d seed). Ops use ``self.xp`` (numpy or cupy) and the
backend's fused kernels, never a device-specific module, so a new device never
touches this file.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._backend import Backend
from .errors import ArgumentError, ArgumentTypeError, AxisError, DTypeError, ShapeError
from .tensor import Tensor, _GradMode

_new = object.__new__
_make = Tensor._make
_NO_GRAD2 = (False, False)


class Function:
    __slots__ = ("parents", "saved", "needs_grad", "backend")

    @classmethod
    def apply(cls, *parents: Tensor, **kwargs: Any) -> Tensor:
        fn = _new(cls)
        try:
            fn.backend = backend = parents[0]._backend
            n = len(parents)
            if n == 2:  # most ops are binary: no generator, no argument list
                a, b = parents
                needs = (a.requires_grad, b.requires_grad)
                if not ((needs[0] or needs[1]) and _GradMode.enabled):  # no graph node is kept
                    fn.needs_grad, fn.parents = _NO_GRAD2, ()
                    out = fn.forward(a.data, b.data, **kwargs) if kwargs else fn.forward(a.data, b.data)
                    return _make(out, backend)
                arrays = (a.data, b.data)
            elif n == 1:
                needs = (parents[0].requires_grad,)
                arrays = (parents[0].data,)
            elif n == 3:  # linear with a bias
                a, b, c = parents
                needs = (a.requires_grad, b.requires_grad, c.requires_grad)
                arrays = (a.data, b.data, c.data)
            else:
                needs = tuple([p.requires_grad for p in parents])
                arrays = [p.data for p in parents]
        except AttributeError:
            bad = next(p for p in parents if not isinstance(p, Tensor))
            raise ArgumentTypeError(f"{cls.__name__.lower()} takes Tensors, got {type(bad).__name__}; wrap "
                                    "arrays with tn.Tensor(x)") from None
        fn.saved = ()  # (the binary no-grad path above leaves it to forward: nothing reads it there)
        if True not in needs or not _GradMode.enabled:  # the no-grad path: no graph node is kept
            fn.needs_grad, fn.parents = (False,) * n, ()
            return _make(fn.forward(*arrays, **kwargs), backend)
        fn.needs_grad = needs
        fn.parents = parents
        if n == 3 and not kwargs:  # linear with a bias: no argument unpacking
            return _make(fn.forward(arrays[0], arrays[1], arrays[2]), backend, True, fn)
        return _make(fn.forward(*arrays, **kwargs), backend, True, fn)

    @property
    def xp(self):
        return self.backend.xp

    def forward(self, *arrays: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def backward(self, grad: Any) -> tuple[Any, ...]:
        raise NotImplementedError


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``grad`` down to ``shape``: the reverse of NumPy broadcasting."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad


def _broadcast_error(op: str, a: Any, b: Any) -> ShapeError:
    return ShapeError(f"{op}: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast together "
                      "(trailing dimensions must match or be 1)")


# ---- binary arithmetic -----------------------------------------------------------------
class Add(Function):
    __slots__ = ()

    def forward(self, a, b):
        if self.needs_grad is not _NO_GRAD2:  # shapes are only needed to unbroadcast gradients
            self.saved = (a.shape, b.shape)
        try:
            return a + b
        except ValueError:
            raise _broadcast_error("add", a, b) from None

    def backward(self, g):
        sa, sb = self.saved
        na, nb = self.needs_grad
        return (unbroadcast(g, sa) if na else None, unbroadcast(g, sb) if nb else None)


class Sub(Function):
    __slots__ = ()

    def forward(self, a, b):
        if self.needs_grad is not _NO_GRAD2:
            self.saved = (a.shape, b.shape)
        try:
            return a - b
        except ValueError:
            raise _broadcast_error("sub", a, b) from None

    def backward(self, g):
        sa, sb = self.saved
        na, nb = self.needs_grad
        return (unbroadcast(g, sa) if na else None, unbroadcast(-g, sb) if nb else None)


class Mul(Function):
    __slots__ = ()

    def forward(self, a, b):
        na, nb = self.needs_grad
        self.saved = (a if nb else a.shape, b if na else b.shape)
        try:
            return a * b
        except ValueError:
            raise _broadcast_error("mul", a, b) from None

    def backward(self, g):
        a, b = self.saved
        na, nb = self.needs_grad
        return (unbroadcast(g * b, a.shape if nb else a) if na else None,
                unbroadcast(g * a, b.shape if na else b) if nb else None)


class Div(Function):
    __slots__ = ()

    def forward(self, a, b):
        try:
            out = a / b
        except ValueError:
            raise _broadcast_error("div", a, b) from None
        self.saved = (a.shape, b, out)
        return out

    def backward(self, g):
        sa, b, out = self.saved
        na, nb = self.needs_grad
        return (unbroadcast(g / b, sa) if na else None,
                unbroadcast(-g * out / b, b.shape) if nb else None)


class Pow(Function):
    """x ** e for a scalar exponent e."""

    __slots__ = ()

    def forward(self, x, exponent):
        self.saved = (x, exponent)
        return x ** exponent

    def backward(self, g):
        x, e = self.saved
        if e == 0:
            return (self.xp.zeros_like(x),)
        return (g * e * x ** (e - 1),)


class PowTensor(Function):
    """x ** y for two tensors, broadcast. The gradients are torch's (pow_backward_self/_exponent): d/dx =
    y * x ** (y - 1), taken as 0 where y == 0 (even at x == 0); d/dy = x ** y * log(x), taken as 0 where
    x == 0 and y >= 0 (the limit from the right), so ``0 ** y`` has a finite gradient there."""

    __slots__ = ()

    def forward(self, x, y):
        try:
            with np.errstate(divide="ignore", invalid="ignore"):  # 0 ** -1 is inf, (-1) ** 0.5 NaN, as in torch
                out = x ** y
        except ValueError:
            raise _broadcast_error("pow", x, y) from None
        if self.needs_grad is not _NO_GRAD2:
            self.saved = (x, y, out if self.needs_grad[1] else None)
        return out

    def backward(self, g):
        x, y, out = self.saved
        xp = self.xp
        zero = xp.zeros((), dtype=g.dtype)
        gx = gy = None
        with np.errstate(divide="ignore", invalid="ignore"):  # inf/NaN where torch has them too (0 ** -2, log(-1))
            if self.needs_grad[0]:
                gx = unbroadcast(xp.where(y == 0, zero, g * y * x ** (y - 1)), x.shape)
            if self.needs_grad[1]:
                gy = unbroadcast(g * xp.where((x == 0) & (y >= 0), zero, out * xp.log(x)), y.shape)
        return gx, gy


class _Elementwise2(Function):
    """maximum/minimum: where the two inputs are equal each gets half the gradient, else the one chosen
    gets all of it, as torch's; a NaN (which wins either way) gives the whole gradient to both."""

    __slots__ = ()
    _pick = "maximum"

    def forward(self, a, b):
        try:
            out = getattr(self.xp, self._pick)(a, b)
        except ValueError:
            raise _broadcast_error(self._pick, a, b) from None
        if self.needs_grad is not _NO_GRAD2:
            self.saved = (a, b)
        return out

    def backward(self, g):
        a, b = self.saved
        xp = self.xp
        zero = xp.zeros((), dtype=g.dtype)
        shared = xp.where(a == b, g / 2, g)
        a_loses, b_loses = (a < b, a > b) if self._pick == "maximum" else (a > b, a < b)
        na, nb = self.needs_grad
        return (unbroadcast(xp.where(a_loses, zero, shared), a.shape) if na else None,
                unbroadcast(xp.where(b_loses, zero, shared), b.shape) if nb else None)


class Maximum(_Elementwise2):
    __slots__ = ()
    _pick = "maximum"


class Minimum(_Elementwise2):
    __slots__ = ()
    _pick = "minimum"


class Where(Function):
    """``a`` where ``condition``, else ``b`` (the three broadcast); each input's gradient is the output's
    gradient where it was chosen, summed back to its shape."""

    __slots__ = ()

    def forward(self, a, b, condition):
        try:
            out = self.xp.where(condition, a, b)
        except ValueError:
            raise ShapeError(f"where: the condition's shape {tuple(condition.shape)} and the values' {tuple(a.shape)} "
                             f"and {tuple(b.shape)} cannot be broadcast together") from None
        if self.needs_grad is not _NO_GRAD2:
            self.saved = (condition, a.shape, b.shape)
        return out

    def backward(self, g):
        cond, sa, sb = self.saved
        xp = self.xp
        zero = xp.zeros((), dtype=g.dtype)
        na, nb = self.needs_grad
        return (unbroadcast(xp.where(cond, g, zero), sa) if na else None,
                unbroadcast(xp.where(cond, zero, g), sb) if nb else None)


class MatMul(Function):
    """a @ b with NumPy's rules for 1-D operands and broadcast batch dimensions."""

    __slots__ = ()

    def forward(self, a, b):
        if self.needs_grad is not _NO_GRAD2:  # the operands are only needed for gradients
            self.saved = (a, b)
        try:  # the array library checks the shapes; its error is translated below
            return a @ b
        except ValueError:
            pass
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError("matmul needs tensors with at least one dimension; use * for scalars")
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise ShapeError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} are not aligned "
                             f"({a.shape[-1]} != {b.shape[-2 if b.ndim > 1 else 0]})")
        raise ShapeError(f"matmul: the batch dimensions of shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be "
                         "broadcast together")

    def backward(self, g):
        a, b = self.saved
        xp = self.xp
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        batch = g.ndim - (a.ndim > 1) - (b.ndim > 1)  # 1-d operands dropped a dimension from the output
        g2 = g.reshape(g.shape[:batch] + (a2.shape[-2], b2.shape[-1]))
        ga = gb = None
        if self.needs_grad[0]:
            ga = unbroadcast(g2 @ xp.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if self.needs_grad[1]:
            gb = unbroadcast(xp.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
        return ga, gb


# ---- unary -------------------------------------------------------------------------------
class Neg(Function):
    __slots__ = ()

    def forward(self, x):
        return -x

    def backward(self, g):
        return (-g,)


class Clone(Function):
    """A copy with its own memory, in the graph (torch's clone)."""

    __slots__ = ()

    def forward(self, x):
        return x.copy()

    def backward(self, g):
        return (g,)


class Exp(Function):
    __slots__ = ()

    def forward(self, x):
        out = self.xp.exp(x)
        self.saved = out
        return out

    def backward(self, g):
        return (g * self.saved,)


class Log(Function):
    __slots__ = ()

    def forward(self, x):
        self.saved = x
        return self.xp.log(x)

    def backward(self, g):
        return (g / self.saved,)


class Sqrt(Function):
    __slots__ = ()

    def forward(self, x):
        out = self.xp.sqrt(x)
        self.saved = out
        return out

    def backward(self, g):
        return (g / (2 * self.saved),)


class Abs(Function):
    __slots__ = ()

    def forward(self, x):
        self.saved = x
        return self.xp.abs(x)

    def backward(self, g):
        return (g * self.xp.sign(self.saved),)


class ReLU(Function):
    __slots__ = ()

    def forward(self, x):
        out = self.backend.relu(x)
        self.saved = out
        return out

    def backward(self, g):
        return (self.backend.relu_backward(g, self.saved),)


class Sigmoid(Function):
    __slots__ = ()

    def forward(self, x):
        xp = self.xp
        # exp of -|x| never overflows; the two branches are the same function
        e = xp.exp(-xp.abs(x))
        out = xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        self.saved = out
        return out

    def backward(self, g):
        s = self.saved
        return (g * s * (1 - s),)


class Tanh(Function):
    __slots__ = ()

    def forward(self, x):
        out = self.xp.tanh(x)
        self.saved = out
        return out

    def backward(self, g):
        t = self.saved
        return (g * (1 - t * t),)


class Clip(Function):
    """Gradient passes where lo <= x <= hi, like torch.clamp."""

    __slots__ = ()

    def forward(self, x, lo, hi):
        self.saved = (x, lo, hi)
        return self.xp.clip(x, lo, hi)

    def backward(self, g):
        x, lo, hi = self.saved
        mask = self.xp.ones(x.shape, dtype=bool)
        if lo is not None:
            mask &= x >= lo
        if hi is not None:
            mask &= x <= hi
        return (g * mask,)


class Cast(Function):
    __slots__ = ()

    def forward(self, x, dtype):
        self.saved = x.dtype
        return x.astype(dtype)

    def backward(self, g):
        return (g.astype(self.saved),)


class ToDevice(Function):
    __slots__ = ()

    def forward(self, x, backend: Backend):
        self.saved = self.backend
        self.backend = backend
        return backend.asarray(x, x.dtype)  # each backend's asarray accepts the other's arrays

    def backward(self, g):
        return (self.saved.asarray(g, g.dtype),)


# ---- reductions -----------------------------------------------------------------------------
def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    for a in axes:
        if not -ndim <= a < ndim:
            raise AxisError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
    return tuple(sorted(int(a) % ndim for a in axes))


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


class Sum(Function):
    __slots__ = ()

    def forward(self, x, axis, keepdims):
        axes = _axes(axis, x.ndim)
        self.saved = (x.shape, axes)
        return x.sum(axis=axes, keepdims=keepdims)

    def backward(self, g):
        shape, axes = self.saved
        return (self.xp.broadcast_to(g.reshape(_kept_shape(shape, axes)), shape),)


class Mean(Function):
    __slots__ = ()

    def forward(self, x, axis, keepdims):
        axes = _axes(axis, x.ndim)
        n = 1
        for a in axes:
            n *= x.shape[a]
        self.saved = (x.shape, axes, n)
        return x.mean(axis=axes, keepdims=keepdims)

    def backward(self, g):
        shape, axes, n = self.saved
        return (self.xp.broadcast_to(g.reshape(_kept_shape(shape, axes)) / n, shape),)


class _Extremum(Function):
    __slots__ = ()
    _reduce = "max"

    def forward(self, x, axis, keepdims):
        axes = _axes(axis, x.ndim)
        if x.size == 0:
            raise ArgumentError(f"{self._reduce}() of an empty tensor")
        out = getattr(x, self._reduce)(axis=axes, keepdims=True)
        self.saved = (x, out, axes)
        return out if keepdims else out.reshape([s for i, s in enumerate(x.shape) if i not in axes])

    def backward(self, g):
        x, out, axes = self.saved
        mask = x == out
        count = mask.sum(axis=axes, keepdims=True)
        return (mask * (g.reshape(out.shape) / count),)


class Max(_Extremum):
    __slots__ = ()
    _reduce = "max"


class Min(_Extremum):
    __slots__ = ()
    _reduce = "min"


class Prod(Function):
    """The product over ``axis``. Each element's gradient is the product of the others, from exclusive
    cumulative products (left and right): exact where factors are 0, where ``out / x`` is not."""

    __slots__ = ()

    def forward(self, x, axis, keepdims):
        axes = _axes(axis, x.ndim)
        if True in self.needs_grad:
            self.saved = (x, axes)
        return x.prod(axis=axes, keepdims=keepdims)

    def backward(self, g):
        x, axes = self.saved
        xp = self.xp
        if x.size == 0:
            return (xp.zeros_like(x),)
        kept = [i for i in range(x.ndim) if i not in axes]
        order = kept + list(axes)  # the reduced axes last, flattened into one
        lead = tuple(x.shape[i] for i in kept)
        flat = xp.transpose(x, order).reshape(lead + (-1,))
        ones = xp.ones(lead + (1,), dtype=x.dtype)
        left = xp.concatenate([ones, xp.cumprod(flat[..., :-1], axis=-1)], axis=-1)
        right = xp.flip(xp.concatenate([ones, xp.cumprod(xp.flip(flat[..., 1:], axis=-1), axis=-1)], axis=-1), axis=-1)
        grad = left * right * g.reshape(lead + (1,))
        moved = tuple(x.shape[i] for i in order)
        return (xp.transpose(grad.reshape(moved), np.argsort(order)),)


class TakeAlongAxis(Function):
    """x's elements at ``indices`` (one per position along ``axis``, kept-dims shape): the values of
    torch.max(dim)/min(dim). The gradient goes to those elements only."""

    __slots__ = ()

    def forward(self, x, indices, axis, keepdim):
        if True in self.needs_grad:
            self.saved = (x.shape, x.dtype, indices, axis)
        if x.ndim == 0:
            return x.copy()
        out = self.xp.take_along_axis(x, indices, axis=axis)
        return out if keepdim else out.squeeze(axis)

    def backward(self, g):
        shape, dtype, indices, axis = self.saved
        xp = self.xp
        if not shape:
            return (g,)
        out = xp.zeros(shape, dtype=dtype)
        nd = len(shape)
        where = tuple(indices if d == axis else xp.arange(n).reshape((-1,) + (1,) * (nd - d - 1))
                      for d, n in enumerate(indices.shape))
        out[where] = g.reshape(indices.shape)  # (one index per position: no repeats to accumulate)
        return (out,)


class Var(Function):
    __slots__ = ()

    def forward(self, x, axis, ddof, keepdims):
        axes = _axes(axis, x.ndim)
        n = 1
        for a in axes:
            n *= x.shape[a]
        if n - ddof <= 0:
            raise ArgumentError(f"var/std over {n} element(s) with ddof={ddof} divides by {n - ddof}; "
                             "use more elements or a smaller ddof")
        mean = x.mean(axis=axes, keepdims=True)
        centered = x - mean
        out = (centered * centered).sum(axis=axes, keepdims=keepdims) / (n - ddof)
        self.saved = (centered, axes, n - ddof)
        return out.astype(x.dtype, copy=False)

    def backward(self, g):
        centered, axes, denom = self.saved
        return (centered * (g.reshape(_kept_shape(centered.shape, axes)) * (2.0 / denom)),)


# ---- shape ---------------------------------------------------------------------------------
class Reshape(Function):
    __slots__ = ()

    def forward(self, x, shape):
        self.saved = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ShapeError(f"cannot reshape a tensor of shape {tuple(x.shape)} ({x.size} elements) "
                             f"into shape {tuple(shape)}") from None

    def backward(self, g):
        return (g.reshape(self.saved),)


class Transpose(Function):
    __slots__ = ()

    def forward(self, x, axes):
        if axes is not None:
            nd = x.ndim
            if not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) and -nd <= a < nd for a in axes) \
                    or sorted(a % nd for a in axes) != list(range(nd)):
                raise ArgumentError(f"permute{tuple(axes)} is not a permutation of a {nd}-d tensor's dimensions "
                                    f"(shape {tuple(x.shape)}): give each of 0..{nd - 1} once")
        self.saved = axes
        return x.transpose(axes)

    def backward(self, g):
        axes = self.saved
        if axes is None:
            return (g.transpose(),)
        return (g.transpose(np.argsort([a % g.ndim for a in axes])),)


class Expand(Function):
    """x broadcast to ``shape`` (a read-only view, as torch's expand is a view); the gradient sums over the repeats."""

    __slots__ = ()

    def forward(self, x, shape):
        self.saved = x.shape
        return self.xp.broadcast_to(x, shape)

    def backward(self, g):
        return (unbroadcast(g, self.saved),)


class Index(Function):
    __slots__ = ()

    def forward(self, x, index):
        self.saved = (x.shape, x.dtype, index)
        return x[index]

    def backward(self, g):
        shape, dtype, index = self.saved
        out = self.xp.zeros(shape, dtype=dtype)
        self.backend.scatter_add(out, index, g)
        return (out,)


class Concatenate(Function):
    __slots__ = ()

    def forward(self, *arrays, axis):
        if arrays[0].ndim == 0:
            raise ShapeError("cannot concatenate 0-d tensors; use stack()")
        axis = _axes(axis, arrays[0].ndim)[0]
        try:
            out = self.xp.concatenate(arrays, axis=axis)
        except ValueError:
            raise ShapeError(f"concatenate along axis {axis}: shapes {[tuple(a.shape) for a in arrays]} "
                             "must match except on that axis") from None
        self.saved = (axis, [a.shape[axis] for a in arrays])
        return out

    def backward(self, g):
        axis, sizes = self.saved
        bounds = np.cumsum(sizes)[:-1].tolist()
        parts = self.xp.split(g, bounds, axis=axis)
        return tuple(p if need else None for p, need in zip(parts, self.needs_grad))


_ONES: dict[tuple[Any, int, Any], Any] = {}


def _ones(xp: Any, n: int, dtype: Any) -> Any:
    """A cached vector of n ones (read-only use): summing rows as ``ones @ x``."""
    key = (xp, n, dtype)
    ones = _ONES.get(key)
    if ones is None:
        if len(_ONES) > 64:  # many batch sizes: keep the cache small
            _ONES.clear()
        ones = _ONES[key] = xp.ones(n, dtype=dtype)
    return ones


# ---- fused hot-path nodes ----------------------------------------------------------------
def _linear_forward(backend: Any, x: Any, w: Any, b: Any, relu: bool = False) -> Any:
    """``x @ w.T + b`` (then ReLU, with ``relu``) for Linear and LinearReLU, with their shape checks. The bias
    and ReLU run in place on the product, through the backend (one fused pass for big products on the CPU)."""
    if w.ndim != 2 or x.ndim == 0 or x.shape[-1] != w.shape[1]:
        raise ShapeError(f"linear: input of shape {tuple(x.shape)} does not fit a weight of shape "
                         f"{tuple(w.shape)} (the input's last dimension must be {w.shape[-1]})")
    if b is not None and b.shape != (w.shape[0],):
        raise ShapeError(f"linear: bias of shape {tuple(b.shape)} does not fit a weight of shape "
                         f"{tuple(w.shape)}; expected ({w.shape[0]},)")
    x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])  # (N, in) inputs, the usual case, need no reshaping
    if x2.shape[0] * w.shape[0] * x.itemsize < backend.layer_bytes:  # small: the plain array calls
        out = x2 @ w.T
        if b is not None:
            out += b
        if relu:
            out = backend.relu(out, inplace=True)
    else:
        out = backend.matmul(x2, w.T)
        if b is not None or relu:
            out = backend.bias_relu(out, b, relu)
    return out if x.ndim == 2 else out.reshape(x.shape[:-1] + (w.shape[0],))


def _linear_backward(backend: Any, need: tuple[bool, ...], g: Any, x: Any, w: Any, gb: Any = None
                     ) -> tuple[Any, Any, Any]:
    """Gradients of ``x @ w.T + b`` for the inputs ``need`` flags, (x, w[, b]) (``gb``: the bias gradient, when
    the caller already summed it)."""
    flat = g.ndim != 2
    g2 = g.reshape(-1, g.shape[-1]) if flat else g
    x2 = x.reshape(-1, x.shape[-1]) if flat else x
    gx = gw = None
    if x2.nbytes + g2.nbytes < backend.layer_bytes:  # small: the plain array calls
        if need[0]:
            # one output feature: the product is an outer product, computed exactly by broadcasting
            # (BLAS's K=1 matmul path is ~3x slower)
            gx = g2 * w if w.shape[0] == 1 else g2 @ w
        if need[1]:
            gw = g2.T @ x2
    else:
        if need[0]:
            gx = backend.multiply(g2, w) if w.shape[0] == 1 else backend.matmul(g2, w)
        if need[1]:
            gw = backend.matmul(g2.T, x2)
    if flat and gx is not None:
        gx = gx.reshape(x.shape)
    if len(need) > 2 and need[2]:
        if gb is None:
            gb = _ones(backend.xp, g2.shape[0], g2.dtype) @ g2  # column sums as one gemv: faster than sum(0)
    else:
        gb = None
    return gx, gw, gb


class Linear(Function):
    """y = x @ W.T + b as one node (W is (out, in), like torch.nn.Linear)."""

    __slots__ = ()

    def forward(self, x, w, b=None):
        self.saved = (x, w)
        return _linear_forward(self.backend, x, w, b)

    def backward(self, g):
        x, w = self.saved
        return _linear_backward(self.backend, self.needs_grad, g, x, w)


class LinearReLU(Function):
    """relu(x @ W.T + b) as one node: what nn.Sequential runs for a Linear followed by a ReLU. The
    same arithmetic as the two nodes, with one graph node and one activation array fewer (the ReLU
    runs in place on the product, which nothing else holds)."""

    __slots__ = ()

    def forward(self, x, w, b=None):
        out = _linear_forward(self.backend, x, w, b, relu=True)
        self.saved = (x, w, out)
        return out

    def backward(self, g):
        x, w, out = self.saved
        backend = self.backend
        if g.nbytes >= backend.layer_bytes and g.ndim == 2 and len(self.needs_grad) > 2 and self.needs_grad[2]:
            g, gb = backend.relu_backward_sums(g, out)  # (big layers: the bias gradient in the same pass)
            return _linear_backward(backend, self.needs_grad, g, x, w, gb)
        return _linear_backward(backend, self.needs_grad, backend.relu_backward(g, out), x, w)


class LinearReLULinear(Function):
    """``relu(x @ W1.T + b1) @ W2.T + b2`` as one node: what nn.Sequential runs for a Linear and a ReLU before
    its last Linear (the example's model: 8 -> 64 -> ReLU -> 1). The same arithmetic as the LinearReLU and
    Linear nodes, one node fewer. With one output (a regression head) on big layers, the outer product that is
    the hidden layer's gradient, ReLU's mask, and the bias and ``W2`` gradients come from one pass over the
    hidden activation (``Backend.head_backward``): the two nodes, apart, would write the outer product out and
    read it back."""

    __slots__ = ()

    def forward(self, x, w1, b1, w2, b2):
        backend = self.backend
        hidden = _linear_forward(backend, x, w1, b1, relu=True)
        self.saved = (x, w1, hidden, w2)
        return _linear_forward(backend, hidden, w2, b2)

    def backward(self, g):
        x, w1, hidden, w2 = self.saved
        backend, need = self.backend, self.needs_grad
        first, second = need[:3], need[3:]
        gb1 = None
        if w2.shape[0] == 1 and g.ndim == 2 and hidden.nbytes >= backend.layer_bytes and (True in first):
            gh, gb1, gw2 = backend.head_backward(g, hidden, w2)
            if gw2 is None or not second[0]:
                gw2 = g.T @ hidden if second[0] else None
            gb2 = _ones(backend.xp, g.shape[0], g.dtype) @ g if second[1] else None
        else:
            gh, gw2, gb2 = _linear_backward(backend, (True in first,) + second, g, hidden, w2)
            if gh is not None:
                if gh.nbytes >= backend.layer_bytes and gh.ndim == 2 and first[2]:
                    gh, gb1 = backend.relu_backward_sums(gh, hidden)
                else:
                    gh = backend.relu_backward(gh, hidden)
        if gh is None:  # nothing before the ReLU needs a gradient
            return None, None, None, gw2, gb2
        return (*_linear_backward(backend, first, gh, x, w1, gb1 if first[2] else None), gw2, gb2)


class MSELoss(Function):
    """Mean squared error as one node; reduction 'mean', 'sum' or 'none' like torch."""

    __slots__ = ()

    def forward(self, pred, target, reduction):
        if pred.dtype.kind != "f":  # (torch refuses integer inputs too; a mean would truncate)
            raise DTypeError(f"mse_loss needs floating-point tensors, got {pred.dtype}; convert with "
                             ".astype('float32')")
        if pred.shape != target.shape:
            raise ShapeError(f"mse_loss: prediction shape {tuple(pred.shape)} differs from target shape "
                             f"{tuple(target.shape)}; broadcasting them (e.g. (N,) against (N, 1)) silently "
                             "compares every prediction with every target, so reshape one to match")
        loss, dpred = self.backend.mse(pred, target, reduction)
        self.saved = dpred
        return loss

    def backward(self, g):
        # the loss is usually where backward() starts, with an upstream gradient of exactly 1
        gp = self.saved if g.size == 1 and g.dtype.kind == "f" and float(g) == 1.0 else self.saved * g
        return (gp if self.needs_grad[0] else None, -gp if self.needs_grad[1] else None)


class Affine(Function):
    """Per-column ``(x - shift) * scale + offset``, clipped to ``clip`` if given, through the backend's
    fused apply kernel (what a fitted normalizer does inside a model); with ``inverse``, the mirror
    ``(x - offset) / scale + shift``. The gradient is ``g * scale`` (``g / scale``), passed where the
    unclipped value lies within the clip bounds, ends included, like torch.clamp."""

    __slots__ = ()

    def forward(self, x, shift, scale, offset, clip=None, inverse=False):
        out = self.backend.affine_apply(x, shift, scale, offset, inverse=inverse)
        factor = self.xp.asarray(scale, dtype=x.dtype)
        inside = None
        if clip is not None:
            if self.needs_grad[0]:
                inside = (out >= clip[0]) & (out <= clip[1])
            self.xp.clip(out, clip[0], clip[1], out=out)
        self.saved = (factor, inverse, inside)
        return out

    def backward(self, g):
        factor, inverse, inside = self.saved
        grad = g / factor if inverse else g * factor
        if inside is not None:  # a clipped output does not depend on x
            grad *= inside
        return (grad,)


# ---- normalization layers ------------------------------------------------------------------
# BatchNorm and LayerNorm share one scheme: x is standardized over ``stat_axes`` (xhat = (x - mean) * invstd),
# then scaled and shifted per feature by the optional weight and bias parents (the parents after x; which ones
# are there is said by the ``weight``/``bias`` keywords, as affine=False or bias=False drop them).
def _norm_params(params: tuple[Any, ...], weight: bool, bias: bool) -> tuple[Any, Any]:
    return (params[0] if weight else None), (params[-1] if bias else None)


def _standardize(xp: Any, x: Any, axes: tuple[int, ...], eps: float) -> tuple[Any, Any, Any, Any]:
    """(xhat, mean, biased variance, invstd) over ``axes`` (kept as size-1 dimensions), two-pass for accuracy."""
    if x.dtype.kind != "f":
        raise DTypeError(f"normalization needs floating-point input, got {x.dtype}; convert with .astype('float32')")
    if any(x.shape[a] == 0 for a in axes):  # nothing to average: an empty output (as torch gives), no NaN warnings
        kept = _kept_shape(x.shape, axes)
        zeros = xp.zeros(kept, dtype=x.dtype)
        return x.copy(), zeros, zeros, xp.ones(kept, dtype=x.dtype)
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    var = (centered * centered).mean(axis=axes, keepdims=True)
    invstd = 1 / xp.sqrt(var + eps)
    centered *= invstd  # (a fresh array: xhat in place)
    return centered, mean, var, invstd


def _scale_shift(xhat: Any, w: Any, b: Any) -> Any:
    if w is not None:
        out = xhat * w
        if b is not None:
            out += b
        return out
    return xhat + b if b is not None else xhat


def _norm_backward(fn: Function, g: Any, xhat: Any, invstd: Any, w: Any, stat_axes: tuple[int, ...] | None,
                   param_axes: tuple[int, ...]) -> tuple[Any, ...]:
    """Gradients for (x, [weight], [bias]). ``stat_axes`` None: the statistics were constants (eval mode), so
    dx = g * w * invstd; else the closed form through the batch mean and variance,
    dx = invstd * (gxhat - mean(gxhat) - xhat * mean(gxhat * xhat)) with gxhat = g * w."""
    need = fn.needs_grad
    grads: list[Any] = []
    if need[0]:
        gxhat = g * w if w is not None else g
        if stat_axes is None:
            gx = gxhat * invstd
        elif xhat.size == 0:
            gx = fn.xp.zeros_like(xhat)
        else:
            gx = gxhat - gxhat.mean(axis=stat_axes, keepdims=True)
            gx -= xhat * (gxhat * xhat).mean(axis=stat_axes, keepdims=True)
            gx *= invstd
        grads.append(gx)
    else:
        grads.append(None)
    if w is not None:
        grads.append((g * xhat).sum(axis=param_axes) if need[1] else None)
    if len(need) > len(grads):  # the bias
        grads.append(g.sum(axis=param_axes) if need[-1] else None)
    return tuple(grads)


def _channel_shape(x: Any) -> tuple[int, ...]:
    """Shape that lines a (C,) vector up with the channel axis 1 of an (N, C) or (N, C, L) input."""
    return (x.shape[1],) + (1,) * (x.ndim - 2)


class BatchNormTrain(Function):
    """Batch normalization with the batch's statistics (train mode, or no running statistics) over every axis
    but the channel axis 1. Given ``running_mean``/``running_var`` arrays, it updates them in place as torch
    does: ``running = (1 - momentum) * running + momentum * batch``, with the unbiased batch variance."""

    __slots__ = ()

    def forward(self, x, *params, weight: bool, bias: bool, eps: float, running_mean: Any = None,
                running_var: Any = None, momentum: float = 0.1):
        axes = (0,) + tuple(range(2, x.ndim))
        xhat, mean, var, invstd = _standardize(self.xp, x, axes, eps)
        w, b = _norm_params(params, weight, bias)
        shape = _channel_shape(x)
        w = None if w is None else w.reshape(shape)
        b = None if b is None else b.reshape(shape)
        count = x.size // x.shape[1] if x.shape[1] else 0
        if running_mean is not None and count > 1:  # (one value per channel has no unbiased variance)
            running_mean *= 1 - momentum
            running_mean += momentum * mean.reshape(-1)
            running_var *= 1 - momentum
            running_var += (momentum * count / (count - 1)) * var.reshape(-1)
        if True in self.needs_grad:
            self.saved = (xhat, invstd, w, axes)
        return _scale_shift(xhat, w, b)

    def backward(self, g):
        xhat, invstd, w, axes = self.saved
        return _norm_backward(self, g, xhat, invstd, w, axes, axes)


class BatchNormEval(Function):
    """Batch normalization with fixed running statistics (eval mode): a per-channel affine map of x."""

    __slots__ = ()

    def forward(self, x, *params, weight: bool, bias: bool, eps: float, running_mean: Any, running_var: Any):
        if x.dtype.kind != "f":
            raise DTypeError(f"batch_norm needs floating-point input, got {x.dtype}; convert with .astype('float32')")
        shape = _channel_shape(x)
        invstd = 1 / self.xp.sqrt(running_var.reshape(shape) + eps)
        xhat = (x - running_mean.reshape(shape)) * invstd
        w, b = _norm_params(params, weight, bias)
        w = None if w is None else w.reshape(shape)
        b = None if b is None else b.reshape(shape)
        if True in self.needs_grad:  # xhat only for the weight's gradient
            self.saved = (xhat if weight and self.needs_grad[1] else None, invstd, w, (0,) + tuple(range(2, x.ndim)))
        return _scale_shift(xhat, w, b)

    def backward(self, g):
        xhat, invstd, w, axes = self.saved
        return _norm_backward(self, g, xhat, invstd, w, None, axes)


class LayerNorm(Function):
    """Layer normalization over the last ``normalized_ndim`` axes (biased variance), with an elementwise weight
    and bias of those axes' shape."""

    __slots__ = ()

    def forward(self, x, *params, weight: bool, bias: bool, normalized_ndim: int, eps: float):
        lead = x.ndim - normalized_ndim
        axes = tuple(range(lead, x.ndim))
        xhat, _, _, invstd = _standardize(self.xp, x, axes, eps)
        w, b = _norm_params(params, weight, bias)
        if True in self.needs_grad:
            self.saved = (xhat, invstd, w, axes, tuple(range(lead)))
        return _scale_shift(xhat, w, b)

    def backward(self, g):
        xhat, invstd, w, axes, lead_axes = self.saved
        return _norm_backward(self, g, xhat, invstd, w, axes, lead_axes)
