"""Elementwise mathematical functions: exp, log, sqrt, abs, clamp (clip)."""
from __future__ import annotations

import numpy as np

from ..tensor import Function, Tensor
from ._util import broadcast_shape, unbroadcast
from .checks import number_array, shape_of


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
        # PyTorch's sign: (a > 0) - (a < 0), so 0 at 0 and at NaN (NumPy's sign(nan) is nan)
        return grad * ((a > 0).astype(grad.dtype) - (a < 0))


class Clamp(Function):
    """y = min(max(a, low), high), broadcast over a and the bounds; either bound may be None.

    Gradients, PyTorch's rule: a gets g where low <= a <= high; low gets g where a < low < high;
    high gets g where a > high or high < low (then y = high everywhere). Each is summed back to
    its argument's shape.
    """

    @staticmethod
    def forward(ctx, a, low, high):
        out = np.asarray(a)
        if low is not None:
            out = np.maximum(out, low)
        if high is not None:
            out = np.minimum(out, high)
        ctx.save_for_backward(a, low, high)
        ctx.shapes = tuple(np.shape(v) for v in (a, low, high))
        return out

    @staticmethod
    def backward(ctx, grad):
        a, low, high = ctx.saved_tensors
        a_shape, low_shape, high_shape = ctx.shapes
        inside = np.ones(grad.shape, bool)
        if low is not None:
            inside &= a >= low
        if high is not None:
            inside &= a <= high
        grad_a = unbroadcast(grad * inside, a_shape) if ctx.needs_input_grad[0] else None
        grad_low = grad_high = None
        if ctx.needs_input_grad[1]:
            below = a < low if high is None else (a < low) & (low < high)
            grad_low = unbroadcast(grad * below, low_shape)
        if ctx.needs_input_grad[2]:
            above = a > high if low is None else (a > high) | (high < low)
            grad_high = unbroadcast(grad * above, high_shape)
        return grad_a, grad_low, grad_high


def exp(input):
    """e ** input."""
    number_array("exp", "input", input)
    return Exp.apply(input)


def log(input):
    """Natural logarithm (NaN for negative input, -inf at 0, propagated, never raised)."""
    number_array("log", "input", input)
    return Log.apply(input)


def sqrt(input):
    """Square root."""
    number_array("sqrt", "input", input)
    return Sqrt.apply(input)


def abs(input):
    """|input|; gradient sign(input), PyTorch's sign: 0 at 0 and at NaN (the forward keeps NaN)."""
    number_array("abs", "input", input)
    return Abs.apply(input)


def clamp(input, min=None, max=None):
    """min(max(input, min), max), PyTorch's torch.clamp; either bound may be None.

    The bounds are numbers or tensors broadcasting with input (the result has the broadcast
    shape). Tensor bounds get gradients where they are active (see Clamp). If min > max the
    result is max, as in PyTorch. NaN in input stays NaN.
    """
    number_array("clamp", "input", input)
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    for name, bound in (("min", min), ("max", max)):
        if bound is not None and not isinstance(bound, (Tensor, np.ndarray, int, float, np.number)):
            raise TypeError(f"clamp: {name} must be a number or a tensor, got {type(bound).__name__}")
        if bound is not None:
            number_array("clamp", name, bound)
    broadcast_shape("clamp", *(shape_of(v) for v in (input, min, max) if v is not None))
    # A NumPy scalar bound acts as a Python number (float64 bound, float32 input: float32 out)
    min, max = (v.item() if isinstance(v, np.generic) else v for v in (min, max))
    return Clamp.apply(input, min, max)


clip = clamp
