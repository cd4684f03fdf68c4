"""Reductions: sum, mean, max, min over any axes, with or without keepdims."""
from __future__ import annotations

import numpy as np

from ..tensor import Function
from ._util import normalize_axes, pick_axis


def _expand_to(grad, shape, axes, keepdims):
    """Broadcast a reduced gradient back to the input's shape."""
    if not keepdims:
        grad = np.expand_dims(grad, axes)
    return np.broadcast_to(grad, shape).copy()


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axis, keepdims):
        a = np.asarray(a)
        ctx.axes = normalize_axes(axis, a.ndim, "sum")
        ctx.shape, ctx.keepdims = a.shape, keepdims
        return a.sum(axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        return _expand_to(grad, ctx.shape, ctx.axes, ctx.keepdims), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, a, axis, keepdims):
        a = np.asarray(a)
        ctx.axes = normalize_axes(axis, a.ndim, "mean")
        ctx.shape, ctx.keepdims = a.shape, keepdims
        ctx.count = int(np.prod([a.shape[i] for i in ctx.axes]))
        return a.mean(axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        return _expand_to(grad / ctx.count, ctx.shape, ctx.axes, ctx.keepdims), None, None


class Extremum(Function):
    """max or min. Tied extreme values share the gradient equally (PyTorch's amax/amin rule)."""

    @staticmethod
    def forward(ctx, a, axis, keepdims, op):
        a = np.asarray(a)
        ctx.axes = normalize_axes(axis, a.ndim, op)
        if a.size == 0:
            raise ValueError(f"{op}: cannot reduce an empty tensor of shape {a.shape}")
        reducer = np.amax if op == "max" else np.amin
        extreme = reducer(a, axis=ctx.axes, keepdims=True)
        ctx.save_for_backward(a == extreme)
        ctx.shape, ctx.keepdims = a.shape, keepdims
        return extreme if keepdims else np.squeeze(extreme, axis=ctx.axes)

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        share = mask / mask.sum(axis=ctx.axes, keepdims=True)
        return _expand_to(grad, ctx.shape, ctx.axes, ctx.keepdims) * share, None, None


def sum(a, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Sum over `axis` (int, tuple or None for all). `dim`/`keepdim` are PyTorch's spellings."""
    return Sum.apply(a, pick_axis(axis, dim, "sum"), bool(keepdims or keepdim))


def mean(a, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Mean over `axis` (int, tuple or None for all)."""
    return Mean.apply(a, pick_axis(axis, dim, "mean"), bool(keepdims or keepdim))


def max(a, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Largest value over `axis`; ties split the gradient equally."""
    return Extremum.apply(a, pick_axis(axis, dim, "max"), bool(keepdims or keepdim), op="max")


def min(a, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Smallest value over `axis`; ties split the gradient equally."""
    return Extremum.apply(a, pick_axis(axis, dim, "min"), bool(keepdims or keepdim), op="min")
