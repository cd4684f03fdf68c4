"""Convolution as matrix multiplication: im2col, one GEMM per group, col2im.

im2col copies every receptive field of x into a column of a matrix (Chellapilla, Puri & Simard
2006, "High performance convolutional neural networks for document processing"): in image n's
column matrix X[n], row (c, kd, kh, kw), column (od, oh, ow) holds x[n, c, o*s - p + k*d] (zero
in the padding). For group g, with W_g the group's weights flattened to (Cout/G, C/G * taps) and
X_g[n] its rows of X[n], (C/G * taps, positions):

    Y_g[n]  = W_g   @ X_g[n]           forward (already the layout of y: no transpose)
    dX_g[n] = W_g^T @ dY_g[n]          then col2im adds each column back where it came from: dL/dx
    dW_g    = sum_n dY_g[n] @ X_g[n]^T dL/dw

so the work is three BLAS GEMMs and two memory-bound copies. col2im is the adjoint (transpose)
of im2col: where receptive fields overlap it sums. The passes below never hold all of X: they
build it a block of output rows at a time, in a buffer each thread reuses, and multiply the
block while it is in cache: the copy then costs a pass over cache, not over main memory, and the
extra memory is the threads' buffers, not kernel taps times the input.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .direct import inside_range
from . import threads
from .registry import ConvAlgorithm, supports_any_geometry


@njit(nogil=True, cache=True)
def _channel_columns(x, n, c, first_row, last_row, cols, k_d, k_h, k_w, o_d, o_h, o_w,
                     sd, sh, sw, pd, ph, pw, dd, dh, dw):
    """Fill the rows (c, kd, kh, kw) of cols (C * taps, (last_row - first_row) * oW) with the
    receptive fields of image n's output rows first_row <= od * oH + oh < last_row."""
    depth, height, width = x.shape[2:]
    for kd in range(k_d):
        for kh in range(k_h):
            for kw in range(k_w):
                row = ((c * k_d + kd) * k_h + kh) * k_w + kw
                # output columns whose tap lands inside the row, found once instead of tested
                # per element; the others read padding
                first, last = inside_range(kw * dw - pw, sw, width, o_w)
                first, last = min(first, o_w), max(min(last, o_w), min(first, o_w))
                column = 0
                for out_row in range(first_row, last_row):
                    i_d = (out_row // o_h) * sd - pd + kd * dd
                    i_h = (out_row % o_h) * sh - ph + kh * dh
                    if 0 <= i_d < depth and 0 <= i_h < height:
                        cols[row, column:column + first] = 0.0
                        start = first * sw - pw + kw * dw
                        if sw == 1:  # a contiguous run: a plain copy, which LLVM vectorises
                            cols[row, column + first:column + last] = x[n, c, i_d, i_h, start:start + last - first]
                        else:
                            for ow in range(first, last):
                                cols[row, column + ow] = x[n, c, i_d, i_h, ow * sw - pw + kw * dw]
                        cols[row, column + last:column + o_w] = 0.0
                    else:
                        cols[row, column:column + o_w] = 0.0
                    column += o_w


@njit(nogil=True, cache=True)
def _channel_image(cols, grad_x, n, c, first_row, last_row, k_d, k_h, k_w, o_d, o_h, o_w,
                   sd, sh, sw, pd, ph, pw, dd, dh, dw):
    """The adjoint of _channel_columns: add the rows (c, kd, kh, kw) of cols back onto grad_x[n, c]."""
    depth, height, width = grad_x.shape[2:]
    for kd in range(k_d):
        for kh in range(k_h):
            for kw in range(k_w):
                row = ((c * k_d + kd) * k_h + kh) * k_w + kw
                first, last = inside_range(kw * dw - pw, sw, width, o_w)
                last = max(last, first)
                column = 0
                for out_row in range(first_row, last_row):
                    i_d = (out_row // o_h) * sd - pd + kd * dd
                    i_h = (out_row % o_h) * sh - ph + kh * dh
                    if 0 <= i_d < depth and 0 <= i_h < height:
                        start = first * sw - pw + kw * dw
                        if sw == 1:
                            grad_x[n, c, i_d, i_h, start:start + last - first] += cols[row, column + first:column + last]
                        else:
                            for ow in range(first, last):
                                grad_x[n, c, i_d, i_h, ow * sw - pw + kw * dw] += cols[row, column + ow]
                    column += o_w


@njit(parallel=True, cache=True)
def im2col(x, cols, k_d, k_h, k_w, o_d, o_h, o_w, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    """Fill cols (N, C * kD*kH*kW, oD*oH*oW) with the receptive fields of x (N, C, D, H, W)."""
    n_batch, channels = x.shape[:2]
    # Each (image, channel) owns its rows of cols[n]: tasks never write the same memory, and a
    # single image still keeps every thread busy.
    for task in prange(n_batch * channels):
        n, c = task // channels, task % channels
        _channel_columns(x, n, c, 0, o_d * o_h, cols[n], k_d, k_h, k_w, o_d, o_h, o_w,
                         sd, sh, sw, pd, ph, pw, dd, dh, dw)


@njit(parallel=True, cache=True)
def col2im(cols, grad_x, k_d, k_h, k_w, o_d, o_h, o_w, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    """Add every entry of cols (N, C * taps, positions) back onto the x position im2col read it
    from (grad_x zero on entry)."""
    n_batch, channels = grad_x.shape[:2]
    for task in prange(n_batch * channels):  # each task adds into its own grad_x[n, c] only
        n, c = task // channels, task % channels
        _channel_image(cols[n], grad_x, n, c, 0, o_d * o_h, k_d, k_h, k_w, o_d, o_h, o_w,
                       sd, sh, sw, pd, ph, pw, dd, dh, dw)


@njit(nogil=True, cache=True)
def im2col_rows(x, n, first_row, last_row, cols, k_d, k_h, k_w, o_d, o_h, o_w,
                sd, sh, sw, pd, ph, pw, dd, dh, dw):
    """One block of the columns on the calling thread: cols (C * taps, (last_row - first_row) * oW)
    gets the receptive fields of image n's output rows [first_row, last_row)."""
    for c in range(x.shape[1]):
        _channel_columns(x, n, c, first_row, last_row, cols, k_d, k_h, k_w, o_d, o_h, o_w,
                         sd, sh, sw, pd, ph, pw, dd, dh, dw)


@njit(nogil=True, cache=True)
def col2im_rows(cols, grad_x, n, first_row, last_row, k_d, k_h, k_w, o_d, o_h, o_w,
                sd, sh, sw, pd, ph, pw, dd, dh, dw):
    """The adjoint of im2col_rows: add a block of columns back onto grad_x[n]."""
    for c in range(grad_x.shape[1]):
        _channel_image(cols, grad_x, n, c, first_row, last_row, k_d, k_h, k_w, o_d, o_h, o_w,
                       sd, sh, sw, pd, ph, pw, dd, dh, dw)


def _scalars(geometry) -> tuple:
    """Kernel size, output size, strides, paddings before and dilations, as the kernels take them."""
    return (*geometry.kernel_size, *geometry.output_spatial, *geometry.stride,
            *(before for before, _ in geometry.padding), *geometry.dilation)


def columns(x, geometry):
    """The column matrices of x (N, C, D, H, W), one per image: (N, C * kD*kH*kW, oD*oH*oW)."""
    n_batch, channels = geometry.input_shape[:2]
    taps = math.prod(geometry.kernel_size)
    cols = np.empty((n_batch, channels * taps, math.prod(geometry.output_spatial)), geometry.dtype)
    im2col(x, cols, *_scalars(geometry))
    return cols


def columns_to_image(cols, geometry):
    """col2im of (N, C * taps, positions): the (N, C, D, H, W) array whose entries sum the column
    entries read from them."""
    image = np.zeros(geometry.input_shape, geometry.dtype)
    col2im(np.ascontiguousarray(cols), image, *_scalars(geometry))
    return image


# ---- the passes, block by block ------------------------------------------------------------------
# Each thread takes whole images (or, with fewer images than threads, a stretch of every image's
# output rows) and runs its blocks one after the other through one buffer of its own.
BLOCK_BYTES = 1 << 19     # a block's columns fill about one core's L2 cache
BLOCK_MIN_COLUMNS = 256   # narrower blocks make the GEMMs slow whatever the cache does
WEIGHT_BLOCK_MIN_COLUMNS = 1024  # the weight gradient's product per block is weight-sized: fewer, wider blocks


def _block_rows(geometry, min_columns=BLOCK_MIN_COLUMNS) -> int:
    """Output rows (of oW positions) per block of columns: BLOCK_BYTES of them, at least
    min_columns columns, at most an image's rows."""
    o_d, o_h, o_w = geometry.output_spatial
    column_bytes = geometry.input_shape[1] * math.prod(geometry.kernel_size) * geometry.dtype.itemsize
    return max(min(max(BLOCK_BYTES // max(column_bytes * o_w, 1), -(-min_columns // o_w)), o_d * o_h), 1)


def _shares(geometry, step) -> list:
    """Each thread's blocks of work, a list of (image, first output row, last output row) at most
    `step` rows apart: whole images per thread when there are at least as many images as
    threads, else every image cut into one stretch of output rows per thread."""
    n_batch = geometry.input_shape[0]
    rows = geometry.output_spatial[0] * geometry.output_spatial[1]
    parts = threads.part_count()
    if n_batch >= parts:
        parts = max(min(parts, n_batch), 1)
        stretches = [(n_batch * t // parts, n_batch * (t + 1) // parts, 0, rows) for t in range(parts)]
    else:
        stretches = [(0, n_batch, rows * t // parts, rows * (t + 1) // parts) for t in range(parts)]
    return [[(n, r, min(r + step, stop)) for n in range(first_image, last_image) for r in range(start, stop, step)]
            for first_image, last_image, start, stop in stretches]


class _Blocks:
    """A thread's column buffer for blocks of `step` output rows, seen as the C * taps rows the
    kernels fill and as the G matrices (C/G * taps, columns) the GEMMs read."""

    def __init__(self, geometry, step):
        self.geometry, self.o_w = geometry, geometry.output_spatial[2]
        self.rows = geometry.input_shape[1] * math.prod(geometry.kernel_size)
        self.flat = np.empty(self.rows * step * self.o_w, geometry.dtype)

    def matrix(self, first, last):
        return self.flat[:self.rows * (last - first) * self.o_w].reshape(self.rows, -1)

    def grouped(self, first, last):
        groups = self.geometry.groups
        return self.matrix(first, last).reshape(groups, self.rows // groups, -1)


def _grouped_weight(weight, geometry):
    """weight (Cout, C/G, kD, kH, kW) as G matrices (Cout/G, C/G * taps)."""
    return weight.reshape(geometry.groups, geometry.weight_shape[0] // geometry.groups, -1)


def _grouped_positions(array, geometry):
    """(N, Cout, oD, oH, oW) as (N, G, Cout/G, positions): a block of output rows is a slice of
    the last axis, the layout of W_g @ columns."""
    n, c_out = array.shape[:2]
    return array.reshape(n, geometry.groups, c_out // geometry.groups, math.prod(geometry.output_spatial))


def forward(x, weight, geometry):
    """y = conv(x, weight): (N, C, D, H, W), (Cout, C/G, kD, kH, kW) -> (N, Cout, oD, oH, oW),
    y[n] = W_g @ columns of image n, written block by block into place."""
    y = np.empty(geometry.output_shape, geometry.dtype)
    w, y_groups, scalars = _grouped_weight(weight, geometry), _grouped_positions(y, geometry), _scalars(geometry)
    step = _block_rows(geometry)
    o_w = geometry.output_spatial[2]

    def share(blocks):
        buffer = _Blocks(geometry, step)
        for n, first, last in blocks:
            im2col_rows(x, n, first, last, buffer.matrix(first, last), *scalars)
            np.matmul(w, buffer.grouped(first, last), out=y_groups[n, :, :, first * o_w:last * o_w])

    threads.run_parts(share, _shares(geometry, step))
    return y


def backward_data(grad_y, weight, geometry):
    """dL/dx (N, C, D, H, W) from dL/dy (N, Cout, oD, oH, oW): per block, W_g^T @ dL/dy's
    columns, added back onto the image by col2im. Threads sharing an image add into copies of
    their own (receptive fields overlap across blocks), summed at the end."""
    w_t = _grouped_weight(weight, geometry).transpose(0, 2, 1)
    gy_groups, scalars = _grouped_positions(grad_y, geometry), _scalars(geometry)
    step = _block_rows(geometry)
    o_w = geometry.output_spatial[2]
    shares = _shares(geometry, step)
    own_images = geometry.input_shape[0] >= len(shares)
    grad_x = np.zeros(geometry.input_shape, geometry.dtype)

    def share(blocks):
        target = grad_x if own_images or blocks is shares[0] else np.zeros_like(grad_x)
        buffer = _Blocks(geometry, step)
        for n, first, last in blocks:
            np.matmul(w_t, gy_groups[n, :, :, first * o_w:last * o_w], out=buffer.grouped(first, last))
            col2im_rows(buffer.matrix(first, last), target, n, first, last, *scalars)
        return target

    for partial in threads.run_parts(share, shares)[1:]:
        if partial is not grad_x:
            grad_x += partial
    return grad_x


def backward_weight(x, grad_y, geometry):
    """dL/dw (Cout, C/G, kD, kH, kW) = sum over blocks of dL/dy's columns @ the block's columns^T,
    each thread summing its blocks, then the threads' sums added."""
    gy_groups, scalars = _grouped_positions(grad_y, geometry), _scalars(geometry)
    step = _block_rows(geometry, WEIGHT_BLOCK_MIN_COLUMNS)
    o_w = geometry.output_spatial[2]

    def share(blocks):
        buffer = _Blocks(geometry, step)
        total = np.zeros((geometry.groups, geometry.weight_shape[0] // geometry.groups, buffer.rows // geometry.groups),
                         geometry.dtype)
        for n, first, last in blocks:
            im2col_rows(x, n, first, last, buffer.matrix(first, last), *scalars)
            total += np.matmul(gy_groups[n, :, :, first * o_w:last * o_w], buffer.grouped(first, last).transpose(0, 2, 1))
        return total

    return sum(threads.run_parts(share, _shares(geometry, step))).reshape(geometry.weight_shape)


def workspace(geometry) -> int:
    """Bytes of the threads' column buffers (the weight gradient's, the widest), plus the copies of
    the image that the data gradient's threads add into when they share an image."""
    parts = threads.part_count()
    rows = geometry.input_shape[1] * math.prod(geometry.kernel_size)
    buffers = parts * rows * _block_rows(geometry, WEIGHT_BLOCK_MIN_COLUMNS) * geometry.output_spatial[2]
    copies = (parts - 1) * math.prod(geometry.input_shape) if geometry.input_shape[0] < parts else 0
    return (buffers + copies) * geometry.dtype.itemsize

ALGORITHM = ConvAlgorithm(
    name="im2col",
    capabilities="any stride, padding, dilation and groups, 1-D/2-D/3-D, float32 and float64",
    forward=forward, backward_data=backward_data, backward_weight=backward_weight,
    supports=supports_any_geometry, workspace=workspace,
)
