"""Pooling kernels: max and average pooling, adaptive pooling, and max-unpooling.

Every kernel works on a stack of 3-D planes, x of shape (P, D, H, W), where P = N * C: one
plane per (sample, channel). 1-D and 2-D pooling are 3-D pooling with singleton depth (and
height) and a 1-wide window there, so each kernel is written and compiled once (for float32 and
float64) instead of once per dimensionality. Window geometry follows PyTorch: output position i
of an axis reads input positions i * stride - padding + j * dilation, j = 0 .. kernel - 1, and
positions outside 0 .. size-1 are padding.

Max and average pooling visit a window as one list of taps: the offsets of its positions from
its first, in scan order (d, h, w), worked out once per call (_window_taps). Every window then
runs the same short loop, with no bounds to test: when the windows reach into the padding, each
plane is first copied into a buffer that holds the padding (-inf for max, 0 for average), and
when they do not, the loop reads the plane itself. Measured on 2x2 windows, loops over each
axis with clipped bounds took three to four times as long as this one loop over the taps.
Indices into the planes are cast to np.uintp: with a signed index Numba also tests for a
negative one (NumPy's wrap-around), which cost a third more.

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


# Planes per parallel task: each task allocates one padding buffer and works through its share
# of the planes; a few tasks per thread balance the load without an allocation per plane.
PLANE_TASKS = 64


@njit(cache=True)
def _axis_windows(count, kernel, stride, padding, dilation, size):
    """The windows of one axis, for outputs i = 0 .. count-1 (tap t reads position
    i * stride - padding + t * dilation), as three int64 arrays:
    first[i]: the first tap inside the input, -1 if none is;
    inside[i]: how many taps are inside the input;
    padded[i]: how many are inside the padded input (PyTorch's count_include_pad divisor: a
    ceil_mode window may overhang the padding too)."""
    first, inside, padded = np.full(count, -1, np.int64), np.zeros(count, np.int64), np.zeros(count, np.int64)
    for i in range(count):
        for t in range(kernel):
            q = i * stride - padding + t * dilation
            if 0 <= q < size:
                first[i] = t if inside[i] == 0 else first[i]
                inside[i] += 1
            if -padding <= q < size + padding:
                padded[i] += 1
    return first, inside, padded


@njit(cache=True)
def _padded_layout(D, H, W, od, oh, ow, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    """(Hb, Wb, buffer size, window taps): a plane with its padding is Db x Hb x Wb, each axis
    long enough for all its windows (a ceil_mode window may overhang the right padding); the
    buffer that holds it is empty when no window leaves the input (the plane is read as it is);
    the taps are a window's offsets in that layout (_window_taps)."""
    Db = max(D + 2 * pd, (od - 1) * sd + (kd - 1) * dd + 1)
    Hb = max(H + 2 * ph, (oh - 1) * sh + (kh - 1) * dh + 1)
    Wb = max(W + 2 * pw, (ow - 1) * sw + (kw - 1) * dw + 1)
    buffer_size = 0 if (Db, Hb, Wb) == (D, H, W) else Db * Hb * Wb
    return Hb, Wb, buffer_size, _window_taps(kd, kh, kw, dd, dh, dw, Hb, Wb)


@njit(cache=True)
def _window_taps(kd, kh, kw, dd, dh, dw, H, W):
    """The flat offsets of a window's taps from its first position, in scan order, in planes of
    H rows of W values."""
    taps = np.empty(kd * kh * kw, np.int64)
    for a in range(kd):
        for b in range(kh):
            for c in range(kw):
                taps[(a * kh + b) * kw + c] = (a * dd * H + b * dh) * W + c * dw
    return taps


@njit(inline="always")
def _padded_plane(plane, buffer, D, H, W, pd, ph, pw, Hb, Wb):
    """The plane (flat, D * H * W) as the windows read it: itself when it needs no padding
    (the buffer is then empty), else copied into the middle of `buffer` (flat, Db * Hb * Wb),
    whose padding the caller has filled. (Element by element: slices of a few values cost a call
    each.)"""
    if buffer.size == 0:
        return plane
    for z in range(D):
        for y in range(H):
            row = ((z + pd) * Hb + y + ph) * Wb + pw
            for u in range(W):
                buffer[row + u] = plane[(z * H + y) * W + u]
    return buffer


@njit(inline="always")
def _unpad_plane(buffer, plane, D, H, W, pd, ph, pw, Hb, Wb):
    """The reverse of _padded_plane: the middle of `buffer` into `plane`."""
    for z in range(D):
        for y in range(H):
            row = ((z + pd) * Hb + y + ph) * Wb + pw
            for u in range(W):
                plane[(z * H + y) * W + u] = buffer[row + u]


def max_pool_forward(x, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw, od, oh, ow):
    """x (P, D, H, W) -> (out (P, od, oh, ow), argmax (P, od, oh, ow) flat in-plane int64).

    Padding is -inf, so it never wins; each output starts at -inf found at its window's first
    input position (PyTorch's answer for a window of -inf), or -1 for a window with no input
    position at all (possible with dilation). The strict '>' keeps the first of tied maxima
    (PyTorch's rule); 'v != v' lets a NaN win.
    """
    P, D, H, W = x.shape
    out = np.empty((P, od, oh, ow), x.dtype)
    argmax = np.empty((P, od, oh, ow), np.int64)
    Hb, Wb, buffer_size, taps = _padded_layout(D, H, W, od, oh, ow, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw)
    input_taps = _window_taps(kd, kh, kw, dd, dh, dw, H, W)
    z_first, _, _ = _axis_windows(od, kd, sd, pd, dd, D)
    y_first, _, _ = _axis_windows(oh, kh, sh, ph, dh, H)
    u_first, _, _ = _axis_windows(ow, kw, sw, pw, dw, W)
    planes, outs, indices = x.reshape(P, D * H * W), out.reshape(P, od * oh * ow), argmax.reshape(P, od * oh * ow)
    tasks = min(P, PLANE_TASKS)
    for task in prange(tasks):
        buffer = np.full(buffer_size, -np.inf, x.dtype)
        for p in range(task * P // tasks, (task + 1) * P // tasks):
            source = _padded_plane(planes[p], buffer, D, H, W, pd, ph, pw, Hb, Wb)
            out_plane, index_plane = outs[p], indices[p]
            for i in range(od):
                for j in range(oh):
                    row = (i * oh + j) * ow
                    row_start = (i * sd * Hb + j * sh) * Wb
                    row_input_start = ((i * sd - pd) * H + j * sh - ph) * W - pw
                    row_first_tap = (z_first[i] * kh + y_first[j]) * kw
                    row_inside = min(z_first[i], y_first[j]) >= 0
                    for l in range(ow):
                        start = row_start + l * sw
                        # tap 0 (offset 0), or -inf found at the first tap inside the input
                        best = source[np.uintp(start)]
                        best_tap = row_first_tap + u_first[l] if row_inside and u_first[l] >= 0 else -1
                        for t in range(1, taps.size):
                            v = source[np.uintp(start + taps[t])]
                            take = (v > best) | (v != v)
                            best = v if take else best
                            best_tap = t if take else best_tap
                        out_plane[np.uintp(row + l)] = best
                        index_plane[np.uintp(row + l)] = (row_input_start + l * sw + input_taps[best_tap]
                                                          if best_tap >= 0 else -1)
    return out, argmax


def scatter_add_planes(values, index, plane_size):
    """out[p, index[p, m]] += values[p, m]: the backward of max pooling (values, index: (P, M)).

    Indices below 0 (windows that saw only padding) are skipped.
    """
    P, M = values.shape
    out = np.empty((P, plane_size), values.dtype)
    for p in prange(P):
        out[p] = 0  # here rather than np.zeros: the plane is then in cache for the scatter
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
def _avg_scales(count, kernel, stride, padding, size, count_include_pad):
    """1 / the window's size along one axis, for each of its `count` outputs: inside the padded
    input (count_include_pad) or inside the input alone."""
    _, inside, padded = _axis_windows(count, kernel, stride, padding, 1, size)
    return 1.0 / (padded if count_include_pad else inside)


@njit(cache=True)
def _avg_window_scales(D, H, W, od, oh, ow, kd, kh, kw, sd, sh, sw, pd, ph, pw, count_include_pad, divisor_override):
    """1 / divisor of output (i, j, l) as the product of three scales z[i] * y[j] * u[l]: the
    window's size is the product of its sizes along the axes, and divisor_override > 0 replaces
    it. Multiplying by these instead of dividing (as PyTorch does) made avg_pool_forward 30%
    faster; the results differ from the quotient by a few float64 ulps, before rounding to x's dtype."""
    if divisor_override > 0:
        return np.full(od, 1.0 / divisor_override), np.ones(oh), np.ones(ow)
    return (_avg_scales(od, kd, sd, pd, D, count_include_pad), _avg_scales(oh, kh, sh, ph, H, count_include_pad),
            _avg_scales(ow, kw, sw, pw, W, count_include_pad))


def avg_pool_forward(x, kd, kh, kw, sd, sh, sw, pd, ph, pw, od, oh, ow,
                     count_include_pad, divisor_override):
    """x (P, D, H, W) -> mean of every window (P, od, oh, ow): summed in float64 in scan order
    (padding adds zeros), times 1 / the window's divisor (_avg_window_scales)."""
    P, D, H, W = x.shape
    out = np.empty((P, od, oh, ow), x.dtype)
    Hb, Wb, buffer_size, taps = _padded_layout(D, H, W, od, oh, ow, kd, kh, kw, sd, sh, sw, pd, ph, pw, 1, 1, 1)
    z_scale, y_scale, u_scale = _avg_window_scales(D, H, W, od, oh, ow, kd, kh, kw, sd, sh, sw, pd, ph, pw,
                                              count_include_pad, divisor_override)
    planes, outs = x.reshape(P, D * H * W), out.reshape(P, od * oh * ow)
    tasks = min(P, PLANE_TASKS)
    for task in prange(tasks):
        buffer = np.zeros(buffer_size, x.dtype)
        for p in range(task * P // tasks, (task + 1) * P // tasks):
            source = _padded_plane(planes[p], buffer, D, H, W, pd, ph, pw, Hb, Wb)
            m = 0
            for i in range(od):
                for j in range(oh):
                    for l in range(ow):
                        start = (i * sd * Hb + j * sh) * Wb + l * sw
                        total = 0.0
                        for t in range(taps.size):
                            total += source[np.uintp(start + taps[t])]
                        outs[p, m] = total * (z_scale[i] * y_scale[j]) * u_scale[l]
                        m += 1
    return out


def avg_pool_backward(grad, D, H, W, kd, kh, kw, sd, sh, sw, pd, ph, pw,
                      count_include_pad, divisor_override):
    """grad (P, od, oh, ow) -> grad_x (P, D, H, W): each output adds grad / divisor
    (_avg_window_scales) to every position of its window, the transpose of avg_pool_forward; what
    lands in the padding is dropped."""
    P, od, oh, ow = grad.shape
    out = np.empty((P, D, H, W), grad.dtype)
    Hb, Wb, buffer_size, taps = _padded_layout(D, H, W, od, oh, ow, kd, kh, kw, sd, sh, sw, pd, ph, pw, 1, 1, 1)
    z_scale, y_scale, u_scale = _avg_window_scales(D, H, W, od, oh, ow, kd, kh, kw, sd, sh, sw, pd, ph, pw,
                                              count_include_pad, divisor_override)
    grads, planes = grad.reshape(P, od * oh * ow), out.reshape(P, D * H * W)
    tasks = min(P, PLANE_TASKS)
    for task in prange(tasks):
        buffer = np.empty(buffer_size, grad.dtype)
        for p in range(task * P // tasks, (task + 1) * P // tasks):
            target = planes[p] if buffer_size == 0 else buffer
            target[:] = 0  # here rather than np.zeros: the plane is then in cache for the sums
            m = 0
            for i in range(od):
                for j in range(oh):
                    for l in range(ow):
                        start = (i * sd * Hb + j * sh) * Wb + l * sw
                        share = grads[p, m] * (z_scale[i] * y_scale[j]) * u_scale[l]
                        for t in range(taps.size):
                            target[np.uintp(start + taps[t])] += share
                        m += 1
            if buffer_size:
                _unpad_plane(buffer, planes[p], D, H, W, pd, ph, pw, Hb, Wb)
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


# Sizes from which the parallel build is faster, measured by benchmarks/bench_sized_kernels.py
# (2x2 windows on 32x32 planes, 2 cores with other work beside). The functional ops choose the
# build of the max and average kernels by window reads (outputs x taps: the input's size for 2x2
# windows with stride 2) and of scatter_add_planes by outputs. A 2x2 max costs about 1 ns an
# input value, an average half that, their backwards less: each must have millions of values
# before two threads beat one by more than what waking them costs.
max_pool_forward = SizedKernel(max_pool_forward, parallel_from=1 << 20)
scatter_add_planes = SizedKernel(scatter_add_planes, parallel_from=1 << 20)
unpool_forward = SizedKernel(unpool_forward, parallel_from=1 << 20)
unpool_backward = SizedKernel(unpool_backward, parallel_from=1 << 20)
avg_pool_forward = SizedKernel(avg_pool_forward, parallel_from=1 << 21)
avg_pool_backward = SizedKernel(avg_pool_backward, parallel_from=1 << 21)
adaptive_avg_pool_forward = SizedKernel(adaptive_avg_pool_forward, parallel_from=1 << 18)
adaptive_avg_pool_backward = SizedKernel(adaptive_avg_pool_backward, parallel_from=1 << 20)
adaptive_max_pool_forward = SizedKernel(adaptive_max_pool_forward, parallel_from=1 << 18)
