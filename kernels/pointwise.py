"""Element-wise kernels of the training path: each reads its inputs once and writes its output once.

NumPy needs a pass per operator and a temporary per intermediate result (`np.where(a <= 0, 0, a)`
is a comparison pass, a boolean array and a selection pass); these loops fuse them. Arrays are
flat (1-D, C-contiguous); the caller ravels them. Each is a SizedKernel (threads.py), memory-bound:
its parallel build only pays on arrays of millions of values.
"""
import numpy as np
from numba import prange

from .threads import SizedKernel

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))  # what the kernels are compiled for


def relu_forward(x, out):
    """out[i] = 0 if x[i] <= 0 else x[i] (PyTorch's threshold: NaN passes through)."""
    for i in prange(x.size):
        value = x[i]
        out[i] = 0 if value <= 0 else value


def relu_backward(out, grad, grad_x):
    """grad_x[i] = 0 if out[i] <= 0 else grad[i], from relu's output: out > 0 exactly where the
    input was > 0, and a NaN output (from a NaN input) passes its gradient."""
    for i in prange(grad.size):
        grad_x[i] = 0 if out[i] <= 0 else grad[i]


def tanh_backward(out, grad, grad_x):
    """grad_x[i] = grad[i] * (1 - out[i]^2), from tanh's output (d tanh(a)/da = 1 - tanh(a)^2),
    in NumPy's order of operations: the same bits as `grad * (1 - out * out)`."""
    one = out.dtype.type(1)  # not the literal 1, an int64 that would lift float32 to float64
    for i in prange(grad.size):
        grad_x[i] = grad[i] * (one - out[i] * out[i])


def sigmoid_backward(out, grad, grad_x):
    """grad_x[i] = grad[i] * out[i] * (1 - out[i]), from the sigmoid's output
    (d s(a)/da = s(a) (1 - s(a))), in NumPy's order: the bits of `grad * out * (1 - out)`."""
    one = out.dtype.type(1)
    for i in prange(grad.size):
        grad_x[i] = grad[i] * out[i] * (one - out[i])


relu_forward = SizedKernel(relu_forward, parallel_from=1 << 23)  # memory-bound: one core streams it
relu_backward = SizedKernel(relu_backward, parallel_from=1 << 23)
tanh_backward = SizedKernel(tanh_backward, parallel_from=1 << 23)
sigmoid_backward = SizedKernel(sigmoid_backward, parallel_from=1 << 23)
