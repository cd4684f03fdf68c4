"""im2col as public ops: F.unfold (image to columns) and F.fold (columns back to an image), PyTorch's.

unfold copies every kh x kw receptive field (block) of a padded image into a column:

    out[n, (c*kh + a)*kw + b, l] = x_pad[n, c, i*s_h + a*d_h, j*s_w + b*d_w],   l = i*oW + j

so a 2-D convolution is a matrix product with it: conv2d(x, w) equals
(w.reshape(Cout, -1) @ unfold(x, k)).reshape(N, Cout, oH, oW). fold is unfold's adjoint
(transpose): it adds every column entry back onto the pixel it was read from, so overlapping
blocks sum, and <unfold(x), y> = <x, fold(y)>. Each is therefore the other's backward.

Both run on the im2col/col2im kernels the im2col convolution uses (minicnn.kernels.im2col).
"""
from __future__ import annotations

import math

import numpy as np

from ..kernels import ConvGeometry, im2col
from ..tensor import Function
from .checks import check_bytes, common_float_dtype, int_tuple, output_spatial, shape_of
from .shape import reshape


def _columns(image, geometry):
    """(N, C, H, W) -> (N, C*kh*kw, L): the im2col kernel's column matrices, one per image."""
    x5 = np.ascontiguousarray(image).reshape(geometry.input_shape)
    return im2col.columns(x5 if x5.flags.writeable else x5.copy(), geometry)


def _image(columns, geometry):
    """(N, C*kh*kw, L) -> (N, C, H, W): col2im, summing where blocks overlap."""
    n, channels, _, height, width = geometry.input_shape
    return im2col.columns_to_image(columns, geometry).reshape(n, channels, height, width)


class Unfold(Function):
    """im2col: forward _columns, backward its adjoint _image."""

    @staticmethod
    def forward(ctx, x, geometry):
        ctx.geometry = geometry
        return _columns(x, geometry)

    @staticmethod
    def backward(ctx, grad):
        return _image(grad, ctx.geometry), None


class Fold(Function):
    """col2im: forward _image, backward its adjoint _columns."""

    @staticmethod
    def forward(ctx, columns, geometry):
        ctx.geometry = geometry
        return _image(columns, geometry)

    @staticmethod
    def backward(ctx, grad):
        return _columns(grad, ctx.geometry), None


def _window(op, image_size, kernel_size, dilation, padding, stride):
    kernel = int_tuple(kernel_size, 2, "kernel_size", op)
    dilation = int_tuple(dilation, 2, "dilation", op)
    padding = int_tuple(padding, 2, "padding", op, minimum=0)
    stride = int_tuple(stride, 2, "stride", op)
    pairs = tuple((p, p) for p in padding)
    blocks = output_spatial(op, image_size, kernel, stride, pairs, dilation)
    return kernel, dilation, pairs, stride, blocks


def _geometry(n, channels, image_size, kernel, dilation, pairs, stride, dtype):
    """The ConvGeometry of the 3-D kernels for a 2-D window (singleton depth axis)."""
    return ConvGeometry(input_shape=(n, channels, 1) + tuple(image_size), weight_shape=(1, channels, 1) + kernel,
                        stride=(1,) + stride, padding=((0, 0),) + pairs, dilation=(1,) + dilation, groups=1,
                        dtype=dtype, spatial_dims=2)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Extract sliding blocks (im2col), PyTorch's F.unfold.

    input: (N, C, H, W) (or (C, H, W)) -> (N, C*kh*kw, L) (or (C*kh*kw, L)), L = oH * oW with
    oH = floor((H + 2 p_h - d_h (kh - 1) - 1) / s_h) + 1 (oW alike), the conv2d output size.
    kernel_size, dilation, padding (zeros, both sides), stride: an int or a pair (h, w).
    """
    op = "unfold"
    dtype = common_float_dtype(op, input=input)
    shape = shape_of(input)
    if len(shape) not in (3, 4) or 0 in shape[-3:]:
        raise ValueError(f"{op}: input must be (N, C, H, W) or (C, H, W) with non-empty C, H, W, "
                         f"got shape {shape}")
    batched = shape if len(shape) == 4 else (1,) + shape
    kernel, dilation, pairs, stride, blocks = _window(op, batched[2:], kernel_size, dilation, padding, stride)
    check_bytes(op, batched[0] * batched[1] * math.prod(kernel) * math.prod(blocks) * np.dtype(dtype).itemsize)
    geometry = _geometry(*batched[:2], batched[2:], kernel, dilation, pairs, stride, dtype)
    out = Unfold.apply(reshape(input, batched), geometry)
    return out if len(shape) == 4 else reshape(out, out.shape[1:])


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Combine sliding blocks into an image (col2im), PyTorch's F.fold: the adjoint of unfold.

    input: (N, C*kh*kw, L) (or (C*kh*kw, L)) -> (N, C, H, W) (or (C, H, W)), (H, W) = output_size,
    L the number of blocks unfold takes from an H x W image with the same settings. Each column
    entry is added to the pixel it would have been read from; overlaps sum.
    """
    op = "fold"
    dtype = common_float_dtype(op, input=input)
    shape = shape_of(input)
    if len(shape) not in (2, 3):
        raise ValueError(f"{op}: input must be (N, C*kh*kw, L) or (C*kh*kw, L), got shape {shape}")
    batched = shape if len(shape) == 3 else (1,) + shape
    image_size = int_tuple(output_size, 2, "output_size", op)
    kernel, dilation, pairs, stride, blocks = _window(op, image_size, kernel_size, dilation, padding, stride)
    taps = kernel[0] * kernel[1]
    if batched[1] == 0 or batched[1] % taps:
        raise ValueError(f"{op}: input's dimension 1 ({batched[1]}) must be a positive multiple of "
                         f"kh*kw = {taps} (C*kh*kw for kernel_size {kernel})")
    if batched[2] != blocks[0] * blocks[1]:
        raise ValueError(f"{op}: output_size {image_size} with kernel_size {kernel}, dilation {dilation}, "
                         f"padding {tuple(p for p, _ in pairs)} and stride {stride} has "
                         f"{blocks[0]}x{blocks[1]} = {blocks[0] * blocks[1]} blocks, but input has "
                         f"L = {batched[2]} (input's dimension 2)")
    geometry = _geometry(batched[0], batched[1] // taps, image_size, kernel, dilation, pairs, stride, dtype)
    out = Fold.apply(reshape(input, batched), geometry)
    return out if len(shape) == 3 else reshape(out, out.shape[1:])
