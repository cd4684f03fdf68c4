"""Local response normalisation across channels (Krizhevsky et al. 2012, section 3.3), with
PyTorch's parameterisation:

    scale[c] = k + alpha / size * sum_{j = c - size//2}^{c + (size-1)//2} a[j]^2   (j outside 0..C-1 are 0)
    b[c]     = a[c] * scale[c] ** -beta

Derivative (the channel windows overlap, so every a[i] reaches the outputs whose window holds it):

    dL/da[i] = g[i] * scale[i] ** -beta
               - 2 * alpha * beta / size * a[i] * sum_{c : i in window(c)} g[c] * b[c] / scale[c]

and i is in window(c) exactly when c runs over i - (size-1)//2 .. i + size//2.

Arrays are (N, C, M), M the flattened spatial positions; each loop runs over m innermost so it
reads contiguous memory. Sums are accumulated in float64.
"""
import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def lrn_forward(a, size, alpha, beta, k):
    """a (N, C, M) -> (b, scale), both (N, C, M)."""
    N, C, M = a.shape
    out = np.empty_like(a)
    scale = np.empty_like(a)
    before, after = size // 2, (size - 1) // 2
    for n in prange(N):
        total = np.empty(M)
        for c in range(C):
            total[:] = 0.0
            for j in range(max(c - before, 0), min(c + after, C - 1) + 1):
                for m in range(M):
                    total[m] += a[n, j, m] * a[n, j, m]
            for m in range(M):
                s = k + alpha / size * total[m]
                scale[n, c, m] = s
                out[n, c, m] = a[n, c, m] * s ** -beta
    return out, scale


@njit(parallel=True, cache=True)
def lrn_backward(grad, a, out, scale, size, alpha, beta):
    """grad, a, out, scale (N, C, M) -> dL/da (N, C, M), from the formula in the module docstring."""
    N, C, M = a.shape
    result = np.empty_like(a)
    before, after = size // 2, (size - 1) // 2
    for n in prange(N):
        ratio = np.empty((C, M))  # g[c] * b[c] / scale[c]
        for c in range(C):
            for m in range(M):
                ratio[c, m] = grad[n, c, m] * out[n, c, m] / scale[n, c, m]
        total = np.empty(M)
        for i in range(C):
            total[:] = 0.0
            for c in range(max(i - after, 0), min(i + before, C - 1) + 1):
                for m in range(M):
                    total[m] += ratio[c, m]
            for m in range(M):
                result[n, i, m] = (grad[n, i, m] * scale[n, i, m] ** -beta
                                   - 2.0 * alpha * beta / size * a[n, i, m] * total[m])
    return result
