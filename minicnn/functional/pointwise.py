"""Elementwise mathematical functions: exp, log, sqrt, abs, clip."""
from __future__ import annotations

import numpy as np

from ..tensor import Function


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / a


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad / (2 * out)


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * np.sign(a)  # 0 at 0, as PyTorch


class Clip(Function):
    @staticmethod
    def forward(ctx, a, low, high):
        a = np.asarray(a)
        ctx.save_for_backward(a)
        ctx.low, ctx.high = low, high
        return np.clip(a, low, high)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        inside = np.ones(a.shape, bool)  # the gradient passes where low <= a <= high, as torch.clamp
        if ctx.low is not None:
            inside &= a >= ctx.low
        if ctx.high is not None:
            inside &= a <= ctx.high
        return grad * inside, None, None


def exp(a):
    """e ** a."""
    return Exp.apply(a)


def log(a):
    """Natural logarithm (NaN for negative input, -inf at 0, propagated, never raised)."""
    return Log.apply(a)


def sqrt(a):
    """Square root."""
    return Sqrt.apply(a)


def abs(a):
    """|a|; gradient sign(a), 0 at 0."""
    return Abs.apply(a)


def clip(a, min=None, max=None):
    """Clamp into [min, max] (either may be None); gradient 1 inside, 0 outside."""
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    if min is not None and max is not None and min > max:
        raise ValueError(f"clip: min {min} is larger than max {max}")
    return Clip.apply(a, min, max)


clamp = clip
