"""Ops that move values around without changing them: reshaping, indexing, joining, padding."""
from __future__ import annotations

import builtins

import numpy as np

from ..tensor import Function, Tensor
from ._util import broadcast_shape, normalize_axes, normalize_axis, pick_axis, unbroadcast
from .checks import int_tuple, number_array


def _one_spelling(op, keyword, positional, given) -> tuple:
    """The sizes given positionally or by `keyword` (torch's keyword form), not both."""
    if given is None:
        return positional
    if positional:
        raise TypeError(f"{op}: give {keyword} positionally or as {keyword}=, not both")
    return (given,)


def _shape_args(shape) -> tuple:
    """Accept reshape(2, 3) as well as reshape((2, 3))."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for n in shape:
        if not isinstance(n, (int, np.integer)):
            raise TypeError(f"reshape: sizes must be integers, got {shape!r}")
    return tuple(int(n) for n in shape)


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        a = np.asarray(a)
        ctx.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {a.shape} ({a.size} elements) "
                             f"into {shape}") from None

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape), None


class Permute(Function):
    @staticmethod
    def forward(ctx, a, dims):
        a = np.asarray(a)
        if sorted(dims) != list(range(a.ndim)):
            raise ValueError(f"permute: {dims} is not a permutation of the {a.ndim} axes of {a.shape}")
        ctx.dims = dims
        return np.transpose(a, dims)

    @staticmethod
    def backward(ctx, grad):
        return np.transpose(grad, np.argsort(ctx.dims)), None


def _is_basic_index(index) -> bool:
    """Whether index selects by slices, integers, None and Ellipsis only (NumPy's basic
    indexing): then no element is selected twice."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, slice)
               or (isinstance(p, (int, np.integer)) and not isinstance(p, (bool, np.bool_))) for p in parts)


class GetItem(Function):
    """a[index] (NumPy's indexing, copied). Backward: zeros of a's shape with the gradient added
    at the selected positions; np.add.at accumulates repeated advanced indices (x[[0, 0]]),
    while a basic index, which selects each element once, is a plain strided assignment (a
    ResNet's x[:, :, ::2, ::2] shortcut: ten times faster)."""

    @staticmethod
    def forward(ctx, a, index):
        a = np.asarray(a)
        ctx.shape, ctx.index = a.shape, index
        try:
            return np.array(a[index], copy=True)
        except IndexError as error:
            raise IndexError(f"getitem: {error} (tensor shape {a.shape})") from None

    @staticmethod
    def backward(ctx, grad):
        out = np.zeros(ctx.shape, grad.dtype)
        if _is_basic_index(ctx.index):
            out[ctx.index] = grad
        else:
            np.add.at(out, ctx.index, grad)
        return out, None


class SetItem(Function):
    """`a` with a[index] replaced by `value` (broadcast, cast to a's dtype): the graph of t[index] = v.

    d/da is the upstream gradient with the written positions zeroed; d/dvalue is the upstream
    gradient at those positions, summed over broadcasting. (With repeated advanced indices the
    last write wins in the forward, and every repeat gets the gradient, as in PyTorch.)
    """

    @staticmethod
    def forward(ctx, a, value, index):
        out = np.array(a, copy=True)
        try:
            out[index] = value
        except (ValueError, IndexError) as error:
            raise type(error)(f"setitem: {error} (tensor shape {out.shape})") from None
        ctx.index, ctx.value_shape = index, np.shape(value)
        return out

    @staticmethod
    def backward(ctx, grad):
        grad_a = grad_value = None
        if ctx.needs_input_grad[0]:
            grad_a = grad.copy()
            grad_a[ctx.index] = 0
        if ctx.needs_input_grad[1]:
            picked = grad[ctx.index]
            missing = len(ctx.value_shape) - picked.ndim  # NumPy lets a value carry extra leading 1s
            grad_value = unbroadcast(picked.reshape((1,) * missing + picked.shape), ctx.value_shape)
        return grad_a, grad_value, None


class Concatenate(Function):
    @staticmethod
    def forward(ctx, *arrays, axis):
        ctx.sizes = [np.shape(x)[axis] for x in arrays]
        ctx.axis = axis
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.split(grad, np.cumsum(ctx.sizes)[:-1], axis=ctx.axis))


class Stack(Function):
    @staticmethod
    def forward(ctx, *arrays, axis):
        ctx.axis = axis
        return np.stack(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.moveaxis(grad, ctx.axis, 0))


class Split(Function):
    @staticmethod
    def forward(ctx, a, sizes, axis):
        ctx.axis = axis
        return tuple(np.split(a, np.cumsum(sizes)[:-1], axis=axis))

    @staticmethod
    def backward(ctx, *grads):
        return np.concatenate(grads, axis=ctx.axis), None, None


class Pad(Function):
    """Padding as a gather: each output position reads one input index per padded axis.

    `indices` maps the padded axis to source positions; backward scatters the gradient back with
    np.add.at, so reflect/replicate/circular (where an input value is read several times) are
    exact. Constant padding reads nothing in the border.
    """

    @staticmethod
    def forward(ctx, a, widths, mode, value):
        a = np.asarray(a)
        ctx.shape, ctx.widths, ctx.mode = a.shape, widths, mode
        if mode == "constant":
            return np.pad(a, widths, mode="constant", constant_values=value)
        out = a
        for axis, (before, after) in enumerate(widths):
            if before or after:
                out = np.take(out, _pad_indices(a.shape[axis], before, after, mode), axis=axis)
        return out

    @staticmethod
    def backward(ctx, grad):
        if ctx.mode == "constant":
            inner = tuple(slice(b, grad.shape[i] - e) for i, (b, e) in enumerate(ctx.widths))
            return grad[inner], None, None, None
        for axis in reversed(range(len(ctx.widths))):
            before, after = ctx.widths[axis]
            if before or after:
                n = ctx.shape[axis]
                folded = np.zeros(grad.shape[:axis] + (n,) + grad.shape[axis + 1:], grad.dtype)
                where = (slice(None),) * axis + (_pad_indices(n, before, after, ctx.mode),)
                np.add.at(folded, where, grad)
                grad = folded
        return grad, None, None, None


def _pad_indices(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """Source index of every position of an axis of length n padded by (before, after)."""
    i = np.arange(-before, n + after)
    if mode == "reflect":  # mirror about the edge samples, not repeating them
        i = np.abs(i)
        return np.where(i > n - 1, 2 * (n - 1) - i, i)
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    return i % n  # circular


class Where(Function):
    @staticmethod
    def forward(ctx, condition, a, b):
        condition = np.asarray(condition, dtype=bool)
        ctx.shapes = (np.shape(a), np.shape(b))
        broadcast_shape("where", condition.shape, *ctx.shapes)
        ctx.save_for_backward(condition)
        return np.where(condition, a, b)

    @staticmethod
    def backward(ctx, grad):
        (condition,) = ctx.saved_tensors
        a_shape, b_shape = ctx.shapes
        zero = np.zeros((), grad.dtype)
        grad_a = unbroadcast(np.where(condition, grad, zero), a_shape) if ctx.needs_input_grad[1] else None
        grad_b = unbroadcast(np.where(condition, zero, grad), b_shape) if ctx.needs_input_grad[2] else None
        return None, grad_a, grad_b


def reshape(input, *sizes, shape=None):
    """`input` with a new shape of the same size (one entry may be -1).

    reshape(input, (2, 3)), reshape(input, 2, 3) and torch's keyword form reshape(input, shape=(2, 3)).
    """
    number_array("reshape", "input", input)
    return Reshape.apply(input, _shape_args(_one_spelling("reshape", "shape", sizes, shape)))


def permute(input, *order, dims=None):
    """Reorder axes: out.shape[i] == input.shape[dims[i]] (PyTorch's permute).

    permute(input, (0, 2, 1)), permute(input, 0, 2, 1) and permute(input, dims=(0, 2, 1)).
    """
    number_array("permute", "input", input)
    return Permute.apply(input, _shape_args(_one_spelling("permute", "dims", order, dims)))


def transpose(input, dim0=None, dim1=None):
    """Swap axes dim0 and dim1 (PyTorch); with neither given, reverse all axes (NumPy's .T)."""
    number_array("transpose", "input", input)
    ndim = np.ndim(input.array if isinstance(input, Tensor) else input)
    dims = list(range(ndim))[::-1]
    if dim0 is not None or dim1 is not None:
        if dim0 is None or dim1 is None:
            raise TypeError("transpose: give both dim0 and dim1, or neither")
        d0, d1 = normalize_axis(dim0, ndim, "transpose"), normalize_axis(dim1, ndim, "transpose")
        dims = list(range(ndim))
        if ndim:  # a 0-d tensor has the one "axis" 0, and swapping it with itself changes nothing
            dims[d0], dims[d1] = d1, d0
    return Permute.apply(input, tuple(dims))


def flatten(input, start_dim=0, end_dim=-1):
    """Merge axes start_dim..end_dim (inclusive) into one, as torch.flatten."""
    number_array("flatten", "input", input)
    shape = np.shape(input.array if isinstance(input, Tensor) else input)
    if len(shape) == 0:
        return reshape(input, 1)
    start = normalize_axis(start_dim, len(shape), "flatten")
    end = normalize_axis(end_dim, len(shape), "flatten")
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    merged = int(np.prod(shape[start:end + 1]))
    return reshape(input, shape[:start] + (merged,) + shape[end + 1:])


def squeeze(input, dim=None, *, axis=None):
    """Drop size-1 axes: all of them, or those among the given axis / tuple of axes.

    As PyTorch: a given axis whose size is not 1 is kept (no error), and an empty tuple drops nothing.
    """
    number_array("squeeze", "input", input)
    axis = pick_axis(axis, dim, "squeeze")
    shape = np.shape(input.array if isinstance(input, Tensor) else input)
    if axis is None:
        return reshape(input, tuple(n for n in shape if n != 1))
    if isinstance(axis, (tuple, list)) and len(axis) == 0:
        return reshape(input, shape)
    axes = normalize_axes(axis, len(shape), "squeeze")
    return reshape(input, tuple(n for i, n in enumerate(shape) if not (i in axes and n == 1)))


def unsqueeze(input, dim=None, *, axis=None):
    """Insert a size-1 axis at `dim` (negative counts from the end of the result)."""
    number_array("unsqueeze", "input", input)
    axis = pick_axis(axis, dim, "unsqueeze")
    shape = np.shape(input.array if isinstance(input, Tensor) else input)
    axis = normalize_axis(axis, len(shape) + 1, "unsqueeze")
    return reshape(input, shape[:axis] + (1,) + shape[axis:])


def index_arrays(index):
    """An index as NumPy takes it: tensors inside it become their arrays, a list an array."""
    if isinstance(index, tuple):
        return tuple(i.array if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, Tensor):
        return index.array
    if isinstance(index, list):
        return np.asarray(index)
    return index


def getitem(input, index):
    """input[index] with NumPy's basic and advanced indexing (tensors inside the index are allowed)."""
    number_array("getitem", "input", input)
    return GetItem.apply(input, index_arrays(index))


def setitem(input, index, value):
    """A copy of `input` with input[index] = value: differentiable in both `input` and `value`.

    `t[index] = value` uses it to record an in-place assignment; the result has input's dtype.
    """
    number_array("setitem", "input", input)
    number_array("setitem", "value", value)
    return SetItem.apply(input, value, index_arrays(index))


def _shape_of(t):
    return np.shape(t.array if isinstance(t, Tensor) else t)


def _check_joinable(op, tensors, axis, same_shape):
    """Shapes must agree on every axis (every axis but `axis` for cat); dtypes must be equal."""
    shapes = [_shape_of(t) for t in tensors]
    for i, s in enumerate(shapes):
        if len(s) != len(shapes[0]):
            raise ValueError(f"{op}: tensor {i} has {len(s)} dimensions, tensor 0 has {len(shapes[0])}")
        for d in range(len(s)):
            if s[d] != shapes[0][d] and (same_shape or d != axis):
                raise ValueError(f"{op}: tensor {i} has shape {s}, incompatible with tensor 0's "
                                 f"{shapes[0]} along axis {d}")
    dtypes = {np.dtype(t.dtype if isinstance(t, Tensor) else np.asarray(t).dtype) for t in tensors}
    if len(dtypes) > 1:
        raise TypeError(f"{op}: tensors have different dtypes {sorted(map(str, dtypes))}")


def _first_ndim(op, tensors) -> int:
    if not isinstance(tensors, (list, tuple)) or len(tensors) == 0:
        raise ValueError(f"{op}: expected a non-empty list of tensors, got {tensors!r}")
    for i, t in enumerate(tensors):
        number_array(op, f"tensor {i}", t)
    return len(_shape_of(tensors[0]))


def cat(tensors, dim=None, *, axis=None):
    """Join tensors along an existing axis (all other sizes must match)."""
    axis = pick_axis(axis, dim, "cat")
    axis = 0 if axis is None else axis
    ndim = _first_ndim("cat", tensors)
    if ndim == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated (use stack)")
    axis = normalize_axis(axis, ndim, "cat")
    _check_joinable("cat", tensors, axis, False)
    return Concatenate.apply(*tensors, axis=axis)


def stack(tensors, dim=None, *, axis=None):
    """Join same-shaped tensors along a new axis."""
    axis = pick_axis(axis, dim, "stack")
    axis = 0 if axis is None else axis
    axis = normalize_axis(axis, _first_ndim("stack", tensors) + 1, "stack")
    _check_joinable("stack", tensors, axis, True)
    return Stack.apply(*tensors, axis=axis)


def split(tensor, split_size_or_sections, dim=None, *, axis=None):
    """Split into pieces: an int gives pieces of that size (the last may be smaller, as
    torch.split), a list gives the sizes. The first argument is `tensor`, torch.split's name."""
    number_array("split", "tensor", tensor)
    axis = pick_axis(axis, dim, "split")
    axis = 0 if axis is None else axis
    shape = np.shape(tensor.array if isinstance(tensor, Tensor) else tensor)
    axis = normalize_axis(axis, len(shape), "split")
    n = shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        step = int(split_size_or_sections)
        if step <= 0:
            raise ValueError(f"split: size must be positive, got {step}")
        sizes = [builtins.min(step, n - s) for s in range(0, n, step)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if builtins.sum(sizes) != n or builtins.min(sizes) < 0:
            raise ValueError(f"split: sizes {sizes} do not add up to {n}, the length of axis {axis}")
    return Split.apply(tensor, sizes, axis)


PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(input, pad, mode="constant", value=None):
    """Pad the last len(pad)//2 axes, PyTorch's F.pad order: (last_before, last_after,
    second_last_before, ...). Modes: constant (with `value`), reflect, replicate, circular.

    A negative width crops that many entries from that side instead, as in PyTorch (so
    pad(x, (-1, -1)) drops the first and last column); the crop comes first, then the padding.
    value=None pads with 0, as PyTorch.
    """
    op = "pad"
    number_array(op, "input", input)
    shape = np.shape(input.array if isinstance(input, Tensor) else input)
    if not isinstance(pad, (tuple, list)) or len(pad) % 2 or len(pad) // 2 > len(shape):
        raise ValueError(f"{op}: needs an even number of widths, at most 2 per axis of {shape}, got {pad!r}")
    pad = int_tuple(pad, len(pad), "pad", op, minimum=None)
    if mode not in PAD_MODES:
        raise ValueError(f"{op}: mode must be one of {PAD_MODES}, got {mode!r}")
    widths, crop = [(0, 0)] * len(shape), [slice(None)] * len(shape)
    for k in range(len(pad) // 2):
        axis = len(shape) - 1 - k
        before, after = pad[2 * k], pad[2 * k + 1]
        n = shape[axis] + builtins.min(before, 0) + builtins.min(after, 0)  # the size once cropped
        if n < 0:
            raise ValueError(f"{op}: widths ({before}, {after}) crop more than the {shape[axis]} entries "
                             f"of axis {axis}")
        crop[axis] = slice(-builtins.min(before, 0), shape[axis] + builtins.min(after, 0))
        widths[axis] = (builtins.max(before, 0), builtins.max(after, 0))
        largest = builtins.max(widths[axis])
        if mode == "reflect" and largest >= n:
            raise ValueError(f"{op}: reflect padding {largest} must be smaller than the axis size {n}")
        if mode in ("replicate", "circular") and n == 0 and largest:
            raise ValueError(f"{op}: {mode} padding needs a non-empty axis")
        if mode == "circular" and largest > n:
            raise ValueError(f"{op}: circular padding {largest} must not exceed the axis size {n}")
    if any(c != slice(None) for c in crop):
        input = getitem(input, tuple(crop))
    return Pad.apply(input, tuple(widths), mode, 0.0 if value is None else value)


def where(condition, input, other):
    """Elementwise choice: input where condition is true, else other (broadcasting all three)."""
    number_array("where", "condition", condition)
    number_array("where", "input", input)
    number_array("where", "other", other)
    return Where.apply(condition.array if isinstance(condition, Tensor) else condition, input, other)
