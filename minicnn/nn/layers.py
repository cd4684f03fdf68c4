"""Basic layers: Linear, Identity, Flatten, Unflatten."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..functional.checks import is_int
from ..tensor import Tensor, float_dtype
from . import init
from .module import Module, Parameter


class Linear(Module):
    """y = x W^T + b.  x: (*, in_features) -> (*, out_features).

    weight: (out_features, in_features), bias: (out_features,), initialised as PyTorch does
    (U(-1/sqrt(in_features), 1/sqrt(in_features))) from `generator`.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 dtype=None, generator=None):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not is_int(value) or value <= 0:
                raise ValueError(f"Linear: {name} must be a positive integer, got {value!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        dtype = float_dtype(dtype)
        self.weight = Parameter(np.empty((out_features, in_features), dtype))
        self.bias = Parameter(np.empty(out_features, dtype)) if bias else None
        if not bias:
            self.register_parameter("bias", None)
        init.default_layer_init_(self.weight, self.bias, generator)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """Returns its input unchanged (a placeholder, or a shortcut that does nothing)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Flatten(Module):
    """Merge axes start_dim..end_dim: (N, C, H, W) -> (N, C*H*W) with the defaults."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split axis `dim` into `unflattened_size`: Unflatten(1, (C, H, W)) turns (N, C*H*W) into
    (N, C, H, W), undoing Flatten. One entry of unflattened_size may be -1 (inferred)."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        sizes = tuple(unflattened_size) if isinstance(unflattened_size, (tuple, list)) else None
        if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
            raise TypeError(f"Unflatten: dim must be an int, got {dim!r}")
        if not sizes or not all(isinstance(n, (int, np.integer)) and (n >= 0 or n == -1) for n in sizes) \
                or sizes.count(-1) > 1:
            raise ValueError(f"Unflatten: unflattened_size must be a tuple of sizes (at most one -1), "
                             f"got {unflattened_size!r}")
        self.dim, self.unflattened_size = int(dim), sizes

    def forward(self, x):
        shape = x.shape if isinstance(x, Tensor) else np.shape(x)
        if not -len(shape) <= self.dim < len(shape):
            raise ValueError(f"Unflatten: dim {self.dim} is out of range for an input of shape {shape}")
        dim = self.dim % len(shape)
        known = int(np.prod([n for n in self.unflattened_size if n != -1]))
        if -1 in self.unflattened_size:
            fits = known > 0 and shape[dim] % known == 0
        else:
            fits = known == shape[dim]
        if not fits:
            raise ValueError(f"Unflatten: dimension {dim} of size {shape[dim]} (input shape {shape}) cannot be "
                             f"split into {self.unflattened_size}")
        return F.reshape(x, shape[:dim] + self.unflattened_size + shape[dim + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
