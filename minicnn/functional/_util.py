"""Small helpers shared by the op modules: axis handling and broadcast checks."""
from __future__ import annotations

import numpy as np


def pick_axis(axis, dim, op: str):
    """Accept NumPy's `axis` or PyTorch's `dim` for the same argument (never both)."""
    if axis is not None and dim is not None:
        raise TypeError(f"{op}: pass either axis= or dim=, not both")
    return dim if axis is None else axis


def normalize_axes(axis, ndim: int, op: str) -> tuple:
    """`axis` (None, an int or a tuple) as a sorted tuple of non-negative axes.

    None and an empty tuple or list mean every axis (PyTorch's `dim=()`). A 0-d tensor accepts
    axis 0 and -1, as in PyTorch, and has no axis to reduce: the result is ().
    """
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if not axes:
        return tuple(range(ndim))
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or isinstance(a, (bool, np.bool_)):
            raise TypeError(f"{op}: axis must be an int or a tuple of ints, got {axis!r}")
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(int(a) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis!r}")
    return tuple(sorted(out)) if ndim else ()


def normalize_axis(axis, ndim: int, op: str) -> int:
    """One axis as a non-negative int (0 for a 0-d tensor, whose only valid axes are 0 and -1)."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, (bool, np.bool_)):
        raise TypeError(f"{op}: dim must be an int, got {axis!r}")
    axes = normalize_axes(axis, ndim, op)
    return axes[0] if axes else 0


def broadcast_shape(op: str, *shapes) -> tuple:
    """The broadcast shape, or a ValueError that names the op and the shapes."""
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        listed = " and ".join(str(tuple(s)) for s in shapes)
        raise ValueError(f"{op}: shapes {listed} cannot be broadcast together") from None


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum `grad` over the axes that broadcasting added or stretched, back to `shape`."""
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    stretched = tuple(i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1)
    return grad.sum(axis=tuple(range(extra)) + stretched).reshape(shape)
