"""Convolution layers: Conv1d/2d/3d, ConvTranspose1d/2d/3d, LocallyConnected2d and TiledConv2d.

Each holds its weight and bias as Parameters, initialised as PyTorch does (kaiming_uniform with
a = sqrt(5), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), bias from the same range), and calls the
matching op of minicnn.functional in forward.
"""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from ..functional.checks import check_bytes, int_tuple, output_spatial, padding_pairs
from ..functional.conv import transpose_padding
from ..tensor import Tensor, float_dtype
from . import init
from .module import Module, Parameter

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _positive(layer: str, **values) -> None:
    for name, value in values.items():
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{layer}: {name} must be a positive integer, got {value!r}")


def _parameters(weight_shape, bias_shape, fan_in_shape, dtype, generator, name):
    """Weight and bias Parameters initialised as PyTorch's Conv layers, with the fan-in read from
    `fan_in_shape` (Cout, Cin, k...): per-position layers hold many such kernels in one weight."""
    dtype = float_dtype(dtype)
    check_bytes(name, math.prod(weight_shape) * np.dtype(dtype).itemsize, "the weight")
    weight = Tensor(np.empty(fan_in_shape, dtype))
    bias = Tensor(np.empty(bias_shape, dtype)) if bias_shape is not None else None
    init.default_layer_init_(weight, bias, generator)
    weight = Parameter(weight.array.reshape(weight_shape))
    return weight, None if bias is None else Parameter(bias)


class ConvNd(Module):
    """What Conv1d, Conv2d and Conv3d share; `spatial_dims` and `conv` are set by each."""

    spatial_dims = 0
    conv = None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", *, algorithm="auto", dtype=None, generator=None):
        super().__init__()
        name, dims = type(self).__name__, self.spatial_dims
        _positive(name, in_channels=in_channels, out_channels=out_channels, groups=groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: groups={groups} must divide in_channels={in_channels} "
                             f"and out_channels={out_channels}")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size = int_tuple(kernel_size, dims, "kernel_size", name)
        self.stride = int_tuple(stride, dims, "stride", name)
        self.dilation = int_tuple(dilation, dims, "dilation", name)
        self.padding, self.padding_mode, self.algorithm = padding, padding_mode, algorithm
        # Checked now, so that a bad padding fails when the layer is built, not when first called.
        self._pairs = padding_pairs(padding, self.kernel_size, self.stride, self.dilation, name)
        shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight, self.bias = _parameters(shape, (out_channels,) if bias else None, shape, dtype, generator, name)

    def forward(self, x):
        padding = self.padding
        if self.padding_mode != "zeros":
            # reflect/replicate/circular: pad explicitly (F.pad's order is last axis first), then
            # convolve without padding, as PyTorch does.
            widths = tuple(w for pair in reversed(self._pairs) for w in pair)
            x = F.pad(x, widths, self.padding_mode)
            padding = 0
        return type(self).conv(x, self.weight, self.bias, self.stride, padding, self.dilation,
                               self.groups, algorithm=self.algorithm)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding!r}")
        if self.dilation != (1,) * self.spatial_dims:
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode!r}"
        return text


class Conv1d(ConvNd):
    """1-D convolution layer: (N, Cin, W) -> (N, Cout, oW); see minicnn.functional.conv1d.

    weight: (out_channels, in_channels/groups, kW), bias: (out_channels,).
    """

    spatial_dims = 1
    conv = staticmethod(F.conv1d)


class Conv2d(ConvNd):
    """2-D convolution layer: (N, Cin, H, W) -> (N, Cout, oH, oW); see minicnn.functional.conv2d.

    weight: (out_channels, in_channels/groups, kH, kW), bias: (out_channels,).
    padding: int, tuple, ((top, bottom), (left, right)), "valid", "same" or "full";
    padding_mode: "zeros", "reflect", "replicate" or "circular" (what the padding is filled with).
    algorithm (keyword): "auto", "direct", "im2col", ... (minicnn.kernels.ALGORITHMS).
    """

    spatial_dims = 2
    conv = staticmethod(F.conv2d)


class Conv3d(ConvNd):
    """3-D convolution layer: (N, Cin, D, H, W) -> (N, Cout, oD, oH, oW); see minicnn.functional.conv3d.

    weight: (out_channels, in_channels/groups, kD, kH, kW), bias: (out_channels,).
    """

    spatial_dims = 3
    conv = staticmethod(F.conv3d)


class ConvTransposeNd(Module):
    """Transposed convolution layer of `spatial_dims` axes, set by each subclass with its op.

    weight: (in_channels, out_channels/groups, *kernel_size), bias: (out_channels,); the fan-in of
    the initialisation is read from that layout, as in PyTorch.
    """

    spatial_dims = 0
    conv_transpose = None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 groups=1, bias=True, dilation=1, padding_mode="zeros", *, algorithm="auto",
                 dtype=None, generator=None):
        super().__init__()
        name = type(self).__name__
        _positive(name, in_channels=in_channels, out_channels=out_channels, groups=groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: groups={groups} must divide in_channels={in_channels} "
                             f"and out_channels={out_channels}")
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported, got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        dims = self.spatial_dims
        self.kernel_size = int_tuple(kernel_size, dims, "kernel_size", name)
        self.stride = int_tuple(stride, dims, "stride", name)
        self.dilation = int_tuple(dilation, dims, "dilation", name)
        # Checked now, so that a bad padding fails when the layer is built, not when first called.
        _, self.output_padding = transpose_padding(name, padding, output_padding, self.kernel_size,
                                                   self.stride, self.dilation)
        self.padding, self.algorithm = padding, algorithm
        shape = (in_channels, out_channels // groups) + self.kernel_size
        self.weight, self.bias = _parameters(shape, (out_channels,) if bias else None, shape, dtype, generator, name)

    def forward(self, x):
        return self.conv_transpose(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                   self.groups, self.dilation, algorithm=self.algorithm)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding!r}, output_padding={self.output_padding}"
                + (f", groups={self.groups}" if self.groups != 1 else "")
                + (f", dilation={self.dilation}" if self.dilation != (1,) * self.spatial_dims else ""))


class ConvTranspose1d(ConvTransposeNd):
    """Transposed 1-D convolution layer (see minicnn.functional.conv_transpose1d).

    (N, Cin, W) -> (N, Cout, oW), oW = (W-1)*s - 2p + d(kW-1) + output_padding + 1.
    """

    spatial_dims = 1
    conv_transpose = staticmethod(F.conv_transpose1d)


class ConvTranspose2d(ConvTransposeNd):
    """Transposed 2-D convolution layer (see minicnn.functional.conv_transpose2d).

    (N, Cin, H, W) -> (N, Cout, oH, oW), oH = (H-1)*s - 2p + d(kH-1) + output_padding + 1.
    weight: (in_channels, out_channels/groups, kH, kW).
    """

    spatial_dims = 2
    conv_transpose = staticmethod(F.conv_transpose2d)


class ConvTranspose3d(ConvTransposeNd):
    """Transposed 3-D convolution layer (see minicnn.functional.conv_transpose3d).

    (N, Cin, D, H, W) -> (N, Cout, oD, oH, oW), each size (n-1)*s - 2p + d(k-1) + output_padding + 1.
    """

    spatial_dims = 3
    conv_transpose = staticmethod(F.conv_transpose3d)


class LocallyConnected2d(Module):
    """Unshared convolution layer: its own kernel and bias at every output position
    (see minicnn.functional.local_conv2d). Needs the input size, which fixes the positions.

    (N, Cin, H, W) with (H, W) = input_size -> (N, Cout, oH, oW).
    weight: (oH, oW, out_channels, in_channels, kH, kW), bias: (oH, oW, out_channels); each
    kernel initialised as a Conv2d's (fan_in = in_channels * kH * kW).
    """

    def __init__(self, in_channels, out_channels, input_size, kernel_size, stride=1, padding=0, dilation=1,
                 bias=True, *, dtype=None, generator=None):
        super().__init__()
        name = type(self).__name__
        _positive(name, in_channels=in_channels, out_channels=out_channels)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.input_size = int_tuple(input_size, 2, "input_size", name)
        self.kernel_size = int_tuple(kernel_size, 2, "kernel_size", name)
        self.stride = int_tuple(stride, 2, "stride", name)
        self.dilation = int_tuple(dilation, 2, "dilation", name)
        self.padding = padding
        pairs = padding_pairs(padding, self.kernel_size, self.stride, self.dilation, name)
        self.output_size = output_spatial(name, self.input_size, self.kernel_size, self.stride, pairs,
                                          self.dilation)
        per_position = (out_channels, in_channels) + self.kernel_size
        positions = self.output_size[0] * self.output_size[1]
        self.weight, self.bias = _parameters(
            self.output_size + per_position, self.output_size + (out_channels,) if bias else None,
            (positions * out_channels,) + per_position[1:], dtype, generator, name)

    def forward(self, x):
        return F.local_conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, input_size={self.input_size}, "
                f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding!r}")


class TiledConv2d(Module):
    """Tiled convolution layer: tile = (t_h, t_w) kernels taking turns over the output positions
    (see minicnn.functional.tiled_conv2d). tile (1, 1) is an ordinary Conv2d.

    (N, Cin, H, W) -> (N, Cout, oH, oW).
    weight: (t_h, t_w, out_channels, in_channels, kH, kW), bias: (t_h, t_w, out_channels).
    """

    def __init__(self, in_channels, out_channels, kernel_size, tile, stride=1, padding=0, dilation=1,
                 bias=True, *, dtype=None, generator=None):
        super().__init__()
        name = type(self).__name__
        _positive(name, in_channels=in_channels, out_channels=out_channels)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = int_tuple(kernel_size, 2, "kernel_size", name)
        self.tile = int_tuple(tile, 2, "tile", name)
        self.stride = int_tuple(stride, 2, "stride", name)
        self.dilation = int_tuple(dilation, 2, "dilation", name)
        self.padding = padding
        padding_pairs(padding, self.kernel_size, self.stride, self.dilation, name)
        per_tile = (out_channels, in_channels) + self.kernel_size
        self.weight, self.bias = _parameters(
            self.tile + per_tile, self.tile + (out_channels,) if bias else None,
            (self.tile[0] * self.tile[1] * out_channels,) + per_tile[1:], dtype, generator, name)

    def forward(self, x):
        return F.tiled_conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"tile={self.tile}, stride={self.stride}, padding={self.padding!r}")
