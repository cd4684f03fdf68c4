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


# ---- the inner loops ------------------------------------------------------------------------------
# Numba tests every signed index it cannot prove non-negative for wrap-around (a negative index
# counts from the end); in these copies, rows of a few to a few dozen values, that test costs
# more than the copy and keeps LLVM from vectorising it: 3-5x on LeNet-5's and ResNet's layers
# (measured). The loops below know every index they use is inside the array, so they pass it
# unsigned (`_u`), which Numba takes as it is. Views (slices) are not made inside the loops
# either: each one costs a reference count taken and dropped.
@njit(cache=True, inline="always")
def _u(index):
    return np.uint64(index)


@njit(cache=True)
def _inside_outputs(kernel, stride, padding, dilation, size, count):
    """(kernel, 2) int64: for tap j of one axis, the outputs [first, last) of `count` whose tap j
    reads inside the input of `size` (first == last when none does); computed once per call, so
    the loops below test a range instead of dividing."""
    inside = np.empty((kernel, 2), np.int64)
    for j in range(kernel):
        first, last = inside_range(j * dilation - padding, stride, size, count)
        inside[j, 0] = min(first, count)
        inside[j, 1] = max(min(last, count), inside[j, 0])
    return inside


@njit(cache=True)
def _inside_taps(x_shape, scalars):
    """_inside_outputs of the three axes, from a geometry's _scalars."""
    k_d, k_h, k_w, o_d, o_h, o_w, sd, sh, sw, pd, ph, pw, dd, dh, dw = scalars
    return (_inside_outputs(k_d, sd, pd, dd, x_shape[2], o_d), _inside_outputs(k_h, sh, ph, dh, x_shape[3], o_h),
            _inside_outputs(k_w, sw, pw, dw, x_shape[4], o_w))


@njit(nogil=True, cache=True, inline="always")
def _depth_slice(od, oh_first, rows_left, o_h, inside_d, kd, inside_h, kh):
    """(oh_last, lo, hi) for the block's rows in depth slice od, from output row oh_first: they
    end at oh_last, and tap (kd, kh) reads inside the input for rows [lo, hi) of them, lo == hi
    when for none (rows [oh_first, lo) and [hi, oh_last) read only padding)."""
    oh_last = min(o_h, oh_first + rows_left)
    if not inside_d[kd, 0] <= od < inside_d[kd, 1]:
        return oh_last, oh_last, oh_last
    lo = min(max(oh_first, inside_h[kh, 0]), oh_last)
    return oh_last, lo, max(min(oh_last, inside_h[kh, 1]), lo)


@njit(nogil=True, cache=True, inline="always")
def _zero(flat, start, count):
    """flat[start:start + count] = 0; returns start + count."""
    for j in range(count):
        flat[_u(start + j)] = 0.0
    return start + count


# The loops below walk x and cols as flat arrays, a row start computed once per output row and
# then stepped: per-element 5-D indexing, and a padding test per output row, made the copy of
# rows of 10 values (LeNet-5's C3) 2-3x slower. Within a depth slice the output rows that read
# inside the input are one range (`_depth_slice`), the same for every image of the block, so it
# is found once per tap and slice, and the rows before and after it are zeroed (or, in the
# adjoint, skipped) in one go.
@njit(nogil=True, cache=True, inline="always")
def _channel_columns(x, first_image, last_image, c, first_row, last_row, cols, inside, scalars):
    """Fill the rows (c, kd, kh, kw) of cols (C * taps, columns) with the receptive fields of the
    output rows first_row <= od * oH + oh < last_row of images [first_image, last_image), each
    image's columns after the previous one's (`inside`: _inside_taps). The images are the inner
    loop, so that the work per tap is done once per block, not once per image: on 1x1 outputs
    (LeNet-5's C5) it was most of the time."""
    k_d, k_h, k_w, o_d, o_h, o_w, sd, sh, sw, pd, ph, pw, dd, dh, dw = scalars
    inside_d, inside_h, inside_w = inside
    channels, depth, height, width = x.shape[1:]
    x_flat, cols_flat = x.reshape(-1), cols.reshape(-1)
    image_size, block_rows = channels * depth * height * width, last_row - first_row
    for kd in range(k_d):
        for kh in range(k_h):
            for kw in range(k_w):
                row = ((c * k_d + kd) * k_h + kh) * k_w + kw
                first, last = inside_w[kw, 0], inside_w[kw, 1]
                start = first * sw - pw + kw * dw  # the input column output column `first` reads
                whole = first == 0 and last == o_w and sw == 1  # a plain copy of o_w values per row
                od, oh_first, done = first_row // o_h, first_row % o_h, 0
                while done < block_rows:  # one depth slice at a time
                    oh_last, lo, hi = _depth_slice(od, oh_first, block_rows - done, o_h, inside_d, kd, inside_h, kh)
                    first_source = ((c * depth + od * sd - pd + kd * dd) * height + lo * sh - ph + kh * dh) * width + start
                    for n in range(first_image, last_image):
                        at = row * cols.shape[1] + ((n - first_image) * block_rows + done) * o_w
                        at = _zero(cols_flat, at, (lo - oh_first) * o_w)
                        source = first_source + n * image_size
                        if whole:
                            for _ in range(lo, hi):
                                for j in range(o_w):
                                    cols_flat[_u(at + j)] = x_flat[_u(source + j)]
                                at += o_w
                                source += sh * width
                        else:
                            for _ in range(lo, hi):
                                _zero(cols_flat, at, first)
                                for j in range(last - first):
                                    cols_flat[_u(at + first + j)] = x_flat[_u(source + j * sw)]
                                _zero(cols_flat, at + last, o_w - last)
                                at += o_w
                                source += sh * width
                        _zero(cols_flat, at, (oh_last - hi) * o_w)
                    done += oh_last - oh_first
                    od, oh_first = od + 1, 0


@njit(nogil=True, cache=True, inline="always")
def _channel_image(cols, grad_x, first_image, last_image, c, first_row, last_row, inside, scalars):
    """The adjoint of _channel_columns: add the rows (c, kd, kh, kw) of cols back onto grad_x[:, c]."""
    k_d, k_h, k_w, o_d, o_h, o_w, sd, sh, sw, pd, ph, pw, dd, dh, dw = scalars
    inside_d, inside_h, inside_w = inside
    channels, depth, height, width = grad_x.shape[1:]
    grad_flat, cols_flat = grad_x.reshape(-1), cols.reshape(-1)
    image_size, block_rows = channels * depth * height * width, last_row - first_row
    for kd in range(k_d):
        for kh in range(k_h):
            for kw in range(k_w):
                row = ((c * k_d + kd) * k_h + kh) * k_w + kw
                first, last = inside_w[kw, 0], inside_w[kw, 1]
                start = first * sw - pw + kw * dw
                od, oh_first, done = first_row // o_h, first_row % o_h, 0
                while done < block_rows:
                    oh_last, lo, hi = _depth_slice(od, oh_first, block_rows - done, o_h, inside_d, kd, inside_h, kh)
                    first_target = ((c * depth + od * sd - pd + kd * dd) * height + lo * sh - ph + kh * dh) * width + start
                    for n in range(first_image, last_image):
                        read = row * cols.shape[1] + ((n - first_image) * block_rows + done + lo - oh_first) * o_w + first
                        target = first_target + n * image_size
                        for _ in range(lo, hi):
                            if sw == 1:
                                for j in range(last - first):
                                    grad_flat[_u(target + j)] += cols_flat[_u(read + j)]
                            else:
                                for j in range(last - first):
                                    grad_flat[_u(target + j * sw)] += cols_flat[_u(read + j)]
                            read += o_w
                            target += sh * width
                    done += oh_last - oh_first
                    od, oh_first = od + 1, 0


@njit(parallel=True, cache=True)
def im2col(x, cols, scalars):
    """Fill cols (N, C * kD*kH*kW, oD*oH*oW) with the receptive fields of x (N, C, D, H, W)."""
    n_batch, channels = x.shape[:2]
    inside = _inside_taps(x.shape, scalars)
    rows = scalars[3] * scalars[4]
    # Each (image, channel) owns its rows of cols[n]: tasks never write the same memory, and a
    # single image still keeps every thread busy.
    for task in prange(n_batch * channels):
        n, c = task // channels, task % channels
        _channel_columns(x, n, n + 1, c, 0, rows, cols[n], inside, scalars)


@njit(parallel=True, cache=True)
def col2im(cols, grad_x, scalars):
    """Add every entry of cols (N, C * taps, positions) back onto the x position im2col read it
    from (grad_x zero on entry)."""
    n_batch, channels = grad_x.shape[:2]
    inside = _inside_taps(grad_x.shape, scalars)
    rows = scalars[3] * scalars[4]
    for task in prange(n_batch * channels):  # each task adds into its own grad_x[n, c] only
        n, c = task // channels, task % channels
        _channel_image(cols[n], grad_x, n, n + 1, c, 0, rows, inside, scalars)


@njit(nogil=True, cache=True)
def im2col_block(x, first_image, last_image, first_row, last_row, cols, scalars):
    """One block of columns, on the calling thread: cols (C * taps, images * rows * oW) gets the
    receptive fields of output rows [first_row, last_row) of images [first_image, last_image),
    image after image."""
    inside = _inside_taps(x.shape, scalars)
    for c in range(x.shape[1]):  # channel by channel, so the writes walk through cols in order
        _channel_columns(x, first_image, last_image, c, first_row, last_row, cols, inside, scalars)


@njit(nogil=True, cache=True)
def col2im_block(cols, grad_x, first_image, last_image, first_row, last_row, scalars):
    """The adjoint of im2col_block: add a block of columns back onto grad_x."""
    inside = _inside_taps(grad_x.shape, scalars)
    for c in range(grad_x.shape[1]):
        _channel_image(cols, grad_x, first_image, last_image, c, first_row, last_row, inside, scalars)


def _scalars(geometry) -> tuple:
    """Kernel size, output size, strides, paddings before and dilations, as the kernels take them."""
    return tuple(int(v) for v in (*geometry.kernel_size, *geometry.output_spatial, *geometry.stride,
                                  *(before for before, _ in geometry.padding), *geometry.dilation))


def columns(x, geometry):
    """The column matrices of x (N, C, D, H, W), one per image: (N, C * kD*kH*kW, oD*oH*oW)."""
    n_batch, channels = geometry.input_shape[:2]
    taps = math.prod(geometry.kernel_size)
    cols = np.empty((n_batch, channels * taps, math.prod(geometry.output_spatial)), geometry.dtype)
    im2col(x, cols, _scalars(geometry))
    return cols


def columns_to_image(cols, geometry):
    """col2im of (N, C * taps, positions): the (N, C, D, H, W) array whose entries sum the column
    entries read from them."""
    image = np.zeros(geometry.input_shape, geometry.dtype)
    col2im(np.ascontiguousarray(cols), image, _scalars(geometry))
    return image


# ---- the passes, block by block ------------------------------------------------------------------
# A block is a few whole images when an image has fewer columns than a block should (so that the
# GEMMs stay wide), else a stretch of one image's output rows. Each thread takes whole images (or,
# with fewer images than threads, a stretch of every image's rows) and runs its blocks one after
# the other through one buffer of its own.
BLOCK_BYTES = 1 << 19     # a block's columns fill about one core's L2 cache
# ... but no fewer columns than this: each GEMM call packs the whole weight matrix again, and a
# narrower product no longer pays for that (measured: blocks of 200 columns made cb_L4's forward
# pass 20% slower than one product over all the images)
BLOCK_MIN_COLUMNS = 1024
# ... and a pass of fewer floating-point operations than this runs on one thread: handing a share
# to another thread and waiting for it costs 35-60 us (measured, 2 cores), more when that thread
# has slept since its last share. LeNet-5's step at batch 64 (C1 15 MFLOP a pass, C3 31 MFLOP)
# took 4.87 ms (median of 100) with its passes on one thread, 5.51 with them split from 8 MFLOP
PARALLEL_MIN_FLOPS = 1 << 25


def _blocking(geometry) -> tuple:
    """(whole images per block, output rows per block, threads sharing the work): blocks of about
    BLOCK_BYTES of columns, at least BLOCK_MIN_COLUMNS of them, where the images allow; one
    thread below PARALLEL_MIN_FLOPS."""
    n_batch = geometry.input_shape[0]
    o_d, o_h, o_w = geometry.output_spatial
    rows = o_d * o_h
    column_bytes = geometry.input_shape[1] * math.prod(geometry.kernel_size) * geometry.dtype.itemsize
    columns = max(BLOCK_BYTES // max(column_bytes, 1), BLOCK_MIN_COLUMNS)
    step = min(-(-columns // max(o_w, 1)), rows)  # output rows per block within an image
    images = max(columns // max(rows * o_w, 1), 1) if step == rows else 1
    parts = threads.part_count() if 2 * geometry.multiply_adds >= PARALLEL_MIN_FLOPS else 1
    if n_batch >= parts or n_batch == 0:
        parts = max(min(parts, n_batch), 1)
    return images, step, parts


def _plan(geometry) -> list:
    """Each thread's blocks, a list of (first image, last image, first output row, last output
    row), as _blocking sizes them: each thread takes whole images or, with fewer images than
    threads, a stretch of every image's rows."""
    n_batch = geometry.input_shape[0]
    rows = geometry.output_spatial[0] * geometry.output_spatial[1]
    images, step, parts = _blocking(geometry)
    if n_batch >= parts or n_batch == 0:
        return [[(n, min(n + images, stop), r, min(r + step, rows)) for n in range(start, stop, images)
                 for r in range(0, rows, step)]
                for start, stop in ((n_batch * t // parts, n_batch * (t + 1) // parts) for t in range(parts))]
    bounds = [rows * t // parts for t in range(parts + 1)]
    return [[(n, n + 1, r, min(r + step, stop)) for n in range(n_batch) for r in range(start, stop, step)]
            for start, stop in zip(bounds[:-1], bounds[1:])]


def _widest(plan) -> int:
    """The most (image, output row) pairs of any block."""
    return max(((last_n - n) * (last_r - r) for share in plan for n, last_n, r, last_r in share), default=1)


class _Buffer:
    """A thread's column buffer, seen for each block as the C * taps rows the kernels fill and as
    the G matrices (C/G * taps, columns) the GEMMs read."""

    def __init__(self, geometry, plan):
        self.o_w, self.groups = geometry.output_spatial[2], geometry.groups
        self.rows = geometry.input_shape[1] * math.prod(geometry.kernel_size)
        self.flat = np.empty(self.rows * _widest(plan) * self.o_w, geometry.dtype)

    def matrix(self, block):
        first_image, last_image, first_row, last_row = block
        columns = (last_image - first_image) * (last_row - first_row) * self.o_w
        return self.flat[:self.rows * columns].reshape(self.rows, columns)

    def grouped(self, block):
        return self.matrix(block).reshape(self.groups, self.rows // self.groups, -1)


def _grouped_weight(weight, geometry):
    """weight (Cout, C/G, kD, kH, kW) as G matrices (Cout/G, C/G * taps)."""
    return weight.reshape(geometry.groups, geometry.weight_shape[0] // geometry.groups, -1)


def _grouped_positions(array, geometry):
    """(N, Cout, oD, oH, oW) as (N, G, Cout/G, positions): a block of output rows is a slice of
    the last axis, the layout of W_g @ columns."""
    n, c_out = array.shape[:2]
    return array.reshape(n, geometry.groups, c_out // geometry.groups, math.prod(geometry.output_spatial))


def _block_of(grouped, block, o_w):
    """A block's (G, Cout/G, columns) part of (N, G, Cout/G, positions): a view for one image,
    a copy with the images side by side for several."""
    first_image, last_image, first_row, last_row = block
    if last_image - first_image == 1:
        return grouped[first_image, :, :, first_row * o_w:last_row * o_w]
    part = grouped[first_image:last_image]
    return part.transpose(1, 2, 0, 3).reshape(part.shape[1], part.shape[2], -1)


def forward(x, weight, geometry):
    """y = conv(x, weight): (N, C, D, H, W), (Cout, C/G, kD, kH, kW) -> (N, Cout, oD, oH, oW),
    y[n] = W_g @ the columns of image n, a block at a time."""
    y = np.empty(geometry.output_shape, geometry.dtype)
    w, y_groups, scalars = _grouped_weight(weight, geometry), _grouped_positions(y, geometry), _scalars(geometry)
    o_w, plan = geometry.output_spatial[2], _plan(geometry)

    def share(blocks):
        buffer = _Buffer(geometry, plan)
        for block in blocks:
            im2col_block(x, *block, buffer.matrix(block), scalars)
            first_image, last_image, first_row, last_row = block
            if last_image - first_image == 1:  # written in place
                np.matmul(w, buffer.grouped(block), out=y_groups[first_image, :, :, first_row * o_w:last_row * o_w])
            else:  # whole images side by side: dealt back to them
                product = np.matmul(w, buffer.grouped(block))
                y_groups[first_image:last_image] = product.reshape(product.shape[:2] + (last_image - first_image, -1)
                                                                   ).transpose(2, 0, 1, 3)

    threads.run_parts(share, plan)
    return y


def backward_data(grad_y, weight, geometry):
    """dL/dx (N, C, D, H, W) from dL/dy (N, Cout, oD, oH, oW): per block, W_g^T @ dL/dy's
    columns, added back onto the image by col2im. Threads sharing an image add into copies of
    their own (receptive fields overlap across blocks), summed at the end."""
    w_t = _grouped_weight(weight, geometry).transpose(0, 2, 1)
    gy_groups, scalars = _grouped_positions(grad_y, geometry), _scalars(geometry)
    o_w, plan = geometry.output_spatial[2], _plan(geometry)
    own_images = geometry.input_shape[0] >= len(plan)
    grad_x = np.zeros(geometry.input_shape, geometry.dtype)

    def share(blocks):
        target = grad_x if own_images or blocks is plan[0] else np.zeros_like(grad_x)
        buffer = _Buffer(geometry, plan)
        for block in blocks:
            np.matmul(w_t, _block_of(gy_groups, block, o_w), out=buffer.grouped(block))
            col2im_block(buffer.matrix(block), target, *block, scalars)
        return target

    for partial in threads.run_parts(share, plan)[1:]:
        if partial is not grad_x:
            grad_x += partial
    return grad_x


def backward_weight(x, grad_y, geometry):
    """dL/dw (Cout, C/G, kD, kH, kW) = sum over blocks of dL/dy's columns @ the block's columns^T,
    each thread summing its blocks, then the threads' sums added."""
    gy_groups, scalars = _grouped_positions(grad_y, geometry), _scalars(geometry)
    o_w, plan = geometry.output_spatial[2], _plan(geometry)
    groups = geometry.groups

    def share(blocks):
        buffer = _Buffer(geometry, plan)
        total = np.zeros((groups, geometry.weight_shape[0] // groups, buffer.rows // groups), geometry.dtype)
        for block in blocks:
            im2col_block(x, *block, buffer.matrix(block), scalars)
            total += np.matmul(_block_of(gy_groups, block, o_w), buffer.grouped(block).transpose(0, 2, 1))
        return total

    grad_w, *others = threads.run_parts(share, plan)
    for total in others:
        grad_w += total
    return grad_w.reshape(geometry.weight_shape)


def workspace(geometry) -> int:
    """Bytes the passes allocate besides their result, at most: per thread a column buffer, the
    output side of its widest block (a product or dL/dy of several images side by side) and a
    weight-sized sum; plus the copies of the image the data gradient's threads add into when they
    share one."""
    images, step, parts = _blocking(geometry)  # not the plan itself: a huge layer has millions of blocks
    columns = images * step * geometry.output_spatial[2]
    rows = geometry.input_shape[1] * math.prod(geometry.kernel_size)
    per_thread = (rows + geometry.weight_shape[0]) * columns + math.prod(geometry.weight_shape)
    copies = (parts - 1) * math.prod(geometry.input_shape) if geometry.input_shape[0] < parts else 0
    return (parts * per_thread + copies) * geometry.dtype.itemsize


ALGORITHM = ConvAlgorithm(
    name="im2col",
    capabilities="any stride, padding, dilation and groups, 1-D/2-D/3-D, float32 and float64",
    forward=forward, backward_data=backward_data, backward_weight=backward_weight,
    supports=supports_any_geometry, workspace=workspace,
)
