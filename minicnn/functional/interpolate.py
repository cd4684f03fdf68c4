"""Resizing by interpolation: F.interpolate (nearest, linear, bilinear, trilinear), PyTorch's rules.

Nearest and (bi/tri)linear interpolation are separable: resizing (N, C, H, W) is resizing along H,
then along W. Along one axis, each output sample o reads at most two input samples,

    y[o] = l0[o] * x[i0[o]] + l1[o] * x[i1[o]],

so one Function, `Resample`, does every mode and rank: forward gathers, backward scatter-adds the
gradient back to i0 and i1 (two output samples reading the same input sample add up there).

Source coordinates follow PyTorch exactly (aten/src/ATen/native/UpSample.h), including its float32
arithmetic, so the same input gives the same samples:
- nearest: i0 = min(floor(o * scale), n_in - 1), scale = 1 / scale_factor if scale_factor was given,
  else n_in / n_out (computed in float32); when n_out == n_in it copies, and when n_out == 2 n_in,
  i0 = o // 2.
- linear, align_corners=False: x = max(scale * (o + 1/2) - 1/2, 0) (pixel centres aligned);
  align_corners=True: x = o * (n_in - 1) / (n_out - 1) (corner pixels aligned). Then
  i0 = floor(x), i1 = min(i0 + 1, n_in - 1), l1 = x - i0, l0 = 1 - l1; a copy when n_out == n_in.
"""
from __future__ import annotations

import math

import numpy as np

from ..tensor import Function
from .checks import float_array, is_int

LINEAR_MODES = {"linear": 3, "bilinear": 4, "trilinear": 5}  # mode -> the input rank it needs
MODES = ("nearest",) + tuple(LINEAR_MODES)


class Resample(Function):
    """y = sum over terms (index, weight) of weight * x[..., index, ...] along `axis`.

    backward: dx[..., i, ...] = sum over terms and over the o with index[o] == i of weight[o] * dy[o].
    """

    @staticmethod
    def forward(ctx, x, axis, terms):
        shape = [1] * x.ndim
        shape[axis] = -1
        out = sum(np.take(x, index, axis=axis) * weight.reshape(shape) for index, weight in terms)
        ctx.axis, ctx.terms, ctx.size = axis, terms, x.shape[axis]
        return out.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        moved = np.moveaxis(grad, ctx.axis, 0)
        grad_x = np.zeros((ctx.size,) + moved.shape[1:], grad.dtype)
        for index, weight in ctx.terms:
            np.add.at(grad_x, index, moved * weight.reshape((-1,) + (1,) * (moved.ndim - 1)))
        return np.moveaxis(grad_x, 0, ctx.axis), None, None


def _scale(n_in, n_out, scale_factor, dtype):
    """PyTorch's compute_scales_value: 1 / scale_factor if given, else n_in / n_out, in `dtype`."""
    if scale_factor is not None and scale_factor > 0:
        return dtype(1.0 / scale_factor)
    return dtype(n_in) / dtype(n_out)


def nearest_terms(n_in, n_out, scale_factor):
    """The source index of each output sample along one axis, PyTorch's nearest_idx."""
    out = np.arange(n_out)
    if n_out == n_in:
        index = out
    elif n_out == 2 * n_in:
        index = out // 2
    else:
        scale = _scale(n_in, n_out, scale_factor, np.float32)
        index = np.minimum(np.floor(out.astype(np.float32) * scale).astype(np.int64), n_in - 1)
    return ((index, np.ones(n_out)),)


def linear_terms(n_in, n_out, scale_factor, align_corners, dtype):
    """The two source indices and weights of each output sample along one axis (PyTorch's
    area_pixel_compute_source_index and guard_index_and_lambda), computed in `dtype`."""
    out = np.arange(n_out)
    if n_out == n_in:
        return ((out, np.ones(n_out, dtype)),)
    if align_corners:
        scale = dtype(n_in - 1) / dtype(n_out - 1) if n_out > 1 else dtype(0)
        source = scale * out.astype(dtype)
    else:
        scale = _scale(n_in, n_out, scale_factor, dtype)
        source = np.maximum(scale * (out.astype(dtype) + dtype(0.5)) - dtype(0.5), dtype(0))
    low = np.minimum(np.floor(source).astype(np.int64), n_in - 1)
    high = low + (low < n_in - 1)
    weight_high = np.clip(source - low.astype(dtype), 0, 1).astype(dtype)
    return ((low, (1 - weight_high).astype(dtype)), (high, weight_high))


def _per_axis(op, value, n, name, kind):
    """An int/float or a sequence of n of them, as a tuple of n."""
    values = (value,) * n if not isinstance(value, (tuple, list)) else tuple(value)
    if len(values) != n or not all(kind(v) for v in values):
        raise TypeError(f"{op}: {name} must be one number or a tuple of {n} (one per spatial axis), "
                        f"got {value!r}")
    return values


def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None):
    """Resize the spatial axes of input, PyTorch's F.interpolate.

    input: (N, C, W) for "nearest" or "linear", (N, C, H, W) for "nearest" or "bilinear",
    (N, C, D, H, W) for "nearest" or "trilinear". Give exactly one of
    size (the output's spatial size: an int or one per axis) and
    scale_factor (a number or one per axis; the output size is floor(n * scale_factor)).
    align_corners (linear modes only, default False): see the module docstring for the
    coordinates. recompute_scale_factor=True samples with n_in / n_out instead of 1 / scale_factor.
    Differentiable: the backward adds each output's gradient to the input samples it read.
    """
    op = "interpolate"
    array = float_array(op, "input", input)
    if mode not in MODES:
        raise ValueError(f"{op}: mode must be one of {MODES}, got {mode!r}")
    ranks = (3, 4, 5) if mode == "nearest" else (LINEAR_MODES[mode],)
    if array.ndim not in ranks:
        layouts = {3: "(N, C, W)", 4: "(N, C, H, W)", 5: "(N, C, D, H, W)"}
        raise ValueError(f"{op}: mode={mode!r} needs a {' or '.join(layouts[r] for r in ranks)} input, "
                         f"got shape {array.shape}")
    if mode == "nearest" and align_corners is not None:
        raise ValueError(f"{op}: align_corners can only be set with the linear modes "
                         f"{tuple(LINEAR_MODES)}, not mode='nearest'")
    if align_corners is not None and not isinstance(align_corners, (bool, np.bool_)):
        raise TypeError(f"{op}: align_corners must be a bool or None, got {align_corners!r}")
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor, got size={size!r}, "
                         f"scale_factor={scale_factor!r}")
    spatial = array.shape[2:]
    dims = len(spatial)
    if size is not None:
        sizes = _per_axis(op, size, dims, "size", is_int)
        scales = (None,) * dims
    else:
        scales = tuple(float(s) for s in _per_axis(op, scale_factor, dims, "scale_factor", _is_number))
        if any(not s > 0 or math.isinf(s) for s in scales):
            raise ValueError(f"{op}: scale_factor must be positive and finite, got {scale_factor!r}")
        sizes = tuple(math.floor(n * s) for n, s in zip(spatial, scales))
        if recompute_scale_factor:
            scales = (None,) * dims
    if min(sizes) < 1 or min(array.shape[1:]) < 1:  # only the batch may be empty, as in PyTorch
        raise ValueError(f"{op}: the channel and spatial sizes of input and output must be positive, got "
                         f"input of shape {array.shape} and output size {tuple(sizes)}")
    out = input
    for axis, (n_in, n_out, s) in enumerate(zip(spatial, sizes, scales), start=2):
        if mode == "nearest":
            terms = nearest_terms(n_in, int(n_out), s)
        else:
            terms = linear_terms(n_in, int(n_out), s, bool(align_corners), array.dtype.type)
        out = Resample.apply(out, axis, terms)
    return out
