"""The reference convolution: the definition, as plain loops over output positions and taps.

This is the version to step through with a debugger, and the one every fast algorithm is tested
against. For input x (N, C, D, H, W) zero-padded to x_pad, weight w (Cout, C/G, kD, kH, kW) in G
groups, output channel co of group g = co // (Cout/G) reading input channels g*C/G ... :

    y[n, co, o]       = sum_{ci, k} w[co, ci, k] * x_pad[n, g*C/G + ci, o*s + k*d]
    dL/dx_pad[n, g*C/G + ci, o*s + k*d] += w[co, ci, k] * dL/dy[n, co, o]
    dL/dw[co, ci, k] += dL/dy[n, co, o] * x_pad[n, g*C/G + ci, o*s + k*d]

with o the output position, k the kernel tap, s the stride and d the dilation, each a
(depth, height, width) triple. Each pass is the same three nested loops (group, output position,
tap); the body is one small matrix product over the batch and the group's channels. The data
gradient is computed on the padded input and then cropped: what fell on the padding is dropped.

It is registered as algorithm "reference": it runs every configuration, and "auto" never picks it
(it is hundreds of times slower than the others).
"""
from __future__ import annotations

import itertools

import numpy as np

from .registry import ConvAlgorithm, supports_any_geometry


def _positions(geometry):
    """(input channels, output channels, output position o, tap k, input position) for every
    output position, group and tap.

    The input position is in padded coordinates: o*s + k*d on each axis."""
    c, c_out, groups = geometry.input_shape[1], geometry.weight_shape[0], geometry.groups
    c_group, c_out_group = c // groups, c_out // groups
    outputs = itertools.product(*(range(m) for m in geometry.output_spatial))
    taps = list(itertools.product(*(range(k) for k in geometry.kernel_size)))
    for o in outputs:
        for g in range(groups):
            inputs = slice(g * c_group, (g + 1) * c_group)
            outs = slice(g * c_out_group, (g + 1) * c_out_group)
            for k in taps:
                at = tuple(oi * s + ki * d for oi, ki, s, d in zip(o, k, geometry.stride, geometry.dilation))
                yield inputs, outs, o, k, at


def _padded(x, geometry):
    return np.pad(x, ((0, 0), (0, 0)) + tuple(geometry.padding))


def _padded_shape(geometry) -> tuple:
    return geometry.input_shape[:2] + tuple(size + before + after for size, (before, after)
                                            in zip(geometry.input_shape[2:], geometry.padding))


def forward(x, weight, geometry):
    """y (N, Cout, oD, oH, oW) = conv(x, weight), from the definition."""
    x_pad = _padded(x, geometry)
    y = np.zeros(geometry.output_shape, geometry.dtype)
    for inputs, outs, o, k, at in _positions(geometry):
        # (N, C/G) @ (C/G, Cout/G): every image and output channel of the group at once
        y[(slice(None), outs) + o] += x_pad[(slice(None), inputs) + at] @ weight[(outs, slice(None)) + k].T
    return y


def backward_data(grad_y, weight, geometry):
    """dL/dx (N, C, D, H, W): each output's gradient sent back to the inputs its window read."""
    grad_pad = np.zeros(_padded_shape(geometry), geometry.dtype)
    for inputs, outs, o, k, at in _positions(geometry):
        grad_pad[(slice(None), inputs) + at] += grad_y[(slice(None), outs) + o] @ weight[(outs, slice(None)) + k]
    crop = tuple(slice(before, before + size) for (before, _), size in zip(geometry.padding, geometry.input_shape[2:]))
    return np.ascontiguousarray(grad_pad[(slice(None), slice(None)) + crop])


def backward_weight(x, grad_y, geometry):
    """dL/dw (Cout, C/G, kD, kH, kW): each tap's weight times the inputs it read, summed."""
    x_pad = _padded(x, geometry)
    grad_w = np.zeros(geometry.weight_shape, geometry.dtype)
    for inputs, outs, o, k, at in _positions(geometry):
        grad_w[(outs, slice(None)) + k] += grad_y[(slice(None), outs) + o].T @ x_pad[(slice(None), inputs) + at]
    return grad_w


def workspace(geometry) -> int:
    """The zero-padded copy of the input (forward, weight gradient) or of its gradient."""
    return int(np.prod(_padded_shape(geometry))) * geometry.dtype.itemsize


ALGORITHM = ConvAlgorithm(
    name="reference",
    capabilities="everything (any rank, stride, padding, dilation and groups), float32 and float64, slowly",
    forward=forward, backward_data=backward_data, backward_weight=backward_weight,
    supports=supports_any_geometry, workspace=workspace, automatic=False,
)
