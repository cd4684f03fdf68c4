"""Convolutions: conv1d/2d/3d, conv_transpose1d/2d/3d, local_conv2d (unshared) and tiled_conv2d.

Every op here is a Function over the kernels in minicnn.kernels. The ordinary convolutions all go
through one Function, `Conv`, on 5-D arrays: a 1-D or 2-D convolution is a 3-D one with singleton
depth (and height) axes, so there is one piece of code per pass, whatever the rank. Which kernel
runs is chosen by `algorithm=` from `minicnn.kernels.ALGORITHMS` ("auto" picks per shape).
"""
from __future__ import annotations

import numpy as np

from ..kernels import ConvGeometry, get_algorithm, im2col
from ..tensor import Function
from .checks import (LAYOUTS, check_rank, common_float_dtype, float_array, int_tuple, is_batched, is_int,
                     output_spatial, padding_pairs, shape_of)
from .arithmetic import add
from .shape import getitem, pad, reshape

WEIGHT_LAYOUTS = {1: "(Cout, Cin/groups, kW)", 2: "(Cout, Cin/groups, kH, kW)",
                  3: "(Cout, Cin/groups, kD, kH, kW)"}


def _kernel_array(a: np.ndarray, shape: tuple) -> np.ndarray:
    """`a` reshaped to `shape`, C-contiguous and writeable: the one array type the Numba kernels
    are compiled for (a read-only or strided view would compile another specialisation)."""
    a = np.ascontiguousarray(a).reshape(shape)
    return a if a.flags.writeable else a.copy()


def _promote(values: tuple, fill) -> tuple:
    """Per-axis values of a 1-D or 2-D op as the 3-D layout's (depth, height, width) triple."""
    return (fill,) * (3 - len(values)) + tuple(values)


def _as_3d_shape(shape: tuple) -> tuple:
    """(N, C, *spatial) with singleton axes inserted so that there are three spatial axes."""
    return tuple(shape[:2]) + _promote(tuple(shape[2:]), 1)


def _check_groups(op: str, groups) -> int:
    if not is_int(groups):
        raise TypeError(f"{op}: groups must be an int, got {groups!r}")
    if groups < 1:
        raise ValueError(f"{op}: groups must be positive, got {groups}")
    return int(groups)


def _check_bias(op: str, bias, shape: tuple) -> None:
    if bias is not None and shape_of(bias) != shape:
        raise ValueError(f"{op}: bias must have shape {shape}, got {shape_of(bias)}")


def _geometry(x_shape, w_shape, stride, pairs, dilation, groups, dtype, spatial_dims) -> ConvGeometry:
    return ConvGeometry(input_shape=_as_3d_shape(x_shape), weight_shape=_as_3d_shape(w_shape),
                        stride=_promote(stride, 1), padding=_promote(pairs, (0, 0)),
                        dilation=_promote(dilation, 1), groups=groups, dtype=dtype, spatial_dims=spatial_dims)


# ---- ordinary convolution ------------------------------------------------------------------------
class Conv(Function):
    """y = conv(x, weight) + bias in any rank; `geometry` and `algorithm` are fixed by the wrapper."""

    @staticmethod
    def forward(ctx, x, weight, bias, geometry, algorithm):
        x5 = _kernel_array(x, geometry.input_shape)
        w5 = _kernel_array(weight, geometry.weight_shape)
        ctx.save_for_backward(x5, w5)
        ctx.geometry, ctx.algorithm, ctx.shapes = geometry, algorithm, (x.shape, weight.shape)
        ctx.has_bias = bias is not None
        y = algorithm.forward(x5, w5, geometry)
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1, 1)
        n, c_out = geometry.output_shape[:2]
        return y.reshape((n, c_out) + geometry.output_spatial[3 - geometry.spatial_dims:])

    @staticmethod
    def backward(ctx, grad_y):
        x5, w5 = ctx.saved_tensors
        geometry, algorithm = ctx.geometry, ctx.algorithm
        grad_y = _kernel_array(grad_y, geometry.output_shape)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = algorithm.backward_data(grad_y, w5, geometry).reshape(ctx.shapes[0])
        if ctx.needs_input_grad[1]:
            grad_w = algorithm.backward_weight(x5, grad_y, geometry).reshape(ctx.shapes[1])
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_y.sum(axis=(0, 2, 3, 4))
        return grad_x, grad_w, grad_b, None, None


def conv_geometry(op: str, x, weight, bias, stride, padding, dilation, groups, spatial_dims: int) -> ConvGeometry:
    """Check the arguments of a `spatial_dims`-D convolution and describe it for the kernels.

    Raises TypeError/ValueError naming `op` and the offending values: wrong rank or dtype, channel
    counts that do not match `groups`, non-positive stride or dilation, negative padding, a kernel
    larger than the padded input.
    """
    dtype = common_float_dtype(op, input=x, weight=weight, bias=bias)
    xs, ws = shape_of(x), shape_of(weight)
    check_rank(op, "input", xs, spatial_dims + 2, LAYOUTS[spatial_dims])
    check_rank(op, "weight", ws, spatial_dims + 2, WEIGHT_LAYOUTS[spatial_dims])
    groups = _check_groups(op, groups)
    c_in, c_out = xs[1], ws[0]
    if c_in % groups or c_out % groups:
        raise ValueError(f"{op}: groups={groups} must divide both the input channels ({c_in}) "
                         f"and the output channels ({c_out})")
    if c_in != ws[1] * groups:
        raise ValueError(f"{op}: input has {c_in} channels but weight expects {ws[1] * groups} "
                         f"(weight.shape[1]={ws[1]} x groups={groups})")
    _check_bias(op, bias, (c_out,))
    stride = int_tuple(stride, spatial_dims, "stride", op)
    dilation = int_tuple(dilation, spatial_dims, "dilation", op)
    pairs = padding_pairs(padding, ws[2:], stride, dilation, op)
    output_spatial(op, xs[2:], ws[2:], stride, pairs, dilation)
    return _geometry(xs, ws, stride, pairs, dilation, groups, dtype, spatial_dims)


def as_batch(op: str, input, spatial_dims: int):
    """(input as a batch (N, C, *spatial), whether it was one): an unbatched (C, *spatial) sample
    becomes a batch of one, as PyTorch accepts both; `unbatch` undoes it on the output."""
    float_array(op, "input", input)
    if is_batched(op, shape_of(input), spatial_dims):
        return input, True
    return reshape(input, (1,) + shape_of(input)), False


def unbatch(output, batched: bool):
    """The output of an op given `as_batch(...)`'s input, unbatched again if the input was."""
    return output if batched else reshape(output, shape_of(output)[1:])


def _conv(op, spatial_dims, input, weight, bias, stride, padding, dilation, groups, algorithm):
    x, batched = as_batch(op, input, spatial_dims)
    geometry = conv_geometry(op, x, weight, bias, stride, padding, dilation, groups, spatial_dims)
    return unbatch(Conv.apply(x, weight, bias, geometry, get_algorithm(algorithm, geometry, op)), batched)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, algorithm="auto"):
    """1-D convolution (cross-correlation, as in PyTorch) of x with weight, in `groups` groups.

    y[n, co, o] = bias[co] + sum_{ci, k} weight[co, ci, k] * x_pad[n, g*Cin/G + ci, o*s + k*d]
    with g = co // (Cout/G). x: (N, Cin, W) or unbatched (Cin, W), weight: (Cout, Cin/groups, kW),
    bias: (Cout,) -> (N, Cout, oW) (or (Cout, oW)), oW = floor((W + p_left + p_right - d(kW-1) - 1) / s) + 1.

    padding: an int, (p,), ((left, right),), or "valid", "same" (stride 1) or "full".
    algorithm: "auto", or a name in minicnn.kernels.ALGORITHMS ("direct", "im2col", ...).
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups, algorithm)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, algorithm="auto"):
    """2-D convolution (cross-correlation, as in PyTorch) of x with weight, in `groups` groups.

    y[n, co, i, j] = bias[co] + sum_{ci, a, b} weight[co, ci, a, b]
                                               * x_pad[n, g*Cin/G + ci, i*s_h + a*d_h, j*s_w + b*d_w]
    with g = co // (Cout/G). x: (N, Cin, H, W) or unbatched (Cin, H, W), weight: (Cout, Cin/groups, kH, kW),
    bias: (Cout,) -> (N, Cout, oH, oW) (or (Cout, oH, oW)),
    oH = floor((H + p_top + p_bottom - d_h(kH-1) - 1) / s_h) + 1 (oW alike).

    stride, dilation: an int or (h, w). padding: an int, (p_h, p_w), ((top, bottom), (left, right)),
    or "valid" (none), "same" (output size = input size; stride 1) or "full" (d(k-1) each side).
    algorithm: "auto", or a name in minicnn.kernels.ALGORITHMS ("direct", "im2col", ...).

    >>> y = conv2d(x, w, stride=2, padding="valid")        # doctest: +SKIP
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups, algorithm)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, algorithm="auto"):
    """3-D convolution (cross-correlation) of x with weight, in `groups` groups.

    x: (N, Cin, D, H, W) or unbatched (Cin, D, H, W), weight: (Cout, Cin/groups, kD, kH, kW), bias: (Cout,)
    -> (N, Cout, oD, oH, oW) (or (Cout, oD, oH, oW)), each size floor((n + p_before + p_after - d(k-1) - 1) / s) + 1.
    stride, dilation, padding as in conv2d, with three axes (d, h, w).
    """
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups, algorithm)


# ---- transposed convolution -------------------------------------------------------------------
class ConvTranspose(Function):
    """The adjoint of Conv: its forward is conv's data gradient, its data gradient conv's forward.

    `geometry` describes the convolution this op transposes: from the (larger) output of this op
    to its input.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, geometry, algorithm):
        x5 = _kernel_array(x, geometry.output_shape)
        w5 = _kernel_array(weight, geometry.weight_shape)
        ctx.save_for_backward(x5, w5)
        ctx.geometry, ctx.algorithm, ctx.shapes = geometry, algorithm, (x.shape, weight.shape)
        ctx.has_bias = bias is not None
        y = algorithm.backward_data(x5, w5, geometry)
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1, 1)
        n, c_out = geometry.input_shape[:2]
        return y.reshape((n, c_out) + geometry.input_shape[5 - geometry.spatial_dims:])

    @staticmethod
    def backward(ctx, grad_y):
        x5, w5 = ctx.saved_tensors
        geometry, algorithm = ctx.geometry, ctx.algorithm
        grad_y = _kernel_array(grad_y, geometry.input_shape)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = algorithm.forward(grad_y, w5, geometry).reshape(ctx.shapes[0])
        if ctx.needs_input_grad[1]:
            grad_w = algorithm.backward_weight(grad_y, x5, geometry).reshape(ctx.shapes[1])
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_y.sum(axis=(0, 2, 3, 4))
        return grad_x, grad_w, grad_b, None, None


TRANSPOSED_WEIGHT_LAYOUTS = {1: "(Cin, Cout/groups, kW)", 2: "(Cin, Cout/groups, kH, kW)",
                             3: "(Cin, Cout/groups, kD, kH, kW)"}


def transpose_padding(op, padding, output_padding, kernel, stride, dilation) -> tuple:
    """(padding pairs, output_padding) of a transposed convolution, checked: an int or tuple
    padding (no string modes), and 0 <= output_padding < max(stride, dilation) per axis."""
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a tuple, got {padding!r} "
                         "(the string modes belong to the forward convolutions)")
    pairs = padding_pairs(padding, kernel, stride, dilation, op)
    extra = int_tuple(output_padding, len(kernel), "output_padding", op, minimum=0)
    if any(e >= max(s, d) for e, s, d in zip(extra, stride, dilation)):
        raise ValueError(f"{op}: output_padding {extra} must be smaller than the stride {stride} "
                         f"or the dilation {dilation}")
    return pairs, extra


def _conv_transpose(op, dims, input, weight, bias, stride, padding, output_padding, groups, dilation, algorithm):
    """Check the arguments of a `dims`-D transposed convolution and run it (see conv_transpose2d)."""
    x, batched = as_batch(op, input, dims)
    dtype = common_float_dtype(op, input=x, weight=weight, bias=bias)
    xs, ws = shape_of(x), shape_of(weight)
    check_rank(op, "input", xs, dims + 2, LAYOUTS[dims])
    check_rank(op, "weight", ws, dims + 2, TRANSPOSED_WEIGHT_LAYOUTS[dims])
    groups = _check_groups(op, groups)
    if xs[1] != ws[0]:
        raise ValueError(f"{op}: input has {xs[1]} channels but weight expects {ws[0]} (weight.shape[0])")
    if xs[1] % groups:
        raise ValueError(f"{op}: groups={groups} must divide the input channels ({xs[1]})")
    c_out = ws[1] * groups
    _check_bias(op, bias, (c_out,))
    stride = int_tuple(stride, dims, "stride", op)
    dilation = int_tuple(dilation, dims, "dilation", op)
    pairs, extra = transpose_padding(op, padding, output_padding, ws[2:], stride, dilation)
    out = tuple((n - 1) * s - before - after + d * (k - 1) + e + 1
                for n, s, (before, after), d, k, e in zip(xs[2:], stride, pairs, dilation, ws[2:], extra))
    # The convolution being transposed maps (N, Cout, *out) to (N, Cin, *in) with this very weight,
    # when output_padding < stride. A larger one (allowed below the dilation) adds whole strides
    # that the convolution would turn into extra outputs: they come off its padding after, and what
    # the padding cannot absorb lies past every position a kernel tap reaches, so it is zero (+ bias).
    strides_over = tuple(e // s * s for e, s in zip(extra, stride))
    conv_pairs = tuple((before, max(after - q, 0)) for (before, after), q in zip(pairs, strides_over))
    beyond = tuple(max(q - after, 0) for (_, after), q in zip(pairs, strides_over))
    reached = tuple(o - z for o, z in zip(out, beyond))
    if min(reached) < 1:
        raise ValueError(f"{op}: padding {padding!r} removes the whole output (size would be {reached}) "
                         f"for input {xs} and kernel {ws[2:]}")
    geometry = _geometry((xs[0], c_out) + reached, ws, stride, conv_pairs, dilation, groups, dtype, dims)
    algorithm = get_algorithm(algorithm, geometry, op)
    if not any(beyond):
        return unbatch(ConvTranspose.apply(x, weight, bias, geometry, algorithm), batched)
    widths = tuple(w for z in reversed(beyond) for w in (0, z))  # F.pad's order: last axis first
    y = pad(ConvTranspose.apply(x, weight, None, geometry, algorithm), widths)
    return unbatch(y if bias is None else add(y, reshape(bias, (c_out,) + (1,) * dims)), batched)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                     algorithm="auto"):
    """Transposed 1-D convolution, the adjoint of conv1d (see conv_transpose2d for the maths).

    input: (N, Cin, W) or unbatched (Cin, W), weight: (Cin, Cout/groups, kW), bias: (Cout,)
    -> (N, Cout, oW), oW = (W-1)*s - p_left - p_right + d(kW-1) + output_padding + 1.
    """
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding, groups,
                           dilation, algorithm)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                     algorithm="auto"):
    """Transposed 2-D convolution ("deconvolution", Zeiler & Fergus 2014): the adjoint of conv2d.

    Each input pixel scatters a copy of its kernel, scaled by its value, onto the output at
    stride s: y[n, g*Cout/G + co, i*s - p + a*d, ...] += x[n, ci, i, ...] * weight[ci, co, a, ...].
    It is exactly the gradient of conv2d with respect to its input, so
    <conv2d(z, w), x> = <z, conv_transpose2d(x, w)> for every z, x of matching shapes.

    x: (N, Cin, H, W) or unbatched (Cin, H, W), weight: (Cin, Cout/groups, kH, kW) (PyTorch's layout),
    bias: (Cout,) -> (N, Cout, oH, oW) (or (Cout, oH, oW)),
    oH = (H-1)*s_h - p_top - p_bottom + d_h(kH-1) + output_padding_h + 1.

    padding: an int, (p_h, p_w) or ((top, bottom), (left, right)); it removes rows and columns
    from the border of the output. output_padding (< max(stride, dilation), PyTorch's rule) adds
    them back on the bottom/right,
    to reach the one input size of the conv2d being transposed when several map to the same size.
    """
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding, groups,
                           dilation, algorithm)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                     algorithm="auto"):
    """Transposed 3-D convolution, the adjoint of conv3d (see conv_transpose2d for the maths).

    input: (N, Cin, D, H, W) or unbatched (Cin, D, H, W), weight: (Cin, Cout/groups, kD, kH, kW),
    bias: (Cout,) -> (N, Cout, oD, oH, oW), each size (n-1)*s - p_before - p_after + d(k-1) + output_padding + 1.
    """
    return _conv_transpose("conv_transpose3d", 3, input, weight, bias, stride, padding, output_padding, groups,
                           dilation, algorithm)


# ---- unshared (locally connected) and tiled convolution ---------------------------------------
class LocalConv(Function):
    """Unshared convolution: the columns of im2col, each multiplied by its own weight matrix.

    With X_l the (C*kH*kW, N) receptive fields of output position l and W_l its (Cout, C*kH*kW)
    weights, Y_l = W_l X_l: one batched matrix product over the positions, and backward
    dX_l = W_l^T dY_l (then col2im), dW_l = dY_l X_l^T.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, geometry):
        n, c_out = geometry.output_shape[:2]
        out_h, out_w = geometry.output_spatial[1:]
        cols = im2col.columns(_kernel_array(x, geometry.input_shape), geometry)
        cols = cols.transpose(2, 1, 0)  # (N, CK, L) -> (L, CK, N)
        weights = weight.reshape(out_h * out_w, c_out, -1)  # (L, Cout, CK)
        ctx.save_for_backward(cols, weights)
        ctx.geometry, ctx.shapes, ctx.has_bias = geometry, (x.shape, weight.shape), bias is not None
        y = np.matmul(weights, cols)  # (L, Cout, N)
        y = y.transpose(2, 1, 0).reshape(n, c_out, out_h, out_w)
        if bias is not None:
            y = y + bias.transpose(2, 0, 1)
        return np.ascontiguousarray(y)

    @staticmethod
    def backward(ctx, grad_y):
        cols, weights = ctx.saved_tensors
        geometry = ctx.geometry
        n, c_out = grad_y.shape[:2]
        grad_l = grad_y.reshape(n, c_out, cols.shape[0]).transpose(2, 1, 0)  # (L, Cout, N)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_cols = np.matmul(weights.transpose(0, 2, 1), grad_l)  # (L, CK, N)
            grad_x = im2col.columns_to_image(grad_cols.transpose(2, 1, 0), geometry).reshape(ctx.shapes[0])
        if ctx.needs_input_grad[1]:
            grad_w = np.matmul(grad_l, cols.transpose(0, 2, 1)).reshape(ctx.shapes[1])
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_y.sum(axis=0).transpose(1, 2, 0)
        return grad_x, grad_w, grad_b, None


def _local_geometry(op, x, weight, bias, stride, padding, dilation, positions_name):
    """Checks shared by local_conv2d and tiled_conv2d; weight is (P, Q, Cout, Cin, kH, kW)."""
    dtype = common_float_dtype(op, input=x, weight=weight, bias=bias)
    xs, ws = shape_of(x), shape_of(weight)
    check_rank(op, "input", xs, 4, LAYOUTS[2])
    check_rank(op, "weight", ws, 6, f"({positions_name}, Cout, Cin, kH, kW)")
    if ws[0] == 0:
        raise ValueError(f"{op}: weight has an empty dimension: shape {ws}")
    if xs[1] != ws[3]:
        raise ValueError(f"{op}: input has {xs[1]} channels but weight expects {ws[3]} (weight.shape[3])")
    _check_bias(op, bias, tuple(ws[:3]))
    stride = int_tuple(stride, 2, "stride", op)
    dilation = int_tuple(dilation, 2, "dilation", op)
    pairs = padding_pairs(padding, ws[4:], stride, dilation, op)
    out = output_spatial(op, xs[2:], ws[4:], stride, pairs, dilation)
    return _geometry(xs, ws[2:], stride, pairs, dilation, 1, dtype, 2), out


def local_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1):
    """Unshared convolution (a locally connected layer): a different kernel at every output position.

    y[n, co, i, j] = bias[i, j, co] + sum_{ci, a, b} weight[i, j, co, ci, a, b]
                                                   * x_pad[n, ci, i*s_h + a*d_h, j*s_w + b*d_w]

    x: (N, Cin, H, W), weight: (oH, oW, Cout, Cin, kH, kW), i.e. weight[i, j] is the conv2d weight
    used at output position (i, j); bias (optional, one per output unit): (oH, oW, Cout)
    -> (N, Cout, oH, oW). oH, oW follow the conv2d formula and must match weight.shape[:2].
    stride, padding (including "valid"/"same"/"full") and dilation as in conv2d; no groups.
    """
    op = "local_conv2d"
    geometry, out = _local_geometry(op, input, weight, bias, stride, padding, dilation, "oH, oW")
    if tuple(shape_of(weight)[:2]) != out:
        raise ValueError(f"{op}: the output is {out[0]}x{out[1]} positions but weight has kernels for "
                         f"{shape_of(weight)[0]}x{shape_of(weight)[1]} (weight.shape[:2])")
    return LocalConv.apply(input, weight, bias, geometry)


def tiled_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, tile=None):
    """Tiled convolution: t_h x t_w kernels, output position (i, j) using kernel (i mod t_h, j mod t_w).

    Between ordinary convolution (tile (1, 1): one kernel everywhere) and unshared convolution
    (a kernel per position), neighbouring positions get different kernels but the set of kernels
    is small (Goodfellow, Bengio & Courville, Deep Learning, section 9.5). It is local_conv2d with
    the kernels repeated with period (t_h, t_w); biases are tiled the same way.

    x: (N, Cin, H, W), weight: (t_h, t_w, Cout, Cin, kH, kW), bias: (t_h, t_w, Cout)
    -> (N, Cout, oH, oW) as for conv2d. `tile`, if given, must equal weight.shape[:2].
    """
    op = "tiled_conv2d"
    geometry, (out_h, out_w) = _local_geometry(op, input, weight, bias, stride, padding, dilation, "t_h, t_w")
    tiles = tuple(shape_of(weight)[:2])
    if tile is not None and int_tuple(tile, 2, "tile", op) != tiles:
        raise ValueError(f"{op}: tile={tile!r} but weight holds {tiles[0]}x{tiles[1]} kernels (weight.shape[:2])")
    rows = (np.arange(out_h) % tiles[0])[:, None]
    cols = (np.arange(out_w) % tiles[1])[None, :]
    local_bias = None if bias is None else getitem(bias, (rows, cols))
    return LocalConv.apply(input, getitem(weight, (rows, cols)), local_bias, geometry)
