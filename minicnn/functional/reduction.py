"""Reductions and selections: sum, mean, amax/amin, p-norms, variance and standard deviation over
any axes; max/min/argmax/argmin along one axis (PyTorch's (values, indices) form); sort and topk;
all and any.

Axes follow PyTorch: `dim=None`, `dim=()` and `dim=[]` mean every axis, and a 0-d tensor accepts
dim 0 and -1 (it has nothing to reduce).
"""
from __future__ import annotations

# sum, max, min, all and any below are the ops, as in torch; Python's builtins are not used here.

import math
import warnings

import numpy as np

from ..tensor import Function, Tensor, ValuesIndices, as_array
from .arithmetic import maximum, minimum
from .checks import float_array, is_int, is_real, non_negative, number_array
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
    return normalize_axes(pick_axis(axis, dim, op), np.ndim(number_array(op, "input", input)), op)


def sum(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Sum over `dim` (an int, a tuple, or None / () for every axis). `axis`/`keepdims` are NumPy's spellings."""
    return Sum.apply(input, _axes(input, axis, dim, "sum"), bool(keepdim or keepdims))


def mean(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Mean over `dim` (an int, a tuple, or None / () for every axis)."""
    return Mean.apply(input, _axes(input, axis, dim, "mean"), bool(keepdim or keepdims))


def _amax_or_amin(op, input, dim, keepdim):
    shape = np.shape(number_array(op, "input", input))
    axes = normalize_axes(dim, len(shape), op)
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
    shape = np.shape(number_array(op, "input", input))
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
    a = number_array(op, "input", input)
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
    a = number_array(op, "input", input)
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
    a = number_array(op, "input", input)
    axes = normalize_axes(dim, a.ndim, op)
    return Tensor(np.asarray(reducer(a, axis=axes, keepdims=bool(keepdim))))


def all(input, dim=None, keepdim=False):
    """True where every element along `dim` (None or (): all of them) is non-zero: a bool tensor."""
    return _logical("all", np.all, input, dim, keepdim)


def any(input, dim=None, keepdim=False):
    """True where some element along `dim` (None or (): all of them) is non-zero: a bool tensor."""
    return _logical("any", np.any, input, dim, keepdim)


# ---- norms -----------------------------------------------------------------------------------
class VectorNorm(Function):
    """||x||_p over `axes`, PyTorch's linalg.vector_norm:

        ||x||_p = (sum |x|^p)^(1/p);  max |x| for p = inf, min |x| for p = -inf;
        the number of non-zero entries for p = 0.

    Gradient, PyTorch's rule (norm_backward), with 0 wherever the formula would give 0/0 or 0 * inf:

        d||x||_p / dx = sign(x) |x|^(p-1) ||x||_p^(1-p)      (p = 2: x / ||x||_2; p = 1: sign(x))
        taken as 0 where ||x|| = 0 for p >= 1 (a zero vector has gradient 0, not NaN) and where
        x = 0 for p < 1; p = +-inf: sign(x) at the entries whose |x| is the norm, ties sharing
        equally; p = 0: 0 (the count is piecewise constant).
    """

    @staticmethod
    def forward(ctx, x, p, axes, keepdims):
        x = np.asarray(x)
        size = np.abs(x)
        if p == math.inf:
            norm = size.max(axis=axes, keepdims=True)
        elif p == -math.inf:
            norm = size.min(axis=axes, keepdims=True)
        elif p == 0:
            norm = np.count_nonzero(x, axis=axes, keepdims=True).astype(x.dtype)
        else:
            with np.errstate(divide="ignore", over="ignore"):  # 0 ** (p < 0) is inf, and the norm 0
                norm = (size ** p).sum(axis=axes, keepdims=True) ** (1.0 / p)
        ctx.save_for_backward(x, norm)
        ctx.p, ctx.axes, ctx.keepdims = p, axes, keepdims
        return norm if keepdims else np.squeeze(norm, axis=axes)

    @staticmethod
    def backward(ctx, grad):
        x, norm = ctx.saved_tensors
        p, axes = ctx.p, ctx.axes
        if not ctx.keepdims:
            grad = np.expand_dims(grad, axes)
        sign = (x > 0).astype(x.dtype) - (x < 0)  # PyTorch's sign: 0 at 0 and at NaN
        if p == 0:
            slope = np.zeros_like(x)
        elif abs(p) == math.inf:
            size = np.abs(x)
            top = (size == norm) | np.isnan(size)
            slope = sign * top / top.sum(axis=axes, keepdims=True)
        else:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                slope = sign * np.abs(x) ** (p - 1) * norm ** (1 - p)
            slope = np.where((x == 0) if p < 1 else (norm == 0), 0, slope)
        return (grad * slope).astype(x.dtype, copy=False), None, None, None


def _vector_norm(op, input, ord, dim, keepdim):
    array = float_array(op, "input", input)
    if not is_real(ord):
        raise TypeError(f"{op}: the order must be a number (inf and -inf included), got {ord!r}")
    if math.isnan(ord):
        raise ValueError(f"{op}: the order must not be NaN")
    axes = normalize_axes(dim, array.ndim, op)
    if (ord < 0 or ord == math.inf) and 0 in (array.shape[i] for i in axes):
        # max, min and sums of |x|^(p < 0) have no value for no entries (PyTorch refuses too)
        raise ValueError(f"{op}: cannot compute the {ord} norm over an empty dimension (input shape "
                         f"{array.shape}, dims {axes}): the operation has no identity")
    if not isinstance(keepdim, (bool, np.bool_)):
        raise TypeError(f"{op}: keepdim must be a bool, got {keepdim!r}")
    return VectorNorm.apply(input, float(ord), axes, bool(keepdim))


def vector_norm(input, ord=2, dim=None, keepdim=False):
    """The p-norm of `input` over `dim` (torch.linalg.vector_norm; see VectorNorm for the maths).

    ord: any real number, inf or -inf (0 counts the non-zero entries). dim: an int, a tuple of ints,
    or None / () for every entry (the tensor read as one flat vector). Float32 or float64 input;
    the result has input's shape without the reduced axes (kept as size 1 with keepdim=True).
    At a zero vector the gradient is 0, as PyTorch's, not NaN.
    """
    return _vector_norm("vector_norm", input, ord, dim, keepdim)


def norm(input, p="fro", dim=None, keepdim=False):
    """torch.norm: the vector p-norm of `input` over `dim`, every entry when dim is None.

    p: a number (2, 1, inf, -inf, 0, any real), as vector_norm, or "fro" (the default): the
    Frobenius norm, which is the 2-norm over at most 2 dims (PyTorch refuses more). The nuclear
    norm "nuc" is not available. Tensor.norm(p, dim, keepdim) is the same function.
    """
    if p is None:  # torch.norm reads p=None as 2
        p = 2
    if isinstance(p, str):
        if p != "fro":
            raise ValueError(f"norm: p must be a number or 'fro', got {p!r} (the nuclear norm 'nuc' is "
                             "not available)")
        if isinstance(dim, (tuple, list)) and len(dim) > 2:
            raise ValueError(f"norm: the Frobenius norm is over at most 2 dims, got dim={dim!r} "
                             "(pass p=2 for the 2-norm over more)")
        p = 2
    return _vector_norm("norm", input, p, dim, keepdim)


# ---- variance and standard deviation -------------------------------------------------------------
class Var(Function):
    """The variance over `axes`, with `correction` (1 is Bessel's, the unbiased estimate):

        var = sum (x - mean)^2 / max(0, N - correction),   d var / dx = 2 (x - mean) / (N - correction)

    N being the number of entries reduced. N <= correction divides by 0: inf, or NaN where every
    entry equals the mean (PyTorch gives the same, with a warning the wrapper issues).
    """

    @staticmethod
    def forward(ctx, x, axes, correction, keepdims):
        x = np.asarray(x)
        count = math.prod(x.shape[i] for i in axes)
        divisor = float(count - correction) if count > correction else 0.0
        with np.errstate(divide="ignore", invalid="ignore"):  # no entries, or no degrees of freedom
            centred = x - x.sum(axis=axes, keepdims=True) / x.dtype.type(count)
            out = (centred * centred).sum(axis=axes, keepdims=keepdims) / x.dtype.type(divisor)
        ctx.save_for_backward(centred)
        ctx.axes, ctx.keepdims, ctx.divisor = axes, keepdims, divisor
        return out

    @staticmethod
    def backward(ctx, grad):
        (centred,) = ctx.saved_tensors
        if not ctx.keepdims:
            grad = np.expand_dims(grad, ctx.axes)
        with np.errstate(divide="ignore", invalid="ignore"):
            return grad * centred * (2 / centred.dtype.type(ctx.divisor)), None, None, None


class Std(Function):
    """sqrt(var) (see Var). Gradient d var/dx / (2 std), taken as 0 where std = 0, as PyTorch does
    (the true derivative of the square root is infinite there)."""

    @staticmethod
    def forward(ctx, x, axes, correction, keepdims):
        out = np.sqrt(Var.forward(ctx, x, axes, correction, keepdims))
        ctx.std = out
        return out

    @staticmethod
    def backward(ctx, grad):
        with np.errstate(divide="ignore", invalid="ignore"):
            grad_var = np.where(ctx.std == 0, 0, grad / (2 * ctx.std)).astype(grad.dtype, copy=False)
        return Var.backward(ctx, grad_var)


def _spread_arguments(op, input, dim, unbiased, keepdim, correction):
    """(axes, correction, keepdim) of var/std in every form torch accepts: var(input, dim,
    correction=c), the older var(input, dim, unbiased, keepdim) and var(input, unbiased)."""
    array = float_array(op, "input", input)
    if isinstance(dim, (bool, np.bool_)) and unbiased is None:  # var(input, unbiased)
        dim, unbiased = None, dim
    if unbiased is not None:
        if correction is not None:
            raise TypeError(f"{op}: give unbiased= or correction=, not both")
        if not isinstance(unbiased, (bool, np.bool_)):
            raise TypeError(f"{op}: unbiased must be a bool, got {unbiased!r}")
        correction = int(unbiased)
    correction = 1.0 if correction is None else non_negative(op, "correction", correction)
    if not isinstance(keepdim, (bool, np.bool_)):
        raise TypeError(f"{op}: keepdim must be a bool, got {keepdim!r}")
    axes = normalize_axes(dim, array.ndim, op)
    if math.prod(array.shape[i] for i in axes) <= correction:
        warnings.warn(f"{op}(): degrees of freedom is <= 0. Correction should be strictly less than the "
                      "reduction factor (input numel divided by output numel).", UserWarning, stacklevel=3)
    return axes, correction, bool(keepdim)


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance over `dim` (an int, a tuple, or None / () for every entry), torch.var.

    correction (default 1): the divisor is N - correction, N the number of entries reduced, so 1 is
    the unbiased estimate and 0 the population variance; `unbiased=True/False` is PyTorch's older
    spelling of correction=1/0. With N <= correction the result is inf or NaN, with PyTorch's
    warning (a single entry with the default correction gives NaN). Float32 or float64 input of
    any shape; the result has its shape without the reduced dims (kept as size 1 with keepdim=True).
    """
    return Var.apply(input, *_spread_arguments("var", input, dim, unbiased, keepdim, correction))


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Standard deviation sqrt(var(...)), torch.std; arguments as `var`. Its gradient where the
    deviation is 0 (every entry equal) is 0, as PyTorch's."""
    return Std.apply(input, *_spread_arguments("std", input, dim, unbiased, keepdim, correction))


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(var, mean) over the same dims, torch.var_mean; arguments as `var`."""
    axes, correction, keepdim = _spread_arguments("var_mean", input, dim, unbiased, keepdim, correction)
    return Var.apply(input, axes, correction, keepdim), mean(input, axes, keepdim)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(std, mean) over the same dims, torch.std_mean; arguments as `var`."""
    axes, correction, keepdim = _spread_arguments("std_mean", input, dim, unbiased, keepdim, correction)
    return Std.apply(input, axes, correction, keepdim), mean(input, axes, keepdim)
