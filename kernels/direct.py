"""Direct convolution: the definition, written as loops. The version to step through.

For input x (N, C, D, H, W) and weight w (Cout, C/G, kD, kH, kW) in G groups, output channel co
belongs to group g = co // (Cout/G) and sees only input channels g*C/G ... (g+1)*C/G - 1:

    y[n, co, o] = sum_{ci, k} w[co, ci, k] * x[n, g*C/G + ci, o*s - p + k*d]

where o, k, s, p, d run over the three spatial axes (o the output position, k the kernel tap,
s the stride, p the padding before the axis, d the dilation) and x is zero outside its bounds.
This is cross-correlation, as in every deep-learning framework. The two backward passes are the
same sum read the other way (the chain rule through a sum of products):

    dL/dx[n, g*C/G + ci, o*s - p + k*d] += w[co, ci, k] * dL/dy[n, co, o]
    dL/dw[co, ci, k] = sum_{n, o} dL/dy[n, co, o] * x[n, g*C/G + ci, o*s - p + k*d]

Padding is never materialised: an index that falls outside the input reads (or writes) nothing,
so asymmetric padding needs only the padding before each axis (the padding after only changes
the output size, which the caller has already decided).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .registry import ConvAlgorithm, supports_any_geometry


@njit(parallel=True, cache=True)
def conv_forward(x, weight, out, sd, sh, sw, pd, ph, pw, dd, dh, dw, groups):
    """Fill out (N, Cout, oD, oH, oW) with the convolution of x and weight (see the module)."""
    n_batch, c_out, o_d, o_h, o_w = out.shape
    c_group, k_d, k_h, k_w = weight.shape[1], weight.shape[2], weight.shape[3], weight.shape[4]
    depth, height, width = x.shape[2], x.shape[3], x.shape[4]
    c_out_group = c_out // groups
    # One task per (image, output channel): they write disjoint slices of out.
    for task in prange(n_batch * c_out):
        n, co = task // c_out, task % c_out
        c_first = (co // c_out_group) * c_group
        for od in range(o_d):
            for oh in range(o_h):
                for ow in range(o_w):
                    total = 0.0
                    for ci in range(c_group):
                        for kd in range(k_d):
                            i_d = od * sd - pd + kd * dd
                            if i_d < 0 or i_d >= depth:
                                continue
                            for kh in range(k_h):
                                i_h = oh * sh - ph + kh * dh
                                if i_h < 0 or i_h >= height:
                                    continue
                                for kw in range(k_w):
                                    i_w = ow * sw - pw + kw * dw
                                    if i_w < 0 or i_w >= width:
                                        continue
                                    total += weight[co, ci, kd, kh, kw] * x[n, c_first + ci, i_d, i_h, i_w]
                    out[n, co, od, oh, ow] = total


@njit(parallel=True, cache=True)
def conv_backward_data(grad_out, weight, grad_x, sd, sh, sw, pd, ph, pw, dd, dh, dw, groups):
    """Accumulate into grad_x (N, C, D, H, W), zero on entry, dL/dx from dL/dy = grad_out."""
    n_batch, c_out, o_d, o_h, o_w = grad_out.shape
    c_group, k_d, k_h, k_w = weight.shape[1], weight.shape[2], weight.shape[3], weight.shape[4]
    depth, height, width = grad_x.shape[2], grad_x.shape[3], grad_x.shape[4]
    c_out_group = c_out // groups
    # One task per image: every output channel of a group scatters into the same input channels.
    # The output positions are the innermost loops, so that the writes run along rows of grad_x.
    for n in prange(n_batch):
        for co in range(c_out):
            c_first = (co // c_out_group) * c_group
            for ci in range(c_group):
                for kd in range(k_d):
                    for kh in range(k_h):
                        for kw in range(k_w):
                            w = weight[co, ci, kd, kh, kw]
                            for od in range(o_d):
                                i_d = od * sd - pd + kd * dd
                                if i_d < 0 or i_d >= depth:
                                    continue
                                for oh in range(o_h):
                                    i_h = oh * sh - ph + kh * dh
                                    if i_h < 0 or i_h >= height:
                                        continue
                                    for ow in range(o_w):
                                        i_w = ow * sw - pw + kw * dw
                                        if i_w < 0 or i_w >= width:
                                            continue
                                        grad_x[n, c_first + ci, i_d, i_h, i_w] += w * grad_out[n, co, od, oh, ow]


@njit(parallel=True, cache=True)
def conv_backward_weight(x, grad_out, grad_w, sd, sh, sw, pd, ph, pw, dd, dh, dw, groups):
    """Fill grad_w (Cout, C/G, kD, kH, kW) with dL/dw from dL/dy = grad_out."""
    n_batch, c_out, o_d, o_h, o_w = grad_out.shape
    c_group, k_d, k_h, k_w = grad_w.shape[1], grad_w.shape[2], grad_w.shape[3], grad_w.shape[4]
    depth, height, width = x.shape[2], x.shape[3], x.shape[4]
    c_out_group = c_out // groups
    # One task per output channel: each owns its slice grad_w[co].
    for co in prange(c_out):
        c_first = (co // c_out_group) * c_group
        for ci in range(c_group):
            for kd in range(k_d):
                for kh in range(k_h):
                    for kw in range(k_w):
                        total = 0.0
                        for n in range(n_batch):
                            for od in range(o_d):
                                i_d = od * sd - pd + kd * dd
                                if i_d < 0 or i_d >= depth:
                                    continue
                                for oh in range(o_h):
                                    i_h = oh * sh - ph + kh * dh
                                    if i_h < 0 or i_h >= height:
                                        continue
                                    for ow in range(o_w):
                                        i_w = ow * sw - pw + kw * dw
                                        if i_w < 0 or i_w >= width:
                                            continue
                                        total += grad_out[n, co, od, oh, ow] * x[n, c_first + ci, i_d, i_h, i_w]
                        grad_w[co, ci, kd, kh, kw] = total


def _scalars(geometry) -> tuple:
    """The integer arguments every kernel takes: strides, paddings before, dilations, groups."""
    return (*geometry.stride, *(before for before, _ in geometry.padding), *geometry.dilation,
            geometry.groups)


def forward(x, weight, geometry):
    """y = conv(x, weight): (N, C, D, H, W), (Cout, C/G, kD, kH, kW) -> (N, Cout, oD, oH, oW)."""
    out = np.empty(geometry.output_shape, geometry.dtype)
    conv_forward(x, weight, out, *_scalars(geometry))
    return out


def backward_data(grad_y, weight, geometry):
    """dL/dx (N, C, D, H, W) from dL/dy (N, Cout, oD, oH, oW)."""
    grad_x = np.zeros(geometry.input_shape, geometry.dtype)
    conv_backward_data(grad_y, weight, grad_x, *_scalars(geometry))
    return grad_x


def backward_weight(x, grad_y, geometry):
    """dL/dw (Cout, C/G, kD, kH, kW) from x and dL/dy."""
    grad_w = np.empty(geometry.weight_shape, geometry.dtype)
    conv_backward_weight(x, grad_y, grad_w, *_scalars(geometry))
    return grad_w


ALGORITHM = ConvAlgorithm(
    name="direct",
    capabilities="any stride, padding, dilation and groups, 1-D/2-D/3-D, float32 and float64",
    forward=forward, backward_data=backward_data, backward_weight=backward_weight,
    supports=supports_any_geometry, workspace=lambda geometry: 0,  # loops only, no extra buffer
)
