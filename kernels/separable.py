"""Separable convolutions: rank-1 (spatially separable) kernels, and depthwise convolution.

Spatially separable. A kH x kW kernel that is an outer product, w[a, b] = u[a] v[b] (a matrix of
rank 1), filters in two 1-D passes: first every row with v (a 1 x kW convolution), then every
column of that with u (a kH x 1 convolution),

    y[o_h, o_w] = sum_a u[a] t[o_h s_h - p_h + a d_h, o_w],   t[h, o_w] = sum_b v[b] x[h, o_w s_w - p_w + b d_w]

kH + kW multiplies per output instead of kH kW (Goodfellow, Bengio & Courville, Deep Learning,
section 9.8). In a layer every (output, input) channel pair has its own kernel, so each pair is
factored on its own, w[k, c] = u[k, c] v[k, c]^T; the kernels here take R factor pairs per channel
pair and add them up, so that the same loops run a sum of R separable filters (the rank-R
approximation of minicnn.functional.low_rank_conv2d). The singular value decomposition finds the
factors: w = sum_i s_i u_i v_i^T, and w has rank 1 when s_2 = ... = 0.

The data gradient is the transposed operation, again separable: spread dL/dy down the columns
with u, then along the rows with v. The weight gradient is not: dL/dw[k, c, a, b] is a full
kH x kW correlation of x with dL/dy, whatever the rank of w, so the "separable" algorithm takes
it from im2col's GEMM.

Depthwise. With groups == C == K every output channel filters its own input channel (Sifre 2014;
MobileNet, Howard et al. 2017): N * C independent 2-D filterings, too little arithmetic per value
for a GEMM to help. The kernel below runs one (image, channel) plane per task: it copies the plane
into a zero-padded buffer (so the inner loops need no bounds tests) and, for each output row,
adds kH x kW shifted input rows times one weight each into the output row, which stays in L1
cache: the innermost loop runs along contiguous rows and vectorises.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from . import im2col
from .direct import FASTMATH, _dot, inside_range
from .registry import DTYPES, ConvAlgorithm

# A kernel slice counts as rank 1 when s_2 / s_1 is at most this (a rounding-level residue).
RANK_ONE_TOLERANCE = {np.dtype(np.float32): 1e-6, np.dtype(np.float64): 1e-12}


# ---- spatially separable --------------------------------------------------------------------------
@njit(parallel=True, cache=True)
def separable_forward_kernel(x, col, row, out, sh, sw, ph, pw, dh, dw, groups):
    """out (N, K, oH, oW) = sum over the group's input channels c and factors r of the kH x 1
    filter col[k, c, r] applied to the 1 x kW filter row[k, c, r] applied to x (N, C, H, W)."""
    n_batch, c_out, o_h, o_w = out.shape
    height, width = x.shape[2], x.shape[3]
    c_group, rank, k_h, k_w = col.shape[1], col.shape[2], col.shape[3], row.shape[3]
    c_out_group = c_out // groups
    for task in prange(n_batch * c_out):  # each task owns out[n, k]
        n, k = task // c_out, task % c_out
        c_first = (k // c_out_group) * c_group
        rows = np.empty((height, o_w), x.dtype)
        plane = out[n, k]
        plane[:, :] = 0.0
        for ci in range(c_group):
            image = x[n, c_first + ci]
            for r in range(rank):
                rows[:, :] = 0.0
                for b in range(k_w):  # 1 x kW pass along every input row
                    v = row[k, ci, r, b]
                    offset = b * dw - pw
                    lo, hi = inside_range(offset, sw, width, o_w)
                    for h in range(height):
                        for ow in range(lo, hi):
                            rows[h, ow] += v * image[h, ow * sw + offset]
                for a in range(k_h):  # kH x 1 pass down the columns
                    u = col[k, ci, r, a]
                    offset = a * dh - ph
                    lo, hi = inside_range(offset, sh, height, o_h)
                    for oh in range(lo, hi):
                        source = rows[oh * sh + offset]
                        target = plane[oh]
                        for ow in range(o_w):
                            target[ow] += u * source[ow]


@njit(parallel=True, cache=True)
def separable_backward_data_kernel(grad_out, col, row, grad_x, sh, sw, ph, pw, dh, dw, groups):
    """grad_x (N, C, H, W), zero on entry, += the transpose of separable_forward_kernel applied
    to grad_out (N, K, oH, oW): the column pass spreads, then the row pass spreads."""
    n_batch, c_out, o_h, o_w = grad_out.shape
    channels, height, width = grad_x.shape[1], grad_x.shape[2], grad_x.shape[3]
    c_group, rank, k_h, k_w = col.shape[1], col.shape[2], col.shape[3], row.shape[3]
    c_out_group = c_out // groups
    for task in prange(n_batch * channels):  # each task owns grad_x[n, c]
        n, c = task // channels, task % channels
        g, ci = c // c_group, c % c_group
        rows = np.empty((height, o_w), grad_x.dtype)
        plane = grad_x[n, c]
        for k in range(g * c_out_group, (g + 1) * c_out_group):
            gy = grad_out[n, k]
            for r in range(rank):
                rows[:, :] = 0.0
                for a in range(k_h):
                    u = col[k, ci, r, a]
                    offset = a * dh - ph
                    lo, hi = inside_range(offset, sh, height, o_h)
                    for oh in range(lo, hi):
                        target = rows[oh * sh + offset]
                        source = gy[oh]
                        for ow in range(o_w):
                            target[ow] += u * source[ow]
                for b in range(k_w):
                    v = row[k, ci, r, b]
                    offset = b * dw - pw
                    lo, hi = inside_range(offset, sw, width, o_w)
                    for h in range(height):
                        for ow in range(lo, hi):
                            plane[h, ow * sw + offset] += v * rows[h, ow]


def _planar(geometry) -> tuple:
    """(stride h, w, padding before h, w, dilation h, w): the 2-D kernels' integer arguments."""
    return (*geometry.stride[1:], *(before for before, _ in geometry.padding[1:]), *geometry.dilation[1:])


def separable_forward(x, col, row, geometry):
    """y (N, K, 1, oH, oW) from x (N, C, 1, H, W) and R factor pairs per kernel, col (K, C/G, R, kH)
    and row (K, C/G, R, kW): y = conv(x, sum_r col[..., r, :, None] * row[..., r, None, :])."""
    n, c, _, h, w = geometry.input_shape
    out = np.empty(geometry.output_shape, geometry.dtype)
    separable_forward_kernel(x.reshape(n, c, h, w), col, row, out.reshape(out.shape[:2] + out.shape[3:]),
                             *_planar(geometry), geometry.groups)
    return out


def separable_backward_data(grad_y, col, row, geometry):
    """dL/dx (N, C, 1, H, W) of separable_forward, from dL/dy (N, K, 1, oH, oW)."""
    grad_x = np.zeros(geometry.input_shape, geometry.dtype)
    separable_backward_data_kernel(grad_y.reshape(grad_y.shape[:2] + grad_y.shape[3:]), col, row,
                                   grad_x.reshape(grad_x.shape[:2] + grad_x.shape[3:]),
                                   *_planar(geometry), geometry.groups)
    return grad_x


def rank_one_factors(weight, geometry) -> tuple:
    """(col (K, C/G, 1, kH), row (K, C/G, 1, kW)) with weight[k, c, 0] = col[k, c, 0] outer row[k, c, 0],
    from the SVD of every kH x kW slice; a ValueError naming the first slice of higher rank."""
    c_out, c_group, _, k_h, k_w = geometry.weight_shape
    slices = weight.reshape(c_out * c_group, k_h, k_w).astype(np.float64)
    u, s, vt = np.linalg.svd(slices)
    tolerance = RANK_ONE_TOLERANCE[geometry.dtype]
    ratio = s[:, 1] / np.where(s[:, 0] > 0, s[:, 0], 1.0) if min(k_h, k_w) > 1 else np.zeros(len(s))
    worst = int(np.argmax(ratio)) if len(ratio) else 0
    if len(ratio) and ratio[worst] > tolerance:
        k, c = divmod(worst, c_group)
        raise ValueError(
            f"algorithm 'separable' needs rank-1 kernels, but weight[{k}, {c}] ({k_h}x{k_w}) has rank > 1: "
            f"singular values {s[worst, 0]:.3g}, {s[worst, 1]:.3g} (ratio {ratio[worst]:.2g} > {tolerance:g}); "
            "use another algorithm, or minicnn.functional.low_rank_conv2d for an explicit approximation")
    col = (u[:, :, 0] * s[:, :1]).reshape(c_out, c_group, 1, k_h).astype(geometry.dtype)
    row = vt[:, 0, :].reshape(c_out, c_group, 1, k_w).astype(geometry.dtype)
    return col, row


def forward(x, weight, geometry):
    """y = conv(x, weight) for rank-1 kernels, as a 1 x kW then a kH x 1 pass."""
    return separable_forward(x, *rank_one_factors(weight, geometry), geometry)


def backward_data(grad_y, weight, geometry):
    """dL/dx, the transposed passes with the same factors."""
    return separable_backward_data(grad_y, *rank_one_factors(weight, geometry), geometry)


def supports_separable(geometry):
    """2-D (or 1-D) layers only: the factors are of kH x kW matrices. The rank is checked when
    the weights are seen (forward, backward_data)."""
    if geometry.dtype not in DTYPES:
        return f"dtype {geometry.dtype} is not float32 or float64"
    if geometry.spatial_dims == 3:
        return "needs a 1-D or 2-D convolution (it factors kH x kW kernels), got a 3-D one"
    return None


def separable_workspace(geometry) -> int:
    """Bytes the passes allocate besides their result, at most: the row pass's (H, oW) plane per
    Numba thread (forward and data gradient), or the weight gradient's, which is im2col's."""
    height, o_w = geometry.input_shape[3], geometry.output_spatial[2]
    rows = numba.get_num_threads() * height * o_w * geometry.dtype.itemsize
    return max(rows, im2col.workspace(geometry))


SEPARABLE = ConvAlgorithm(
    name="separable",
    capabilities="1-D/2-D layers whose every kH x kW kernel has rank 1 (checked by SVD at run time; "
                 "a ValueError otherwise), any stride, padding, dilation and groups, float32 and float64",
    forward=forward, backward_data=backward_data, backward_weight=im2col.backward_weight,
    supports=supports_separable, weight_requirement="every kH x kW kernel of rank 1",
    workspace=separable_workspace,
)


# ---- depthwise -----------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _padded_plane(image, buffer, ph, pw):
    """Copy image (H, W) into buffer at (ph, pw) and zero the rest (the padding, and any rows or
    columns past the image that the windows read); image rows or columns past buffer are unused."""
    height, width = image.shape
    rows = max(0, min(height, buffer.shape[0] - ph))
    cols = max(0, min(width, buffer.shape[1] - pw))
    buffer[:ph, :] = 0.0
    buffer[ph + rows:, :] = 0.0
    buffer[ph:ph + rows, :pw] = 0.0
    buffer[ph:ph + rows, pw + cols:] = 0.0
    buffer[ph:ph + rows, pw:pw + cols] = image[:rows, :cols]


@njit(cache=True, inline="always")
def _add_3x3_block(acc, r0, r1, r2, w, a, b, start, sw, o_w):
    """acc[ow] += the 3 x 3 taps w[a:a+3, b:b+3] over rows r0, r1, r2 from column start + ow*sw.

    Nine products summed in registers and one read-modify-write of acc, instead of nine: the
    accumulator's loads and stores, not the multiplies, bound a depthwise filter."""
    w00, w01, w02 = w[a, b], w[a, b + 1], w[a, b + 2]
    w10, w11, w12 = w[a + 1, b], w[a + 1, b + 1], w[a + 1, b + 2]
    w20, w21, w22 = w[a + 2, b], w[a + 2, b + 1], w[a + 2, b + 2]
    if sw == 1:  # contiguous: LLVM vectorises only this form
        for ow in range(o_w):
            i = start + ow
            acc[ow] += (w00 * r0[i] + w01 * r0[i + 1] + w02 * r0[i + 2] + w10 * r1[i] + w11 * r1[i + 1]
                        + w12 * r1[i + 2] + w20 * r2[i] + w21 * r2[i + 1] + w22 * r2[i + 2])
    else:
        for ow in range(o_w):
            i = start + ow * sw
            acc[ow] += (w00 * r0[i] + w01 * r0[i + 1] + w02 * r0[i + 2] + w10 * r1[i] + w11 * r1[i + 1]
                        + w12 * r1[i + 2] + w20 * r2[i] + w21 * r2[i + 1] + w22 * r2[i + 2])


@njit(parallel=True, cache=True)
def depthwise_forward_kernel(x, weight, out, sh, sw, ph, pw, dh, dw):
    """out[n, c] (oH, oW) = the kH x kW filtering of x[n, c] by weight[c] (C, kH, kW).

    The kernel is cut into 3 x 3 blocks of taps (zero taps fill the last ones) and each block adds
    into the output row in one pass; a dilated kernel becomes an undilated one with zero taps
    between, so the block reads three adjacent columns."""
    n_batch, channels, o_h, o_w = out.shape
    k_h, k_w = (weight.shape[1] - 1) * dh + 1, (weight.shape[2] - 1) * dw + 1  # the dilated span
    blocks_h, blocks_w = (k_h + 2) // 3, (k_w + 2) // 3
    rows = (o_h - 1) * sh + 3 * blocks_h
    cols = (o_w - 1) * sw + 3 * blocks_w
    for task in prange(n_batch * channels):
        n, c = task // channels, task % channels
        taps = np.zeros((3 * blocks_h, 3 * blocks_w), x.dtype)
        for a in range(weight.shape[1]):
            for b in range(weight.shape[2]):
                taps[a * dh, b * dw] = weight[c, a, b]
        padded = np.empty((rows, cols), x.dtype)
        _padded_plane(x[n, c], padded, ph, pw)
        for oh in range(o_h):
            acc = out[n, c, oh]
            acc[:] = 0.0
            for block_a in range(blocks_h):
                a = 3 * block_a
                r = oh * sh + a
                for block_b in range(blocks_w):
                    b = 3 * block_b
                    _add_3x3_block(acc, padded[r], padded[r + 1], padded[r + 2], taps, a, b, b, sw, o_w)


@njit(parallel=True, cache=True)
def depthwise_backward_data_kernel(grad_out, weight, grad_x, sh, sw, ph, pw, dh, dw):
    """grad_x[n, c] = every output gradient spread back over the window it read, times the weights."""
    n_batch, channels, o_h, o_w = grad_out.shape
    height, width = grad_x.shape[2], grad_x.shape[3]
    k_h, k_w = weight.shape[1], weight.shape[2]
    rows, cols = (o_h - 1) * sh + (k_h - 1) * dh + 1, (o_w - 1) * sw + (k_w - 1) * dw + 1
    for task in prange(n_batch * channels):
        n, c = task // channels, task % channels
        padded = np.zeros((max(rows, ph + height), max(cols, pw + width)), grad_x.dtype)
        for oh in range(o_h):
            source = grad_out[n, c, oh]
            for a in range(k_h):
                target = padded[oh * sh + a * dh]
                for b in range(k_w):
                    w = weight[c, a, b]
                    start = b * dw
                    if sw == 1:  # contiguous: LLVM vectorises only this form
                        for ow in range(o_w):
                            target[start + ow] += w * source[ow]
                    else:
                        for ow in range(o_w):
                            target[start + ow * sw] += w * source[ow]
        grad_x[n, c] = padded[ph:ph + height, pw:pw + width]


@njit(cache=True, inline="always", fastmath=FASTMATH)
def _add_3x3_products(acc, a, b, gy, r0, r1, r2, start, sw, o_w):
    """acc[a + i, b + j, ow] += gy[ow] * r_i[start + ow*sw + j] for the 3 x 3 taps (i, j) of a
    block: one output-gradient row's products for the weight gradient, each loaded gy[ow]
    serving nine of them. The sums stay per output column (acc's last axis) until the end: an
    element-wise loop, not nine reductions over a short row."""
    a00, a01, a02 = acc[a, b], acc[a, b + 1], acc[a, b + 2]
    a10, a11, a12 = acc[a + 1, b], acc[a + 1, b + 1], acc[a + 1, b + 2]
    a20, a21, a22 = acc[a + 2, b], acc[a + 2, b + 1], acc[a + 2, b + 2]
    if sw == 1:  # contiguous: LLVM vectorises only this form
        for ow in range(o_w):
            g, i = gy[ow], start + ow
            a00[ow] += g * r0[i]
            a01[ow] += g * r0[i + 1]
            a02[ow] += g * r0[i + 2]
            a10[ow] += g * r1[i]
            a11[ow] += g * r1[i + 1]
            a12[ow] += g * r1[i + 2]
            a20[ow] += g * r2[i]
            a21[ow] += g * r2[i + 1]
            a22[ow] += g * r2[i + 2]
    else:
        for ow in range(o_w):
            g, i = gy[ow], start + ow * sw
            a00[ow] += g * r0[i]
            a01[ow] += g * r0[i + 1]
            a02[ow] += g * r0[i + 2]
            a10[ow] += g * r1[i]
            a11[ow] += g * r1[i + 1]
            a12[ow] += g * r1[i + 2]
            a20[ow] += g * r2[i]
            a21[ow] += g * r2[i + 1]
            a22[ow] += g * r2[i + 2]


@njit(parallel=True, cache=True, fastmath=FASTMATH)  # the inlined _dot's "reassoc" needs it here
def depthwise_backward_weight_kernel(x, grad_out, partial, sh, sw, ph, pw, dh, dw):
    """partial[n, c, a, b] = sum_{oh, ow} grad_out[n, c, oh, ow] x_pad[n, c, oh sh + a dh, ow sw + b dw]
    (summed in the arrays' precision per image and channel; the caller adds the images up in
    float64).

    At stride 1 each tap's sum is one long dot product: with the output gradient laid out at the
    padded plane's row pitch (zeros in the extra columns), tap (a, b) reads the padded plane
    flattened, from a dh * pitch + b dw on, so the whole plane is one contiguous run that LLVM
    vectorises (the rows of a small map are too short to). Strided layers go row by row, the
    forward kernel's 3 x 3 blocks of taps read the other way."""
    n_batch, channels, o_h, o_w = grad_out.shape
    k_h, k_w = (partial.shape[2] - 1) * dh + 1, (partial.shape[3] - 1) * dw + 1  # the dilated span
    if sh == 1 and sw == 1:
        rows, pitch = o_h + k_h, o_w + k_w - 1  # one row more: the last tap's run ends past the plane
    else:
        rows, pitch = (o_h - 1) * sh + 3 * ((k_h + 2) // 3), (o_w - 1) * sw + 3 * ((k_w + 2) // 3)
    for task in prange(n_batch * channels):
        n, c = task // channels, task % channels
        padded = np.empty((rows, pitch), x.dtype)
        _padded_plane(x[n, c], padded, ph, pw)
        if sh == 1 and sw == 1:
            gy = np.zeros((o_h, pitch), x.dtype)
            gy[:, :o_w] = grad_out[n, c]
            run, plane = gy.ravel(), padded.ravel()
            for a in range(partial.shape[2]):
                for b in range(partial.shape[3]):
                    start = a * dh * pitch + b * dw
                    partial[n, c, a, b] = _dot(run, plane[start:start + o_h * pitch])
        else:
            _strided_weight_gradient(padded, grad_out[n, c], partial[n, c], sh, sw, dh, dw)


@njit(cache=True)
def _strided_weight_gradient(padded, grad_out, partial, sh, sw, dh, dw):
    """partial[a, b] = sum_{oh, ow} grad_out[oh, ow] padded[oh sh + a dh, ow sw + b dw], summed
    per output column over the rows (in the arrays' precision), then over the columns."""
    o_h, o_w = grad_out.shape
    k_h, k_w = (partial.shape[0] - 1) * dh + 1, (partial.shape[1] - 1) * dw + 1
    blocks_h, blocks_w = (k_h + 2) // 3, (k_w + 2) // 3
    acc = np.zeros((3 * blocks_h, 3 * blocks_w, o_w), padded.dtype)
    for oh in range(o_h):
        for block_a in range(blocks_h):
            a = 3 * block_a
            r = oh * sh + a
            for block_b in range(blocks_w):
                b = 3 * block_b
                _add_3x3_products(acc, a, b, grad_out[oh], padded[r], padded[r + 1], padded[r + 2], b, sw, o_w)
    for a in range(partial.shape[0]):
        for b in range(partial.shape[1]):
            total = 0.0
            for ow in range(o_w):
                total += acc[a * dh, b * dw, ow]
            partial[a, b] = total


def _planes(a):
    """(N, C, 1, H, W) as (N, C, H, W), a view."""
    return a.reshape(a.shape[:2] + a.shape[3:])


def depthwise_forward(x, weight, geometry):
    """y = conv(x, weight, groups=C) with weight (C, 1, 1, kH, kW): (N, C, 1, H, W) -> (N, C, 1, oH, oW)."""
    out = np.empty(geometry.output_shape, geometry.dtype)
    depthwise_forward_kernel(_planes(x), _planes(weight)[:, 0], _planes(out), *_planar(geometry))
    return out


def depthwise_backward_data(grad_y, weight, geometry):
    """dL/dx (N, C, 1, H, W) from dL/dy (N, C, 1, oH, oW).

    At stride 1, dL/dx[i] = sum_t w[t] dL/dy[i + p - t d] is the forward filtering of dL/dy padded
    by E - 1 - p (E = d(k-1) + 1) with the kernel flipped, so the fast forward kernel serves;
    strided layers (or padding beyond E - 1) spread each gradient back with the scatter loops."""
    grad_x = np.empty(geometry.input_shape, geometry.dtype)
    spans = [d * (k - 1) + 1 for k, d in zip(geometry.kernel_size[1:], geometry.dilation[1:])]
    pads = [e - 1 - before for e, (before, _) in zip(spans, geometry.padding[1:])]
    planes = _planes(weight)[:, 0]
    if geometry.stride[1:] == (1, 1) and min(pads) >= 0:
        depthwise_forward_kernel(_planes(grad_y), np.ascontiguousarray(planes[:, ::-1, ::-1]), _planes(grad_x),
                                 1, 1, *pads, *geometry.dilation[1:])
    else:
        depthwise_backward_data_kernel(_planes(grad_y), planes, _planes(grad_x), *_planar(geometry))
    return grad_x


def depthwise_backward_weight(x, grad_y, geometry):
    """dL/dw (C, 1, 1, kH, kW) from x and dL/dy."""
    n, c = geometry.input_shape[:2]
    partial = np.empty((n, c) + geometry.kernel_size[1:], np.float64)
    depthwise_backward_weight_kernel(_planes(x), _planes(grad_y), partial, *_planar(geometry))
    return partial.sum(axis=0).astype(geometry.dtype).reshape(geometry.weight_shape)


def depthwise_workspace(geometry) -> int:
    """Bytes of the padded planes, one per Numba thread."""
    _, _, o_h, o_w = (1, 1) + geometry.output_spatial[1:]
    (sh, sw), (k_h, k_w), (dh, dw) = geometry.stride[1:], geometry.kernel_size[1:], geometry.dilation[1:]
    rows, cols = (o_h - 1) * sh + (k_h - 1) * dh + 1, (o_w - 1) * sw + (k_w - 1) * dw + 1
    return numba.get_num_threads() * (rows * cols + o_w) * geometry.dtype.itemsize


def supports_depthwise(geometry):
    """Depthwise layers with channel multiplier 1 (groups == C == K), 1-D or 2-D."""
    if geometry.dtype not in DTYPES:
        return f"dtype {geometry.dtype} is not float32 or float64"
    c, k, groups = geometry.input_shape[1], geometry.weight_shape[0], geometry.groups
    if not groups == c == k:
        return (f"needs a depthwise layer with channel multiplier 1 (groups == in channels == out channels), "
                f"got groups={groups}, {c} in and {k} out channels")
    if geometry.spatial_dims == 3:
        return "needs a 1-D or 2-D convolution, got a 3-D one"
    return None


DEPTHWISE = ConvAlgorithm(
    name="depthwise",
    capabilities="depthwise 1-D/2-D layers with channel multiplier 1 (groups == in channels == out "
                 "channels), any stride, padding and dilation, float32 and float64",
    forward=depthwise_forward, backward_data=depthwise_backward_data,
    backward_weight=depthwise_backward_weight, supports=supports_depthwise, workspace=depthwise_workspace,
)
