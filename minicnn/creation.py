"""Tensor constructors: zeros, ones, full, arange, rand, randn (torch's spellings)."""
from __future__ import annotations

import numpy as np

from .random import get_generator
from .tensor import DEFAULT_DTYPE, Tensor


def _shape(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if any(not isinstance(n, (int, np.integer)) or n < 0 for n in shape):
        raise ValueError(f"expected a shape of non-negative integers, got {shape}")
    return tuple(int(n) for n in shape)


def zeros(*shape, dtype=DEFAULT_DTYPE, requires_grad=False) -> Tensor:
    """A tensor of zeros: zeros(2, 3) or zeros((2, 3))."""
    return Tensor(np.zeros(_shape(shape), dtype), requires_grad=requires_grad)


def ones(*shape, dtype=DEFAULT_DTYPE, requires_grad=False) -> Tensor:
    """A tensor of ones."""
    return Tensor(np.ones(_shape(shape), dtype), requires_grad=requires_grad)


def full(shape, value, dtype=DEFAULT_DTYPE, requires_grad=False) -> Tensor:
    """A tensor filled with `value`."""
    return Tensor(np.full(_shape((shape,)), value, dtype), requires_grad=requires_grad)


def arange(start, stop=None, step=1, dtype=None) -> Tensor:
    """Evenly spaced values in [start, stop), as numpy.arange."""
    return Tensor(np.arange(start, stop, step, dtype=dtype) if stop is not None else np.arange(start, dtype=dtype))


def rand(*shape, dtype=DEFAULT_DTYPE, requires_grad=False, generator=None) -> Tensor:
    """Uniform samples in [0, 1) from `generator` (None: minicnn's default generator)."""
    values = get_generator(generator).random(_shape(shape))
    return Tensor(values.astype(dtype), requires_grad=requires_grad)


def randn(*shape, dtype=DEFAULT_DTYPE, requires_grad=False, generator=None) -> Tensor:
    """Standard normal samples from `generator` (None: minicnn's default generator)."""
    values = get_generator(generator).standard_normal(_shape(shape))
    return Tensor(values.astype(dtype), requires_grad=requires_grad)
