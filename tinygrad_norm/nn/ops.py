"""The differentiable ops behind nn's activations and losses, forward and backward side by side.

The scheme of ``function.py``: each op is a :class:`Function` subclass whose ``forward`` gets the parents' arrays
and keeps in ``self.saved`` only what ``backward`` needs (nothing when no input needs a gradient), and whose
``backward`` returns one gradient (or None) per parent, never writing into the gradient it is given. Ops use
``self.xp`` and the backend's kernels (``erf``), so they run on every device. Arguments are checked by the
functions of ``functional.py`` that apply these ops.

Each loss is one node: its forward computes the loss and, when a gradient is wanted, the analytic gradient for
an upstream gradient of 1 (scaled by the upstream gradient in backward), as ``function.MSELoss`` does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..function import Function

_SQRT_HALF = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TANH_BETA = math.sqrt(2.0 / math.pi)  # tanh GELU: tanh(beta * (x + kappa * x^3)), torch's constants
_TANH_KAPPA = 0.044715


def _sigmoid(xp: Any, x: Any) -> Any:
    """1 / (1 + exp(-x)) without overflow: exp of -|x| never overflows; the two branches are the same function."""
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _softplus_neg(xp: Any, x: Any) -> Any:
    """log(1 + exp(-x)) without overflow: log1p(exp(-|x|)) + max(-x, 0)."""
    return xp.log1p(xp.exp(-xp.abs(x))) + xp.maximum(-x, 0)


def _log_softmax(xp: Any, x: Any, axis: int) -> Any:
    """x - logsumexp(x) along ``axis``, with the maximum subtracted first so that exp never overflows."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def _reduce(xp: Any, loss: Any, reduction: str) -> Any:
    """The elementwise loss reduced as torch reduces it: 'none' keeps it, 'sum' adds it up, 'mean' averages it
    (NaN when it is empty, as torch gives)."""
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return xp.asarray(total, dtype=loss.dtype)
    return xp.asarray(total / loss.size if loss.size else xp.nan, dtype=loss.dtype)


def _mean_scale(reduction: str, n: int) -> float:
    """What d(loss)/d(elementwise loss) is for an upstream gradient of 1: 1/n for 'mean', else 1."""
    return 1.0 / n if reduction == "mean" and n else 1.0


# ---- activations ------------------------------------------------------------------------------
class LeakyReLU(Function):
    """x where x > 0, else negative_slope * x (torch.nn.functional.leaky_relu); the gradient at 0 is the slope,
    as torch's."""

    __slots__ = ()

    def forward(self, x, negative_slope):
        positive = x > 0
        if self.needs_grad[0]:
            self.saved = (positive, negative_slope)
        return self.xp.where(positive, x, x * negative_slope)

    def backward(self, g):
        positive, slope = self.saved
        return (self.xp.where(positive, g, g * slope),)


class GELU(Function):
    """x * Phi(x) with the normal CDF Phi = (1 + erf(x / sqrt 2)) / 2, or with approximate='tanh' torch's
    0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))), and torch's analytic gradients of both."""

    __slots__ = ()

    def forward(self, x, approximate):
        xp = self.xp
        if approximate == "tanh":
            t = xp.tanh((x + _TANH_KAPPA * (x * x * x)) * _TANH_BETA)
            out = 0.5 * x * (1 + t)
            kept = t
        else:
            cdf = 0.5 * (1 + self.backend.erf(x * _SQRT_HALF))
            out = x * cdf
            kept = cdf
        if self.needs_grad[0]:
            self.saved = (x, kept, approximate)
        return out

    def backward(self, g):
        x, kept, approximate = self.saved
        if approximate == "tanh":
            t = kept
            left = 0.5 * (1 + t)
            right = (0.5 * _TANH_BETA) * x * (1 - t * t) * (1 + (3 * _TANH_KAPPA) * (x * x))
            return (g * (left + right),)
        pdf = self.xp.exp(-0.5 * (x * x)) * _INV_SQRT_2PI
        return (g * (kept + x * pdf),)


class SiLU(Function):
    """x * sigmoid(x) (torch.nn.functional.silu); the gradient is s * (1 + x * (1 - s))."""

    __slots__ = ()

    def forward(self, x):
        s = _sigmoid(self.xp, x)
        if self.needs_grad[0]:
            self.saved = (x, s)
        return x * s

    def backward(self, g):
        x, s = self.saved
        return (g * s * (1 + x * (1 - s)),)


class Softmax(Function):
    """exp(x) / sum(exp(x)) along ``axis`` (the maximum subtracted first); the gradient y * (g - sum(g * y))."""

    __slots__ = ()

    def forward(self, x, axis):
        if x.size == 0:  # nothing to normalize: an empty result, as torch gives
            out = x.copy()
        else:
            e = self.xp.exp(x - x.max(axis=axis, keepdims=True))
            out = e / e.sum(axis=axis, keepdims=True)
        if self.needs_grad[0]:
            self.saved = (out, axis)
        return out

    def backward(self, g):
        y, axis = self.saved
        return (y * (g - (g * y).sum(axis=axis, keepdims=True)),)


class LogSoftmax(Function):
    """x - logsumexp(x) along ``axis`` (the maximum subtracted first); the gradient g - softmax * sum(g)."""

    __slots__ = ()

    def forward(self, x, axis):
        out = x.copy() if x.size == 0 else _log_softmax(self.xp, x, axis)
        if self.needs_grad[0]:
            self.saved = (out, axis)
        return out

    def backward(self, g):
        out, axis = self.saved
        return (g - self.xp.exp(out) * g.sum(axis=axis, keepdims=True),)


# ---- losses of input - target ------------------------------------------------------------------
class _DifferenceLoss(Function):
    """A loss of d = input - target elementwise, reduced like torch. Subclasses give ``_pointwise(d, want_grad,
    param)``: the elementwise loss and, when ``want_grad``, its derivative in d (the target's is its negative)."""

    __slots__ = ()

    def forward(self, pred, target, reduction, param=None):
        d = pred - target
        want = True in self.needs_grad
        loss, dloss = self._pointwise(d, want, param)
        if want:
            scale = _mean_scale(reduction, d.size)
            self.saved = dloss if scale == 1.0 else dloss * scale
        return _reduce(self.xp, loss, reduction)

    def backward(self, g):
        gp = self.saved * g
        return (gp if self.needs_grad[0] else None, -gp if self.needs_grad[1] else None)

    def _pointwise(self, d: Any, want_grad: bool, param: Any) -> tuple[Any, Any]:
        raise NotImplementedError


class L1Loss(_DifferenceLoss):
    """|input - target|; the gradient sign(input - target), 0 where they are equal (as torch's)."""

    __slots__ = ()

    def _pointwise(self, d, want_grad, param):
        xp = self.xp
        return xp.abs(d), (xp.sign(d) if want_grad else None)


class HuberLoss(_DifferenceLoss):
    """0.5 d^2 where |d| < delta, else delta * (|d| - delta / 2); the gradient d clipped to [-delta, delta]."""

    __slots__ = ()

    def _pointwise(self, d, want_grad, delta):
        xp = self.xp
        a = xp.abs(d)
        loss = xp.where(a < delta, 0.5 * (d * d), delta * (a - 0.5 * delta))
        return loss, (xp.clip(d, -delta, delta) if want_grad else None)


class SmoothL1Loss(_DifferenceLoss):
    """0.5 d^2 / beta where |d| < beta, else |d| - beta / 2 (|d| for beta = 0, as torch); the gradient d / beta
    clipped to [-1, 1] (sign(d) for beta = 0)."""

    __slots__ = ()

    def _pointwise(self, d, want_grad, beta):
        xp = self.xp
        a = xp.abs(d)
        if beta == 0:  # torch computes the L1 loss then (0.5 d^2 / 0 would be NaN at d = 0)
            return a, (xp.sign(d) if want_grad else None)
        loss = xp.where(a < beta, (0.5 / beta) * (d * d), a - 0.5 * beta)
        return loss, (xp.clip(d / beta, -1, 1) if want_grad else None)


# ---- classification losses ---------------------------------------------------------------------
class BCEWithLogits(Function):
    """Binary cross entropy of sigmoid(input) against target, from the logits, in the stable form
    ``(1 - y) x + (1 + (pos_weight - 1) y) * log(1 + exp(-x))``, times ``weight``, like torch's
    ``binary_cross_entropy_with_logits``. ``weight`` and ``pos_weight`` are constant arrays broadcast against
    the input (pos_weight along the last, class, axis). Gradients: input ``(1 - y) - l_w * sigmoid(-x)``
    (``sigmoid(x) - y`` without pos_weight), target ``-x + (pos_weight - 1) * log(1 + exp(-x))``."""

    __slots__ = ()

    def forward(self, x, y, weight, pos_weight, reduction):
        xp = self.xp
        softplus = _softplus_neg(xp, x)
        log_weight = None if pos_weight is None else 1 + (pos_weight - 1) * y
        loss = (1 - y) * x + (softplus if log_weight is None else log_weight * softplus)
        if weight is not None:
            loss = loss * weight
        loss = loss.astype(x.dtype, copy=False)
        nx, ny = self.needs_grad
        if nx or ny:
            scale = _mean_scale(reduction, x.size)
            factor = scale if weight is None else weight * scale  # d loss / d (elementwise loss before weight)
            dx = dy = None
            if nx:
                dx = _sigmoid(xp, x) - y if log_weight is None else (1 - y) - log_weight * _sigmoid(xp, -x)
                dx = (dx * factor).astype(x.dtype, copy=False)
            if ny:
                dy = -x if pos_weight is None else (pos_weight - 1) * softplus - x
                dy = (dy * factor).astype(x.dtype, copy=False)
            self.saved = (dx, dy)
        return _reduce(xp, loss, reduction)

    def backward(self, g):
        dx, dy = self.saved
        return (None if dx is None else dx * g, None if dy is None else dy * g)


def _class_shape(ndim: int, axis: int, c: int) -> tuple[int, ...]:
    """The shape that lines a (C,) vector up with the class axis of an input of ``ndim`` dimensions."""
    return tuple(c if i == axis else 1 for i in range(ndim))


def _per_sample_coefficient(xp: Any, g: Any, reduction: str, denominator: Any, shape: tuple[int, ...]) -> Any:
    """d(reduced loss)/d(per-sample loss) times the upstream gradient, as an array of the per-sample shape."""
    with np.errstate(divide="ignore", invalid="ignore"):  # no sample counts: a NaN gradient, as torch's
        a = g / denominator if reduction == "mean" else g
    return xp.broadcast_to(a, shape)


class CrossEntropyIndex(Function):
    """Cross entropy of log_softmax(input) along the class axis (1, or 0 for a 1-D input) against class-index
    targets, like torch's ``cross_entropy``: per sample ``-(1 - ls) w[t] logp[t] - (ls / C) sum_c w[c] logp[c]``
    (ls the label smoothing, w the class weights or ones), nothing for targets equal to ``ignore_index``; 'mean'
    divides by the summed weights w[t] of the samples not ignored (NaN when all are). The gradient in the logits
    is ``a * (p * sum(q) - q)`` with p the softmax, q the per-class coefficients above and a the sample's
    coefficient in the reduction."""

    __slots__ = ()

    def forward(self, x, target, weight, ignore_index, reduction, label_smoothing):
        xp = self.xp
        axis = 1 if x.ndim > 1 else 0
        c = x.shape[axis]
        logp = _log_softmax(xp, x, axis)
        valid = target != ignore_index
        safe = xp.where(valid, target, 0)  # ignored targets pick class 0, whose weight is then 0
        index = xp.expand_dims(safe, axis)
        picked = xp.take_along_axis(logp, index, axis=axis).squeeze(axis)
        w = valid.astype(x.dtype) if weight is None else weight[safe] * valid
        loss = -w * picked
        if label_smoothing:
            wide = logp if weight is None else logp * weight.reshape(_class_shape(x.ndim, axis, c))
            loss = (1 - label_smoothing) * loss - (label_smoothing / c) * (wide.sum(axis=axis) * valid)
        loss = loss.astype(x.dtype, copy=False)
        total = xp.asarray(w.sum(), dtype=x.dtype)
        if self.needs_grad[0]:
            self.saved = (xp.exp(logp), index, valid, w, weight, total, axis, reduction, label_smoothing)
        if reduction == "mean":
            with np.errstate(invalid="ignore"):  # every target ignored: 0 / 0, the NaN torch gives
                return xp.asarray(loss.sum() / total, dtype=x.dtype)
        return _reduce(xp, loss, reduction)

    def backward(self, g):
        p, index, valid, w, weight, total, axis, reduction, ls = self.saved
        xp = self.xp
        c = p.shape[axis]
        a = _per_sample_coefficient(xp, g, reduction, total, w.shape)
        onehot = xp.arange(c).reshape(_class_shape(p.ndim, axis, c)) == index
        picked_coef = (1 - ls) * (a * w)  # the coefficient of logp[t] in the sample's loss, times a
        if ls:
            class_w = 1 if weight is None else weight.reshape(_class_shape(p.ndim, axis, c))
            smooth = (ls / c) * (a * valid)  # ... and of logp[c], divided by w[c]
            weight_sum = c if weight is None else weight.sum()
            sum_q = picked_coef + smooth * weight_sum
            gx = p * xp.expand_dims(sum_q, axis) - onehot * xp.expand_dims(picked_coef, axis)
            gx -= xp.expand_dims(smooth, axis) * class_w
        else:
            picked_coef = xp.expand_dims(picked_coef, axis)
            gx = (p - onehot) * picked_coef
        return (gx.astype(p.dtype, copy=False),)


class CrossEntropyProb(Function):
    """Cross entropy of log_softmax(input) along the class axis against class probabilities of the input's
    shape, like torch's ``cross_entropy``: per sample ``-sum_c w[c] t[c] logp[c]`` with t the targets smoothed
    to ``(1 - ls) t + ls / C``; 'mean' divides by the number of samples (not by the weights, as torch). The
    gradients: logits ``a * (p * sum(q) - q)`` with q = w t, targets ``-a (1 - ls) w logp``."""

    __slots__ = ()

    def forward(self, x, y, weight, reduction, label_smoothing):
        xp = self.xp
        axis = 1 if x.ndim > 1 else 0
        c = x.shape[axis]
        logp = _log_softmax(xp, x, axis)
        t = (1 - label_smoothing) * y + label_smoothing / c if label_smoothing else y
        class_w = None if weight is None else weight.reshape(_class_shape(x.ndim, axis, c))
        q = t if class_w is None else t * class_w
        loss = (-(logp * q).sum(axis=axis)).astype(x.dtype, copy=False)
        if True in self.needs_grad:
            self.saved = (logp, q if self.needs_grad[0] else None, class_w, loss.size, axis, reduction,
                          label_smoothing)
        return _reduce(xp, loss, reduction)

    def backward(self, g):
        logp, q, class_w, samples, axis, reduction, ls = self.saved
        xp = self.xp
        a = xp.expand_dims(_per_sample_coefficient(xp, g, reduction, samples, logp.shape[:axis] +
                                                   logp.shape[axis + 1:]), axis)
        gx = gy = None
        if self.needs_grad[0]:
            gx = a * (xp.exp(logp) * q.sum(axis=axis, keepdims=True) - q)
        if self.needs_grad[1]:
            gy = -(1 - ls) * a * (logp if class_w is None else logp * class_w)
        return gx, gy
