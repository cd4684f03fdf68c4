"""Pooling kernels: max and average pooling, adaptive pooling, and max-unpooling.

Every kernel works on a stack of 3-D planes, x of shape (P, D, H, W), where P = N * C: one
plane per (sample, channel). 1-D and 2-D pooling are 3-D pooling with singleton depth (and
height) and a 1-wide window there, so each kernel is written and compiled once (for float32 and
float64) instead of once per dimensionality. Window geometry follows PyTorch: output position i
of an axis reads input positions i * stride - padding + j * dilation, j = 0 .. kernel - 1, and
positions outside 0 .. size-1 are padding.

Max pooling records, for every output, the flat index of its maximum inside the plane
(d * H * W + h * W + w, PyTorch's `return_indices` convention); its backward and max-unpooling
are then scatters and gathers along those indices. The first maximum in scan order wins a tie, so
the gradient goes to exactly one element, as in PyTorch. A NaN in the window wins (propagates).

Each kernel is a SizedKernel (threads.py): a call runs the parallel build, or the serial one on
small arrays.
"""
import numpy as np
from numba import njit, prange

from .threads import SizedKernel


def max_pool_forward(x, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw, od, oh, ow):
    """x (P, D, H, W) -> (out (P, od, oh, ow), argmax (P, od, oh, ow) flat in-plane int64)."""
    P, D, H, W = x.shape
    out = np.empty((P, od, oh, ow), x.dtype)
    argmax = np.empty((P, od, oh, ow), np.int64)
    for p in prange(P):
        for i in range(od):
            for j in range(oh):
                for l in range(ow):
                    best = -np.inf
                    best_at = -1  # stays -1 only if the window holds no input position
                    for a in range(kd):
                        z = i * sd - pd + a * dd
                        if z < 0 or z >= D:
                            continue
                        for b in range(kh):
                            y = j * sh - ph + b * dh
                            if y < 0 or y >= H:
                                continue
                            for c in range(kw):
                                u = l * sw - pw + c * dw
                                if u < 0 or u >= W:
                                    continue
                                v = x[p, z, y, u]
                                # strict '>' keeps the first of tied maxima (PyTorch's rule)
                                if best_at < 0 or v > best or np.isnan(v):
                                    best = v
                                    best_at = (z * H + y) * W + u
                    out[p, i, j, l] = best
                    argmax[p, i, j, l] = best_at
    return out, argmax


def scatter_add_planes(values, index, plane_size):
    """out[p, index[p, m]] += values[p, m]: the backward of max pooling (values, index: (P, M)).

    Indices below 0 (windows that saw only padding) are skipped.
    """
    P, M = values.shape
    out = np.zeros((P, plane_size), values.dtype)
    for p in prange(P):
        for m in range(M):
            k = index[p, m]
            if k >= 0:
                out[p, k] += values[p, m]
    return out


def unpool_forward(values, index, plane_size):
    """out[p, index[p, m]] = values[p, m], zeros elsewhere (values, index: (P, M)).

    When two windows chose the same position (overlapping pooling), the later one in scan order
    is written last and is the one the output holds.
    """
    P, M = values.shape
    out = np.zeros((P, plane_size), values.dtype)
    for p in prange(P):
        for m in range(M):
            out[p, index[p, m]] = values[p, m]
    return out


def unpool_backward(grad, index):
    """The exact derivative of `unpool_forward`: grad_in[p, m] = grad[p, index[p, m]] for the
    value that ended up in the output, 0 for one that was overwritten."""
    P, plane_size = grad.shape
    M = index.shape[1]
    out = np.zeros((P, M), grad.dtype)
    for p in prange(P):
        writer = np.full(plane_size, -1, np.int64)
        for m in range(M):
            writer[index[p, m]] = m
        for m in range(M):
            k = index[p, m]
            if writer[k] == m:
                out[p, m] = grad[p, k]
    return out


@njit(cache=True)
def _avg_windows(count, stride, padding, kernel, size):
    """Along one axis, for each of `count` outputs: the window [lo, hi) clipped to the input, and
    the window's size inside the padded input (PyTorch's count_include_pad divisor: a ceil_mode
    window may overhang the padding too). Computed once per call, not once per output."""
    lo, hi, padded = np.empty(count, np.int64), np.empty(count, np.int64), np.empty(count, np.int64)
    for i in range(count):
        start = i * stride - padding
        stop = min(start + kernel, size + padding)
        lo[i], hi[i], padded[i] = max(start, 0), min(stop, size), stop - start
    return lo, hi, padded


@njit(inline="always")
def _avg_divisors(row, z, y, u, i, j, count_include_pad, divisor_override):
    """row[l] = the divisor of output (i, j, l): divisor_override if > 0, else the window's size
    inside the padded input (count_include_pad) or inside the input alone."""
    z0, z1, nz = z
    y0, y1, ny = y
    u0, u1, nu = u
    for l in range(row.size):
        if divisor_override > 0:
            row[l] = divisor_override
        elif count_include_pad:
            row[l] = nz[i] * ny[j] * nu[l]
        else:
            row[l] = (z1[i] - z0[i]) * (y1[j] - y0[j]) * (u1[l] - u0[l])


def avg_pool_forward(x, kd, kh, kw, sd, sh, sw, pd, ph, pw, od, oh, ow,
                     count_include_pad, divisor_override):
    """x (P, D, H, W) -> mean of every window (P, od, oh, ow), summed in float64 and divided by
    the window's divisor (_avg_divisors). One output row at a time: the input rows of its
    windows are read once each, left to right."""
    P, D, H, W = x.shape
    out = np.empty((P, od, oh, ow), x.dtype)
    z, y, u = _avg_windows(od, sd, pd, kd, D), _avg_windows(oh, sh, ph, kh, H), _avg_windows(ow, sw, pw, kw, W)
    for p in prange(P):
        total = np.empty(ow, np.float64)
        divisor = np.empty(ow, np.float64)
        for i in range(od):
            for j in range(oh):
                total[:] = 0.0
                for a in range(z[0][i], z[1][i]):
                    for b in range(y[0][j], y[1][j]):
                        for l in range(ow):
                            for c in range(u[0][l], u[1][l]):
                                total[l] += x[p, a, b, c]
                _avg_divisors(divisor, z, y, u, i, j, count_include_pad, divisor_override)
                for l in range(ow):
                    out[p, i, j, l] = total[l] / divisor[l]
    return out


def avg_pool_backward(grad, D, H, W, kd, kh, kw, sd, sh, sw, pd, ph, pw,
                      count_include_pad, divisor_override):
    """grad (P, od, oh, ow) -> grad_x (P, D, H, W): each output spreads grad / divisor over its
    window (the transpose of avg_pool_forward, one output row at a time)."""
    P, od, oh, ow = grad.shape
    out = np.zeros((P, D, H, W), grad.dtype)
    z, y, u = _avg_windows(od, sd, pd, kd, D), _avg_windows(oh, sh, ph, kh, H), _avg_windows(ow, sw, pw, kw, W)
    for p in prange(P):
        share = np.empty(ow, np.float64)
        divisor = np.empty(ow, np.float64)
        for i in range(od):
            for j in range(oh):
                _avg_divisors(divisor, z, y, u, i, j, count_include_pad, divisor_override)
                for l in range(ow):
                    share[l] = grad[p, i, j, l] / divisor[l]
                for a in range(z[0][i], z[1][i]):
                    for b in range(y[0][j], y[1][j]):
                        for l in range(ow):
                            for c in range(u[0][l], u[1][l]):
                                out[p, a, b, c] += share[l]
    return out


@njit(inline="always")
def _adaptive_window(i, size, out_size):
    """Adaptive pooling's window [floor(i*L/O), ceil((i+1)*L/O)) (PyTorch's definition)."""
    return (i * size) // out_size, ((i + 1) * size + out_size - 1) // out_size


def adaptive_avg_pool_forward(x, od, oh, ow):
    """x (P, D, H, W) -> (P, od, oh, ow), each output the mean of its adaptive window."""
    P, D, H, W = x.shape
    out = np.empty((P, od, oh, ow), x.dtype)
    for p in prange(P):
        for i in range(od):
            z0, z1 = _adaptive_window(i, D, od)
            for j in range(oh):
                y0, y1 = _adaptive_window(j, H, oh)
                for l in range(ow):
                    u0, u1 = _adaptive_window(l, W, ow)
                    total = 0.0
                    for z in range(z0, z1):
                        for y in range(y0, y1):
                            for u in range(u0, u1):
                                total += x[p, z, y, u]
                    out[p, i, j, l] = total / ((z1 - z0) * (y1 - y0) * (u1 - u0))
    return out


def adaptive_avg_pool_backward(grad, D, H, W):
    """grad (P, od, oh, ow) -> grad_x (P, D, H, W), the transpose of adaptive_avg_pool_forward."""
    P, od, oh, ow = grad.shape
    out = np.zeros((P, D, H, W), grad.dtype)
    for p in prange(P):
        for i in range(od):
            z0, z1 = _adaptive_window(i, D, od)
            for j in range(oh):
                y0, y1 = _adaptive_window(j, H, oh)
                for l in range(ow):
                    u0, u1 = _adaptive_window(l, W, ow)
                    share = grad[p, i, j, l] / ((z1 - z0) * (y1 - y0) * (u1 - u0))
                    for z in range(z0, z1):
                        for y in range(y0, y1):
                            for u in range(u0, u1):
                                out[p, z, y, u] += share
    return out


def adaptive_max_pool_forward(x, od, oh, ow):
    """x (P, D, H, W) -> (max of each adaptive window, its flat in-plane index), like
    max_pool_forward (first maximum wins ties, NaN propagates)."""
    P, D, H, W = x.shape
    out = np.empty((P, od, oh, ow), x.dtype)
    argmax = np.empty((P, od, oh, ow), np.int64)
    for p in prange(P):
        for i in range(od):
            z0, z1 = _adaptive_window(i, D, od)
            for j in range(oh):
                y0, y1 = _adaptive_window(j, H, oh)
                for l in range(ow):
                    u0, u1 = _adaptive_window(l, W, ow)
                    best = x[p, z0, y0, u0]
                    best_at = (z0 * H + y0) * W + u0
                    for z in range(z0, z1):
                        for y in range(y0, y1):
                            for u in range(u0, u1):
                                v = x[p, z, y, u]
                                if v > best or np.isnan(v):
                                    best = v
                                    best_at = (z * H + y) * W + u
                    out[p, i, j, l] = best
                    argmax[p, i, j, l] = best_at
    return out, argmax


# Sizes (input values) from which the parallel build is faster, measured by
# benchmarks/bench_sized_kernels.py: about 1 ns a value for a window's comparisons, less for the
# scatters, which move memory
max_pool_forward = SizedKernel(max_pool_forward, parallel_from=1 << 18)
scatter_add_planes = SizedKernel(scatter_add_planes, parallel_from=1 << 20)
unpool_forward = SizedKernel(unpool_forward, parallel_from=1 << 20)
unpool_backward = SizedKernel(unpool_backward, parallel_from=1 << 20)
avg_pool_forward = SizedKernel(avg_pool_forward, parallel_from=1 << 18)
avg_pool_backward = SizedKernel(avg_pool_backward, parallel_from=1 << 20)
adaptive_avg_pool_forward = SizedKernel(adaptive_avg_pool_forward, parallel_from=1 << 18)
adaptive_avg_pool_backward = SizedKernel(adaptive_avg_pool_backward, parallel_from=1 << 20)
adaptive_max_pool_forward = SizedKernel(adaptive_max_pool_forward, parallel_from=1 << 18)
