"""Activation functions and softmax.

Each backward is written from the output where that is cheaper (tanh: 1 - y^2, sigmoid: y(1-y)).

NaN, as in PyTorch: a NaN input gives a NaN output in every activation. Its gradient is whatever
the branch PyTorch's backward takes for NaN (every comparison with NaN is false): relu, relu6, elu
and hardswish pass the upstream gradient, leaky_relu scales it by the slope, hardsigmoid gives 0;
the smooth ones (tanh, sigmoid, gelu, silu, softplus) give NaN.

relu, leaky_relu, elu, hardsigmoid, relu6, hardswish and silu take PyTorch's `inplace` flag: with
inplace=True the result is written over the input tensor, which is returned.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.special import erf, expit

from ..kernels import pointwise
from ..tensor import Function, Tensor
from ._util import normalize_axis, pick_axis
from .checks import is_real, number_array


def _from_output(kernel, out, grad, numpy_backward):
    """An activation's input gradient from its output and the upstream gradient: one fused pass
    of `kernel` (kernels/pointwise.py) on float32/float64 arrays of one dtype, else NumPy's
    `numpy_backward()` (the same arithmetic, a pass per operator)."""
    if grad.dtype != out.dtype or out.dtype not in pointwise.DTYPES:
        return numpy_backward()
    grad_x = np.empty(out.shape, out.dtype)
    kernel(np.ascontiguousarray(out).reshape(-1), np.ascontiguousarray(grad).reshape(-1), grad_x.reshape(-1))
    return grad_x


class Tanh(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return _from_output(pointwise.tanh_backward, out, grad, lambda: grad * (1 - out * out))


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, a):
        out = expit(a)  # 1 / (1 + e^-a) without overflow for large |a|
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return _from_output(pointwise.sigmoid_backward, out, grad, lambda: grad * out * (1 - out))


class ReLU(Function):
    """a where a > 0, else 0. Written as PyTorch's threshold, `a <= 0 ? 0 : a`, so NaN passes
    through and so does its gradient; the gradient at 0 is 0. Like PyTorch, backward reads the
    output (out > 0 exactly where a > 0), so no mask is stored; floating arrays go through one
    fused Numba pass each way (kernels/pointwise.py)."""

    @staticmethod
    def forward(ctx, a):
        a = np.asarray(a)
        if a.dtype not in pointwise.DTYPES:
            out = np.where(a <= 0, np.zeros((), a.dtype), a)
        else:
            out = np.empty(a.shape, a.dtype)
            pointwise.relu_forward(np.ascontiguousarray(a).reshape(-1), out.reshape(-1))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return _from_output(pointwise.relu_backward, out, grad,
                            lambda: np.where(out <= 0, np.zeros((), grad.dtype), grad))


class LeakyReLU(Function):
    """a for a > 0, slope * a otherwise. Gradient at 0 (and at NaN) is the slope, as PyTorch."""

    @staticmethod
    def forward(ctx, a, negative_slope):
        a = np.asarray(a)
        positive = a > 0
        ctx.save_for_backward(positive)
        ctx.slope = negative_slope
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
        negative = a <= 0  # PyTorch's test: false at NaN, which takes the identity branch
        # expm1 of min(a, 0): exact near 0 and never overflows on the unused positive side
        out = np.where(negative, alpha * np.expm1(np.minimum(a, 0)), a).astype(a.dtype, copy=False)
        ctx.save_for_backward(negative, out)
        ctx.alpha = alpha
        return out

    @staticmethod
    def backward(ctx, grad):
        negative, out = ctx.saved_tensors
        return grad * np.where(negative, out + ctx.alpha, 1).astype(grad.dtype, copy=False), None


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


class ReLU6(Function):
    """min(max(a, 0), 6); gradient 1 strictly inside (0, 6), else 0 (PyTorch's hardtanh rule,
    which lets the gradient through at NaN)."""

    @staticmethod
    def forward(ctx, a):
        a = np.asarray(a)
        ctx.save_for_backward((a <= 0) | (a >= 6))
        return np.minimum(np.maximum(a, a.dtype.type(0)), a.dtype.type(6))

    @staticmethod
    def backward(ctx, grad):
        (outside,) = ctx.saved_tensors
        return np.where(outside, np.zeros((), grad.dtype), grad)


class Hardswish(Function):
    """a * relu6(a + 3) / 6 (Howard et al. 2019, MobileNetV3). Gradient 0 for a < -3,
    a / 3 + 1/2 for -3 <= a <= 3, 1 above (and at NaN), PyTorch's branches."""

    @staticmethod
    def forward(ctx, a):
        a = np.asarray(a)
        ctx.save_for_backward(a)
        gate = np.minimum(np.maximum(a + a.dtype.type(3), a.dtype.type(0)), a.dtype.type(6))
        return a * gate / a.dtype.type(6)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        slope = np.where(a < -3, 0, np.where(a <= 3, a / 3 + 0.5, 1)).astype(grad.dtype, copy=False)
        return grad * slope


class GELU(Function):
    """a * Phi(a), Phi the standard normal CDF (Hendrycks and Gimpel 2016).

    approximate="none": Phi(a) = (1 + erf(a / sqrt 2)) / 2, gradient Phi(a) + a * phi(a).
    approximate="tanh": Phi(a) ~ (1 + tanh(u)) / 2, u = sqrt(2/pi) (a + 0.044715 a^3),
    gradient (1 + t) / 2 + a (1 - t^2) / 2 * sqrt(2/pi) (1 + 3 * 0.044715 a^2), t = tanh(u).
    """

    @staticmethod
    def forward(ctx, a, approximate):
        a = np.asarray(a)
        ctx.save_for_backward(a)
        ctx.approximate = approximate
        if approximate == "tanh":
            t = np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a ** 3))
            return (0.5 * a * (1 + t)).astype(a.dtype, copy=False)
        return (0.5 * a * (1 + erf(a / math.sqrt(2)))).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        if ctx.approximate == "tanh":
            k = math.sqrt(2 / math.pi)
            t = np.tanh(k * (a + 0.044715 * a ** 3))
            slope = 0.5 * (1 + t) + 0.5 * a * (1 - t * t) * k * (1 + 3 * 0.044715 * a * a)
        else:
            slope = 0.5 * (1 + erf(a / math.sqrt(2))) + a * np.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)
        return (grad * slope).astype(grad.dtype, copy=False), None


class SiLU(Function):
    """a * sigmoid(a) (swish, Ramachandran et al. 2017); gradient s (1 + a (1 - s)), s = sigmoid(a)."""

    @staticmethod
    def forward(ctx, a):
        s = expit(a)
        ctx.save_for_backward(a, s)
        return a * s

    @staticmethod
    def backward(ctx, grad):
        a, s = ctx.saved_tensors
        return grad * s * (1 + a * (1 - s))


class Softplus(Function):
    """log(1 + exp(beta a)) / beta, and a itself where beta a > threshold (PyTorch's switch back
    to linear for numerical stability); gradient sigmoid(beta a), 1 in the linear part."""

    @staticmethod
    def forward(ctx, a, beta, threshold):
        a = np.asarray(a)
        scaled = a * a.dtype.type(beta)
        linear = scaled > threshold
        ctx.save_for_backward(scaled, linear)
        with np.errstate(invalid="ignore"):  # NaN in, NaN out, quietly as everywhere else
            smooth = np.logaddexp(0, scaled) / a.dtype.type(beta)  # log(1 + e^z) without overflow
        return np.where(linear, a, smooth).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        scaled, linear = ctx.saved_tensors
        return np.where(linear, grad, grad * expit(scaled)).astype(grad.dtype, copy=False), None, None


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


def _number(op, name, value) -> float:
    if not is_real(value):
        raise TypeError(f"{op}: {name} must be a number, got {value!r}")
    return float(value)


def _activate(op, function, input, inplace, *args):
    """function.apply(input, *args); with inplace=True (PyTorch's flag) the result is written over
    `input`, which must be a Tensor, under Tensor's in-place rules (so not a leaf requiring grad)."""
    number_array(op, "input", input)
    if not isinstance(inplace, (bool, np.bool_)):
        raise TypeError(f"{op}: inplace must be a bool, got {inplace!r}")
    if not inplace:
        return function.apply(input, *args)
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: inplace=True needs a Tensor to overwrite, got {type(input).__name__}")
    return input._inplace(f"{op}_", lambda t: function.apply(t, *args))


def tanh(input):
    """Hyperbolic tangent."""
    number_array("tanh", "input", input)
    return Tanh.apply(input)


def sigmoid(input):
    """Logistic sigmoid 1 / (1 + exp(-input))."""
    number_array("sigmoid", "input", input)
    return Sigmoid.apply(input)


def relu(input, inplace=False):
    """max(input, 0); gradient 0 at input == 0, as PyTorch. NaN stays NaN and passes its gradient.
    inplace=True writes the result over `input` (Tensor.relu_), as PyTorch's flag does."""
    return _activate("relu", ReLU, input, inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """input for input > 0, negative_slope * input otherwise (NaN stays NaN; its gradient is the slope)."""
    slope = _number("leaky_relu", "negative_slope", negative_slope)
    return _activate("leaky_relu", LeakyReLU, input, inplace, slope)


def elu(input, alpha=1.0, inplace=False):
    """Exponential linear unit (Clevert et al. 2016): input for input > 0, alpha * (exp(input) - 1) otherwise.
    NaN stays NaN and passes its gradient unchanged (PyTorch's `input <= 0` test is false)."""
    return _activate("elu", ELU, input, inplace, _number("elu", "alpha", alpha))


def hardsigmoid(input, inplace=False):
    """Piecewise-linear sigmoid: 0 for input <= -3, 1 for input >= 3, input / 6 + 1/2 in between (PyTorch's).
    NaN stays NaN, with gradient 0."""
    return _activate("hardsigmoid", HardSigmoid, input, inplace)


def relu6(input, inplace=False):
    """min(max(input, 0), 6) (MobileNets' bounded ReLU). NaN stays NaN and passes its gradient."""
    return _activate("relu6", ReLU6, input, inplace)


def hardswish(input, inplace=False):
    """input * relu6(input + 3) / 6 (MobileNetV3). NaN stays NaN and passes its gradient."""
    return _activate("hardswish", Hardswish, input, inplace)


def gelu(input, approximate="none"):
    """Gaussian error linear unit input * Phi(input), Phi the standard normal CDF.

    approximate="none" uses erf exactly, "tanh" the tanh approximation (as PyTorch; see GELU).
    """
    number_array("gelu", "input", input)
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(input, approximate)


def silu(input, inplace=False):
    """input * sigmoid(input), also called swish."""
    return _activate("silu", SiLU, input, inplace)


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta * input)) / beta, a smooth relu; linear where beta * input > threshold."""
    number_array("softplus", "input", input)
    beta = _number("softplus", "beta", beta)
    if beta == 0:
        raise ValueError("softplus: beta must be non-zero, got 0")
    return Softplus.apply(input, beta, _number("softplus", "threshold", threshold))


def implicit_softmax_dim(ndim: int, op: str) -> int:
    """PyTorch's legacy choice when dim is not given: 0 for 0-, 1- and 3-D input, else 1."""
    warnings.warn(f"{op}: implicit dimension choice is deprecated in PyTorch; pass dim= "
                  f"(chose dim={0 if ndim in (0, 1, 3) else 1} for a {ndim}-D input)", UserWarning,
                  stacklevel=4)
    return 0 if ndim in (0, 1, 3) else 1


def _softmax_axis(a, axis, dim, op):
    axis = pick_axis(axis, dim, op)
    ndim = np.ndim(a.array if isinstance(a, Tensor) else a)
    return normalize_axis(implicit_softmax_dim(ndim, op) if axis is None else axis, ndim, op)


def softmax(input, dim=None, *, axis=None):
    """exp(input) / sum(exp(input)) along `dim`, computed stably.

    Without dim, PyTorch's legacy rule (with its warning): dim 0 for 0-, 1- and 3-D input, else 1.
    """
    number_array("softmax", "input", input)
    return Softmax.apply(input, _softmax_axis(input, axis, dim, "softmax"))


def log_softmax(input, dim=None, *, axis=None):
    """log(softmax(input)) along `dim`, computed stably (log-sum-exp); dim defaults as in softmax."""
    number_array("log_softmax", "input", input)
    return LogSoftmax.apply(input, _softmax_axis(input, axis, dim, "log_softmax"))
