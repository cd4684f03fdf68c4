"""Tensor constructors under torch's names: zeros, ones, full, arange, linspace, eye, the *_like
versions, and the random ones (rand, randn, randint, randperm, normal), which draw from an
explicit `generator` (None: minicnn's default generator, which manual_seed resets).

`dtype=None` means the default floating dtype (float32, see set_default_dtype) for floating
values, int64 for integer ones, as in PyTorch.
"""
from __future__ import annotations

import numpy as np

from .random import get_generator
from .tensor import Tensor, as_array, get_default_dtype


def _shape(shape, op: str = "expected a shape") -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if any(not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0 for n in shape):
        raise ValueError(f"{op}: expected a shape of non-negative integers, got {shape}")
    return tuple(int(n) for n in shape)


def _float(dtype):
    return get_default_dtype() if dtype is None else dtype


def zeros(*size, dtype=None, requires_grad=False) -> Tensor:
    """A tensor of zeros: zeros(2, 3) or zeros((2, 3))."""
    return Tensor(np.zeros(_shape(size, "zeros"), _float(dtype)), requires_grad=requires_grad)


def ones(*size, dtype=None, requires_grad=False) -> Tensor:
    """A tensor of ones."""
    return Tensor(np.ones(_shape(size, "ones"), _float(dtype)), requires_grad=requires_grad)


def full(size, fill_value, dtype=None, requires_grad=False) -> Tensor:
    """A tensor filled with `fill_value` (an int or bool value gives int64 or bool, as torch.full)."""
    if dtype is None:
        dtype = as_array(fill_value).dtype
    return Tensor(np.full(_shape((size,), "full"), fill_value, dtype), requires_grad=requires_grad)


def zeros_like(input, dtype=None, requires_grad=False) -> Tensor:
    """Zeros of input's shape and (unless given) dtype."""
    a = as_array(input)
    return Tensor(np.zeros(a.shape, dtype or a.dtype), requires_grad=requires_grad)


def ones_like(input, dtype=None, requires_grad=False) -> Tensor:
    """Ones of input's shape and (unless given) dtype."""
    a = as_array(input)
    return Tensor(np.ones(a.shape, dtype or a.dtype), requires_grad=requires_grad)


def full_like(input, fill_value, dtype=None, requires_grad=False) -> Tensor:
    """`fill_value` everywhere, in input's shape and (unless given) dtype."""
    a = as_array(input)
    return Tensor(np.full(a.shape, fill_value, dtype or a.dtype), requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad=False) -> Tensor:
    """Values start, start + step, ... below end (arange(n): 0 .. n-1), as torch.arange:
    int64 when every argument is an integer, else the default floating dtype."""
    if end is None:
        start, end = 0, start
    values = np.arange(start, end, step)
    if dtype is None and values.dtype.kind == "f":
        dtype = get_default_dtype()
    return Tensor(values.astype(dtype or np.int64), requires_grad=requires_grad)


def linspace(start, end, steps, dtype=None, requires_grad=False) -> Tensor:
    """`steps` evenly spaced values from start to end, both included."""
    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative int, got {steps!r}")
    return Tensor(np.linspace(start, end, steps).astype(_float(dtype)), requires_grad=requires_grad)


def eye(n, m=None, dtype=None, requires_grad=False) -> Tensor:
    """The n x m identity matrix (m defaults to n)."""
    m = n if m is None else m
    _shape((n, m), "eye")
    return Tensor(np.eye(n, m, dtype=_float(dtype)), requires_grad=requires_grad)


def rand(*size, dtype=None, requires_grad=False, generator=None) -> Tensor:
    """Uniform samples in [0, 1) from `generator` (None: minicnn's default generator)."""
    values = get_generator(generator).random(_shape(size, "rand"))
    return Tensor(values.astype(_float(dtype)), requires_grad=requires_grad)


def randn(*size, dtype=None, requires_grad=False, generator=None) -> Tensor:
    """Standard normal samples from `generator` (None: minicnn's default generator)."""
    values = get_generator(generator).standard_normal(_shape(size, "randn"))
    return Tensor(values.astype(_float(dtype)), requires_grad=requires_grad)


def randint(low, high=None, size=None, *, dtype=None, generator=None) -> Tensor:
    """Integers uniform in [low, high): randint(high, size) or randint(low, high, size), as torch."""
    if size is None:  # randint(high, size)
        low, high, size = 0, low, high
    if size is None or high is None:
        raise TypeError("randint: expected randint(high, size) or randint(low, high, size)")
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be larger than low ({low})")
    values = get_generator(generator).integers(low, high, _shape((size,), "randint"))
    return Tensor(values.astype(dtype or np.int64))


def randperm(n, *, dtype=None, generator=None) -> Tensor:
    """A random permutation of 0 .. n-1 (int64)."""
    return Tensor(get_generator(generator).permutation(n).astype(dtype or np.int64))


def normal(mean, std, size, *, dtype=None, generator=None, requires_grad=False) -> Tensor:
    """Samples of N(mean, std^2) of the given size (torch.normal with float mean and std)."""
    values = get_generator(generator).normal(mean, std, _shape((size,), "normal"))
    return Tensor(values.astype(_float(dtype)), requires_grad=requires_grad)
