"""Convolution as matrix multiplication: im2col, one GEMM per group, col2im.

im2col copies every receptive field of x into a column of a matrix (Chellapilla, Puri & Simard
2006, "High performance convolutional neural networks for document processing"): row
(c, kd, kh, kw), column (n, od, oh, ow) holds x[n, c, o*s - p + k*d] (zero in the padding).
For group g, with W_g the group's weights flattened to (Cout/G, C/G * taps) and X_g its rows of
the column matrix, (C/G * taps, N * positions):

    Y_g     = W_g   @ X_g        forward
    dX_g    = W_g^T @ dY_g       then col2im adds each column back where it came from: dL/dx
    dW_g    = dY_g  @ X_g^T      dL/dw

so the work is three BLAS GEMMs and two memory-bound copies, at the price of a column matrix
taps times larger than x. col2im is the adjoint (transpose) of im2col: where receptive fields
overlap it sums.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .direct import inside_range
from . import threads
from .registry import ConvAlgorithm, im2col_bytes, supports_any_geometry


@njit(parallel=True, cache=True)
def im2col(x, cols, k_d, k_h, k_w, o_d, o_h, o_w, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    """Fill cols (C * kD*kH*kW, N * oD*oH*oW) with the receptive fields of x (N, C, D, H, W)."""
    n_batch, channels, depth, height, width = x.shape
    positions = o_d * o_h * o_w
    # Each (image, channel) owns its rows' stretch of columns: tasks never write the same memory,
    # and a single image still keeps every thread busy.
    for task in prange(n_batch * channels):
        n, c = task // channels, task % channels
        for kd in range(k_d):
            for kh in range(k_h):
                for kw in range(k_w):
                    row = ((c * k_d + kd) * k_h + kh) * k_w + kw
                    # output columns whose tap lands inside the row, found once instead of tested
                    # per element; the others read padding
                    first, last = inside_range(kw * dw - pw, sw, width, o_w)
                    first, last = min(first, o_w), max(min(last, o_w), min(first, o_w))
                    column = n * positions
                    for od in range(o_d):
                        i_d = od * sd - pd + kd * dd
                        for oh in range(o_h):
                            i_h = oh * sh - ph + kh * dh
                            if 0 <= i_d < depth and 0 <= i_h < height:
                                cols[row, column:column + first] = 0.0
                                for ow in range(first, last):
                                    cols[row, column + ow] = x[n, c, i_d, i_h, ow * sw - pw + kw * dw]
                                cols[row, column + last:column + o_w] = 0.0
                            else:
                                cols[row, column:column + o_w] = 0.0
                            column += o_w


@njit(parallel=True, cache=True)
def col2im(cols, grad_x, k_d, k_h, k_w, o_d, o_h, o_w, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    """Add every entry of cols back onto the x position im2col read it from (grad_x zero on entry)."""
    n_batch, channels, depth, height, width = grad_x.shape
    positions = o_d * o_h * o_w
    for task in prange(n_batch * channels):  # each task adds into its own grad_x[n, c] only
        n, c = task // channels, task % channels
        for kd in range(k_d):
            for kh in range(k_h):
                for kw in range(k_w):
                    row = ((c * k_d + kd) * k_h + kh) * k_w + kw
                    first, last = inside_range(kw * dw - pw, sw, width, o_w)
                    column = n * positions
                    for od in range(o_d):
                        i_d = od * sd - pd + kd * dd
                        for oh in range(o_h):
                            i_h = oh * sh - ph + kh * dh
                            if 0 <= i_d < depth and 0 <= i_h < height:
                                for ow in range(first, last):
                                    grad_x[n, c, i_d, i_h, ow * sw - pw + kw * dw] += cols[row, column + ow]
                            column += o_w


def _scalars(geometry) -> tuple:
    """Kernel size, output size, strides, paddings before and dilations, as the kernels take them."""
    return (*geometry.kernel_size, *geometry.output_spatial, *geometry.stride,
            *(before for before, _ in geometry.padding), *geometry.dilation)


def columns(x, geometry):
    """The column matrix of x (N, C, D, H, W): (C * kD*kH*kW, N * oD*oH*oW)."""
    n_batch, channels = geometry.input_shape[:2]
    taps = int(np.prod(geometry.kernel_size))
    positions = int(np.prod(geometry.output_spatial))
    cols = np.empty((channels * taps, n_batch * positions), geometry.dtype)
    im2col(x, cols, *_scalars(geometry))
    return cols


def columns_to_image(cols, geometry):
    """col2im: the (N, C, D, H, W) array whose entries sum the column entries read from them."""
    image = np.zeros(geometry.input_shape, geometry.dtype)
    col2im(np.ascontiguousarray(cols), image, *_scalars(geometry))
    return image


def _grouped_columns(x, geometry):
    """The column matrix split into the G groups' rows: (G, C/G * taps, N * positions)."""
    cols = columns(x, geometry)
    return cols.reshape(geometry.groups, cols.shape[0] // geometry.groups, cols.shape[1])


def _grouped_weight(weight, geometry):
    """weight (Cout, C/G, kD, kH, kW) as G matrices (Cout/G, C/G * taps)."""
    return weight.reshape(geometry.groups, geometry.weight_shape[0] // geometry.groups, -1)


def _grouped_output(grad_y, geometry):
    """(N, Cout, oD, oH, oW) as G matrices (Cout/G, N * positions), the layout of W_g @ X_g."""
    n_batch, c_out = geometry.output_shape[:2]
    positions = int(np.prod(geometry.output_spatial))
    grouped = grad_y.reshape(n_batch, geometry.groups, c_out // geometry.groups, positions)
    return grouped.transpose(1, 2, 0, 3).reshape(geometry.groups, c_out // geometry.groups, n_batch * positions)


def forward(x, weight, geometry):
    """y = conv(x, weight): (N, C, D, H, W), (Cout, C/G, kD, kH, kW) -> (N, Cout, oD, oH, oW)."""
    n_batch, c_out = geometry.output_shape[:2]
    y = threads.matmul(_grouped_weight(weight, geometry), _grouped_columns(x, geometry))  # G GEMMs
    y = y.reshape(c_out, n_batch, int(np.prod(geometry.output_spatial))).transpose(1, 0, 2)
    return np.ascontiguousarray(y).reshape(geometry.output_shape)


def backward_data(grad_y, weight, geometry):
    """dL/dx (N, C, D, H, W) from dL/dy (N, Cout, oD, oH, oW)."""
    weight_t = _grouped_weight(weight, geometry).transpose(0, 2, 1)
    grad_cols = threads.matmul(weight_t, _grouped_output(grad_y, geometry))  # G GEMMs
    return columns_to_image(grad_cols.reshape(weight_t.shape[0] * weight_t.shape[1], grad_cols.shape[2]), geometry)


def backward_weight(x, grad_y, geometry):
    """dL/dw (Cout, C/G, kD, kH, kW) from x and dL/dy."""
    grad_w = threads.matmul(_grouped_output(grad_y, geometry), _grouped_columns(x, geometry).transpose(0, 2, 1))
    return grad_w.reshape(geometry.weight_shape)


ALGORITHM = ConvAlgorithm(
    name="im2col",
    capabilities="any stride, padding, dilation and groups, 1-D/2-D/3-D, float32 and float64",
    forward=forward, backward_data=backward_data, backward_weight=backward_weight,
    supports=supports_any_geometry, workspace=im2col_bytes,
)
