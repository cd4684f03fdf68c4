"""Pooling: max and average pooling (1-D, 2-D, 3-D), adaptive pooling, global average pooling and
max-unpooling, with PyTorch's semantics.

Shapes: input (N, C, *S) or unbatched (C, *S), S the 1, 2 or 3 spatial sizes; the batch may be
empty, no other axis. Along each spatial axis of size L, with kernel k, stride s, padding p and
dilation d, the output size is (minicnn.kernels.output_length, shared with the convolutions)

    out = floor_or_ceil((L + 2p - d(k - 1) - 1) / s) + 1

and with ceil_mode a last window that would start in the right padding is dropped (PyTorch's
rule: every window starts inside the input or the left padding). Padding may be at most half
the kernel (p <= k // 2), so that every window touches the input.

The kernels (minicnn.kernels.pool) see a stack of (D, H, W) planes; lower-dimensional pooling
is padded out with singleton axes and a 1-wide window there.
"""
from __future__ import annotations

import math

import numpy as np

from ..kernels import pool as kernels
from ..tensor import Function, as_array
from .checks import (LAYOUTS, check_bytes, check_rank, float_array, int_tuple, integer_array, is_batched, is_int,
                     output_spatial)
from .reduction import mean


# ---- shape helpers -------------------------------------------------------------------------
def _split_input(op: str, input, spatial_dims: int):
    """Check input is (N, C, *S) or (C, *S) floating; return (array, leading shape, spatial shape)."""
    array = float_array(op, "input", input)
    is_batched(op, array.shape, spatial_dims)
    return array, array.shape[:-spatial_dims], array.shape[-spatial_dims:]


def _as_3d(values: tuple, fill: int) -> tuple:
    return (fill,) * (3 - len(values)) + values


def _pool_geometry(op, spatial, kernel_size, stride, padding, dilation, ceil_mode):
    """Validate a pooling window against the input and return (kernel, stride, padding,
    dilation, out) tuples, each of length len(spatial)."""
    spatial_dims = len(spatial)
    kernel = int_tuple(kernel_size, spatial_dims, "kernel_size", op)
    stride = kernel if stride is None or stride == () else int_tuple(stride, spatial_dims, "stride", op)
    padding = int_tuple(padding, spatial_dims, "padding", op, minimum=0)
    dilation = int_tuple(dilation, spatial_dims, "dilation", op)
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel size {kernel} "
                         f"(padding <= kernel_size // 2, as PyTorch)")
    out = output_spatial(op, spatial, kernel, stride, tuple((p, p) for p in padding), dilation,
                         bool(ceil_mode))
    return kernel, stride, padding, dilation, out


def _planes(array, spatial):
    """(…, *S) -> contiguous (P, D, H, W) with singleton leading spatial axes."""
    return np.ascontiguousarray(array.reshape((-1,) + _as_3d(tuple(spatial), 1)))


def _window_kernel(kernel, outputs: int, window: tuple):
    """The build of a windowed pooling kernel for `outputs` windows of `window` taps: their
    parallel thresholds count window reads (outputs x taps), the work, which a 3x3 window with
    stride 2 makes 2.25 times the input size."""
    return kernel.for_size(outputs * math.prod(window))


# ---- max pooling ---------------------------------------------------------------------------
class MaxPool(Function):
    """Max over each window; outputs (values, flat in-plane argmax). Backward scatters the
    gradient to the argmax: one element per window, the first maximum in scan order."""

    @staticmethod
    def forward(ctx, x, kernel, stride, padding, dilation, out_size):
        lead, spatial = x.shape[:-len(kernel)], x.shape[-len(kernel):]
        max_pool_forward = _window_kernel(kernels.max_pool_forward, math.prod(lead + out_size), kernel)
        out, argmax = max_pool_forward(
            _planes(x, spatial), *_as_3d(kernel, 1), *_as_3d(stride, 1), *_as_3d(padding, 0),
            *_as_3d(dilation, 1), *_as_3d(out_size, 1))
        ctx.save_for_backward(argmax)
        ctx.shape, ctx.spatial_dims = x.shape, len(kernel)
        return out.reshape(lead + out_size), argmax.reshape(lead + out_size)

    @staticmethod
    def backward(ctx, grad, _grad_indices):
        (argmax,) = ctx.saved_tensors
        return _scatter_to_argmax(grad, argmax, ctx.shape, ctx.spatial_dims), None, None, None, None, None


def _scatter_to_argmax(grad, argmax, shape, spatial_dims):
    """The backward of every max pooling: grad goes to the recorded argmax of its plane.
    argmax: (P, oD, oH, oW); shape: the input's, its last `spatial_dims` axes a plane."""
    # sizes spelled out rather than -1, which NumPy cannot infer for an empty batch
    P, outputs = argmax.shape[0], math.prod(argmax.shape[1:])
    grad_x = kernels.scatter_add_planes(np.ascontiguousarray(grad.reshape(P, outputs)),
                                        argmax.reshape(P, outputs), math.prod(shape[-spatial_dims:]))
    return grad_x.reshape(shape)


def _max_pool(op, spatial_dims, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    _, _, spatial = _split_input(op, input, spatial_dims)
    geometry = _pool_geometry(op, spatial, kernel_size, stride, padding, dilation, ceil_mode)
    out, indices = MaxPool.apply(input, *geometry)
    return (out, indices) if return_indices else out


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """1-D max pooling: (N, C, L) -> (N, C, L_out); see max_pool2d."""
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-D max pooling.

    out[n, c, i, j] = max_{a, b} x[n, c, i*sH - pH + a*dH, j*sW - pW + b*dW]  (padding is -inf)

    (N, C, H, W) -> (N, C, H_out, W_out) (sizes in the module docstring); stride defaults to the
    kernel. AlexNet's overlapping pooling is kernel_size=3, stride=2. With return_indices=True
    also returns the int64 position of each maximum, flattened within its (H, W) plane
    (h * W + w), for max_unpool2d: the "switches" of Zeiler and Fergus's deconvnet.
    """
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """3-D max pooling: (N, C, D, H, W) -> (N, C, D_out, H_out, W_out); see max_pool2d
    (indices are d * H * W + h * W + w)."""
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


# ---- average pooling -----------------------------------------------------------------------
class AvgPool(Function):
    """Mean over each window; backward spreads grad / divisor back over the window."""

    @staticmethod
    def forward(ctx, x, kernel, stride, padding, out_size, count_include_pad, divisor_override):
        lead, spatial = x.shape[:-len(kernel)], x.shape[-len(kernel):]
        settings = (*_as_3d(kernel, 1), *_as_3d(stride, 1), *_as_3d(padding, 0))
        ctx.settings, ctx.shape, ctx.spatial = settings, x.shape, spatial
        ctx.divisor = (int(count_include_pad), int(divisor_override or 0))
        avg_pool_forward = _window_kernel(kernels.avg_pool_forward, math.prod(lead + out_size), kernel)
        out = avg_pool_forward(_planes(x, spatial), *settings, *_as_3d(out_size, 1), *ctx.divisor)
        return out.reshape(lead + out_size)

    @staticmethod
    def backward(ctx, grad):
        spatial_dims = len(ctx.spatial)
        planes = np.ascontiguousarray(grad.reshape((-1,) + _as_3d(grad.shape[-spatial_dims:], 1)))
        avg_pool_backward = _window_kernel(kernels.avg_pool_backward, grad.size, ctx.settings[:3])
        grad_x = avg_pool_backward(planes, *_as_3d(tuple(ctx.spatial), 1), *ctx.settings, *ctx.divisor)
        return grad_x.reshape(ctx.shape), None, None, None, None, None, None


def _avg_pool(op, spatial_dims, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    _, _, spatial = _split_input(op, input, spatial_dims)
    kernel, stride, padding, _, out = _pool_geometry(op, spatial, kernel_size, stride, padding, 1,
                                                     ceil_mode)
    if divisor_override is not None:
        divisor_override = int_tuple(divisor_override, 1, "divisor_override", op)[0]
    return AvgPool.apply(input, kernel, stride, padding, out, bool(count_include_pad),
                         divisor_override)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """1-D average pooling: (N, C, L) -> (N, C, L_out); see avg_pool2d."""
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """2-D average pooling.

    out[n, c, i, j] = sum_{window} x / divisor, padding counted as zeros.

    (N, C, H, W) -> (N, C, H_out, W_out). The divisor is divisor_override if given; otherwise
    the number of window positions inside the padded input (count_include_pad=True) or inside
    the input only (False). A ceil_mode window that runs past the padding counts only up to it.
    """
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """3-D average pooling: (N, C, D, H, W) -> (N, C, D_out, H_out, W_out); see avg_pool2d."""
    return _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


# ---- adaptive and global pooling -----------------------------------------------------------
class AdaptiveAvgPool(Function):
    @staticmethod
    def forward(ctx, x, out_size):
        lead, spatial = x.shape[:-len(out_size)], x.shape[-len(out_size):]
        ctx.shape, ctx.spatial = x.shape, spatial
        out = kernels.adaptive_avg_pool_forward(_planes(x, spatial), *_as_3d(out_size, 1))
        return out.reshape(lead + out_size)

    @staticmethod
    def backward(ctx, grad):
        spatial_dims = len(ctx.spatial)
        planes = np.ascontiguousarray(grad.reshape((-1,) + _as_3d(grad.shape[-spatial_dims:], 1)))
        grad_x = kernels.adaptive_avg_pool_backward(planes, *_as_3d(tuple(ctx.spatial), 1))
        return grad_x.reshape(ctx.shape), None


class AdaptiveMaxPool(Function):
    @staticmethod
    def forward(ctx, x, out_size):
        lead, spatial = x.shape[:-len(out_size)], x.shape[-len(out_size):]
        out, argmax = kernels.adaptive_max_pool_forward(_planes(x, spatial), *_as_3d(out_size, 1))
        ctx.save_for_backward(argmax)
        ctx.shape, ctx.spatial_dims = x.shape, len(out_size)
        return out.reshape(lead + out_size), argmax.reshape(lead + out_size)

    @staticmethod
    def backward(ctx, grad, _grad_indices):
        (argmax,) = ctx.saved_tensors
        return _scatter_to_argmax(grad, argmax, ctx.shape, ctx.spatial_dims), None


def _adaptive_sizes(op, spatial, output_size):
    """output_size as a tuple; None entries keep the input size (PyTorch)."""
    spatial_dims = len(spatial)
    sizes = (output_size,) * spatial_dims if output_size is None or is_int(output_size) else output_size
    if not isinstance(sizes, (tuple, list)) or len(sizes) != spatial_dims:
        raise TypeError(f"{op}: output_size must be an int or a tuple of {spatial_dims}, got {output_size!r}")
    return int_tuple(tuple(L if o is None else o for o, L in zip(sizes, spatial)), spatial_dims, "output_size", op)


def _adaptive_pool(op, spatial_dims, function, input, output_size):
    array, lead, spatial = _split_input(op, input, spatial_dims)
    sizes = _adaptive_sizes(op, spatial, output_size)
    check_bytes(op, math.prod(lead + sizes) * array.dtype.itemsize)
    return function.apply(input, sizes)


def adaptive_avg_pool1d(input, output_size):
    """(N, C, L) -> (N, C, output_size); see adaptive_avg_pool2d."""
    return _adaptive_pool("adaptive_avg_pool1d", 1, AdaptiveAvgPool, input, output_size)


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size: (N, C, H, W) -> (N, C, oH, oW).

    Output i of an axis of size L averages input positions floor(i L / o) .. ceil((i+1) L / o) - 1
    (PyTorch's windows). output_size 1 is global average pooling (NiN, GoogLeNet, ResNet).
    """
    return _adaptive_pool("adaptive_avg_pool2d", 2, AdaptiveAvgPool, input, output_size)


def adaptive_avg_pool3d(input, output_size):
    """(N, C, D, H, W) -> (N, C, oD, oH, oW); see adaptive_avg_pool2d."""
    return _adaptive_pool("adaptive_avg_pool3d", 3, AdaptiveAvgPool, input, output_size)


def _adaptive_max(op, spatial_dims, input, output_size, return_indices):
    out, indices = _adaptive_pool(op, spatial_dims, AdaptiveMaxPool, input, output_size)
    return (out, indices) if return_indices else out


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """(N, C, L) -> (N, C, output_size); see adaptive_max_pool2d."""
    return _adaptive_max("adaptive_max_pool1d", 1, input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed output size: (N, C, H, W) -> (N, C, oH, oW), windows as in
    adaptive_avg_pool2d; return_indices as in max_pool2d."""
    return _adaptive_max("adaptive_max_pool2d", 2, input, output_size, return_indices)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """(N, C, D, H, W) -> (N, C, oD, oH, oW); see adaptive_max_pool2d."""
    return _adaptive_max("adaptive_max_pool3d", 3, input, output_size, return_indices)


def global_avg_pool2d(input):
    """Global average pooling: (N, C, H, W) -> (N, C), the mean of each channel's plane.

    The classifier head of NiN, GoogLeNet and ResNet; equals adaptive_avg_pool2d(x, 1) flattened.
    """
    op = "global_avg_pool2d"
    check_rank(op, "input", float_array(op, "input", input).shape, 4, LAYOUTS[2])
    return mean(input, (2, 3))


# ---- max-unpooling -------------------------------------------------------------------------
class MaxUnpool(Function):
    """Put each value at its recorded position in a zero plane; backward gathers it back."""

    @staticmethod
    def forward(ctx, x, indices, out_spatial):
        spatial_dims = len(out_spatial)
        lead = x.shape[:-spatial_dims]
        # sizes spelled out rather than -1, which NumPy cannot infer for an empty batch
        P, values, plane = math.prod(lead), math.prod(x.shape[-spatial_dims:]), math.prod(out_spatial)
        flat_index = np.ascontiguousarray(indices.reshape(P, values), dtype=np.int64)
        ctx.save_for_backward(flat_index)
        ctx.shape, ctx.plane = x.shape, plane
        out = kernels.unpool_forward(np.ascontiguousarray(x.reshape(P, values)), flat_index, plane)
        return out.reshape(lead + out_spatial)

    @staticmethod
    def backward(ctx, grad):
        (flat_index,) = ctx.saved_tensors
        grad_planes = np.ascontiguousarray(grad.reshape(flat_index.shape[0], ctx.plane))
        grad_x = kernels.unpool_backward(grad_planes, flat_index)
        return grad_x.reshape(ctx.shape), None, None


def _max_unpool(op, spatial_dims, input, indices, kernel_size, stride, padding, output_size):
    array, _, spatial = _split_input(op, input, spatial_dims)
    index = integer_array(op, "indices", indices)
    if index.shape != array.shape:
        raise ValueError(f"{op}: indices have shape {index.shape} but the input has {array.shape}")
    kernel = int_tuple(kernel_size, spatial_dims, "kernel_size", op)
    stride = kernel if stride is None else int_tuple(stride, spatial_dims, "stride", op)
    padding = int_tuple(padding, spatial_dims, "padding", op, minimum=0)
    if output_size is None:
        out = tuple((L - 1) * s - 2 * p + k for L, k, s, p in zip(spatial, kernel, stride, padding))
    else:
        if not isinstance(output_size, (tuple, list)) or len(output_size) < spatial_dims:
            raise TypeError(f"{op}: output_size must be a tuple of {spatial_dims} spatial sizes (or the whole shape), "
                            f"got {output_size!r}")
        out = int_tuple(tuple(output_size)[-spatial_dims:], spatial_dims, "output_size", op)
    if any(o < 1 for o in out):
        raise ValueError(f"{op}: output size {out} is not positive")
    plane = math.prod(out)
    check_bytes(op, math.prod(array.shape[:-spatial_dims]) * plane * array.dtype.itemsize)
    if index.size and (index.min() < 0 or index.max() >= plane):
        raise ValueError(f"{op}: indices range over {index.min()}..{index.max()}, outside the "
                         f"output plane {out} of {plane} positions")
    return MaxUnpool.apply(input, index, out)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """(N, C, L) -> (N, C, L_out); see max_unpool2d."""
    return _max_unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The partial inverse of max_pool2d: each value goes back to the position of its maximum.

    out[n, c].flat[indices[n, c, i, j]] = input[n, c, i, j], every other position 0.
    (N, C, H, W) -> (N, C, H_out, W_out), H_out = (H - 1) * stride - 2 * padding + kernel unless
    output_size (the pooled layer's input size, (H_out, W_out) or the full shape) is given.
    Zeiler and Fergus's deconvnet uses these switches to place reconstructions.

    If overlapping windows chose the same position, the output holds the value written last in
    scan order (they are equal when they come from max pooling) and the gradient goes to that
    one value, the exact derivative (PyTorch gathers the gradient into every duplicate).
    """
    return _max_unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """(N, C, D, H, W) -> (N, C, D_out, H_out, W_out); see max_unpool2d."""
    return _max_unpool("max_unpool3d", 3, input, indices, kernel_size, stride, padding, output_size)
