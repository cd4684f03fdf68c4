"""Reductions and selections: sum, mean, amax/amin over any axes; max/min/argmax/argmin along one
axis (PyTorch's (values, indices) form); sort and topk; all and any.

Axes follow PyTorch: `dim=None`, `dim=()` and `dim=[]` mean every axis, and a 0-d tensor accepts
dim 0 and -1 (it has nothing to reduce).
"""
from __future__ import annotations

# sum, max, min, all and any below are the ops, as in torch; Python's builtins are not used here.

import numpy as np

from ..tensor import Function, Tensor, ValuesIndices, as_array
from .arithmetic import maximum, minimum
from .checks import is_int
from ._util import normalize_axes, normalize_axis, pick_axis


def _expand_to(grad, shape, axes, keepdims):
    """Broadcast a reduced gradient back to the input's shape."""
    if not keepdims:
        grad = np.expand_dims(grad, axes)
    return np.broadcast_to(grad, shape).copy()


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdims):
        a = np.asarray(a)
        ctx.axes, ctx.shape, ctx.keepdims = axes, a.shape, keepdims
        return a.sum(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        return _expand_to(grad, ctx.shape, ctx.axes, ctx.keepdims), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdims):
        a = np.asarray(a)
        ctx.axes, ctx.shape, ctx.keepdims = axes, a.shape, keepdims
        ctx.count = int(np.prod([a.shape[i] for i in axes]))
        return a.mean(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        return _expand_to(grad / ctx.count, ctx.shape, ctx.axes, ctx.keepdims), None, None


class Extremum(Function):
    """amax or amin. Tied extreme values share the gradient equally (PyTorch's amax/amin rule)."""

    @staticmethod
    def forward(ctx, a, axes, keepdims, largest):
        a = np.asarray(a)
        reducer = np.amax if largest else np.amin
        extreme = reducer(a, axis=axes, keepdims=True)
        ctx.save_for_backward(a == extreme)
        ctx.axes, ctx.shape, ctx.keepdims = axes, a.shape, keepdims
        return extreme if keepdims else np.squeeze(extreme, axis=axes)

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        share = mask / mask.sum(axis=ctx.axes, keepdims=True)
        return _expand_to(grad, ctx.shape, ctx.axes, ctx.keepdims) * share, None, None


class Gather(Function):
    """The values of `a` at `indices` along `axis` (np.take_along_axis): what max(dim), sort and
    topk return. The backward puts each gradient back where its value came from; the indices
    are distinct along the axis, so no position receives two."""

    @staticmethod
    def forward(ctx, a, indices, axis):
        ctx.shape, ctx.indices, ctx.axis = np.shape(a), indices, axis
        return np.take_along_axis(a, indices, axis)

    @staticmethod
    def backward(ctx, grad):
        out = np.zeros(ctx.shape, grad.dtype)
        np.put_along_axis(out, ctx.indices, grad, ctx.axis)
        return out, None, None


def _axes(input, axis, dim, op) -> tuple:
    return normalize_axes(pick_axis(axis, dim, op), np.ndim(as_array(input)), op)


def sum(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Sum over `dim` (an int, a tuple, or None / () for every axis). `axis`/`keepdims` are NumPy's spellings."""
    return Sum.apply(input, _axes(input, axis, dim, "sum"), bool(keepdim or keepdims))


def mean(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Mean over `dim` (an int, a tuple, or None / () for every axis)."""
    return Mean.apply(input, _axes(input, axis, dim, "mean"), bool(keepdim or keepdims))


def _amax_or_amin(op, input, dim, keepdim):
    axes = normalize_axes(dim, np.ndim(as_array(input)), op)
    shape = np.shape(as_array(input))
    if 0 in (shape[i] for i in axes):
        raise ValueError(f"{op}: cannot reduce an empty tensor of shape {shape} over dims {axes}")
    return Extremum.apply(input, axes, bool(keepdim), largest=op in ("max", "amax"))


def amax(input, dim=(), keepdim=False):
    """Largest value over `dim` (an int, a tuple, or () for every axis); ties share the gradient equally."""
    return _amax_or_amin("amax", input, dim, keepdim)


def amin(input, dim=(), keepdim=False):
    """Smallest value over `dim` (an int, a tuple, or () for every axis); ties share the gradient equally."""
    return _amax_or_amin("amin", input, dim, keepdim)


def _one_axis(input, dim, op):
    """(input, axis, was_0d) for the ops that select along one axis: a 0-d tensor is read as shape (1,)."""
    if not is_int(dim):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    shape = np.shape(as_array(input))
    axis = normalize_axis(dim, len(shape), op)
    if not shape:
        from .shape import reshape
        return reshape(input, (1,)), 0, True
    return input, axis, False


def _gathered(input, indices, axis, keepdim, was_0d) -> ValuesIndices:
    """(values, indices) of `input` at `indices` (int64) along `axis`, the axis dropped unless keepdim."""
    from .shape import reshape
    values = Gather.apply(input, indices, axis)
    if was_0d or not keepdim:
        shape = () if was_0d else indices.shape[:axis] + indices.shape[axis + 1:]
        values, indices = reshape(values, shape), indices.reshape(shape)
    return ValuesIndices(values, Tensor(indices.astype(np.int64)))


def _select(op, input, dim, keepdim, axis, keepdims):
    """max/min in all three of PyTorch's forms."""
    if isinstance(dim, (Tensor, np.ndarray)):
        return (maximum if op == "max" else minimum)(input, dim)
    dim = pick_axis(axis, dim, op)
    if dim is None:
        return _amax_or_amin(op, input, (), False)
    input, axis, was_0d = _one_axis(input, dim, op)
    a = as_array(input)
    if a.shape[axis] == 0:
        raise ValueError(f"{op}: cannot reduce dim {dim} of size 0 (shape {a.shape})")
    arg = np.argmax if op == "max" else np.argmin
    indices = np.expand_dims(arg(a, axis=axis), axis)
    return _gathered(input, indices, axis, bool(keepdim or keepdims), was_0d)


def max(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """torch.max in its three forms.

    max(input): the largest value (0-d); tied maxima share the gradient equally.
    max(input, dim, keepdim=False): a named tuple (values, indices) along dim, so that
        `_, predicted = logits.max(1)` gives the class indices; the gradient goes to the chosen index.
    max(input, other): the elementwise maximum (see `maximum`).
    """
    return _select("max", input, dim, keepdim, axis, keepdims)


def min(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """torch.min: min(input), min(input, dim) -> (values, indices), min(input, other); see `max`."""
    return _select("min", input, dim, keepdim, axis, keepdims)


def _argextreme(op, input, dim, keepdim, axis):
    dim = pick_axis(axis, dim, op)
    a = as_array(input)
    if a.size == 0:
        raise ValueError(f"{op}: cannot take the {op} of an empty tensor of shape {a.shape}")
    arg = np.argmax if op == "argmax" else np.argmin
    if dim is None:  # index into the flattened tensor, as torch
        index = np.asarray(arg(a), np.int64)
        return Tensor(index.reshape((1,) * a.ndim) if keepdim else index)
    if not is_int(dim):
        raise TypeError(f"{op}: dim must be an int or None, got {dim!r}")
    d = normalize_axis(dim, a.ndim, op)
    if a.ndim == 0:
        return Tensor(np.zeros((), np.int64))
    return Tensor(arg(a, axis=d, keepdims=bool(keepdim)).astype(np.int64))


def argmax(input, dim=None, keepdim=False, *, axis=None):
    """Index of the largest value along `dim` (int64; with dim=None, into the flattened tensor)."""
    return _argextreme("argmax", input, dim, keepdim, axis)


def argmin(input, dim=None, keepdim=False, *, axis=None):
    """Index of the smallest value along `dim` (int64; with dim=None, into the flattened tensor)."""
    return _argextreme("argmin", input, dim, keepdim, axis)


def _argsort(a, axis, descending):
    """Stable argsort. Descending keeps tied values in their original order and puts NaN first
    (as the largest value), as torch.sort does: sort the reversed axis ascending, then reverse."""
    if not descending:
        return np.argsort(a, axis=axis, kind="stable")
    n = a.shape[axis]
    return np.flip(n - 1 - np.argsort(np.flip(a, axis), axis=axis, kind="stable"), axis)


def sort(input, dim=-1, descending=False, *, stable=False):
    """Sort along `dim`: a named tuple (values, indices) with values == input gathered at indices.

    The sort is always stable (`stable` is accepted for PyTorch's signature); NaN counts as the
    largest value. The gradient of values goes back to where each value came from.
    """
    input, axis, was_0d = _one_axis(input, dim, "sort")
    indices = _argsort(as_array(input), axis, descending)
    return _gathered(input, indices, axis, True, was_0d)


def topk(input, k, dim=-1, largest=True, sorted=True):
    """The k largest (or smallest) values along `dim` and their indices, largest first.

    (values, indices) with values of size k along dim. Always sorted; ties keep their order.
    """
    input, axis, was_0d = _one_axis(input, dim, "topk")
    a = as_array(input)
    if not is_int(k) or not 0 <= k <= a.shape[axis]:
        raise ValueError(f"topk: k must be an int in [0, {a.shape[axis]}] for dim {dim} of size "
                         f"{a.shape[axis]}, got {k!r}")
    indices = np.take(_argsort(a, axis, descending=largest), np.arange(k), axis=axis)
    return _gathered(input, indices, axis, True, was_0d and k == 1)


def _logical(op, reducer, input, dim, keepdim):
    a = as_array(input)
    axes = normalize_axes(dim, a.ndim, op)
    return Tensor(np.asarray(reducer(a, axis=axes, keepdims=bool(keepdim))))


def all(input, dim=None, keepdim=False):
    """True where every element along `dim` (None or (): all of them) is non-zero: a bool tensor."""
    return _logical("all", np.all, input, dim, keepdim)


def any(input, dim=None, keepdim=False):
    """True where some element along `dim` (None or (): all of them) is non-zero: a bool tensor."""
    return _logical("any", np.any, input, dim, keepdim)
