"""Argument checks shared by every op, and the shapes of sliding-window ops (convolutions, pooling):
padding regimes and output sizes, in one place so every op validates the same way and says the same thing.

One vocabulary throughout: `op` (the name quoted in every message) comes first, the tensor argument
is `input`, `rank` is a number of axes and `spatial_dims` the number of spatial axes (1, 2 or 3).
Every check raises a TypeError (wrong kind of value) or a ValueError (right kind, wrong value) that
starts with the op's name; none of them copies an array.

Along one axis of size n, a window of k taps spaced d apart (dilation), moved s at a time
(stride), over the input padded by p_b before and p_a after, takes

    floor((n + p_b + p_a - d(k-1) - 1) / s) + 1

positions (`minicnn.kernels.output_length`, the one copy of the formula, with pooling's ceil_mode).
The three padding regimes of the notes, for a kernel spanning e = d(k-1) + 1 samples:
"valid" pads nothing (output n - e + 1 at stride 1), "same" pads e - 1 in total so the output is n
at stride 1 (the odd sample after, as PyTorch and TensorFlow do, when e - 1 is odd), "full" pads
e - 1 on both sides so that every kernel tap meets every input sample (output n + e - 1).
"""
from __future__ import annotations

import numpy as np

from ..kernels.registry import memory_limit, output_length
from ..tensor import Tensor, as_array

PADDING_MODES = ("valid", "same", "full")
AXIS_NAMES = {1: ("W",), 2: ("H", "W"), 3: ("D", "H", "W")}
LAYOUTS = {1: "(N, C, W)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# ---- numbers ---------------------------------------------------------------------------------
def is_int(value) -> bool:
    """A Python or NumPy integer, but not a bool (stride=True is a mistake, not 1)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value) -> bool:
    """A Python or NumPy int or float, not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def int_tuple(value, n: int, name: str, op: str, minimum: int | None = 1) -> tuple:
    """`value` (an int, or a sequence of n ints) as a tuple of n ints, each >= minimum (None: any).

    The one parser of per-axis ints (kernel_size, stride, dilation, output_padding, pad widths):
    bools, floats and strings are refused the same way everywhere."""
    values = (value,) * n if is_int(value) else value
    if not isinstance(values, (tuple, list)) or len(values) != n or not all(is_int(v) for v in values):
        raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    if minimum is not None and any(v < minimum for v in values):
        what = {0: "non-negative", 1: "positive"}.get(minimum, f"at least {minimum}")
        raise ValueError(f"{op}: {name} must be {what}, got {value!r}")
    return tuple(int(v) for v in values)


def probability(op: str, name: str, value) -> float:
    """`value` as a float in [0, 1] (a drop probability), or a TypeError/ValueError."""
    if not is_real(value):
        raise TypeError(f"{op}: {name} must be a number in [0, 1], got {value!r}")
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise ValueError(f"{op}: {name} must be in [0, 1], got {value!r}")
    return float(value)


# ---- arrays: dtype and rank ------------------------------------------------------------------
def shape_of(value) -> tuple:
    """The shape of a Tensor or array (without copying it)."""
    return np.shape(value.array if isinstance(value, Tensor) else value)


def float_array(op: str, name: str, value) -> np.ndarray:
    """`value` (a Tensor, array or nested list) as an array of float32 or float64, else a TypeError.

    Ints, bools, float16, longdouble, complex, strings and objects are refused here, before they
    reach a kernel that has no version for them (Numba's errors would not name the op)."""
    try:
        array = as_array(value)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: {name} must be a Tensor or a float array, got {type(value).__name__}") from None
    if array.dtype not in FLOAT_DTYPES:
        hint = " (cast with .float() or .double())" if array.dtype.kind in "biuf" else ""
        raise TypeError(f"{op}: {name} must be float32 or float64, got {array.dtype}{hint}")
    return array


def integer_array(op: str, name: str, value) -> np.ndarray:
    """`value` as an array of integers (indices), else a TypeError."""
    try:
        array = as_array(value)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: {name} must be a Tensor or an integer array, got {type(value).__name__}") from None
    if array.dtype.kind not in "iu":
        raise TypeError(f"{op}: {name} must be integers, got {array.dtype}")
    return array


def check_bytes(op: str, nbytes: int) -> None:
    """A MemoryError naming the op if an array of `nbytes` would exceed minicnn's memory limit
    (minicnn.kernels.memory_limit), raised before NumPy tries to allocate it."""
    if nbytes > memory_limit():
        raise MemoryError(f"{op}: the output would take {nbytes:,} bytes ({nbytes / 2 ** 30:.3g} GiB), more than "
                          f"the limit of {memory_limit():,} bytes (minicnn.kernels.set_memory_limit)")


def common_float_dtype(op: str, **named) -> np.dtype:
    """The one floating dtype of the given arrays (None entries are skipped), or a TypeError."""
    dtypes = {name: float_array(op, name, value).dtype for name, value in named.items() if value is not None}
    if len(set(dtypes.values())) > 1:
        listed = ", ".join(f"{name} is {dtype}" for name, dtype in dtypes.items())
        raise TypeError(f"{op}: mixed dtypes ({listed}); cast them to one with .float() or .double()")
    return next(iter(dtypes.values()))


def check_rank(op: str, name: str, shape: tuple, rank: int, layout: str) -> None:
    """A ValueError unless `shape` has `rank` axes, none empty but the first (the batch axis)."""
    if len(shape) != rank:
        raise ValueError(f"{op}: {name} must be {rank}-D {layout}, got shape {tuple(shape)}")
    if any(n <= 0 for n in shape[1:]):
        raise ValueError(f"{op}: {name} has an empty dimension: shape {tuple(shape)}")


def is_batched(op: str, shape: tuple, spatial_dims: int) -> bool:
    """Whether `shape` is a batch (N, C, *spatial) or one unbatched sample (C, *spatial), as PyTorch
    accepts both for convolution and pooling; a ValueError for any other rank, or for an empty axis
    other than the batch axis (PyTorch refuses those too)."""
    rank = spatial_dims + 2
    if len(shape) not in (rank, rank - 1):
        raise ValueError(f"{op}: input must be {rank}-D {LAYOUTS[spatial_dims]} or {rank - 1}-D unbatched "
                         f"{LAYOUTS[spatial_dims].replace('N, ', '')}, got shape {tuple(shape)}")
    batched = len(shape) == rank
    if any(n <= 0 for n in shape[int(batched):]):
        raise ValueError(f"{op}: input has an empty dimension: shape {tuple(shape)} (only the batch axis "
                         "may be empty)")
    return batched


# ---- sliding windows -------------------------------------------------------------------------
def padding_pairs(padding, kernel: tuple, stride: tuple, dilation: tuple, op: str) -> tuple:
    """Padding as ((before, after), ...) per spatial axis.

    `padding`: an int (all axes, both sides), a tuple with one entry per axis, each an int or a
    (before, after) pair such as ((top, bottom), (left, right)), or "valid", "same", "full".
    """
    n = len(kernel)
    if isinstance(padding, str):
        if padding not in PADDING_MODES:
            raise ValueError(f"{op}: padding must be an int, a tuple or one of {PADDING_MODES}, got {padding!r}")
        spans = [d * (k - 1) for k, d in zip(kernel, dilation)]
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "full":
            return tuple((e, e) for e in spans)
        if any(s != 1 for s in stride):
            raise ValueError(f"{op}: padding='same' needs stride 1, got stride {stride} "
                             "(with a larger stride no padding keeps the size)")
        return tuple((e // 2, e - e // 2) for e in spans)
    given = padding  # quoted in messages as the caller wrote it
    if is_int(padding):
        padding = (padding,) * n
    if not isinstance(padding, (tuple, list)) or len(padding) != n:
        raise TypeError(f"{op}: padding must be an int, a tuple of {n} ints or (before, after) pairs, "
                        f"or one of {PADDING_MODES}, got {given!r}")
    pairs = []
    for p in padding:
        pair = (p, p) if is_int(p) else p
        if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not all(is_int(v) for v in pair):
            raise TypeError(f"{op}: each padding entry must be an int or a (before, after) pair of ints, "
                            f"got {given!r}")
        if min(pair) < 0:
            raise ValueError(f"{op}: padding must be non-negative, got {given!r}")
        pairs.append((int(pair[0]), int(pair[1])))
    return tuple(pairs)


def output_spatial(op: str, size: tuple, kernel: tuple, stride: tuple, pairs: tuple, dilation: tuple,
                   ceil_mode: bool = False) -> tuple:
    """Output size along each spatial axis; a ValueError if the window does not fit anywhere."""
    names = AXIS_NAMES.get(len(size), tuple(str(i) for i in range(len(size))))
    out = []
    for axis, n, k, s, (before, after), d in zip(names, size, kernel, stride, pairs, dilation):
        span = d * (k - 1) + 1
        if span > n + before + after:
            raise ValueError(f"{op}: kernel of size {k} (dilation {d}, spanning {span}) is larger than the "
                             f"padded input along {axis}: size {n} + padding ({before}, {after}) = "
                             f"{n + before + after}")
        out.append(output_length(n, k, s, before, after, d, ceil_mode))
    return tuple(out)
