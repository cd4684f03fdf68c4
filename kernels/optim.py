"""The optimisers' update rules as one fused pass over each parameter (PyTorch's formulas; see
minicnn/optim for the maths). Every array is flat and C-contiguous, and is updated in place:
the parameter, its momentum buffer or moment estimates. The hyper-parameters arrive in the
parameter's dtype, so a float32 model updates in float32 arithmetic, as PyTorch's does.

In NumPy each operator of an update is a pass over memory and a temporary of the parameter's
size (`p - lr * (g + wd * p)` is three); here the step reads and writes each array once.

Each rule is a SizedKernel (threads.py): parallel, or serial on small parameters (biases,
batch-norm scales), of which a network has dozens.
"""
import numpy as np
from numba import prange

from .threads import SizedKernel


def sgd_step(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first):
    """d = g + weight_decay p; with momentum: buf = d on the first step, else
    momentum buf + (1 - dampening) d, and d = d + momentum buf (Nesterov) or buf; p -= lr d.
    `buf` is unused (may be empty) when momentum is 0."""
    for i in prange(p.size):
        d = g[i] + weight_decay * p[i] if weight_decay != 0 else g[i]  # 0 * inf would be NaN
        if momentum != 0:
            b = d if first else momentum * buf[i] + (1 - dampening) * d
            buf[i] = b
            d = d + momentum * b if nesterov else b
        p[i] -= lr * d


def adam_step(p, g, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, correction1, correction2):
    """AdamW (decoupled): p *= 1 - lr weight_decay; Adam: g += weight_decay p. Then
    m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2, p -= lr / correction1 * m / (sqrt(v) / correction2 + eps)
    with correction1 = 1 - b1^t and correction2 = sqrt(1 - b2^t)."""
    step_size = lr / correction1
    for i in prange(p.size):
        grad = g[i]
        if weight_decay != 0:  # skipped at 0, as PyTorch does: 0 * inf would be NaN
            if decoupled:
                p[i] *= 1 - lr * weight_decay
            else:
                grad += weight_decay * p[i]
        m[i] = beta1 * m[i] + (1 - beta1) * grad
        v[i] = beta2 * v[i] + (1 - beta2) * grad * grad
        p[i] -= step_size * m[i] / (np.sqrt(v[i]) / correction2 + eps)


sgd_step = SizedKernel(sgd_step, parallel_from=1 << 23)  # memory-bound, as a ReLU
adam_step = SizedKernel(adam_step)  # a square root and a division per value: parallel early
