"""Activation functions and softmax.

Each backward is written from the output where that is cheaper (tanh: 1 - y^2, sigmoid: y(1-y)).
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit

from ..tensor import Function, Tensor
from ._util import normalize_axis, pick_axis


class Tanh(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (1 - out * out)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, a):
        out = expit(a)  # 1 / (1 + e^-a) without overflow for large |a|
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out * (1 - out)


class LeakyReLU(Function):
    """max(a, 0) + slope * min(a, 0); slope 0 is ReLU. Gradient at 0 is taken as slope."""

    @staticmethod
    def forward(ctx, a, negative_slope):
        a = np.asarray(a)
        positive = a > 0
        ctx.save_for_backward(positive)
        ctx.slope = negative_slope
        if negative_slope == 0:
            return np.where(positive, a, np.zeros((), a.dtype))
        return np.where(positive, a, a * np.asarray(negative_slope, a.dtype))

    @staticmethod
    def backward(ctx, grad):
        (positive,) = ctx.saved_tensors
        scale = np.where(positive, 1, ctx.slope).astype(grad.dtype)
        return grad * scale, None


class ELU(Function):
    """a for a > 0, alpha * (e^a - 1) otherwise; the gradient there is alpha * e^a = out + alpha."""

    @staticmethod
    def forward(ctx, a, alpha):
        a = np.asarray(a)
        positive = a > 0
        # expm1 of min(a, 0): exact near 0 and never overflows on the unused positive side
        out = np.where(positive, a, alpha * np.expm1(np.minimum(a, 0))).astype(a.dtype, copy=False)
        ctx.save_for_backward(positive, out)
        ctx.alpha = alpha
        return out

    @staticmethod
    def backward(ctx, grad):
        positive, out = ctx.saved_tensors
        return grad * np.where(positive, 1, out + ctx.alpha).astype(grad.dtype, copy=False), None


class HardSigmoid(Function):
    """clip(a / 6 + 1/2, 0, 1); gradient 1/6 for -3 < a < 3, else 0 (PyTorch's Hardsigmoid)."""

    @staticmethod
    def forward(ctx, a):
        a = np.asarray(a)
        ctx.save_for_backward((a > -3) & (a < 3))
        return np.clip(a / a.dtype.type(6) + a.dtype.type(0.5), 0, 1)

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors
        return grad * inside / grad.dtype.type(6)


class Softmax(Function):
    @staticmethod
    def forward(ctx, a, axis):
        shifted = a - a.max(axis=axis, keepdims=True)  # exp of the shift never overflows
        e = np.exp(shifted)
        out = e / e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        # dL/dx = y * (g - sum(g * y))
        return y * (grad - (grad * y).sum(axis=ctx.axis, keepdims=True)), None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, a, axis):
        shifted = a - a.max(axis=axis, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        # dL/dx = g - softmax(x) * sum(g)
        return grad - np.exp(out) * grad.sum(axis=ctx.axis, keepdims=True), None


def tanh(a):
    """Hyperbolic tangent."""
    return Tanh.apply(a)


def sigmoid(a):
    """Logistic sigmoid 1 / (1 + exp(-a))."""
    return Sigmoid.apply(a)


def relu(a):
    """max(a, 0); gradient 0 at a == 0, as PyTorch."""
    return LeakyReLU.apply(a, 0.0)


def leaky_relu(a, negative_slope=0.01):
    """a for a > 0, negative_slope * a otherwise."""
    return LeakyReLU.apply(a, float(negative_slope))


def elu(a, alpha=1.0):
    """Exponential linear unit (Clevert et al. 2016): a for a > 0, alpha * (exp(a) - 1) otherwise."""
    return ELU.apply(a, float(alpha))


def hardsigmoid(a):
    """Piecewise-linear sigmoid: 0 for a <= -3, 1 for a >= 3, a / 6 + 1/2 in between (PyTorch's)."""
    return HardSigmoid.apply(a)


def _softmax_axis(a, axis, dim, op):
    axis = pick_axis(axis, dim, op)
    ndim = np.ndim(a.array if isinstance(a, Tensor) else a)
    return normalize_axis(-1 if axis is None else axis, ndim, op)


def softmax(a, dim=None, *, axis=None):
    """exp(a) / sum(exp(a)) along `dim` (default the last axis), computed stably."""
    return Softmax.apply(a, _softmax_axis(a, axis, dim, "softmax"))


def log_softmax(a, dim=None, *, axis=None):
    """log(softmax(a)) along `dim` (default the last axis), computed stably (log-sum-exp)."""
    return LogSoftmax.apply(a, _softmax_axis(a, axis, dim, "log_softmax"))
